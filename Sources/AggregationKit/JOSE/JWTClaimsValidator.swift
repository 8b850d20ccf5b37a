/// Checks a verified JWT's claims (RFC 7519 §4.1) against configuration and an injected time. Pure: the
/// caller passes `now`, so tests drive the clock by hand.
///
/// With `leeway` L (default 60 s, for clock skew between the issuer and us) and `now` t:
///
///     exp:  valid while t < exp + L          (RFC 7519 §4.1.4: "on or after … MUST NOT be accepted")
///     nbf:  valid from  t ≥ nbf − L          (§4.1.5)
///     iat:  refused when iat > t + L         (issued in the future: a broken or hostile issuer)
///
/// e.g. exp = 1000, L = 60: t = 999 and t = 1059 pass, t = 1060 is expired.
///
/// `iss` must equal one of `issuers` exactly (no normalisation); `aud` (a string or an array of strings)
/// must contain one of `audiences`. A token that names an audience when none is configured is refused:
/// RFC 7519 §4.1.3 says a recipient that does not identify itself with a value in `aud` must reject it,
/// and accepting it would let a token minted for another service in the same issuer's realm in.
/// Thread safety: immutable, share freely.
public struct JWTClaimsValidator: Sendable {
    public static let defaultLeewaySeconds: Int64 = 60

    /// Accepted `iss` values, compared exactly. Empty: `iss` is not checked (only its type).
    public var issuers: [String]
    /// Accepted `aud` values. Empty: a token carrying `aud` is refused.
    public var audiences: [String]
    /// Claims that must be present. By default `exp`: a token that never expires is refused.
    public var requiredClaims: [String]
    public var leewaySeconds: Int64
    /// When set, the header's `typ` must match (case-insensitively, with or without `application/`, per
    /// RFC 7515 §4.1.9), e.g. `JWT` or `at+jwt` (RFC 9068 access tokens).
    public var expectedType: String?

    public init(issuers: [String] = [], audiences: [String] = [], requiredClaims: [String] = ["exp"],
                leewaySeconds: Int64 = defaultLeewaySeconds, expectedType: String? = nil) {
        precondition(leewaySeconds >= 0)
        self.issuers = issuers
        self.audiences = audiences
        self.requiredClaims = requiredClaims
        self.leewaySeconds = leewaySeconds
        self.expectedType = expectedType
    }

    /// The claims of a verified token, or the first reason to refuse them. `now` is seconds since the
    /// epoch (the gateway's wall clock).
    public func validate(payload: [UInt8], header: JSONObject, now: Int64) throws(JWTClaimsError) -> JSONObject {
        if let expectedType {
            guard let typ = header["typ"]?.stringValue, Self.normalizedType(typ) == Self.normalizedType(expectedType) else {
                throw .invalidType
            }
        }
        guard let value = try? JSONParser.parse(payload, maxDepth: 64, duplicateKeys: .reject),
              let claims = value.objectValue else { throw .invalidPayload }
        for name in requiredClaims where claims[name] == nil { throw .missingClaim(name) }

        let t = Double(now), leeway = Double(leewaySeconds)
        if let exp = try Self.numericDate(claims, "exp"), !(t < exp + leeway) { throw .expired }
        if let nbf = try Self.numericDate(claims, "nbf"), !(t >= nbf - leeway) { throw .notYetValid }
        if let iat = try Self.numericDate(claims, "iat"), iat > t + leeway { throw .issuedInFuture }

        for name in ["iss", "sub", "jti"] where claims[name] != nil && claims[name]?.stringValue == nil {
            throw .invalidClaim(name)
        }
        if !issuers.isEmpty {
            guard let iss = claims["iss"]?.stringValue else { throw .missingClaim("iss") }
            guard issuers.contains(where: { $0.utf8.elementsEqual(iss.utf8) }) else { throw .invalidIssuer }
        }
        if let aud = claims["aud"] {
            let names: [String]
            if let one = aud.stringValue {
                names = [one]
            } else if let array = aud.arrayValue {
                var collected: [String] = []
                for entry in array {
                    guard let s = entry.stringValue else { throw .invalidClaim("aud") }
                    collected.append(s)
                }
                names = collected
            } else {
                throw .invalidClaim("aud")
            }
            let accepted = names.contains { name in audiences.contains { $0.utf8.elementsEqual(name.utf8) } }
            guard accepted else { throw .invalidAudience }
        } else if !audiences.isEmpty {
            throw .missingClaim("aud")
        }
        return claims
    }

    /// A NumericDate (RFC 7519 §2): a finite JSON number of seconds, fractions allowed.
    private static func numericDate(_ claims: JSONObject, _ name: String) throws(JWTClaimsError) -> Double? {
        guard let value = claims[name] else { return nil }
        guard let number = value.numberValue?.doubleValue, number.isFinite else { throw .invalidClaim(name) }
        return number
    }

    private static func normalizedType(_ typ: String) -> String {
        let lower = typ.lowercased()
        return lower.hasPrefix("application/") ? String(lower.dropFirst("application/".count)) : lower
    }
}
