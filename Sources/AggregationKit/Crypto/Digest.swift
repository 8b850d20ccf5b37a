internal import COpenSSL

/// Thin wrappers over OpenSSL's digests. Any thread.
public enum Digest {
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] { hash(bytes, using: .sha256) }
    /// SHA-384 of `bytes` (48 bytes).
    public static func sha384(_ bytes: [UInt8]) -> [UInt8] { hash(bytes, using: .sha384) }
    /// SHA-512 of `bytes` (64 bytes).
    public static func sha512(_ bytes: [UInt8]) -> [UInt8] { hash(bytes, using: .sha512) }

    /// The digest of `bytes` with `algorithm`.
    public static func hash(_ bytes: [UInt8], using algorithm: HashAlgorithm) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0, using: algorithm) }
    }

    /// The digest of the bytes in `buffer` with `algorithm`.
    public static func hash(_ buffer: UnsafeRawBufferPointer, using algorithm: HashAlgorithm) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: algorithm.digestLength)
        var length: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer { output in
            EVP_Digest(buffer.baseAddress, buffer.count, output.baseAddress, &length, algorithm.md, nil)
        }
        // A digest over memory we hold cannot fail short of OpenSSL being unusable.
        precondition(ok == 1 && Int(length) == algorithm.digestLength, "EVP_Digest failed")
        return out
    }

    /// SHA-256 of the bytes in `buffer`, written to `output` (at least 32 bytes): no allocation, for
    /// digests computed per request (the verified-token cache's key).
    public static func sha256(_ buffer: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= HashAlgorithm.sha256.digestLength)
        var length: UInt32 = 0
        let ok = EVP_Digest(buffer.baseAddress, buffer.count, output.baseAddress?.assumingMemoryBound(to: UInt8.self), &length,
                            HashAlgorithm.sha256.md, nil)
        precondition(ok == 1 && Int(length) == HashAlgorithm.sha256.digestLength, "EVP_Digest failed")
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
