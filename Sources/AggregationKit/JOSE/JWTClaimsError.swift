/// Why a verified token's claims were refused. Stable `code`; `description` is safe for an RFC 6750
/// `error_description` (it names the claim, never its value).
public struct JWTClaimsError: Error, Sendable, Hashable, CustomStringConvertible {
    public let code: String
    public let description: String

    private init(_ code: String, _ description: String) {
        self.code = code
        self.description = description
    }

    public static func == (a: JWTClaimsError, b: JWTClaimsError) -> Bool { a.code == b.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// The payload is not a JSON object (or has duplicate members).
    public static let invalidPayload = JWTClaimsError("claims_invalid", "the token claims are not a JSON object")
    /// A registered claim has the wrong type (`exp` not a number, `aud` not a string or array of strings…).
    public static func invalidClaim(_ name: String) -> JWTClaimsError { .init("claim_invalid", "the \(name) claim is invalid") }
    /// A claim the configuration requires is absent.
    public static func missingClaim(_ name: String) -> JWTClaimsError { .init("claim_missing", "the \(name) claim is missing") }
    public static let expired = JWTClaimsError("token_expired", "the token has expired")
    public static let notYetValid = JWTClaimsError("token_not_yet_valid", "the token is not valid yet")
    public static let issuedInFuture = JWTClaimsError("token_issued_in_future", "the token was issued in the future")
    public static let invalidIssuer = JWTClaimsError("issuer_invalid", "the token issuer is not accepted")
    public static let invalidAudience = JWTClaimsError("audience_invalid", "the token is not meant for this audience")
    public static let invalidType = JWTClaimsError("type_invalid", "the token type is not accepted")

    // For matching with `==` (only the code is compared).
    public static let invalidClaim = JWTClaimsError.invalidClaim("")
    public static let missingClaim = JWTClaimsError.missingClaim("")
}
