import FoundationEssentials

/// The top-level `auth` section of gateway.json: the bearer-token providers routes may name in
/// `policy.auth`, the roles and what they grant, and where tokens carry their roles.
///
/// ```json
/// "auth": {
///   "jwt": { "providers": { "main": {
///       "keys": [ { "pemFile": "keys/issuer.pem", "kid": "2024-1" }, { "jwksFile": "keys/issuer-jwks.json" },
///                 { "jwk": { "kty": "EC", "crv": "P-256", "x": "…", "y": "…", "kid": "k1" } } ],
///       "algorithms": ["RS256", "ES256"], "issuers": ["https://id.example.com"], "audiences": ["bff-web"],
///       "requiredClaims": ["exp", "sub"], "leewaySeconds": 60, "type": "JWT", "maxTokenBytes": 8192,
///       "cacheEntries": 4096 } } },
///   "roles": { "admin": { "permissions": ["users:write"], "inherits": ["user"] },
///              "user":  { "permissions": ["users:read"] } },
///   "rolesClaim": "realm_access.roles"
/// }
/// ```
///
/// Keys are loaded and checked once, at start; a provider whose keys cannot be read is a configuration
/// error (exit 2), never a provider that refuses everything at run time.
public struct AuthConfiguration: Sendable {
    /// The providers by name, in file order.
    public var providers: [JWTProvider] = []
    public var roles = RoleTable()
    /// `auth.apiKeys`: the partner API key store, when configured.
    public var apiKeys: APIKeyStoreChoice?
    /// `auth.sessions`: the gateway's own logins and access tokens (its provider is in `providers`, named `session`).
    public var sessions: SessionConfiguration?

    public init() {}

    public func provider(named name: String) -> JWTProvider? { providers.first { $0.name == name } }
}

enum AuthConfigurationReader {
    static let keys = ["jwt", "roles", "rolesClaim", "apiKeys", "sessions"]
    static let apiKeysKeys = ["store", "file", "reloadIntervalMs", "redisKeyPrefix", "maxStaleMs"]
    static let defaultAPIKeysFile = "keys.json"
    static let jwtKeys = ["providers"]
    static let providerKeys = ["keys", "algorithms", "issuers", "audiences", "requiredClaims", "leewaySeconds", "type", "maxTokenBytes",
                               "cacheEntries", "rolesClaim", "jwksUrl", "jwksRefreshSeconds", "jwksMinIntervalMs", "jwksTimeoutMs", "jwksMaxBytes"]
    static let keySourceKeys = ["pemFile", "jwksFile", "jwk", "jwks", "kid"]
    static let defaultRequiredClaims = ["exp", "sub"]
    static let maximumKeys = JWKSet.maximumKeys

    /// Reads `auth` (absent: no providers, no roles). `directory`: where relative key files are.
    /// `redisConfigured`: whether the top-level `redis` section is there (API keys then default to it).
    static func read(_ value: JSONValue?, directory: String, redisConfigured: Bool = false, reader r: ConfigReader) -> AuthConfiguration {
        var auth = AuthConfiguration()
        guard let o = r.object(value, "$.auth", allowed: keys) else { return auth }
        auth.roles = roles(o["roles"], reader: r)
        var rolesClaim = (try? ClaimPath("roles"))!
        if let text = r.string(o, "rolesClaim", "$.auth") {
            do { rolesClaim = try ClaimPath(text) } catch { r.issue("$.auth.rolesClaim", error.reason) }
        }
        if let keys = r.object(o["apiKeys"], "$.auth.apiKeys", allowed: apiKeysKeys) {
            auth.apiKeys = apiKeyStore(keys, directory: directory, redisConfigured: redisConfigured, reader: r)
        }
        let jwt = r.object(o["jwt"], "$.auth.jwt", allowed: jwtKeys)
        if let providers = r.object(jwt?["providers"], "$.auth.jwt.providers", allowed: jwt?["providers"]?.objectValue?.keys ?? []) {
            for (name, value) in providers.entries {
                let p = "$.auth.jwt.providers.\(name)"
                if name.isEmpty || !name.utf8.allSatisfy({ ByteClass.isToken($0) }) {
                    r.issue(p, "a provider name is a token (letters, digits, '-', '_', '.')")
                    continue
                }
                if let provider = provider(name, value, p, directory: directory, roles: auth.roles, rolesClaim: rolesClaim, reader: r) {
                    auth.providers.append(provider)
                }
            }
        }
        auth.sessions = SessionConfigurationReader.read(o["sessions"], directory: directory, roles: auth.roles, redisConfigured: redisConfigured, reader: r)
        if let sessions = auth.sessions {
            if auth.provider(named: AccessTokenIssuer.providerName) != nil {
                r.issue("$.auth.jwt.providers.\(AccessTokenIssuer.providerName)", "the name of the gateway's own provider (auth.sessions): choose another")
            }
            auth.providers.append(sessions.issuer.provider)
        }
        return auth
    }

