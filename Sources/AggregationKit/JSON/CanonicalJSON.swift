/// One JSON value's text inside a document (a downstream's response body), known to be byte for byte what
/// `JSONSerializer` writes for the value `JSONParser` reads from that document: a composite response that
/// embeds the value copies these bytes, with no tree built, walked and freed (parsing was half of a
/// composite request's instructions, freeing the tree another fifth).
///
/// `canonical(_:)` decides it in one pass that allocates nothing (`CanonicalScanner`). The scanner only
/// ever *accepts* on the strict side: a document it is not sure of (not JSON, JSON written another way,
/// or past its own smaller limits) gets `nil`, and the caller parses it as before, so the parser's
/// verdict and errors stay the only ones anybody sees. What it accepts, the parser accepts too, and
/// re-serializing the parsed value gives the same bytes (`CanonicalJSONTests` checks both over JSONTestSuite
/// and random documents). Canonical means:
///
/// - no whitespace inside the value (around it is fine: it is not part of the value's text);
/// - strings escaped as the serializer escapes them: `\"`, `\\`, `\n`, `\r`, `\t`, and `\u00xx` (lower-case
///   hex) for the other control characters; every other character as itself, in valid UTF-8 (no `\/`,
///   no `\b`/`\f`, no `\u` for a printable character or a surrogate pair);
/// - numbers in JSON's grammar (the parser keeps a number's text, so any valid spelling is canonical);
/// - no key twice in one object (the parser collapses a repeated key, which changes the text).
struct CanonicalJSON: Sendable {
    /// The whole document (shared with the response it came from, not copied).
    let document: [UInt8]
    /// The value's bytes in `document`.
    let range: Range<Int>
    /// The bytes of the value of the top-level member asked for (`canonical(_:member:)`), found while
    /// scanning; nil when the value is not an object or has no such member (or none was asked for).
    let member: Range<Int>?

    /// Nesting beyond this many levels is left to the parser (which allows `JSONParser.defaultMaxDepth`):
    /// the scanner keeps one bit per level in a word, and payloads are rarely a tenth as deep.
    static let maxDepth = 64
    /// Keys of the objects open at one time, kept to find a repeated key, plus two words per open object
    /// (1 KB on the stack: larger temporary allocations go to the heap); a document that needs more is left
    /// to the parser.
    static let maxOpenKeys = 128

    /// The document's value, when its text is canonical (see above); nil when it is not, or is not JSON.
    /// `member`: a key as the serializer writes it (quotes included) whose value in the top-level object
    /// is wanted (`member`): found in the same pass, where `follow` would skip the bytes before and in it.
    static func canonical(_ document: [UInt8], member key: [UInt8]? = nil) -> CanonicalJSON? {
        guard document.count <= Int(UInt32.max) else { return nil }
        var member: Range<Int>? = nil
        let range = document.withUnsafeBufferPointer { buffer in
            guard let key else { return CanonicalScanner.scan(buffer, member: nil, found: &member) }
            return key.withUnsafeBufferPointer { CanonicalScanner.scan(buffer, member: $0, found: &member) }
        }
        return range.map { CanonicalJSON(document: document, range: $0, member: member) }
    }

    /// The value the parser reads from the document: what a consumer that needs a tree gets.
    func parsed() throws(JSONParser.Error) -> JSONValue { try JSONParser.parse(document) }

    var count: Int { range.count }

    // MARK: Paths into the text

    /// A step of a path into canonical text: a key (as the serializer writes it, quotes included) or an
    /// index (negative counts from the end), as `SourcePath.Step` `.key` and `.index`.
    enum Step: Sendable {
        case key([UInt8])
        case index(Int)

        /// `nil` for `[*]`, which builds a new array (not a piece of the text).
        init?(_ step: SourcePath.Step) {
            switch step {
            case .key(let k): self = .key(JSONSerializer.serialize(.string(k)))
            case .index(let i): self = .index(i)
            case .each: return nil
            }
        }
    }

    /// The text of the value at `steps`, or nil where `SourcePath.follow` finds nothing (a key that is not
    /// there, an index out of range, a step into something that is not an object or array). The text is
    /// canonical, so a key matches exactly when its bytes do, and no key is there twice.
    func follow(_ steps: [Step]) -> Range<Int>? { follow(steps, from: range) }

