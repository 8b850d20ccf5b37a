internal import COpenSSL

/// Comparison whose running time does not depend on where two secrets first differ, so an attacker
/// timing our answers cannot learn a MAC, a token digest or an API key byte by byte.
public enum ConstantTime {
    /// True when `a` and `b` hold the same bytes. The lengths are compared first and are not secret
    /// (a MAC's length is public); the contents are compared with `CRYPTO_memcmp`.
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, pa.count) == 0 }
        }
    }
}
