import FoundationEssentials

/// Identity for contract tests: a case that declares `"identity": {"sub": "7", "roles": ["user"]}` is sent
/// with a bearer token carrying those claims.
///
///     load gateway.json ─▶ every JWT provider's keys replaced by a key pair made for this run
///       (same algorithm, same claim rules) in auth.providers, defaults.policy, routes and endpoints
///     case with identity ─▶ claims + iss / aud / exp / iat the provider needs ─▶ signed with the run's
///       private key ─▶ Authorization: Bearer …
///     case without identity ─▶ no token: the request is anonymous (a test can expect 401)
///
/// The keys configured on disk are never used: the run cannot sign with them (the gateway holds public
/// keys only), and a token the run mints must not be one the real issuer's keys would accept.
extension ContractTestRunner {
    /// One provider's signing side for a run: the throwaway private key and what a token must carry.
    struct TestIssuer: Sendable {
        let signer: JWSSigner
        let validator: JWTClaimsValidator
    }

    /// The key id of the run's keys (tokens name it; the provider has no other key).
    static let throwawayKeyID = "contract-test"

    /// A token lives this long (well past any case; well short of anything worth stealing).
    static let tokenLifetimeSeconds: Int64 = 600

    /// Replaces the keys of every JWT provider of `config` with a key pair made now, wherever the
    /// provider is referenced; returns the private halves by provider name.
    static func substituteThrowawayKeys(in config: inout GatewayConfiguration) throws -> [String: TestIssuer] {
        var issuers: [String: TestIssuer] = [:]
        var replaced: [ObjectIdentifier: JWTProvider] = [:]
        for (i, provider) in config.auth.providers.enumerated() {
            // The gateway's own `session` provider keeps its issuer: the run holds its private key already
            // (generated at start, or the configured signing key) and signs session tokens with it.
            if let sessions = config.auth.sessions, provider === sessions.issuer.provider {
                replaced[ObjectIdentifier(provider)] = provider
                continue
            }
            // The provider's own algorithm, so its `algorithms` rule and any algorithm-specific behaviour hold.
            let algorithm = provider.verifier.keys.first?.algorithm ?? .es256
            let key = try throwawayKey(for: algorithm)
            let signing = try JWSKey(key: key, algorithm: algorithm, keyID: throwawayKeyID)
            let verifying = try JWSKey(key: try key.publicKey(), algorithm: algorithm, keyID: throwawayKeyID)
            let substitute = JWTProvider(name: provider.name,
                                         verifier: JWSVerifier(keys: [verifying], maximumTokenBytes: provider.verifier.maximumTokenBytes),
                                         validator: provider.validator, rolesClaim: provider.rolesClaim, roles: provider.roles,
                                         cacheEntries: provider.cacheEntries)
            replaced[ObjectIdentifier(provider)] = substitute
            config.auth.providers[i] = substitute
            issuers[provider.name] = TestIssuer(signer: try JWSSigner(key: signing), validator: provider.validator)
        }
        func swap(_ policy: inout AuthPolicy) {
            guard let substitute = replaced[ObjectIdentifier(policy.provider)] else {
                preconditionFailure("policy.auth names provider '\(policy.provider.name)', which auth.jwt.providers does not hold")
            }
            policy.provider = substitute
        }
        func swap(_ setting: inout RoutePolicy.Override.Setting<AuthPolicy>) {
            if case .value(var policy) = setting {
                swap(&policy)
                setting = .value(policy)
            }
        }
        if var policy = config.defaultPolicy.auth {
            swap(&policy)
            config.defaultPolicy.auth = policy
        }
        for i in config.routes.indices { swap(&config.routes[i].policyOverride.auth) }
        for i in config.endpoints.indices { swap(&config.endpoints[i].policyOverride.auth) }
        return issuers
    }

    /// A fresh private key of the family `algorithm` needs.
    static func throwawayKey(for algorithm: JWSAlgorithm) throws -> AsymmetricKey {
        switch algorithm {
        case .es256: return try AsymmetricKey.generateEC(curve: .p256)
        case .es384: return try AsymmetricKey.generateEC(curve: .p384)
        case .es512: return try AsymmetricKey.generateEC(curve: .p521)
        case .edDSA: return try AsymmetricKey.generateEd25519()
        case .rs256, .rs384, .rs512, .ps256, .ps384, .ps512: return try AsymmetricKey.generateRSA(bits: 2048)
        case .hs256, .hs384, .hs512: preconditionFailure("providers never hold HMAC keys (the configuration refuses them)")
        }
    }

    /// A token for `identity` (the case's claims): `iss` (the provider's first issuer), `aud` (its first
    /// audience, when it checks one), `iat` and `exp` are added unless the case sets them itself.
    static func token(for identity: JSONObject, issuer: TestIssuer, now: Int64) throws -> String {
        var claims = identity
        if claims["iss"] == nil, let iss = issuer.validator.issuers.first { claims["iss"] = .string(iss) }
        if claims["aud"] == nil, let aud = issuer.validator.audiences.first { claims["aud"] = .string(aud) }
        if claims["iat"] == nil { claims["iat"] = .number(JSONNumber(Int(now))) }
        if claims["exp"] == nil { claims["exp"] = .number(JSONNumber(Int(now + tokenLifetimeSeconds))) }
        return try issuer.signer.sign(claims: claims, type: issuer.validator.expectedType ?? "JWT")
    }