    /// The same from a value inside the text (`member`, a result of `follow`).
    func follow(_ steps: [Step], from value: Range<Int>) -> Range<Int>? {
        if steps.isEmpty { return value }
        return document.withUnsafeBufferPointer { buffer -> Range<Int>? in
            let p = buffer.baseAddress!
            let limit = buffer.count  // word loads stay below this
            var start = value.lowerBound, end = value.upperBound
            for step in steps {
                switch step {
                case .key(let key):
                    guard p[start] == UInt8(ascii: "{"), p[start + 1] != UInt8(ascii: "}") else { return nil }
                    var j = start + 1
                    var found = false
                    while !found {
                        let keyEnd = Self.skipString(p, j, limit)
                        let valueStart = keyEnd + 1  // past ':'
                        let valueEnd = Self.skipValue(p, valueStart, limit)
                        found = keyEnd - j == key.count && key.withUnsafeBufferPointer { memcmp(p + j, $0.baseAddress!, key.count) == 0 }
                        if found { start = valueStart; end = valueEnd; break }
                        guard p[valueEnd] == UInt8(ascii: ",") else { return nil }
                        j = valueEnd + 1
                    }
                case .index(let wanted):
                    guard p[start] == UInt8(ascii: "["), p[start + 1] != UInt8(ascii: "]") else { return nil }
                    var n = wanted
                    if n < 0 {
                        var count = 0
                        var j = start + 1
                        while true {
                            count += 1
                            j = Self.skipValue(p, j, limit)
                            if p[j] != UInt8(ascii: ",") { break }
                            j += 1
                        }
                        n += count
                        guard n >= 0 else { return nil }
                    }
                    var j = start + 1
                    while true {
                        let valueEnd = Self.skipValue(p, j, limit)
                        if n == 0 { start = j; end = valueEnd; break }
                        guard p[valueEnd] == UInt8(ascii: ",") else { return nil }
                        n -= 1
                        j = valueEnd + 1
                    }
                }
            }
            return start..<end
        }
    }

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// The high bit of each byte of `v` that is zero; the lowest one set is exact (see `JSONParser.lookMask`).
    @inline(__always) private static func zeros(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }

