/// Conversion between the two encodings of an ECDSA signature (r, s):
///
///     JWS (RFC 7518 §3.4):  R ‖ S, each big-endian and left-padded to the curve's coordinate length
///                           (32 + 32 for P-256, 48 + 48 for P-384, 66 + 66 for P-521)
///     OpenSSL (X9.62 DER):  SEQUENCE { INTEGER r, INTEGER s }, minimal two's-complement integers
///
/// Strict both ways: a raw signature of any other length, or with R or S zero or not below the curve
/// order n, has no DER form here (it could never be a valid signature, and refusing it before OpenSSL
/// keeps odd encodings out); a DER signature must be exactly the canonical encoding.
public enum ECDSASignature {
    /// The DER form of the raw `R ‖ S` signature for `curve`, or nil when it is malformed.
    public static func der(fromRaw raw: [UInt8], curve: AsymmetricKey.Curve) -> [UInt8]? {
        let n = curve.coordinateLength
        guard raw.count == 2 * n else { return nil }
        let r = raw[0..<n], s = raw[n..<(2 * n)]
        let order = curve.order
        guard isInRange(r, below: order), isInRange(s, below: order) else { return nil }
        let content = derInteger(r) + derInteger(s)
        // At most 2 × (2 + 67) = 138 content bytes (P-521), so one length byte after 0x81 suffices.
        return content.count < 0x80 ? [0x30, UInt8(content.count)] + content : [0x30, 0x81, UInt8(content.count)] + content
    }

    /// The raw `R ‖ S` form of the DER signature for `curve`, or nil when it is not canonical DER or R
    /// or S does not fit.
    public static func raw(fromDER der: [UInt8], curve: AsymmetricKey.Curve) -> [UInt8]? {
        var i = 0
        func readLength() -> Int? {
            guard i < der.count else { return nil }
            let first = der[i]
            i += 1
            if first < 0x80 { return Int(first) }
            guard first == 0x81, i < der.count, der[i] >= 0x80 else { return nil }
            defer { i += 1 }
            return Int(der[i])
        }
        func readInteger() -> ArraySlice<UInt8>? {
            guard i < der.count, der[i] == 0x02 else { return nil }
            i += 1
            guard let length = readLength(), length > 0, i + length <= der.count else { return nil }
            let value = der[i..<(i + length)]
            i += length
            // Canonical: positive, and no redundant leading zero byte.
            guard value.first! & 0x80 == 0 else { return nil }
            if length > 1, value.first == 0, value[value.startIndex + 1] & 0x80 == 0 { return nil }
            return value
        }
        guard der.first == 0x30 else { return nil }
        i = 1
        guard let total = readLength(), i + total == der.count,
              let r = readInteger(), let s = readInteger(), i == der.count else { return nil }
        let n = curve.coordinateLength
        guard let rPadded = leftPad(r, to: n), let sPadded = leftPad(s, to: n),
              isInRange(rPadded[...], below: curve.order), isInRange(sPadded[...], below: curve.order) else { return nil }
        return rPadded + sPadded
    }

    /// 0 < value < order, both big-endian of equal length (so byte order is numeric order).
    private static func isInRange(_ value: ArraySlice<UInt8>, below order: [UInt8]) -> Bool {
        guard value.contains(where: { $0 != 0 }) else { return false }
        return value.lexicographicallyPrecedes(order)
    }

    private static func derInteger(_ magnitude: ArraySlice<UInt8>) -> [UInt8] {
        var bytes = Array(magnitude.drop(while: { $0 == 0 }))
        if bytes.isEmpty { bytes = [0] }
        if bytes[0] & 0x80 != 0 { bytes.insert(0, at: 0) }
        return [0x02, UInt8(bytes.count)] + bytes
    }

    private static func leftPad(_ value: ArraySlice<UInt8>, to length: Int) -> [UInt8]? {
        let trimmed = value.drop(while: { $0 == 0 })
        guard trimmed.count <= length else { return nil }
        return [UInt8](repeating: 0, count: length - trimmed.count) + trimmed
    }
}
