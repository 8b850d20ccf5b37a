/// The JWS signature algorithms we accept (RFC 7518 §3.1 and RFC 8037 §3.1), by their exact `alg` names.
/// `none` is deliberately absent: there is no way to configure it.
public enum JWSAlgorithm: String, Sendable, Hashable, CaseIterable {
    case hs256 = "HS256", hs384 = "HS384", hs512 = "HS512"
    case rs256 = "RS256", rs384 = "RS384", rs512 = "RS512"
    case ps256 = "PS256", ps384 = "PS384", ps512 = "PS512"
    case es256 = "ES256", es384 = "ES384", es512 = "ES512"
    case edDSA = "EdDSA"

    /// The algorithm named exactly `name` (case-sensitive, as RFC 7515 §4.1.1 requires), or nil.
    public init?(name: String) { self.init(rawValue: name) }

    public var name: String { rawValue }

    /// True for the HMAC family (a shared secret, not a key pair).
    public var isHMAC: Bool {
        switch self {
        case .hs256, .hs384, .hs512: true
        default: false
        }
    }

    /// The hash for HMAC algorithms.
    var hmacHash: HashAlgorithm? {
        switch self {
        case .hs256: .sha256
        case .hs384: .sha384
        case .hs512: .sha512
        default: nil
        }
    }

    /// The signature scheme for public-key algorithms.
    var signatureAlgorithm: SignatureAlgorithm? {
        switch self {
        case .hs256, .hs384, .hs512: nil
        case .rs256: .rsaPKCS1v15(.sha256)
        case .rs384: .rsaPKCS1v15(.sha384)
        case .rs512: .rsaPKCS1v15(.sha512)
        case .ps256: .rsaPSS(.sha256)
        case .ps384: .rsaPSS(.sha384)
        case .ps512: .rsaPSS(.sha512)
        case .es256: .ecdsa(.sha256)
        case .es384: .ecdsa(.sha384)
        case .es512: .ecdsa(.sha512)
        case .edDSA: .ed25519
        }
    }

    /// The one curve an ECDSA algorithm may use (RFC 7518 §3.4 pairs them: ES256 with P-256, …).
    public var curve: AsymmetricKey.Curve? {
        switch self {
        case .es256: .p256
        case .es384: .p384
        case .es512: .p521
        default: nil
        }
    }

    /// The raw signature length an ECDSA algorithm requires (64, 96, 132 bytes).
    var ecdsaSignatureLength: Int? { curve.map { 2 * $0.coordinateLength } }

    /// Whether `key` can be bound to this algorithm: RSA for RS/PS, the matching curve for ES, Ed25519
    /// for EdDSA.
    public func fits(_ family: AsymmetricKey.Family) -> Bool {
        switch (self, family) {
        case (.rs256, .rsa), (.rs384, .rsa), (.rs512, .rsa), (.ps256, .rsa), (.ps384, .rsa), (.ps512, .rsa): true
        case (.edDSA, .ed25519): true
        case (_, .ec(let curve)): self.curve == curve
        default: false
        }
    }
}
