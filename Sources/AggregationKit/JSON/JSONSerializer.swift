/// Writes JSON text as bytes: members in stored order, numbers as their original text, strings escaped
/// minimally (quote, backslash, control characters); other characters are written as UTF-8.
public enum JSONSerializer {
    public static func serialize(_ value: JSONValue, capacityHint: Int = 1024) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(capacityHint)
        write(value, into: &out)
        return out
    }

    public static func string(_ value: JSONValue) -> String { String(decoding: serialize(value), as: UTF8.self) }

    public static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: appendLiteral("null", into: &out)
        case .bool(let b): appendLiteral(b ? "true" : "false", into: &out)
        case .number(let n):
            var text = n.text
            text.withUTF8 { out.append(contentsOf: $0) }
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (i, entry) in object.entries.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(entry.key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(entry.value, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    @inline(__always) static func appendLiteral(_ literal: StaticString, into out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Whether a byte needs escaping inside a JSON string (quote, backslash, control characters).
    @inline(__always) static func needsEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5C }

    public static func writeString(_ s: String, into out: inout [UInt8]) {
        var copy = s
        copy.withUTF8 { writeString(utf8: $0, into: &out) }
    }

    /// Writes `bytes`, which must be valid UTF-8 (a Swift string's), as a quoted JSON string.
    static func writeString(utf8 bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Runs of plain bytes are appended in one go; only escapes go byte by byte.
        var runStart = 0
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if needsEscape(b) {
                if i > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                switch b {
                case UInt8(ascii: "\""): out.append(0x5C); out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C); out.append(0x5C)
                case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
                default:
                    out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 48, 48, hexDigits[Int(b >> 4)], hexDigits[Int(b & 0xF)]])
                }
                runStart = i + 1
            }
            i += 1
        }
        if n > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<n])) }
        out.append(UInt8(ascii: "\""))
    }
}
