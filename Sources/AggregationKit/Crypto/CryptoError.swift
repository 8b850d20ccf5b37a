/// A failure to load a key or to perform a cryptographic operation.
///
/// `code` is stable and safe as a metric label; `detail` tells an operator what was wrong (which member,
/// which size) and never carries key material. Equality is on the code, so a test or a caller can match
/// the class of failure without the wording.
public struct CryptoError: Error, Sendable, CustomStringConvertible, Equatable {
    private enum Code: String, Sendable {
        case invalidKey = "invalid_key"
        case keyTooSmall = "key_too_small"
        case keyTooLarge = "key_too_large"
        case unsupportedKey = "unsupported_key"
        case privateKeyNotAllowed = "private_key_not_allowed"
        case keyMismatch = "key_mismatch"
        case operationFailed = "operation_failed"
    }

    private let kind: Code
    /// For humans: what was wrong. Never key material.
    public let detail: String

    private init(_ kind: Code, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The stable code: `invalid_key`, `key_too_small`, `key_too_large`, `unsupported_key`,
    /// `private_key_not_allowed`, `key_mismatch` or `operation_failed`.
    public var code: String { kind.rawValue }
    public var description: String { "\(kind.rawValue): \(detail)" }
    public static func == (a: CryptoError, b: CryptoError) -> Bool { a.kind == b.kind }

    /// Malformed key material: bad encoding, a point off the curve, inconsistent RSA parameters.
    public static func invalidKey(_ detail: String) -> CryptoError { .init(.invalidKey, detail) }
    /// Below the size floor (RSA under 2048 bits, an HMAC secret shorter than its hash).
    public static func keyTooSmall(_ detail: String) -> CryptoError { .init(.keyTooSmall, detail) }
    /// Above the size ceiling (an RSA modulus over 8192 bits costs every verification dearly).
    public static func keyTooLarge(_ detail: String) -> CryptoError { .init(.keyTooLarge, detail) }
    /// Well formed but not a kind we use (another curve, Ed448, DSA, an RSA-PSS-only key, an encryption key).
    public static func unsupportedKey(_ detail: String) -> CryptoError { .init(.unsupportedKey, detail) }
    /// Private key members where only public keys are allowed (a JWK set fetched from a provider).
    public static func privateKeyNotAllowed(_ detail: String) -> CryptoError { .init(.privateKeyNotAllowed, detail) }
    /// The key does not fit the algorithm it is bound to, or cannot do what was asked (sign with a public key).
    public static func keyMismatch(_ detail: String) -> CryptoError { .init(.keyMismatch, detail) }
    /// OpenSSL refused an operation that should have worked (out of memory, no randomness).
    public static func operationFailed(_ detail: String) -> CryptoError { .init(.operationFailed, detail) }

    /// The same error with `context` (which key, which file) in front of the detail.
    public func adding(context: String) -> CryptoError { .init(kind, "\(context): \(detail)") }

    // For matching with `==` (only the code is compared).
    public static let invalidKey = CryptoError(.invalidKey, "")
    public static let keyTooSmall = CryptoError(.keyTooSmall, "")
    public static let keyTooLarge = CryptoError(.keyTooLarge, "")
    public static let unsupportedKey = CryptoError(.unsupportedKey, "")
    public static let privateKeyNotAllowed = CryptoError(.privateKeyNotAllowed, "")
    public static let keyMismatch = CryptoError(.keyMismatch, "")
    public static let operationFailed = CryptoError(.operationFailed, "")
}