    @inline(__always) private static func word(_ p: UnsafePointer<UInt8>, _ j: Int) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(p + j).loadUnaligned(as: UInt64.self))
    }

    /// Past the string that starts (with its quote) at `i`; the text is valid, so it ends. Eight bytes at a
    /// time to the next quote or backslash.
    private static func skipString(_ p: UnsafePointer<UInt8>, _ i: Int, _ limit: Int) -> Int {
        var j = i + 1
        while true {
            if j + 8 <= limit {
                let w = word(p, j)
                let mask = zeros(w ^ (ones &* 0x22)) | zeros(w ^ (ones &* 0x5C))
                if mask == 0 { j += 8; continue }
                j += mask.trailingZeroBitCount &>> 3
            }
            let b = p[j]
            if b == UInt8(ascii: "\"") { return j + 1 }
            j += b == UInt8(ascii: "\\") ? 2 : 1
        }
    }

    /// Past the value that starts at `i` in valid canonical text (no whitespace). A container is crossed
    /// eight bytes at a time to the next quote or bracket: `b & 0xDF` is `[` for `{` and `[` only, `]` for
    /// `}` and `]` only.
    private static func skipValue(_ p: UnsafePointer<UInt8>, _ i: Int, _ limit: Int) -> Int {
        switch p[i] {
        case UInt8(ascii: "\""): return skipString(p, i, limit)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 1
            var j = i + 1
            while true {
                if j + 8 <= limit {
                    let w = word(p, j)
                    let folded = w & (ones &* 0xDF)
                    let mask = zeros(w ^ (ones &* 0x22)) | zeros(folded ^ (ones &* 0x5B)) | zeros(folded ^ (ones &* 0x5D))
                    if mask == 0 { j += 8; continue }
                    j += mask.trailingZeroBitCount &>> 3
                }
                switch p[j] {
                case UInt8(ascii: "\""): j = skipString(p, j, limit); continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return j + 1 }
                default: break
                }
                j += 1
            }
        default:
            // A number or a literal: up to the byte that ends it (the text's end is one of these, or the
            // end of the value, which `follow` never reads past: a scalar is never stepped into).
            var j = i + 1
            while true {
                let b = p[j]
                if b == UInt8(ascii: ",") || b == UInt8(ascii: "}") || b == UInt8(ascii: "]") { return j }
                j += 1
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The one-pass check behind `CanonicalJSON.canonical`: validates exactly as `JSONParser` does (same
/// grammar, same UTF-8 rules), and says no at the first thing the serializer would write differently.
///
/// One loop with its position in a register, not a recursive descent: a value, then what closes or
/// separates it, in a loop. Nesting (at most `CanonicalJSON.maxDepth`) is one bit per level in a word
/// (object or array); an object's duplicate-key state (a filter word and where its keys start in the key
/// table) is pushed on the key table when an object opens inside it, below the inner object's keys.
enum CanonicalScanner {
    /// The range of the document's value (surrounding JSON whitespace left out), if it is canonical.
    /// `member`, `found`: see `CanonicalJSON.canonical(_:member:)`.
    static func scan(_ buffer: UnsafeBufferPointer<UInt8>, member: UnsafeBufferPointer<UInt8>?, found: inout Range<Int>?) -> Range<Int>? {
        guard let p = buffer.baseAddress else { return nil }
        var start = 0, end = buffer.count
        while start < end && isWhitespace(p[start]) { start += 1 }
        while end > start && isWhitespace(p[end - 1]) { end -= 1 }
        guard start < end else { return nil }
        let ok = withUnsafeTemporaryAllocation(of: UInt64.self, capacity: CanonicalJSON.maxOpenKeys) { table in
            scan(p, start, end, keys: table.baseAddress!, member: member, found: &found)
        }
        return ok ? start..<end : nil
    }

    @inline(__always) private static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
    @inline(__always) private static func isDigit(_ b: UInt8) -> Bool { b &- 48 < 10 }

    private static func scan(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, keys: UnsafeMutablePointer<UInt64>,
                             member: UnsafeBufferPointer<UInt8>?, found: inout Range<Int>?) -> Bool {
        var i = start
        var depth = 0
        /// Bit `d - 1` set: the container at depth `d` is an object.
        var objects: UInt64 = 0
        // The innermost open object's duplicate filter, and its keys: `keys[keyBase..<keyTop]`, each
        // (offset << 32 | length, quotes included). A key whose filter bit is not set cannot be a repeat;
        // one whose bit is set is compared (bytes: canonical text spells each string one way).
        var filter: UInt64 = 0
        var keyBase = 0, keyTop = 0
        var atKey = false
        // Where the value of the wanted top-level member starts, while it is being scanned.
        var memberStart = -1
        while true {
            if atKey {
                guard i < end, p[i] == UInt8(ascii: "\"") else { return false }
                let keyStart = i
                i = stringEnd(p, i, end)
                guard i > 0 else { return false }
                let length = i - keyStart
                let bit: UInt64 = 1 &<< ((UInt64(truncatingIfNeeded: length) &* 7 &+ UInt64(p[keyStart + 1]) &* 3 &+ UInt64(p[i - 2])) & 63)
                if filter & bit != 0 {
                    for k in keyBase..<keyTop {
                        let entry = keys[k]
                        if Int(truncatingIfNeeded: entry & 0xFFFF_FFFF) == length
                            && memcmp(p + Int(truncatingIfNeeded: entry >> 32), p + keyStart, length) == 0 {
                            return false
                        }
                    }
                }
                filter |= bit
                guard keyTop < CanonicalJSON.maxOpenKeys else { return false }
                keys[keyTop] = UInt64(truncatingIfNeeded: keyStart) << 32 | UInt64(truncatingIfNeeded: length)
                keyTop += 1
                guard i < end, p[i] == UInt8(ascii: ":") else { return false }
                i += 1
                if depth == 1, let member, length == member.count, memcmp(p + keyStart, member.baseAddress!, length) == 0 { memberStart = i }
            }
            // A value.
            guard i < end else { return false }
            switch p[i] {
            case UInt8(ascii: "\""):
                i = stringEnd(p, i, end)
                guard i > 0 else { return false }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard number(p, &i, end) else { return false }
            case UInt8(ascii: "{"):
                i += 1
                guard depth < CanonicalJSON.maxDepth, i < end else { return false }
                if p[i] == UInt8(ascii: "}") {
                    i += 1
                } else {
                    guard keyTop + 2 <= CanonicalJSON.maxOpenKeys else { return false }
                    depth += 1
                    objects |= 1 &<< UInt64(depth - 1)
                    keys[keyTop] = filter
                    keys[keyTop + 1] = UInt64(truncatingIfNeeded: keyBase)
                    filter = 0
                    keyTop += 2
                    keyBase = keyTop
                    atKey = true
                    continue
                }
            case UInt8(ascii: "["):
                i += 1
                guard depth < CanonicalJSON.maxDepth, i < end else { return false }
                if p[i] == UInt8(ascii: "]") {
                    i += 1
                } else {
                    depth += 1
                    objects &= ~(1 &<< UInt64(depth - 1))
                    atKey = false
                    continue
                }
            case UInt8(ascii: "t"): guard literal(p, &i, end, "true") else { return false }
            case UInt8(ascii: "f"): guard literal(p, &i, end, "false") else { return false }
            case UInt8(ascii: "n"): guard literal(p, &i, end, "null") else { return false }
            default: return false
            }
            // After a value: the next member or element, or the ends of the containers it closes.
            while true {
                if depth == 1 && memberStart >= 0 {
                    found = memberStart..<i
                    memberStart = -1
                }
                if depth == 0 { return i == end }
                guard i < end else { return false }
                let c = p[i]
                i += 1
                let inObject = objects &>> UInt64(depth - 1) & 1 != 0
                if c == UInt8(ascii: ",") {
                    atKey = inObject
                    break
                }
                guard c == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else { return false }
                if inObject {
                    keyTop = keyBase - 2
                    filter = keys[keyTop]
                    keyBase = Int(truncatingIfNeeded: keys[keyTop + 1])
                }
                depth -= 1
            }
        }
    }

    @inline(__always) private static func literal(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ end: Int, _ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= end, memcmp(p + i, word.utf8Start, n) == 0 else { return false }
        i += n
        return true
    }

    /// The parser's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    @inline(__always) private static func number(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ end: Int) -> Bool {
        var j = i
        if p[j] == UInt8(ascii: "-") { j += 1 }
        guard j < end, isDigit(p[j]) else { return false }
        if p[j] == UInt8(ascii: "0") {
            j += 1
            if j < end && isDigit(p[j]) { return false }
        } else {
            while j < end && isDigit(p[j]) { j += 1 }
        }
        if j < end && p[j] == UInt8(ascii: ".") {
            j += 1
            guard j < end, isDigit(p[j]) else { return false }
            while j < end && isDigit(p[j]) { j += 1 }
        }
        if j < end && (p[j] == UInt8(ascii: "e") || p[j] == UInt8(ascii: "E")) {
            j += 1
            if j < end && (p[j] == UInt8(ascii: "+") || p[j] == UInt8(ascii: "-")) { j += 1 }
            guard j < end, isDigit(p[j]) else { return false }
            while j < end && isDigit(p[j]) { j += 1 }
        }
        i = j
        return true
    }

    /// Past the closing quote of the string whose opening quote is at `i`, or -1 (not canonical, or not
    /// JSON). Eight plain bytes at a time; in a word with a byte that needs a look, straight to that byte
    /// (`JSONParser.lookMask`): nearly always the closing quote. Anything else (an escape, non-ASCII, the
    /// document's last seven bytes) goes on in `stringRest`, out of line.
    @inline(__always) private static func stringEnd(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        var j = i + 1
        while j + 8 <= end {
            let mask = JSONParser.lookMask(UInt64(littleEndian: UnsafeRawPointer(p + j).loadUnaligned(as: UInt64.self)))
            if mask == 0 { j += 8; continue }
            j += mask.trailingZeroBitCount &>> 3
            if p[j] == UInt8(ascii: "\"") { return j + 1 }
            break
        }
        return stringRest(p, j, end)
    }

    @inline(never) private static func stringRest(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        var j = i
        while true {
            if j + 8 <= end {
                let mask = JSONParser.lookMask(UInt64(littleEndian: UnsafeRawPointer(p + j).loadUnaligned(as: UInt64.self)))
                if mask == 0 { j += 8; continue }
                j += mask.trailingZeroBitCount &>> 3
            } else if j >= end {
                return -1
            }
            let b = p[j]
            if b == UInt8(ascii: "\"") { return j + 1 }
            if b == UInt8(ascii: "\\") {
                guard escape(p, &j, end) else { return -1 }
            } else if b < 0x20 {
                return -1
            } else if b < 0x80 {
                j += 1
            } else {
                guard utf8Sequence(p, &j, end) else { return -1 }
            }
        }
    }

    /// An escape the serializer writes: `\"`, `\\`, `\n`, `\r`, `\t`, or `\u00xx` (lower-case hex) for a
    /// control character that has no short form.
    private static func escape(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ end: Int) -> Bool {
        guard i + 1 < end else { return false }
        switch p[i + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            i += 2
            return true
        case UInt8(ascii: "u"):
            guard i + 6 <= end, p[i + 2] == UInt8(ascii: "0"), p[i + 3] == UInt8(ascii: "0") else { return false }
            let high = p[i + 4], low = p[i + 5]
            guard high == UInt8(ascii: "0") || high == UInt8(ascii: "1") else { return false }
            let lowValue: UInt8
            switch low {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): lowValue = low - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): lowValue = low - UInt8(ascii: "a") + 10
            default: return false
            }
            let scalar = (high - UInt8(ascii: "0")) << 4 | lowValue
            guard scalar != 0x09 && scalar != 0x0A && scalar != 0x0D else { return false }
            i += 6
            return true
        default:
            return false
        }
    }

    /// One multi-byte UTF-8 sequence, checked as the parser checks it (no overlongs, no surrogates, at
    /// most U+10FFFF).
    private static func utf8Sequence(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ end: Int) -> Bool {
        guard let lead = ByteClass.utf8Lead(p[i]) else { return false }
        let length = lead.continuations + 1
        guard i + length <= end else { return false }
        let b1 = p[i + 1]
        guard b1 >= lead.low && b1 <= lead.high else { return false }
        var k = 2
        while k < length {
            guard p[i + k] & 0xC0 == 0x80 else { return false }
            k += 1
        }
        i += length
        return true
    }
}
