/// Writes JSON text as bytes: members in stored order, numbers as their original text, strings escaped
/// minimally (quote, backslash, control characters); other characters are written as UTF-8.
///
/// A composite response is serialized on every request, so this is on the hot path. It runs in two
/// passes over the tree:
///
///     value ─▶ encodedSize (exact byte count, escapes included) ─▶ one allocation of that size
///           ─▶ Writer fills it front to back (bounds-checked copies, no growth, no uniqueness checks)
///
/// Appending to an `Array` piece by piece cost more than the bytes themselves (a capacity and a
/// uniqueness check and a generic copy per piece, regrowth past the first guess); sizing first makes the
/// write pass plain `memcpy`s into memory of the right size.
public enum JSONSerializer {
    /// `capacityHint` is no longer needed (the size is computed exactly) and is ignored.
    public static func serialize(_ value: JSONValue, capacityHint: Int = 0) -> [UInt8] {
        let size = encodedSize(value)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var writer = Writer(buffer)
            writer.write(value)
            // Sizing and writing are two readings of one format: a difference is our bug, not the input's.
            precondition(writer.position == size, "JSONSerializer: sized \(size) bytes, wrote \(writer.position)")
            initialized = writer.position
        }
    }

    public static func string(_ value: JSONValue) -> String { String(decoding: serialize(value), as: UTF8.self) }

    /// Appends `value`'s JSON text to `out`.
    public static func write(_ value: JSONValue, into out: inout [UInt8]) {
        out.append(contentsOf: serialize(value))
    }

    // MARK: Sizing

    /// The exact number of bytes `value` serializes to.
    static func encodedSize(_ value: JSONValue) -> Int {
        switch value {
        case .null: return 4
        case .bool(let b): return b ? 4 : 5
        case .number(let n): return n.text.utf8.count
        case .string(let s): return encodedSize(s)
        case .array(let items):
            return items.withUnsafeBufferPointer { items in
                var size = 2 + max(0, items.count - 1)  // brackets, commas
                for i in items.indices { size += encodedSize(items[i]) }
                return size
            }
        case .object(let object):
            if let text = object.canonicalText { return text.count }
            return object.entries.withUnsafeBufferPointer { entries in
                var size = 2 + max(0, entries.count - 1) + entries.count  // braces, commas, colons
                for i in entries.indices { size += encodedSize(entries[i].key) + encodedSize(entries[i].value) }
                return size
            }
        }
    }

    /// Quotes included.
    static func encodedSize(_ s: String) -> Int {
        if let size = s.utf8.withContiguousStorageIfAvailable({ encodedSize(utf8: $0) }) { return size }
        var copy = s
        return copy.withUTF8 { encodedSize(utf8: $0) }
    }

    static func encodedSize(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var size = bytes.count + 2
        for b in bytes where needsEscape(b) { size += escapeLength(b) - 1 }
        return size
    }

    /// How many bytes the escape of `b` takes (`\n`: 2, `\u001f`: 6); `b` needs escaping.
    @inline(__always) static func escapeLength(_ b: UInt8) -> Int {
        switch b {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0A, 0x0D, 0x09: return 2
        default: return 6
        }
    }

    // MARK: Writing

    /// Fills a buffer of the exact size front to back. Every copy is checked against the buffer's end
    /// (a trap, never a write past it, if sizing and writing ever disagreed).
    struct Writer {
        private let buffer: UnsafeMutableBufferPointer<UInt8>
        private(set) var position = 0

        init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

        @inline(__always) mutating func byte(_ b: UInt8) {
            precondition(position < buffer.count)
            buffer[position] = b
            position += 1
        }

        @inline(__always) mutating func bytes(_ source: UnsafeBufferPointer<UInt8>) {
            guard let from = source.baseAddress, source.count > 0 else { return }
            precondition(source.count <= buffer.count - position)
            (buffer.baseAddress! + position).update(from: from, count: source.count)
            position += source.count
        }

        @inline(__always) mutating func literal(_ text: StaticString) {
            bytes(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }

        mutating func write(_ value: borrowing JSONValue) {
            switch value {
            case .null: literal("null")
            case .bool(let b): b ? literal("true") : literal("false")
            case .number(let n): string(n.text, quoted: false)
            case .string(let s): string(s, quoted: true)
            case .array(let items):
                byte(UInt8(ascii: "["))
                items.withUnsafeBufferPointer { items in
                    for i in items.indices {
                        if i > 0 { byte(UInt8(ascii: ",")) }
                        write(items[i])
                    }
                }
                byte(UInt8(ascii: "]"))
            case .object(let object):
                if let text = object.canonicalText { return text.withBytes { bytes($0) } }
                byte(UInt8(ascii: "{"))
                object.entries.withUnsafeBufferPointer { entries in
                    for i in entries.indices {
                        if i > 0 { byte(UInt8(ascii: ",")) }
                        string(entries[i].key, quoted: true)
                        byte(UInt8(ascii: ":"))
                        write(entries[i].value)
                    }
                }
                byte(UInt8(ascii: "}"))
            }
        }

        /// A number's text as it is, or a string quoted and escaped.
        @inline(__always) mutating func string(_ s: String, quoted: Bool) {
            if let done: Void = s.utf8.withContiguousStorageIfAvailable({ quoted ? escaped($0) : bytes($0) }) { return done }
            var copy = s
            copy.withUTF8 { quoted ? escaped($0) : bytes($0) }
        }

        /// Runs of plain bytes are copied in one go; only escapes go byte by byte.
        mutating func escaped(_ source: UnsafeBufferPointer<UInt8>) {
            byte(UInt8(ascii: "\""))
            var runStart = 0
            for i in source.indices where needsEscape(source[i]) {
                bytes(UnsafeBufferPointer(rebasing: source[runStart..<i]))
                escape(source[i])
                runStart = i + 1
            }
            bytes(UnsafeBufferPointer(rebasing: source[runStart...]))
            byte(UInt8(ascii: "\""))
        }

        mutating func escape(_ b: UInt8) {
            byte(0x5C)
            switch b {
            case UInt8(ascii: "\""): byte(0x22)
            case UInt8(ascii: "\\"): byte(0x5C)
            case 0x0A: byte(UInt8(ascii: "n"))
            case 0x0D: byte(UInt8(ascii: "r"))
            case 0x09: byte(UInt8(ascii: "t"))
            default:
                byte(UInt8(ascii: "u")); byte(48); byte(48)
                byte(JSONSerializer.hexDigit(b >> 4)); byte(JSONSerializer.hexDigit(b & 0xF))
            }
        }
    }

    // MARK: Strings into a growing array (log lines)

    @inline(__always) static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 48 + v : 87 + v }

    /// Whether a byte needs escaping inside a JSON string (quote, backslash, control characters).
    @inline(__always) static func needsEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5C }

    public static func writeString(_ s: String, into out: inout [UInt8]) {
        var copy = s
        copy.withUTF8 { writeString(utf8: $0, into: &out) }
    }

    /// Writes `bytes`, which must be valid UTF-8 (a Swift string's), as a quoted JSON string.
    static func writeString(utf8 bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        let size = encodedSize(utf8: bytes)
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: size))
        out.withUnsafeMutableBufferPointer { all in
            var writer = Writer(UnsafeMutableBufferPointer(rebasing: all[start...]))
            writer.escaped(bytes)
        }
    }
}
