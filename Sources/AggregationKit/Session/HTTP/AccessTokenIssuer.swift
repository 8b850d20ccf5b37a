/// Signs the gateway's own short-lived access tokens (the BFF token pattern) and publishes the public
/// half of its key as a JWK Set, so downstream services can verify what the gateway attaches.
///
///     login / refresh ─▶ issue(subject, roles, sessionID, now) ─▶ JWS (ES256 by default)
///                         claims: iss, aud, sub, roles, sid, iat, exp = iat + ttl, jti (128 random bits)
///     GET /.well-known/jwks.json ─▶ jwksDocument (public members only, kid = RFC 7638 thumbprint)
///     policy.auth {"provider": "session"} ─▶ provider (the public key in a JWTProvider, name `session`)
///
/// The key is a private PEM file from configuration or, as the embedded default, one generated at start:
/// then tokens do not survive a restart and are not shared between instances (`isEphemeral`, logged at
/// start). Immutable; share freely.
public final class AccessTokenIssuer: Sendable {
    /// The name routes give in `policy.auth.provider` for the gateway's own tokens.
    public static let providerName = "session"
    /// Leeway for the gateway's own tokens: small, since issuer and verifier share (or nearly share) one clock.
    public static let leewaySeconds: Int64 = 5

    public let signer: JWSSigner
    public let issuer: String
    public let audience: String
    /// Access token lifetime in seconds.
    public let timeToLive: Int64
    /// True when the key was generated at start (no `signingKeyFile`).
    public let isEphemeral: Bool
    /// The JWK Set document served at `/.well-known/jwks.json`.
    public let jwksDocument: [UInt8]
    /// Verifies this issuer's tokens (`policy.auth.provider: "session"`).
    public let provider: JWTProvider

    /// `key`: a private key (EC P-256 → ES256, P-384 → ES384, P-521 → ES512, Ed25519 → EdDSA, RSA → RS256).
    /// `keyID`: nil = the key's RFC 7638 thumbprint.
    public init(key: AsymmetricKey, keyID: String? = nil, issuer: String, audience: String, timeToLive: Int64,
                isEphemeral: Bool = false, roles: RoleTable = RoleTable(), cacheEntries: Int = 4096) throws(CryptoError) {
        guard key.isPrivate else { throw .keyMismatch("the session signing key must be a private key") }
        let algorithm = Self.algorithm(for: key)
        let kid = keyID ?? Self.thumbprint(of: key)
        signer = try JWSSigner(key: try JWSKey(key: key, algorithm: algorithm, keyID: kid))
        let publicKey = try JWSKey(key: try key.publicKey(), algorithm: algorithm, keyID: kid)
        jwksDocument = JWKSet.publicDocument(for: [publicKey])
        self.issuer = issuer
        self.audience = audience
        self.timeToLive = timeToLive
        self.isEphemeral = isEphemeral
        let validator = JWTClaimsValidator(issuers: [issuer], audiences: [audience], requiredClaims: ["exp", "iat", "sub", "sid"],
                                           leewaySeconds: Self.leewaySeconds, expectedType: "JWT")
        provider = JWTProvider(name: Self.providerName, verifier: JWSVerifier(keys: [publicKey]), validator: validator,
                               rolesClaim: (try? ClaimPath("roles"))!, roles: roles, cacheEntries: cacheEntries)
    }

    /// An issuer with a key generated now (P-256, ES256): the embedded default.
    public static func ephemeral(issuer: String, audience: String, timeToLive: Int64, roles: RoleTable = RoleTable()) throws(CryptoError) -> AccessTokenIssuer {
        try AccessTokenIssuer(key: try AsymmetricKey.generateEC(curve: .p256), issuer: issuer, audience: audience, timeToLive: timeToLive,
                              isEphemeral: true, roles: roles)
    }

    /// A signed access token and when it expires (Unix seconds).
    public struct Issued: Sendable {
        public let token: String
        public let expiresAt: Int64
    }

    /// Signs an access token for one session at `now` (Unix seconds).
    public func issue(subject: String, roles: [String], sessionID: String, now: Int64) throws(CryptoError) -> Issued {
        let exp = now + timeToLive
        let claims = JSONObject([
            ("iss", .string(issuer)), ("aud", .string(audience)), ("sub", .string(subject)),
            ("roles", .array(roles.map { .string($0) })), ("sid", .string(sessionID)),
            ("iat", .number(JSONNumber(Int(now)))), ("exp", .number(JSONNumber(Int(exp)))),
            ("jti", .string(Base64URL.encode(try SecureRandom.bytes(16)))),
        ])
        return Issued(token: try signer.sign(claims: claims), expiresAt: exp)
    }

    static func algorithm(for key: AsymmetricKey) -> JWSAlgorithm {
        switch key.family {
        case .ec(let curve): return JWSAlgorithm.allCases.first { $0.curve == curve }!
        case .ed25519: return .edDSA
        case .rsa: return .rs256
        }
    }

    /// RFC 7638 JWK thumbprint (SHA-256 of the required public members in lexicographic order, no
    /// whitespace), base64url: a `kid` that changes exactly when the key does.
    static func thumbprint(of key: AsymmetricKey) -> String {
        let full = JWK.publicJSON(for: key, keyID: nil, algorithm: nil)
        let required: [String]
        switch key.family {
        case .rsa: required = ["e", "kty", "n"]
        case .ec: required = ["crv", "kty", "x", "y"]
        case .ed25519: required = ["crv", "kty", "x"]
        }
        let canonical = JSONObject(required.map { ($0, full[$0]!) })
        return Base64URL.encode(Digest.sha256(JSONSerializer.serialize(.object(canonical))))
    }
}
