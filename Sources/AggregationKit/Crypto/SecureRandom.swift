internal import COpenSSL

/// Random bytes from OpenSSL's CSPRNG (`RAND_bytes`, seeded from the kernel). Any thread.
public enum SecureRandom {
    /// `count` random bytes. Throws (never returns predictable bytes) if the generator fails.
    public static func bytes(_ count: Int) throws(CryptoError) -> [UInt8] {
        precondition(count >= 0 && count <= Int(Int32.max))
        var out = [UInt8](repeating: 0, count: count)
        if count == 0 { return out }
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        guard ok == 1 else { throw .operationFailed("RAND_bytes failed: \(openSSLErrorText())") }
        return out
    }
}
