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
