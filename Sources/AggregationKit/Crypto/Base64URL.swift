/// The URL-safe base64 alphabet without padding (RFC 4648 §5), as JOSE uses it (RFC 7515 §2), decoded
/// strictly: one spelling per byte string.
///
/// Rejected: `=` padding, `+` and `/` (the other alphabet), whitespace or any other byte, a length of
/// 4n+1 (no byte string encodes to it), and non-zero unused bits in the last character (`"QR"` and
/// `"QQ"` would otherwise both mean `A`). Accepting several spellings of one token would let a client
/// vary a token without changing what it says, which defeats a cache keyed by the token's digest and
/// hides the same token from a deny list.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// 0–63 for a character of the alphabet, 0xFF for anything else.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    /// The encoding of `bytes`, without padding.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: encodeToBytes(bytes), as: UTF8.self)
    }

    /// The encoding of `bytes` as ASCII bytes, without padding.
    public static func encodeToBytes(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var iterator = bytes.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next()
            let b2 = b1 == nil ? nil : iterator.next()
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)])
            guard let b1 else { break }
            out.append(alphabet[Int((b1 & 0x0F) << 2 | (b2 ?? 0) >> 6)])
            guard let b2 else { break }
            out.append(alphabet[Int(b2 & 0x3F)])
        }
        return out
    }

    /// The bytes `text` encodes, or nil when it is not the one canonical unpadded spelling of any.
    public static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode(UnsafeRawBufferPointer($0)) }
    }

    /// The bytes `encoded` encodes, or nil when it is not the one canonical unpadded spelling of any.
    public static func decode(_ encoded: [UInt8]) -> [UInt8]? {
        encoded.withUnsafeBytes { decode($0) }
    }

    /// The bytes `encoded` encodes, or nil when it is not the one canonical unpadded spelling of any.
    public static func decode(_ encoded: UnsafeRawBufferPointer) -> [UInt8]? {
        let count = encoded.count
        let remainder = count % 4
        if remainder == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(count / 4 * 3 + (remainder == 0 ? 0 : remainder - 1))
        var i = 0
        while i + 4 <= count {
            let a = values[Int(encoded[i])], b = values[Int(encoded[i + 1])]
            let c = values[Int(encoded[i + 2])], d = values[Int(encoded[i + 3])]
            if (a | b | c | d) & 0xC0 != 0 { return nil }
            out.append(a << 2 | b >> 4)
            out.append(b << 4 | c >> 2)
            out.append(c << 6 | d)
            i += 4
        }
        switch remainder {
        case 2:
            let a = values[Int(encoded[i])], b = values[Int(encoded[i + 1])]
            if (a | b) & 0xC0 != 0 || b & 0x0F != 0 { return nil }
            out.append(a << 2 | b >> 4)
        case 3:
            let a = values[Int(encoded[i])], b = values[Int(encoded[i + 1])], c = values[Int(encoded[i + 2])]
            if (a | b | c) & 0xC0 != 0 || c & 0x03 != 0 { return nil }
            out.append(a << 2 | b >> 4)
            out.append(b << 4 | c >> 2)
        default:
            break
        }
        return out
    }
}
