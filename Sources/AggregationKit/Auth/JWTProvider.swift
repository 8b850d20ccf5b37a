/// One configured issuer of bearer tokens (`auth.jwt.providers.<name>`), compiled at load: its keys in a
/// verifier (each key bound to one algorithm), its claim rules, and how roles and scopes are read.
/// Pure and immutable: `authenticate` takes the time; the per-loop verified-token caches live with the
/// gateway that runs it (`AuthCaches`), not here, so one configuration can serve several gateways.
///
///     token ─▶ JWSVerifier (size cap, strict form, header refusals, signature)
///           ─▶ JWTClaimsValidator (exp/nbf/iat with leeway, iss, aud, required claims, typ)
///           ─▶ Identity: principal = sub, claims, scopes (`scope`, `scp`), roles (`rolesClaim`)
///              + the permissions the roles grant (`auth.roles`)
public final class JWTProvider: Sendable {
    public let name: String
    public let verifier: JWSVerifier
    public let validator: JWTClaimsValidator
    /// Where the token's roles are (`rolesClaim`, default `roles`).
    public let rolesClaim: ClaimPath
    public let roles: RoleTable
    /// Verified tokens each loop remembers (0: no cache).
    public let cacheEntries: Int
    /// `jwksUrl`: keys fetched over HTTP besides the static ones (`verifier`), by the gateway's
    /// `JWKSClient`; nil: static keys only.
    public let jwks: JWKSEndpoint?
    /// `algorithms`, when listed: a fetched key bound to another algorithm is left out.
    public let algorithms: [JWSAlgorithm]?
    /// The algorithm of RSA keys without `alg` (the single RSA algorithm of `algorithms`).
    public let defaultRSAAlgorithm: JWSAlgorithm?

    /// A cached verification lives at most this long, even when the token's `exp` is later: a bound on
    /// how long a token stays accepted after its key is withdrawn (once keys can change at run time).
    public static let maximumCacheSeconds: Double = 300

    public init(name: String, verifier: JWSVerifier, validator: JWTClaimsValidator, rolesClaim: ClaimPath, roles: RoleTable,
                cacheEntries: Int = 4096, jwks: JWKSEndpoint? = nil, algorithms: [JWSAlgorithm]? = nil, defaultRSAAlgorithm: JWSAlgorithm? = nil) {
        self.name = name
        self.jwks = jwks
        self.algorithms = algorithms
        self.defaultRSAAlgorithm = defaultRSAAlgorithm
        self.verifier = verifier
        self.validator = validator
        self.rolesClaim = rolesClaim
        self.roles = roles
        self.cacheEntries = cacheEntries
    }

    /// A token that verified, with everything the stage needs per request.
    public struct Authenticated: Sendable {
        public var identity: Identity
        /// What the token's roles grant.
        public var permissions: Set<String>
        /// Wall-clock seconds from which the token is refused (`exp` + leeway), capped for the cache.
        public var expiresAt: Double
    }

    /// Why a token was refused: the verifier's or the validator's stable code, and a sentence safe to
    /// send in `error_description` (never token content or claim values).
    public struct Rejection: Error, Sendable, Equatable {
        public let code: String
        public let description: String
    }

    /// Verifies `token` and reads its identity at `now` (wall-clock seconds). `fetched`: the keys of the
    /// provider's JWK Set (`jwksUrl`), tried first; a token they refuse goes to the static keys, and if
    /// those refuse it too it is reported with the set's refusal (`kid_unknown` for a `kid` the set lacks:
    /// the cue for a refresh; a kid-less static key would otherwise turn every unknown kid into a bad
    /// signature).
    public func authenticate(_ token: [UInt8], now: Int64, fetched: JWSVerifier? = nil) throws(Rejection) -> Authenticated {
        let verified: JWSVerifier.Verified
        if let fetched {
            do {
                verified = try fetched.verify(token)
            } catch {
                // The static keys are the provider's other keys: a token either set verifies is good
                // (a kid-less token signed by a static key finds no fitting key in the set, yet the set
                // answers `signature_invalid`, not `kid_unknown`). The refusal reported stays the set's:
                // `kid_unknown` is the cue to refresh it.
                guard !verifier.keys.isEmpty, let fallback = try? verifier.verify(token) else {
                    throw Rejection(code: error.code, description: error.description)
                }
                verified = fallback
            }
        } else {
            do { verified = try verifier.verify(token) } catch { throw Rejection(code: error.code, description: error.description) }
        }
        let claims: JSONObject
        do { claims = try validator.validate(payload: verified.payload, header: verified.header, now: now) } catch {
            throw Rejection(code: error.code, description: error.description)
        }
        var identity = Identity()
        identity.principal = claims["sub"]?.stringValue ?? ""
        identity.claims = claims
        identity.scopes = Self.scopes(in: claims)
        identity.roles = Self.strings(rolesClaim.value(in: claims), splittingSpaces: false)
        var expiresAt = Double(now) + Self.maximumCacheSeconds
        if let exp = claims["exp"]?.numberValue?.doubleValue {
            expiresAt = min(expiresAt, exp + Double(validator.leewaySeconds))
        }
        return Authenticated(identity: identity, permissions: roles.permissions(of: identity.roles), expiresAt: expiresAt)
    }

    /// The keys of a fetched JWK Set document that this provider may use: the set must parse whole
    /// (`JWKSet`: public keys only, RSA ≥ 2048 bits, valid points, ≤ 64 keys, RSA keys bound through
    /// `alg` or `defaultRSAAlgorithm`); keys not for signatures and keys bound to an algorithm the
    /// provider does not list are left out; a set with no usable key is refused (the last good one stays).
    public func usableKeys(fromSet bytes: [UInt8]) throws(CryptoError) -> [JWSKey] {
        let set = try JWKSet.parse(bytes, requirement: .publicOnly, defaultAlgorithm: defaultRSAAlgorithm)
        let keys = set.keys.filter { key in !key.algorithm.isHMAC && !key.canSign && (algorithms?.contains(key.algorithm) ?? true) }
        guard !keys.isEmpty else { throw .invalidKey("the key set has no key this provider can use") }
        return keys
    }

    /// Scopes from `scope` (RFC 8693 / RFC 9068: a space-separated string) and `scp` (an array of strings,
    /// or a space-separated string as some issuers write it).
    static func scopes(in claims: JSONObject) -> Set<String> {
        // `scope` is a string by definition; an array there is not a scope list we understand.
        var scopes = claims["scope"]?.stringValue.map { strings(.string($0), splittingSpaces: true) } ?? []
        scopes.formUnion(strings(claims["scp"], splittingSpaces: true))
        return scopes
    }

    /// The strings of a claim: an array's string entries, or a string (split at spaces when asked).
    /// Anything else gives none: a malformed claim grants nothing rather than failing open.
    static func strings(_ value: JSONValue?, splittingSpaces: Bool) -> Set<String> {
        switch value {
        case .string(let s)?:
            if splittingSpaces { return Set(s.split(separator: " ").map(String.init)) }
            return s.isEmpty ? [] : [s]
        case .array(let items)?:
            var out: Set<String> = []
            for item in items { if let s = item.stringValue, !s.isEmpty { out.insert(s) } }
            return out
        default:
            return []
        }
    }
}