    /// Credentials for a case whose identity is verified by the gateway's own `session` provider: a
    /// session to open in the configured store first (so the liveness check finds it), and the request
    /// fields that carry an access token signed by the gateway's issuer with the case's claims over the
    /// defaults (`iss`, `aud`, `sid`, `iat`, `exp`, `jti`; a case may override any, e.g. `iss` to show a
    /// foreign token refused). Cookie mode sends it as a browser would (access and CSRF cookies,
    /// `X-CSRF-Token`, an allowed `Origin`), bearer mode as `Authorization: Bearer`.
    static func sessionCredentials(for identity: JSONObject, sessions: SessionConfiguration, now: Int64) throws
        -> (session: SessionRecord, refreshToken: RefreshTokenHash, fields: [(String, String)]) {
        guard let subject = identity["sub"]?.stringValue, !subject.isEmpty else {
            throw ContractTestError("an identity for the session provider needs a non-empty string sub")
        }
        let roles = identity["roles"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let record = SessionRecord(id: try SessionRecord.generateID(), subject: subject, roles: roles,
                                   client: sessions.mode == .cookie ? "web" : "mobile", userAgent: "contract-test",
                                   createdAt: now, lastRefreshedAt: now, expiresAt: now + sessions.sessionLifetimeSeconds)
        var claims = JSONObject([
            ("iss", .string(sessions.issuer.issuer)), ("aud", .string(sessions.issuer.audience)), ("sub", .string(subject)),
            ("roles", .array(roles.map { .string($0) })), ("sid", .string(record.id)),
            ("iat", .number(JSONNumber(Int(now)))), ("exp", .number(JSONNumber(Int(now + sessions.accessTokenTtlSeconds)))),
            ("jti", .string(Base64URL.encode(try SecureRandom.bytes(16)))),
        ])
        for (name, value) in identity.entries { claims[name] = value }
        let token = try sessions.issuer.signer.sign(claims: claims)
        var fields: [(String, String)] = []
        switch sessions.mode {
        case .cookie:
            let csrf = Base64URL.encode(try SecureRandom.bytes(32))
            fields.append(("Cookie", "\(SessionCookies.access)=\(token); \(SessionCookies.csrf)=\(csrf)"))
            fields.append(("X-CSRF-Token", csrf))
            if let origin = sessions.allowedOrigins.first { fields.append(("Origin", origin)) }
        case .bearer:
            fields.append(("Authorization", "Bearer " + token))
        }
        return (record, try RefreshTokenHash.generate().hash, fields)
    }
}

/// Partner API keys for contract tests: a case whose identity is for the pseudo-provider `apiKey`
/// (`{"partner": "acme", "tier": "gold", "scopes": ["orders:read"]}`) is sent with `X-API-Key`. The
/// configured key store is never read or written: every route's store is replaced by an empty key file
/// made for the run, and each such case adds a fresh key to it.
extension ContractTestRunner {
    /// The identity provider name of API-key cases.
    static let apiKeyProviderName = "apiKey"

    /// Replaces the configured API key store (the top-level one and every policy's) with an empty file
    /// store in a directory made for the run; returns it, nil when the configuration has no key store.
    static func substituteThrowawayKeyStore(in config: inout GatewayConfiguration) throws -> (store: APIKeyFileStore, directory: String)? {
        guard config.auth.apiKeys != nil else { return nil }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bff-contract-keys-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = APIKeyFileStore(path: directory + "/keys.json")
        config.auth.apiKeys = .file(store)
        func swap(_ setting: inout RoutePolicy.Override.Setting<APIKeyPolicy>) {
            if case .value(var policy) = setting {
                policy.store = .file(store)
                setting = .value(policy)
            }
        }
        if var policy = config.defaultPolicy.apiKey {
            policy.store = .file(store)
            config.defaultPolicy.apiKey = policy
        }
        for i in config.routes.indices { swap(&config.routes[i].policyOverride.apiKey) }
        for i in config.endpoints.indices { swap(&config.endpoints[i].policyOverride.apiKey) }
        return (store, directory)
    }

    /// A new key for `identity` (`partner`, `tier`, `scopes`) in the run's store; the request field.
    static func apiKeyCredentials(for identity: JSONObject, store: APIKeyFileStore, now: Int64) throws -> (String, String) {
        guard let partner = identity["partner"]?.stringValue, let tier = identity["tier"]?.stringValue else {
            throw ContractTestError("an apiKey identity needs string partner and tier")
        }
        let scopes = identity["scopes"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let made = try APIKeyFormat.generate()
        try store.add(APIKeyRecord(id: made.id, digest: made.digest, partner: partner, tier: tier, scopes: scopes,
                                   created: now, expires: nil, status: .active))
        return ("X-API-Key", made.key)
    }
}

/// A contract case that cannot be sent as written.
struct ContractTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