    /// `auth.apiKeys`: `store` is `file` (the default without a `redis` section) or `redis` (the default
    /// with one). Each store's own keys are refused with the other (they would be silently ignored).
    static func apiKeyStore(_ keys: JSONObject, directory: String, redisConfigured: Bool, reader r: ConfigReader) -> APIKeyStoreChoice? {
        let p = "$.auth.apiKeys"
        let interval = r.int(keys, "reloadIntervalMs", p, range: 10...1000) ?? 200
        var inRedis = redisConfigured
        if let store = r.string(keys, "store", p) {
            switch store {
            case "file": inRedis = false
            case "redis":
                inRedis = true
                if !redisConfigured { r.issue("\(p).store", "redis needs the top-level redis section (redis.url or BFF_REDIS_URL)") }
            default: r.issue("\(p).store", "'\(store)' is not file or redis")
            }
        }
        if inRedis {
            if keys["file"] != nil { r.issue("\(p).file", "the keys are in Redis (a redis section is configured): set store to file to use a key file") }
            let prefix = r.string(keys, "redisKeyPrefix", p) ?? "bff:"
            if prefix.utf8.count > 64 || prefix.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) {
                r.issue("\(p).redisKeyPrefix", "expected at most 64 printable characters without spaces")
            }
            let stale = r.int(keys, "maxStaleMs", p, range: 100...5000) ?? 1000
            if stale < 2 * interval { r.issue("\(p).maxStaleMs", "must be at least twice reloadIntervalMs (\(2 * interval)): one slow poll would refuse every key") }
            return .redis(APIKeyRedisStore.Settings(keyPrefix: prefix, reloadInterval: UInt64(interval) * 1_000_000, maxStaleness: UInt64(stale) * 1_000_000))
        }
        for key in ["redisKeyPrefix", "maxStaleMs"] where keys[key] != nil {
            r.issue("\(p).\(key)", "only for keys in Redis (store: redis)")
        }
        let file = r.string(keys, "file", p) ?? defaultAPIKeysFile
        guard !file.isEmpty, !file.utf8.contains(0) else { r.issue("\(p).file", "expected a file path"); return nil }
        let store = APIKeyFileStore(path: apiKeyFilePath(file, directory: directory), reloadInterval: UInt64(interval) * 1_000_000)
        if let failure = store.currentSnapshot().failure { r.issue("\(p).file", failure) }
        return .file(store)
    }

    // MARK: Roles

    static func roles(_ value: JSONValue?, reader r: ConfigReader) -> RoleTable {
        guard let o = r.object(value, "$.auth.roles", allowed: value?.objectValue?.keys ?? []) else { return RoleTable() }
        var definitions: [String: RoleTable.Definition] = [:]
        let before = r.issues.count
        for (name, value) in o.entries {
            let p = "$.auth.roles.\(name)"
            if name.isEmpty { r.issue(p, "a role needs a name"); continue }
            guard let role = r.object(value, p, allowed: ["permissions", "inherits"]) else { continue }
            definitions[name] = RoleTable.Definition(permissions: names(role, "permissions", p, reader: r) ?? [],
                                                     inherits: names(role, "inherits", p, reader: r) ?? [])
        }
        guard r.issues.count == before else { return RoleTable() }
        do {
            return try RoleTable.resolve(definitions)
        } catch {
            switch error {
            case .unknownRole(let role, let parent):
                r.issue("$.auth.roles.\(role).inherits", "'\(parent)' is not a configured role")
            case .cycle(let chain):
                r.issue("$.auth.roles", "roles inherit in a cycle: \(chain.joined(separator: " → "))")
            }
            return RoleTable()
        }
    }

    /// A list of non-empty strings without control characters, each once.
    static func names(_ o: JSONObject?, _ key: String, _ path: String, reader r: ConfigReader) -> [String]? {
        guard let list = r.array(o, key, path) else { return nil }
        var out: [String] = []
        for (i, item) in list.enumerated() {
            let p = "\(path).\(key)[\(i)]"
            guard let s = item.stringValue else { r.issue(p, "expected a string, found \(item.typeName)"); continue }
            if s.isEmpty || s.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { r.issue(p, "expected a non-empty name without control characters"); continue }
            if out.contains(s) { r.issue(p, "'\(s)' is listed twice"); continue }
            out.append(s)
        }
        return out
    }

    // MARK: Providers

    static func provider(_ name: String, _ value: JSONValue, _ p: String, directory: String, roles: RoleTable, rolesClaim: ClaimPath,
                         reader r: ConfigReader) -> JWTProvider? {
        let before = r.issues.count
        guard let o = r.object(value, p, allowed: providerKeys) else { return nil }
        var jwks: JWKSEndpoint? = nil
        if let url = r.string(o, "jwksUrl", p) {
            do {
                let (host, port, target) = try JWKSEndpoint.parse(url: url)
                jwks = JWKSEndpoint(host: host, port: port, target: target)
            } catch {
                r.issue("\(p).jwksUrl", error.reason)
            }
        }
        let refresh = r.int(o, "jwksRefreshSeconds", p, range: 10...86_400).map { UInt64($0) * 1_000_000_000 }
        let minimum = r.int(o, "jwksMinIntervalMs", p, range: 100...3_600_000).map { UInt64($0) * 1_000_000 }
        let fetchTimeout = r.int(o, "jwksTimeoutMs", p, range: 100...60_000).map { UInt64($0) * 1_000_000 }
        let maxBytes = r.int(o, "jwksMaxBytes", p, range: 1024...4_194_304)
        if o["jwksUrl"] == nil {
            for key in ["jwksRefreshSeconds", "jwksMinIntervalMs", "jwksTimeoutMs", "jwksMaxBytes"] where o[key] != nil {
                r.issue("\(p).\(key)", "only with jwksUrl")
            }
        }
        if var endpoint = jwks {
            if let refresh { endpoint.refreshInterval = refresh }
            if let minimum { endpoint.minimumInterval = minimum }
            if let fetchTimeout { endpoint.timeout = fetchTimeout }
            if let maxBytes { endpoint.maximumBytes = maxBytes }
            if endpoint.refreshInterval < endpoint.minimumInterval {
                r.issue("\(p).jwksMinIntervalMs", "must not exceed jwksRefreshSeconds (\(endpoint.refreshInterval / 1_000_000_000) s)")
            }
            jwks = endpoint
        }
        var algorithms: [JWSAlgorithm]? = nil
        if let list = r.array(o, "algorithms", p) {
            var accepted: [JWSAlgorithm] = []
            if list.isEmpty { r.issue("\(p).algorithms", "at least one algorithm (or leave algorithms out)") }
            for (i, item) in list.enumerated() {
                let at = "\(p).algorithms[\(i)]"
                guard let text = item.stringValue else { r.issue(at, "expected an algorithm name, found \(item.typeName)"); continue }
                guard let algorithm = JWSAlgorithm(name: text) else {
                    r.issue(at, "'\(text)' is not a JWS algorithm (\(JWSAlgorithm.allCases.filter { !$0.isHMAC }.map(\.name).joined(separator: ", ")); names are case-sensitive)")
                    continue
                }
                if algorithm.isHMAC {
                    r.issue(at, "\(text) needs a shared secret, which would let the gateway mint the issuer's tokens: configure the issuer's public key (RS, PS, ES, EdDSA)")
                    continue
                }
                if accepted.contains(algorithm) { r.issue(at, "'\(text)' is listed twice"); continue }
                accepted.append(algorithm)
            }
            algorithms = accepted
        }
        // RSA keys (and a PEM RSA key) carry no algorithm of their own: the one RSA algorithm listed.
        let rsaAlgorithms = (algorithms ?? []).filter { $0.fits(.rsa) }
        let rsaDefault = rsaAlgorithms.count == 1 ? rsaAlgorithms[0] : nil

        var keys: [JWSKey] = []
        if let sources = r.array(o, "keys", p, required: o["jwksUrl"] == nil) {
            if sources.isEmpty && o["jwksUrl"] == nil { r.issue("\(p).keys", "at least one key source is required (or jwksUrl)") }
            for (i, source) in sources.enumerated() {
                keys += keySource(source, "\(p).keys[\(i)]", directory: directory, rsaDefault: rsaDefault, rsaChoices: rsaAlgorithms, reader: r)
            }
        }
        if keys.count > maximumKeys { r.issue("\(p).keys", "\(keys.count) keys (at most \(maximumKeys): every key is a candidate for a token without kid)") }
        if let algorithms {
            for key in keys where !algorithms.contains(key.algorithm) {
                r.issue("\(p).keys", "a key\(key.keyID.map { " (kid \($0))" } ?? "") is bound to \(key.algorithm.name), which algorithms does not list")
            }
        }

        let issuers = names(o, "issuers", p, reader: r) ?? []
        if o["issuers"] == nil { r.issue("\(p).issuers", "required: the exact iss values this provider's tokens carry") }
        else if issuers.isEmpty { r.issue("\(p).issuers", "at least one issuer") }
        let audiences = names(o, "audiences", p, reader: r) ?? []
        let required = names(o, "requiredClaims", p, reader: r) ?? defaultRequiredClaims
        for (i, claim) in required.enumerated() where claim.contains("\"") || claim.contains("\\") {
            r.issue("\(p).requiredClaims[\(i)]", "a claim name may not contain '\"' or '\\'")
        }
        let leeway = r.int(o, "leewaySeconds", p, range: 0...600) ?? Int(JWTClaimsValidator.defaultLeewaySeconds)
        let type = r.string(o, "type", p)
        if let type, type.isEmpty { r.issue("\(p).type", "expected a type such as JWT or at+jwt") }
        let maxTokenBytes = r.int(o, "maxTokenBytes", p, range: 512...65_536) ?? JWSVerifier.defaultMaximumTokenBytes
        let cacheEntries = r.int(o, "cacheEntries", p, range: 0...1_000_000) ?? 4096
        var claimPath = rolesClaim
        if let text = r.string(o, "rolesClaim", p) {
            do { claimPath = try ClaimPath(text) } catch { r.issue("\(p).rolesClaim", error.reason) }
        }
        guard r.issues.count == before else { return nil }
        let validator = JWTClaimsValidator(issuers: issuers, audiences: audiences, requiredClaims: required,
                                           leewaySeconds: Int64(leeway), expectedType: type)
        return JWTProvider(name: name, verifier: JWSVerifier(keys: keys, maximumTokenBytes: maxTokenBytes), validator: validator,
                           rolesClaim: claimPath, roles: roles, cacheEntries: cacheEntries, jwks: jwks, algorithms: algorithms,
                           defaultRSAAlgorithm: rsaDefault)
    }

    /// One entry of `keys`: exactly one of `pemFile` (with an optional `kid`), `jwksFile` (a JWK set or
    /// one JWK), `jwk` (one inline JWK), `jwks` (an inline JWK set). Public keys only.
    static func keySource(_ value: JSONValue, _ p: String, directory: String, rsaDefault: JWSAlgorithm?, rsaChoices: [JWSAlgorithm],
                          reader r: ConfigReader) -> [JWSKey] {
        guard let o = r.object(value, p, allowed: keySourceKeys) else { return [] }
        let given = ["pemFile", "jwksFile", "jwk", "jwks"].filter { o[$0] != nil }
        guard given.count == 1 else {
            r.issue(p, given.isEmpty ? "expected one of pemFile, jwksFile, jwk, jwks" : "set only one of \(given.joined(separator: ", "))")
            return []
        }
        let kid = r.string(o, "kid", p)
        if kid != nil && given[0] != "pemFile" { r.issue("\(p).kid", "only for pemFile (a JWK carries its own kid)"); return [] }
        let rsaHint = rsaChoices.count > 1
            ? "algorithms lists several RSA algorithms (\(rsaChoices.map(\.name).joined(separator: ", "))): give each RSA key its alg"
            : "list the RSA algorithm in algorithms (e.g. [\"RS256\"]) or give the key its alg"
        do throws(CryptoError) {
            switch given[0] {
            case "pemFile":
                guard let path = r.string(o, "pemFile", p), let text = file(path, "\(p).pemFile", directory: directory, reader: r) else { return [] }
                let key = try AsymmetricKey.pem(String(decoding: text, as: UTF8.self))
                if key.isPrivate {
                    r.issue("\(p).pemFile", "a private key: configure the issuer's public key (the gateway only verifies)")
                    return []
                }
                let algorithm: JWSAlgorithm
                switch key.family {
                case .ec(let curve): algorithm = JWSAlgorithm.allCases.first { $0.curve == curve }!
                case .ed25519: algorithm = .edDSA
                case .rsa:
                    guard let rsaDefault else { r.issue("\(p).pemFile", "an RSA key: \(rsaHint)"); return [] }
                    algorithm = rsaDefault
                }
                return [try JWSKey(key: key, algorithm: algorithm, keyID: kid)]
            case "jwksFile":
                guard let path = r.string(o, "jwksFile", p), let bytes = file(path, "\(p).jwksFile", directory: directory, reader: r) else { return [] }
                let document = try? JSONParser.parse(bytes, maxDepth: 16, duplicateKeys: .reject)
                if document?.objectValue?["keys"] != nil {
                    return try set(bytes, "\(p).jwksFile", rsaDefault: rsaDefault, rsaHint: rsaHint, reader: r)
                }
                return [try JWK.parse(bytes, requirement: .publicOnly).jwsKey(defaultAlgorithm: rsaDefault)]
            case "jwk":
                guard let object = r.object(o["jwk"], "\(p).jwk", allowed: o["jwk"]?.objectValue?.keys ?? []) else { return [] }
                return [try JWK.parse(object, requirement: .publicOnly).jwsKey(defaultAlgorithm: rsaDefault)]
            default:
                guard let object = o["jwks"], object.objectValue != nil else { r.issue("\(p).jwks", "expected a JWK set object {\"keys\": [...]}"); return [] }
                return try set(JSONSerializer.serialize(object), "\(p).jwks", rsaDefault: rsaDefault, rsaHint: rsaHint, reader: r)
            }
        } catch {
            r.issue(p, "\(error.detail)\(error.detail.contains("without alg") ? " (\(rsaHint))" : "")")
            return []
        }
    }

    private static func set(_ bytes: [UInt8], _ p: String, rsaDefault: JWSAlgorithm?, rsaHint: String, reader r: ConfigReader) throws(CryptoError) -> [JWSKey] {
        let set = try JWKSet.parse(bytes, requirement: .publicOnly, defaultAlgorithm: rsaDefault)
        if set.keys.isEmpty {
            r.issue(p, "no key for JWS signatures in the set (skipped: \(set.skipped.map(\.description).joined(separator: "; ")))")
        }
        return set.keys
    }

    /// A key file's bytes; a relative path is taken from the configuration's folder.
    private static func file(_ path: String, _ p: String, directory: String, reader r: ConfigReader) -> [UInt8]? {
        guard !path.isEmpty, !path.utf8.contains(0) else { r.issue(p, "expected a file path"); return nil }
        let full = path.hasPrefix("/") ? path : (directory.hasSuffix("/") ? directory : directory + "/") + path
        guard let data = FileManager.default.contents(atPath: full) else { r.issue(p, "cannot read '\(full)'"); return nil }
        return Array(data)
    }

    /// A key file path; a relative one is taken from the configuration's folder.
    static func apiKeyFilePath(_ path: String, directory: String) -> String {
        path.hasPrefix("/") ? path : (directory.hasSuffix("/") ? directory : directory + "/") + path
    }

    // MARK: policy.auth

    static let policyKeys = ["provider", "require", "claimsToHeaders", "forwardToken"]
    static let requirementKeys = ["scopes", "permissions", "roles", "owner"]

    /// A route's or endpoint's `policy.auth` object, resolved against the configured providers.
    static func policy(_ value: JSONValue?, _ path: String, auth: AuthConfiguration, reader r: ConfigReader) -> AuthPolicy? {
        let before = r.issues.count
        guard let o = r.object(value, path, allowed: policyKeys) else { return nil }
        var provider: JWTProvider? = nil
        if let name = r.string(o, "provider", path) {
            provider = auth.provider(named: name)
            if provider == nil {
                r.issue("\(path).provider", auth.providers.isEmpty
                        ? "'\(name)' is not configured: there are no auth.jwt.providers"
                        : "'\(name)' is not configured (configured: \(auth.providers.map(\.name).joined(separator: ", ")))")
            }
        } else if o["provider"] == nil {
            if auth.providers.count == 1 {
                provider = auth.providers[0]
            } else {
                r.issue("\(path).provider", auth.providers.isEmpty ? "no auth.jwt.providers are configured"
                        : "required: several providers are configured (\(auth.providers.map(\.name).joined(separator: ", ")))")
            }
        }
        var alternatives: [AuthRequirement] = []
        if let require = o["require"] {
            switch require {
            case .object:
                if let one = requirement(require, "\(path).require", roles: auth.roles, reader: r) { alternatives = [one] }
            case .array(let list):
                if list.isEmpty { r.issue("\(path).require", "an empty list: leave require out to accept any valid token") }
                for (i, item) in list.enumerated() {
                    if let one = requirement(item, "\(path).require[\(i)]", roles: auth.roles, reader: r) { alternatives.append(one) }
                }
            default:
                r.issue("\(path).require", "expected an object (all of it) or an array of objects (any one of them), found \(require.typeName)")
            }
        }
        var mapping: [(claim: ClaimPath, header: String)] = []
        if let headers = r.object(o["claimsToHeaders"], "\(path).claimsToHeaders", allowed: o["claimsToHeaders"]?.objectValue?.keys ?? []) {
            for (claimText, value) in headers.entries {
                let p = "\(path).claimsToHeaders.\(claimText)"
                let claim: ClaimPath
                do { claim = try ClaimPath(claimText) } catch { r.issue(p, error.reason); continue }
                guard let header = value.stringValue else { r.issue(p, "expected a header name, found \(value.typeName)"); continue }
                if header.isEmpty || !header.utf8.allSatisfy(ByteClass.isToken) { r.issue(p, "'\(header)' is not a valid header name"); continue }
                let lower = header.lowercased()
                if PolicyConfiguration.reservedHeaders.contains(lower) || lower == "authorization" || lower == "cookie" {
                    r.issue(p, "'\(header)' cannot carry a claim (the gateway's own field, or credentials)"); continue
                }
                if mapping.contains(where: { $0.header.asciiCaseInsensitiveEquals(header) }) { r.issue(p, "'\(header)' is used twice"); continue }
                mapping.append((claim, header))
            }
        }
        let forward = r.bool(o, "forwardToken", path) ?? false
        guard r.issues.count == before, let provider else { return nil }
        return AuthPolicy(provider: provider, require: alternatives, claimsToHeaders: mapping, forwardToken: forward)
    }

    /// `policy.auth` with `apiKey`: `{"apiKey": true, "require": {"scopes": [...]} | [{"scopes": [...]}, ...]}`.
    static func apiKeyPolicy(_ value: JSONValue, _ path: String, auth: AuthConfiguration, reader r: ConfigReader) -> APIKeyPolicy? {
        let before = r.issues.count
        guard let o = r.object(value, path, allowed: ["apiKey", "require"]) else { return nil }
        if o["apiKey"] != .bool(true) { r.issue("\(path).apiKey", "expected true (leave it out for bearer tokens)") }
        if auth.apiKeys == nil { r.issue("\(path).apiKey", "no key store: configure auth.apiKeys") }
        var alternatives: [[String]] = []
        func scopes(_ item: JSONValue, _ p: String) {
            guard let one = r.object(item, p, allowed: ["scopes"]) else { return }
            guard let list = names(one, "scopes", p, reader: r) else { r.issue("\(p).scopes", "required (API keys carry scopes only)"); return }
            if list.isEmpty { r.issue("\(p).scopes", "an empty list lets every key in: leave require out instead") }
            alternatives.append(list)
        }
        switch o["require"] {
        case nil: break
        case .object?: scopes(o["require"]!, "\(path).require")
        case .array(let list)?:
            if list.isEmpty { r.issue("\(path).require", "an empty list: leave require out to accept any active key") }
            for (i, item) in list.enumerated() { scopes(item, "\(path).require[\(i)]") }
        case let other?: r.issue("\(path).require", "expected an object or an array of objects, found \(other.typeName)")
        }
        guard r.issues.count == before, let store = auth.apiKeys else { return nil }
        return APIKeyPolicy(store: store, require: alternatives)
    }

    static func requirement(_ value: JSONValue, _ path: String, roles: RoleTable, reader r: ConfigReader) -> AuthRequirement? {
        let before = r.issues.count
        guard let o = r.object(value, path, allowed: requirementKeys) else { return nil }
        var requirement = AuthRequirement()
        requirement.scopes = names(o, "scopes", path, reader: r) ?? []
        requirement.permissions = names(o, "permissions", path, reader: r) ?? []
        requirement.roles = names(o, "roles", path, reader: r) ?? []
        for (i, permission) in requirement.permissions.enumerated() where !roles.permissionsByRole.values.contains(where: { $0.contains(permission) }) {
            r.issue("\(path).permissions[\(i)]", "no role in auth.roles grants '\(permission)': every request would be refused")
        }
        if let owner = r.object(o["owner"], "\(path).owner", allowed: ["param", "claim"]) {
            let parameter = r.string(owner, "param", "\(path).owner", required: true)
            var claim: ClaimPath? = try? ClaimPath("sub")
            if let text = r.string(owner, "claim", "\(path).owner") {
                do { claim = try ClaimPath(text) } catch { r.issue("\(path).owner.claim", error.reason); claim = nil }
            }
            if let parameter, let claim { requirement.owner = .init(parameter: parameter, claim: claim) }
        }
        if r.issues.count == before, requirement.scopes.isEmpty, requirement.permissions.isEmpty, requirement.roles.isEmpty, requirement.owner == nil {
            r.issue(path, "an empty requirement lets every valid token in: name scopes, permissions, roles or owner (or leave require out)")
        }
        return r.issues.count == before ? requirement : nil
    }
}
