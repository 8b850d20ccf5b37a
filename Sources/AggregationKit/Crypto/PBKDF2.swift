internal import COpenSSL

/// PBKDF2 with HMAC (RFC 8018 §5.2), through OpenSSL: a password and a salt stretched into a key, for
/// stored password hashes (the demo identity service). Slow on purpose: `iterations` HMACs per derivation.
public enum PBKDF2 {
    /// The derived key of `length` bytes. Thread safety: pure, call from anywhere.
    public static func derive(password: [UInt8], salt: [UInt8], iterations: Int, hash: HashAlgorithm = .sha256,
                              length: Int) throws(CryptoError) -> [UInt8] {
        precondition(iterations >= 1 && iterations <= Int(Int32.max) && length >= 1 && length <= 1024)
        var out = [UInt8](repeating: 0, count: length)
        let ok = password.withUnsafeBufferPointer { p in
            salt.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    // A zero-length buffer may have no base address; OpenSSL takes any pointer with length 0.
                    p.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
                        .map { PKCS5_PBKDF2_HMAC($0, Int32(p.count), s.baseAddress, Int32(s.count), Int32(iterations), hash.md, Int32(length), o.baseAddress) }
                        ?? PKCS5_PBKDF2_HMAC("", 0, s.baseAddress, Int32(s.count), Int32(iterations), hash.md, Int32(length), o.baseAddress)
                }
            }
        }
        guard ok == 1 else { throw .operationFailed("PBKDF2 failed") }
        return out
    }
}
