internal import COpenSSL

/// The SHA-2 hash functions the JOSE algorithms use.
public enum HashAlgorithm: Sendable, Hashable, CaseIterable {
    case sha256, sha384, sha512

    /// Bytes of output: 32, 48, 64.
    public var digestLength: Int {
        switch self {
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }

    /// The fetched `EVP_MD`. Fetching once (rather than `EVP_sha256()` per call, which fetches implicitly
    /// every time in OpenSSL 3) keeps the provider lookup off every signature check.
    var md: OpaquePointer {
        switch self {
        case .sha256: fetchedSHA256.pointer
        case .sha384: fetchedSHA384.pointer
        case .sha512: fetchedSHA512.pointer
        }
    }

    /// OpenSSL's name for the digest (`EVP_MAC` parameters take names, not objects).
    var openSSLName: StaticString {
        switch self {
        case .sha256: "SHA256"
        case .sha384: "SHA384"
        case .sha512: "SHA512"
        }
    }
}

private let fetchedSHA256 = SharedOpenSSLObject(EVP_MD_fetch(nil, "SHA256", nil), what: "SHA-256")
private let fetchedSHA384 = SharedOpenSSLObject(EVP_MD_fetch(nil, "SHA384", nil), what: "SHA-384")
private let fetchedSHA512 = SharedOpenSSLObject(EVP_MD_fetch(nil, "SHA512", nil), what: "SHA-512")

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
