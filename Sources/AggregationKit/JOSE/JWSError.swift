/// Why a compact JWS was refused. Each class of refusal has its own stable `code` (for logs, metrics
/// and tests); `description` is a short sentence that is safe to send in an RFC 6750
/// `error_description` (it never quotes the token).
public struct JWSError: Error, Sendable, Hashable, CustomStringConvertible {
    public let code: String
    public let description: String

    private init(_ code: String, _ description: String) {
        self.code = code
        self.description = description
    }

    public static func == (a: JWSError, b: JWSError) -> Bool { a.code == b.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// Longer than the configured cap (default 8 KiB), refused before any parsing.
    public static let tokenTooLarge = JWSError("token_too_large", "the token is too large")
    /// Not three dot-separated parts, or an empty part (JSON serialization and JWE are not accepted).
    public static let malformed = JWSError("token_malformed", "the token is not a compact JWS")
    /// A part that is not strict unpadded base64url.
    public static let invalidBase64URL = JWSError("token_base64url_invalid", "the token is not valid base64url")
    /// The header is not a JSON object (or has duplicate members, or members of the wrong type).
    public static let invalidHeader = JWSError("header_invalid", "the token header is invalid")
    /// The header has no `alg`.
    public static let missingAlgorithm = JWSError("alg_missing", "the token header has no alg")
    /// `alg` is `none` in any casing: an unsigned token.
    public static let algorithmNone = JWSError("alg_none", "unsigned tokens are not accepted")
    /// `alg` is not a JWS algorithm we support.
    public static let unsupportedAlgorithm = JWSError("alg_unsupported", "the token algorithm is not supported")
    /// An HMAC `alg` where only public keys are configured (the key-confusion attack).
    public static let hmacWithPublicKey = JWSError("alg_hmac_with_public_key", "an HMAC token cannot be checked against a public key")
    /// `alg` is not the algorithm the selected key is bound to.
    public static let algorithmNotAllowed = JWSError("alg_not_allowed", "the token algorithm is not the one configured for the key")
    /// The header embeds a key (`jwk`).
    public static let embeddedKey = JWSError("header_jwk", "tokens carrying their own key (jwk) are not accepted")
    /// The header points at a key set (`jku`).
    public static let keySetURL = JWSError("header_jku", "tokens naming a key set URL (jku) are not accepted")
    /// The header points at a certificate (`x5u`).
    public static let certificateURL = JWSError("header_x5u", "tokens naming a certificate URL (x5u) are not accepted")
    /// The header carries a certificate chain (`x5c`).
    public static let certificateChain = JWSError("header_x5c", "tokens carrying a certificate chain (x5c) are not accepted")
    /// The header has `crit`: it names extensions we do not implement, which RFC 7515 §4.1.11 says must
    /// make the token invalid.
    public static let unsupportedCritical = JWSError("header_crit_unsupported", "the token requires unsupported header extensions (crit)")
    /// `kid` names no configured key (a key set refresh may be due), or no keys are configured.
    public static let unknownKeyID = JWSError("kid_unknown", "the token key id is unknown")
    /// The signature has the wrong form for the algorithm (empty, an ECDSA signature not exactly 64/96/132
    /// bytes, or with R or S out of range).
    public static let malformedSignature = JWSError("signature_malformed", "the token signature is malformed")
    /// The signature does not verify with any key bound to the token's algorithm.
    public static let invalidSignature = JWSError("signature_invalid", "the token signature is invalid")
}
