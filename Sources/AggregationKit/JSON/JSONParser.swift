/// A byte-level JSON parser (RFC 8259). Strict: invalid UTF-8, lone surrogates, control characters in
/// strings, leading zeros, trailing commas and a byte order mark are errors, and nesting deeper than
/// `maxDepth` is an error rather than a stack overflow.
///
/// Duplicate object keys are valid JSON (RFC 8259 says names "SHOULD", not "MUST", be unique). By default
/// they are collapsed into one member as `JSONObject` does (first position, last value), so no later stage
/// can see two copies; configuration files are read with `.reject`, where a key written twice is a mistake.
public struct JSONParser {
    public enum DuplicateKeys: Sendable { case lastWins, reject }

    public struct Error: Swift.Error, Sendable, CustomStringConvertible, Equatable {
        public let offset: Int
        public let reason: String
        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    public static let defaultMaxDepth = 512

    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth, duplicateKeys: DuplicateKeys = .lastWins) throws(Error) -> JSONValue {
        // Objects may keep their text in `bytes` (see `JSONObject.CanonicalText`), which outlives this call.
        let document = bytes.count <= Int(UInt32.max) ? bytes : nil
        let result: Result<JSONValue, Error> = bytes.withUnsafeBytes { raw in
            do throws(Error) { return .success(try parse(raw, document: document, maxDepth: maxDepth, duplicateKeys: duplicateKeys)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth, duplicateKeys: DuplicateKeys = .lastWins) throws(Error) -> JSONValue {
        try parse(Array(text.utf8), maxDepth: maxDepth, duplicateKeys: duplicateKeys)
    }

    public static func parse(_ buffer: UnsafeRawBufferPointer, maxDepth: Int = defaultMaxDepth, duplicateKeys: DuplicateKeys = .lastWins) throws(Error) -> JSONValue {
        try parse(buffer, document: nil, maxDepth: maxDepth, duplicateKeys: duplicateKeys)
    }

    /// `document`: the array `buffer` points into, when objects may keep their text in it.
    private static func parse(_ buffer: UnsafeRawBufferPointer, document: [UInt8]?, maxDepth: Int, duplicateKeys: DuplicateKeys) throws(Error) -> JSONValue {
        var p = JSONParser(buffer: buffer, document: document, maxDepth: maxDepth, rejectDuplicateKeys: duplicateKeys == .reject)
        p.skipWhitespace()
        let value = try p.parseValue(depth: 0)
        p.skipWhitespace()
        guard p.index == buffer.count else { throw p.fail("unexpected data after the value") }
        return value
    }

    private let buffer: UnsafeRawBufferPointer
    private let document: [UInt8]?
    private let maxDepth: Int
    private let rejectDuplicateKeys: Bool
    private var index = 0
    private var scratch: [UInt8] = []
    /// Things seen so far that make the text differ from what the serializer would write for the value
    /// (whitespace, escape sequences, repeated keys): an object whose parse left this unchanged keeps its
    /// text as `JSONObject.CanonicalText`.
    private var irregularities = 0
    /// The member count of the object (the item count of the array) last finished at each depth (mod 8),
    /// eight bits each: a list's records have one shape, so the next record reserves what the last one
    /// needed, in one allocation, rather than grow from a guess.
    private var objectSizeHints: UInt64 = 0
    private var arraySizeHints: UInt64 = 0

    @inline(__always) private static func hint(_ hints: UInt64, _ depth: Int) -> Int {
        Int(truncatingIfNeeded: (hints >> (UInt64(truncatingIfNeeded: depth & 7) &* 8)) & 0xFF)
    }

    @inline(__always) private static func record(_ count: Int, _ depth: Int, in hints: inout UInt64) {
        let shift = UInt64(truncatingIfNeeded: depth & 7) &* 8
        hints = (hints & ~(0xFF << shift)) | (UInt64(truncatingIfNeeded: min(count, 255)) << shift)
    }

    private init(buffer: UnsafeRawBufferPointer, document: [UInt8]?, maxDepth: Int, rejectDuplicateKeys: Bool) {
        self.buffer = buffer
        self.document = document
        self.maxDepth = maxDepth
        self.rejectDuplicateKeys = rejectDuplicateKeys
    }

    private func fail(_ reason: String) -> Error { Error(offset: index, reason: reason) }

    @inline(__always) private mutating func skipWhitespace() {
        while index < buffer.count {
            let b = buffer[index]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { index += 1; irregularities &+= 1 } else { return }
        }
    }

    private mutating func parseValue(depth: Int) throws(Error) -> JSONValue {
        guard index < buffer.count else { throw fail("unexpected end of input") }
        switch buffer[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString) throws(Error) {
        let n = word.utf8CodeUnitCount
        guard index + n <= buffer.count else { throw fail("invalid literal") }
        for i in 0..<n where buffer[index + i] != word.utf8Start[i] { throw fail("invalid literal") }
        index += n
    }

    private mutating func parseObject(depth: Int) throws(Error) -> JSONValue {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        let start = index
        let irregularitiesBefore = irregularities
        index += 1
        var entries: [(key: String, value: JSONValue)] = []
        let hint = Self.hint(objectSizeHints, depth)
        entries.reserveCapacity(hint > 0 ? hint : 8)
        var keySet: Set<JSONObject.ExactKey> = []
        // A 64-bit filter over (length, first and last byte) of the keys so far: a key whose bit is not set
        // cannot be a repeat, so nearly every object is checked in one pass with no comparison at all.
        var filter: UInt64 = 0
        var hasDuplicate = false
        skipWhitespace()
        if index < buffer.count && buffer[index] == UInt8(ascii: "}") {
            index += 1
            return .object(JSONObject(uniqueEntries: entries))
        }
        while true {
            skipWhitespace()
            guard index < buffer.count, buffer[index] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyStart = index
            let (key, bit) = try parseKey()
            if filter & bit != 0 {
                // Maybe seen: a scan while the object is small, a set of its keys once it is large (linear,
                // not quadratic).
                let seen: Bool
                if entries.count < JSONObject.indexThreshold {
                    seen = entries.contains { JSONObject.sameKey($0.key, key) }
                } else {
                    if keySet.isEmpty { keySet = Set(entries.map { JSONObject.ExactKey($0.key) }) }
                    seen = !keySet.insert(JSONObject.ExactKey(key)).inserted
                }
                if seen {
                    if rejectDuplicateKeys { throw Error(offset: keyStart, reason: "duplicate key \(JSONSerializer.string(.string(key)))") }
                    hasDuplicate = true
                }
            } else {
                filter |= bit
                if !keySet.isEmpty { keySet.insert(JSONObject.ExactKey(key)) }
            }
            skipWhitespace()
            guard index < buffer.count, buffer[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            entries.append((key, value))
            skipWhitespace()
            guard index < buffer.count else { throw fail("unterminated object") }
            if buffer[index] == UInt8(ascii: ",") { index += 1; continue }
            if buffer[index] == UInt8(ascii: "}") {
                index += 1
                Self.record(entries.count, depth, in: &objectSizeHints)
                // Repeated keys collapse (first position, last value); otherwise nothing to check again.
                if hasDuplicate {
                    irregularities &+= 1  // the collapsed object is shorter than its text, and so is every object around it
                    return .object(JSONObject(entries))
                }
                var text: JSONObject.CanonicalText? = nil
                if let document, irregularities == irregularitiesBefore {
                    text = JSONObject.CanonicalText(document: document, start: UInt32(start), end: UInt32(index))
                }
                return .object(JSONObject(uniqueEntries: entries, canonicalText: text))
            }
            throw fail("expected ',' or '}'")
        }
    }

    private mutating func parseArray(depth: Int) throws(Error) -> JSONValue {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if index < buffer.count && buffer[index] == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        // Most arrays in payloads are short: one allocation instead of growing through 1, 2, 4 (or what
        // the last array at this depth held).
        let hint = Self.hint(arraySizeHints, depth)
        items.reserveCapacity(hint > 0 ? hint : 4)
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < buffer.count else { throw fail("unterminated array") }
            if buffer[index] == UInt8(ascii: ",") { index += 1; continue }
            if buffer[index] == UInt8(ascii: "]") {
                index += 1
                Self.record(items.count, depth, in: &arraySizeHints)
                return .array(items)
            }
            throw fail("expected ',' or ']'")
        }
    }

    private mutating func parseNumber() throws(Error) -> JSONNumber {
        let start = index
        if buffer[index] == UInt8(ascii: "-") { index += 1 }
        guard index < buffer.count, isDigit(buffer[index]) else { throw fail("invalid number") }
        if buffer[index] == UInt8(ascii: "0") {
            index += 1
            if index < buffer.count && isDigit(buffer[index]) { throw fail("leading zero in a number") }
        } else {
            while index < buffer.count && isDigit(buffer[index]) { index += 1 }
        }
        if index < buffer.count && buffer[index] == UInt8(ascii: ".") {
            index += 1
            guard index < buffer.count, isDigit(buffer[index]) else { throw fail("digit expected after '.'") }
            while index < buffer.count && isDigit(buffer[index]) { index += 1 }
        }
        if index < buffer.count && (buffer[index] == UInt8(ascii: "e") || buffer[index] == UInt8(ascii: "E")) {
            index += 1
            if index < buffer.count && (buffer[index] == UInt8(ascii: "+") || buffer[index] == UInt8(ascii: "-")) { index += 1 }
            guard index < buffer.count, isDigit(buffer[index]) else { throw fail("digit expected in exponent") }
            while index < buffer.count && isDigit(buffer[index]) { index += 1 }
        }
        return JSONNumber(text: String(decoding: UnsafeRawBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self))
    }

    @inline(__always) private func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    /// A key, and its bit in the duplicate filter of `parseObject`: a function of the key's decoded UTF-8
    /// (length, first and last byte), read from the document where the key has no escapes (its bytes there
    /// are its UTF-8) and from the decoded bytes otherwise, so both spellings of one key get one bit.
    /// Reading the bytes here, not through the `String`'s UTF-8 view, saves most of the filter's cost.
    private mutating func parseKey() throws(Error) -> (String, UInt64) {
        let irregularitiesBefore = irregularities
        let start = index + 1
        let key = try parseString()
        @inline(__always) func bit(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
            let first = UInt64(bytes.first ?? 0), last = UInt64(bytes.last ?? 0)
            return 1 << ((UInt64(truncatingIfNeeded: bytes.count) &* 7 &+ first &* 3 &+ last) & 63)
        }
        if irregularities == irregularitiesBefore {  // no escape: the bytes between the quotes are the key
            return (key, bit(UnsafeRawBufferPointer(rebasing: buffer[start..<index - 1])))
        }
        return (key, scratch.withUnsafeBytes { bit($0) })  // the slow path left the decoded key in `scratch`
    }

    private mutating func parseString() throws(Error) -> String {
        index += 1
        let start = index
        // Fast path: plain ASCII without escapes, eight bytes at a time while none needs a look, then
        // byte by byte.
        skipPlainWords()
        while index < buffer.count {
            let b = buffer[index]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self)
                index += 1
                return s
            }
            if b == UInt8(ascii: "\\") || b >= 0x80 || b < 0x20 { break }
            index += 1
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start..<index]))
        while index < buffer.count {
            let b = buffer[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if b < 0x20 { throw fail("control character in a string") }
            if b == UInt8(ascii: "\\") {
                irregularities &+= 1  // the serializer writes the character itself, or escapes it its own way
                index += 1
                guard index < buffer.count else { break }
                let e = buffer[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): scratch.append(0x22)
                case UInt8(ascii: "\\"): scratch.append(0x5C)
                case UInt8(ascii: "/"): scratch.append(0x2F)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar <= 0xDBFF {
                        guard index + 1 < buffer.count, buffer[index] == UInt8(ascii: "\\"), buffer[index + 1] == UInt8(ascii: "u") else {
                            throw fail("lone high surrogate")
                        }
                        index += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low <= 0xDFFF else { throw fail("invalid low surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                        throw fail("lone low surrogate")
                    }
                    appendUTF8(scalar)
                default:
                    index -= 1
                    throw fail("invalid escape")
                }
                continue
            }
            if b < 0x80 {
                scratch.append(b)
                index += 1
                continue
            }
            try copyUTF8Sequence()
        }
        throw fail("unterminated string")
    }

    /// Moves `index` past whole 8-byte words of plain string bytes (printable ASCII other than `"` and
    /// `\`). Stops at a word that may hold another byte; the byte loop decides there (a word flagged by
    /// mistake costs only the slower path, never a wrong answer).
    @inline(__always) private mutating func skipPlainWords() {
        guard let base = buffer.baseAddress else { return }
        var i = index
        let end = buffer.count - 8
        while i <= end {
            let w = UInt64(littleEndian: (base + i).loadUnaligned(as: UInt64.self))
            if Self.mayNeedALook(w) { break }
            i += 8
        }
        index = i
    }

    /// Whether the eight bytes of `w` may include `"`, `\`, a control byte (< 0x20) or a non-ASCII byte:
    /// the classic "has a zero byte" test on `w` XOR the byte, and "has a byte less than n".
    @inline(__always) static func mayNeedALook(_ w: UInt64) -> Bool { lookMask(w) != 0 }

    /// The bytes of `w` (little-endian: the first byte is the lowest) that may need a look, as their high
    /// bits. Above the first flagged byte a borrow may flag a byte that needs none, but the lowest flagged
    /// byte is exact: `trailingZeroBitCount / 8` is the offset of the first byte that is `"`, `\`, a
    /// control byte or non-ASCII.
    @inline(__always) static func lookMask(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZero(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
        let quote = hasZero(w ^ (ones &* 0x22))
        let backslash = hasZero(w ^ (ones &* 0x5C))
        let control = (w &- ones &* 0x20) & ~w & highs
        return quote | backslash | control | (w & highs)
    }

    private mutating func hex4() throws(Error) -> UInt32 {
        guard index + 4 <= buffer.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for i in 0..<4 {
            guard let h = ByteClass.hexValue(buffer[index + i]) else { throw fail("invalid \\u escape") }
            v = v << 4 | UInt32(h)
        }
        index += 4
        return v
    }

    private mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80: scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (scalar >> 6)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (scalar >> 12)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (scalar >> 18)))
            scratch.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }

    /// Validates one multi-byte UTF-8 sequence (no overlongs, no surrogates, at most U+10FFFF) and copies it.
    private mutating func copyUTF8Sequence() throws(Error) {
        guard let lead = ByteClass.utf8Lead(buffer[index]) else { throw fail("invalid UTF-8") }
        let length = lead.continuations + 1
        let lower = lead.low, upper = lead.high
        guard index + length <= buffer.count else { throw fail("truncated UTF-8") }
        let b1 = buffer[index + 1]
        guard b1 >= lower && b1 <= upper else { throw fail("invalid UTF-8") }
        for i in 2..<max(2, length) where buffer[index + i] & 0xC0 != 0x80 { throw fail("invalid UTF-8") }
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index..<index + length]))
        index += length
    }
}
