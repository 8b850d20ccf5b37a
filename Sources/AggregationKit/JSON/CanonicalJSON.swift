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

    /// Nesting beyond this many levels is left to the parser (which allows `JSONParser.defaultMaxDepth`):
    /// the scanner recurses, and payloads are rarely a tenth as deep.
    static let maxDepth = 64
    /// Keys of the objects open at one time, kept to find a repeated key (1 KB on the stack); a document
    /// with more is left to the parser.
    static let maxOpenKeys = 128

    /// The document's value, when its text is canonical (see above); nil when it is not, or is not JSON.
    static func canonical(_ document: [UInt8]) -> CanonicalJSON? {
        guard document.count <= Int(UInt32.max) else { return nil }
        let range = document.withUnsafeBufferPointer { CanonicalScanner.scan($0) }
        return range.map { CanonicalJSON(document: document, range: $0) }
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
    func follow(_ steps: [Step]) -> Range<Int>? {
        if steps.isEmpty { return range }
        return document.withUnsafeBufferPointer { buffer -> Range<Int>? in
            let p = buffer.baseAddress!
            var start = range.lowerBound, end = range.upperBound
            for step in steps {
                switch step {
                case .key(let key):
                    guard p[start] == UInt8(ascii: "{"), p[start + 1] != UInt8(ascii: "}") else { return nil }
                    var j = start + 1
                    var found = false
                    while !found {
                        let keyEnd = Self.skipString(p, j)
                        let valueStart = keyEnd + 1  // past ':'
                        let valueEnd = Self.skipValue(p, valueStart)
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
                            j = Self.skipValue(p, j)
                            if p[j] != UInt8(ascii: ",") { break }
                            j += 1
                        }
                        n += count
                        guard n >= 0 else { return nil }
                    }
                    var j = start + 1
                    while true {
                        let valueEnd = Self.skipValue(p, j)
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

    /// Past the string that starts (with its quote) at `i`; the text is valid, so it ends.
    private static func skipString(_ p: UnsafePointer<UInt8>, _ i: Int) -> Int {
        var j = i + 1
        while true {
            let b = p[j]
            if b == UInt8(ascii: "\"") { return j + 1 }
            j += b == UInt8(ascii: "\\") ? 2 : 1
        }
    }

    /// Past the value that starts at `i` in valid canonical text (no whitespace).
    private static func skipValue(_ p: UnsafePointer<UInt8>, _ i: Int) -> Int {
        switch p[i] {
        case UInt8(ascii: "\""): return skipString(p, i)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var j = i
            while true {
                switch p[j] {
                case UInt8(ascii: "\""): j = skipString(p, j); continue
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

/// The one-pass check behind `CanonicalJSON.canonical`: validates exactly as `JSONParser` does (same grammar,
/// same UTF-8 rules), and says no at the first thing the serializer would write differently. Recursive
/// like the parser, to `CanonicalJSON.maxDepth`; the keys of open objects sit in a fixed table on the stack.
struct CanonicalScanner {
    private let p: UnsafePointer<UInt8>
    private let end: Int
    private var index: Int
    private let keys: UnsafeMutablePointer<UInt64>
    private var keyTop = 0

    /// The range of the document's value (surrounding JSON whitespace left out), if it is canonical.
    static func scan(_ buffer: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        guard let p = buffer.baseAddress else { return nil }
        var start = 0, end = buffer.count
        while start < end && isWhitespace(p[start]) { start += 1 }
        while end > start && isWhitespace(p[end - 1]) { end -= 1 }
        guard start < end else { return nil }
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: CanonicalJSON.maxOpenKeys) { keys -> Range<Int>? in
            var scanner = CanonicalScanner(p: p, end: end, index: start, keys: keys.baseAddress!)
            guard scanner.value(depth: 0), scanner.index == end else { return nil }
            return start..<end
        }
    }

    private init(p: UnsafePointer<UInt8>, end: Int, index: Int, keys: UnsafeMutablePointer<UInt64>) {
        self.p = p
        self.end = end
        self.index = index
        self.keys = keys
    }

    @inline(__always) private static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
    @inline(__always) private static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    private mutating func value(depth: Int) -> Bool {
        guard index < end else { return false }
        switch p[index] {
        case UInt8(ascii: "{"): return object(depth: depth + 1)
        case UInt8(ascii: "["): return array(depth: depth + 1)
        case UInt8(ascii: "\""): return string()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
        default: return false
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard index + n <= end, memcmp(p + index, word.utf8Start, n) == 0 else { return false }
        index += n
        return true
    }

    private mutating func object(depth: Int) -> Bool {
        guard depth <= CanonicalJSON.maxDepth else { return false }
        index += 1
        guard index < end else { return false }
        if p[index] == UInt8(ascii: "}") { index += 1; return true }
        let base = keyTop
        defer { keyTop = base }
        // As the parser's filter: a key whose bit is not set cannot be a repeat; one whose bit is set is
        // compared with this object's keys so far (bytes: canonical text spells each string one way).
        var filter: UInt64 = 0
        while true {
            guard index < end, p[index] == UInt8(ascii: "\"") else { return false }
            let keyStart = index
            guard string() else { return false }
            let length = index - keyStart  // quotes included
            let bit: UInt64 = 1 << ((UInt64(truncatingIfNeeded: length) &* 7 &+ UInt64(p[keyStart + 1]) &* 3 &+ UInt64(p[index - 2])) & 63)
            if filter & bit != 0 {
                for k in base..<keyTop {
                    let entry = keys[k]
                    if Int(truncatingIfNeeded: entry & 0xFFFF_FFFF) == length && memcmp(p + Int(truncatingIfNeeded: entry >> 32), p + keyStart, length) == 0 {
                        return false
                    }
                }
            }
            filter |= bit
            guard keyTop < CanonicalJSON.maxOpenKeys else { return false }
            keys[keyTop] = UInt64(truncatingIfNeeded: keyStart) << 32 | UInt64(truncatingIfNeeded: length)
            keyTop += 1
            guard index < end, p[index] == UInt8(ascii: ":") else { return false }
            index += 1
            guard value(depth: depth), index < end else { return false }
            let b = p[index]
            index += 1
            if b == UInt8(ascii: ",") { continue }
            return b == UInt8(ascii: "}")
        }
    }

    private mutating func array(depth: Int) -> Bool {
        guard depth <= CanonicalJSON.maxDepth else { return false }
        index += 1
        guard index < end else { return false }
        if p[index] == UInt8(ascii: "]") { index += 1; return true }
        while true {
            guard value(depth: depth), index < end else { return false }
            let b = p[index]
            index += 1
            if b == UInt8(ascii: ",") { continue }
            return b == UInt8(ascii: "]")
        }
    }

    /// The parser's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func number() -> Bool {
        if p[index] == UInt8(ascii: "-") { index += 1 }
        guard index < end, Self.isDigit(p[index]) else { return false }
        if p[index] == UInt8(ascii: "0") {
            index += 1
            if index < end && Self.isDigit(p[index]) { return false }
        } else {
            while index < end && Self.isDigit(p[index]) { index += 1 }
        }
        if index < end && p[index] == UInt8(ascii: ".") {
            index += 1
            guard index < end, Self.isDigit(p[index]) else { return false }
            while index < end && Self.isDigit(p[index]) { index += 1 }
        }
        if index < end && (p[index] == UInt8(ascii: "e") || p[index] == UInt8(ascii: "E")) {
            index += 1
            if index < end && (p[index] == UInt8(ascii: "+") || p[index] == UInt8(ascii: "-")) { index += 1 }
            guard index < end, Self.isDigit(p[index]) else { return false }
            while index < end && Self.isDigit(p[index]) { index += 1 }
        }
        return true
    }

    private mutating func string() -> Bool {
        index += 1
        while true {
            // Eight plain bytes at a time; in a word with a byte that needs a look, straight to that byte
            // (`JSONParser.lookMask`). Byte by byte only in the document's last seven bytes.
            if index + 8 <= end {
                let w = UInt64(littleEndian: UnsafeRawPointer(p + index).loadUnaligned(as: UInt64.self))
                let mask = JSONParser.lookMask(w)
                if mask == 0 { index += 8; continue }
                index += mask.trailingZeroBitCount >> 3
            } else if index >= end {
                return false
            }
            let b = p[index]
            if b == UInt8(ascii: "\"") { index += 1; return true }
            if b == UInt8(ascii: "\\") {
                guard escape() else { return false }
            } else if b < 0x20 {
                return false
            } else if b < 0x80 {
                index += 1
            } else {
                guard utf8Sequence() else { return false }
            }
        }
    }

    /// An escape the serializer writes: `\"`, `\\`, `\n`, `\r`, `\t`, or `\u00xx` (lower-case hex) for a
    /// control character that has no short form.
    private mutating func escape() -> Bool {
        guard index + 1 < end else { return false }
        switch p[index + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 2
            return true
        case UInt8(ascii: "u"):
            guard index + 6 <= end, p[index + 2] == UInt8(ascii: "0"), p[index + 3] == UInt8(ascii: "0") else { return false }
            let high = p[index + 4], low = p[index + 5]
            guard high == UInt8(ascii: "0") || high == UInt8(ascii: "1") else { return false }
            let lowValue: UInt8
            switch low {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): lowValue = low - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): lowValue = low - UInt8(ascii: "a") + 10
            default: return false
            }
            let scalar = (high - UInt8(ascii: "0")) << 4 | lowValue
            guard scalar != 0x09 && scalar != 0x0A && scalar != 0x0D else { return false }
            index += 6
            return true
        default:
            return false
        }
    }

    /// One multi-byte UTF-8 sequence, checked as the parser checks it (no overlongs, no surrogates, at
    /// most U+10FFFF).
    private mutating func utf8Sequence() -> Bool {
        guard let lead = ByteClass.utf8Lead(p[index]) else { return false }
        let length = lead.continuations + 1
        guard index + length <= end else { return false }
        let b1 = p[index + 1]
        guard b1 >= lead.low && b1 <= lead.high else { return false }
        var i = 2
        while i < length {
            guard p[index + i] & 0xC0 == 0x80 else { return false }
            i += 1
        }
        index += length
        return true
    }
}
