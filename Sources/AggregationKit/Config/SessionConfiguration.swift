import FoundationEssentials

/// `auth.sessions`: the gateway's own logins (the BFF token pattern). With it set, the gateway answers
/// `POST /auth/login|refresh|logout`, `GET /auth/sessions`, `DELETE /auth/sessions/{id}` and
/// `GET /.well-known/jwks.json`, and routes may name the provider `session` in `policy.auth`.
///
/// ```json
/// "auth": { "sessions": {
///   "mode": "cookie",
///   "identity": { "service": "identity", "path": "/verify", "timeoutMs": 5000 },
///   "accessTokenTtlSeconds": 300, "refreshIdleSeconds": 86400, "sessionLifetimeSeconds": 604800,
///   "issuer": "bff-gateway", "audience": "bff-services",
///   "signingKeyFile": "keys/session-es256.pem", "keyId": "2026-1",
///   "allowedOrigins": ["https://app.example.com"],
///   "lockout": { "account": { "threshold": 5, "windowSeconds": 900, "baseLockSeconds": 1, "maximumLockSeconds": 900 },
///                "client":  { "threshold": 20 }, "maxEntries": 100000 },
///   "maxLoginBodyBytes": 4096, "maxSessions": 100000, "maxSessionsPerUser": 10, "revocationCheckMs": 1000
/// } }
/// ```
public struct SessionConfiguration: Sendable {
    /// How clients hold their tokens.
    public enum Mode: String, Sendable {
        /// Browsers (BFFWeb): `__Host-` cookies, never visible to scripts; CSRF double-submit + Origin check.
        case cookie
        /// Mobile apps (BFFMobile): tokens in JSON bodies, `Authorization: Bearer` on requests.
        case bearer
    }

    public var mode: Mode = .cookie
    /// The service (from `services`) that checks credentials, and the path it is called on.
    public var identityService: String = ""
    public var identityPath: String = "/verify"
    /// Response timeout of the identity call (ns).
    public var identityTimeout: UInt64 = 5_000_000_000
    public var accessTokenTtlSeconds: Int64 = 300
    /// A session not refreshed for this long is over.
    public var refreshIdleSeconds: Int64 = 86_400
    /// Absolute end of a session after login; no refresh extends it.
    public var sessionLifetimeSeconds: Int64 = 604_800
    /// Browser origins allowed to log in and to send state-changing requests (cookie mode), lower-case
    /// `scheme://host[:port]` with default ports omitted (as browsers send `Origin`).
    public var allowedOrigins: [String] = []
    public var accountLockout = LockoutPolicy()
    public var clientLockout = LockoutPolicy(threshold: 20)
    public var lockoutMaxEntries = 100_000
    public var maxLoginBodyBytes = 4096
    /// How long a loop trusts a session's liveness (ns); 0 = access tokens are trusted until `exp`.
    public var revocationCheck: UInt64 = 1_000_000_000
    /// Signs access tokens; its provider verifies them on `session` routes.
    public var issuer: AccessTokenIssuer
    /// Where sessions live (the in-memory store by default; the gateway puts Redis stores here when
    /// `redisKeyPrefix` is set).
    public var store: any SessionStore
    public var throttle: any LoginThrottle
    /// Bounds of the store (per user, spent tokens, reuse grace; the total only in memory).
    public var storeLimits = SessionStoreLimits()
    /// Non-nil: sessions and the login throttle live in Redis (the top-level `redis` section), under
    /// `<prefix>sess:` and `<prefix>login:`.
    public var redisKeyPrefix: String?

    public init(issuer: AccessTokenIssuer, store: any SessionStore = InMemorySessionStore(), throttle: any LoginThrottle = InMemoryLoginThrottle()) {
        self.issuer = issuer
        self.store = store
        self.throttle = throttle
    }
}

enum SessionConfigurationReader {
    static let keys = ["mode", "identity", "accessTokenTtlSeconds", "refreshIdleSeconds", "sessionLifetimeSeconds", "issuer", "audience",
                       "signingKeyFile", "keyId", "allowedOrigins", "lockout", "maxLoginBodyBytes", "maxSessions", "maxSessionsPerUser",
                       "revocationCheckMs", "store", "redisKeyPrefix", "reuseGraceSeconds"]
    static let identityKeys = ["service", "path", "timeoutMs"]
    static let lockoutKeys = ["account", "client", "maxEntries"]
    static let policyKeys = ["threshold", "windowSeconds", "baseLockSeconds", "maximumLockSeconds"]
    static let defaultIssuer = "bff-gateway"
    static let defaultAudience = "bff-services"

    /// Reads `auth.sessions` (nil when absent or invalid; issues recorded). The identity service name is
    /// checked against `services` later (`GatewayConfiguration.parse` reads services after `auth`).
    /// `redisConfigured`: whether the top-level `redis` section is there (sessions then default to it).
    static func read(_ value: JSONValue?, directory: String, roles: RoleTable, redisConfigured: Bool = false, reader r: ConfigReader) -> SessionConfiguration? {
        let p = "$.auth.sessions"
        guard let value, !value.isNull else { return nil }
        let before = r.issues.count
        guard let o = r.object(value, p, allowed: keys) else { return nil }
        var mode = SessionConfiguration.Mode.cookie
        if let text = r.string(o, "mode", p) {
            if let m = SessionConfiguration.Mode(rawValue: text) { mode = m } else { r.issue("\(p).mode", "'\(text)' is not cookie or bearer") }
        }
        var service = "", path = "/verify", timeout: UInt64 = 5_000_000_000
        if let identity = r.object(o["identity"], "\(p).identity", allowed: identityKeys) {
            service = r.string(identity, "service", "\(p).identity", required: true) ?? ""
            if let text = r.string(identity, "path", "\(p).identity") {
                if !text.hasPrefix("/") || text.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "#") }) {
                    r.issue("\(p).identity.path", "expected an origin-form path such as /verify")
                } else { path = text }
            }
            if let ms = r.int(identity, "timeoutMs", "\(p).identity", range: 100...60_000) { timeout = UInt64(ms) * 1_000_000 }
        } else if o["identity"] == nil {
            r.issue("\(p).identity", "required: {\"service\": <a service from services>, \"path\": \"/verify\"}")
        }
        let ttl = r.int(o, "accessTokenTtlSeconds", p, range: 30...3600) ?? 300
        let idle = r.int(o, "refreshIdleSeconds", p, range: 60...31_536_000) ?? 86_400
        let lifetime = r.int(o, "sessionLifetimeSeconds", p, range: 300...31_536_000) ?? 604_800
        if idle > lifetime { r.issue("\(p).refreshIdleSeconds", "longer than sessionLifetimeSeconds (\(lifetime)): it would never apply") }
        if ttl > lifetime { r.issue("\(p).accessTokenTtlSeconds", "longer than sessionLifetimeSeconds (\(lifetime))") }
        let issuerName = nonEmpty(o, "issuer", p, r) ?? defaultIssuer
        let audience = nonEmpty(o, "audience", p, r) ?? defaultAudience
        let keyID = nonEmpty(o, "keyId", p, r)

        var origins: [String] = []
        if let list = r.array(o, "allowedOrigins", p) {
            if mode == .bearer { r.issue("\(p).allowedOrigins", "only for mode cookie (bearer tokens are not sent by browsers on their own)") }
            for (i, item) in list.enumerated() {
                guard let text = item.stringValue else { r.issue("\(p).allowedOrigins[\(i)]", "expected an origin string, found \(item.typeName)"); continue }
                guard let origin = normalizedOrigin(text) else {
                    r.issue("\(p).allowedOrigins[\(i)]", "'\(text)' is not an origin (scheme://host[:port], no path, no '*')"); continue
                }
                if origins.contains(origin) { r.issue("\(p).allowedOrigins[\(i)]", "'\(text)' is listed twice"); continue }
                origins.append(origin)
            }
        }
        if mode == .cookie, o["allowedOrigins"] == nil || o["allowedOrigins"]?.arrayValue?.isEmpty == true {
            r.issue("\(p).allowedOrigins", "required in cookie mode: the origins of the web app (browsers send Origin on login and on every state-changing request)")
        }

        var account = LockoutPolicy(), client = LockoutPolicy(threshold: 20), maxEntries = 100_000
        if let lockout = r.object(o["lockout"], "\(p).lockout", allowed: lockoutKeys) {
            account = policy(lockout["account"], "\(p).lockout.account", base: account, r)
            client = policy(lockout["client"], "\(p).lockout.client", base: client, r)
            maxEntries = r.int(lockout, "maxEntries", "\(p).lockout", range: 100...10_000_000) ?? maxEntries
        }
        let maxBody = r.int(o, "maxLoginBodyBytes", p, range: 256...65_536) ?? 4096
        var limits = InMemorySessionStore.Limits()
        limits.maximumSessions = r.int(o, "maxSessions", p, range: 1...10_000_000) ?? limits.maximumSessions
        limits.maximumSessionsPerSubject = r.int(o, "maxSessionsPerUser", p, range: 1...1000) ?? limits.maximumSessionsPerSubject
        let check = r.int(o, "revocationCheckMs", p, range: 0...60_000) ?? 1000
        limits.reuseGraceSeconds = Int64(r.int(o, "reuseGraceSeconds", p, range: 0...10) ?? 0)
        var inRedis = redisConfigured
        if let store = r.string(o, "store", p) {
            switch store {
            case "memory": inRedis = false
            case "redis":
                inRedis = true
                if !redisConfigured { r.issue("\(p).store", "redis needs the top-level redis section (redis.url or BFF_REDIS_URL)") }
            default: r.issue("\(p).store", "'\(store)' is not memory or redis")
            }
        }
        var prefix = "bff:"
        if let text = r.string(o, "redisKeyPrefix", p) {
            if !inRedis { r.issue("\(p).redisKeyPrefix", "only for sessions in Redis (store: redis)") }
            // The stores add `sess:` / `login:`, which must still fit their 64-character bound.
            if text.isEmpty || text.utf8.count > 58 || !RedisSessionStore.isValidPrefix(text + "login:") {
                r.issue("\(p).redisKeyPrefix", "expected 1 to 58 printable characters without spaces")
            } else { prefix = text }
        }
        if inRedis, o["maxSessions"] != nil { r.issue("\(p).maxSessions", "only for the in-memory store (Redis is bounded by its maxmemory)") }
        if inRedis, (o["lockout"]?.objectValue?["maxEntries"]) != nil { r.issue("\(p).lockout.maxEntries", "only for the in-memory throttle (Redis keys expire)") }

        var issuer: AccessTokenIssuer? = nil
        if let file = r.string(o, "signingKeyFile", p) {
            let full = AuthConfigurationReader.apiKeyFilePath(file, directory: directory)
            if file.isEmpty || file.utf8.contains(0) {
                r.issue("\(p).signingKeyFile", "expected a file path")
            } else if let data = FileManager.default.contents(atPath: full) {
                do throws(CryptoError) {
                    let key = try AsymmetricKey.pem(String(decoding: data, as: UTF8.self))
                    if !key.isPrivate { r.issue("\(p).signingKeyFile", "a public key: the gateway signs with this key, it needs the private one") }
                    else {
                        issuer = try AccessTokenIssuer(key: key, keyID: keyID, issuer: issuerName, audience: audience, timeToLive: Int64(ttl), roles: roles)
                    }
                } catch { r.issue("\(p).signingKeyFile", error.detail) }
            } else {
                r.issue("\(p).signingKeyFile", "cannot read '\(full)'")
            }
        } else if o["keyId"] != nil {
            r.issue("\(p).keyId", "only with signingKeyFile (a generated key is named by its thumbprint)")
        }
        guard r.issues.count == before else { return nil }
        if issuer == nil {
            do { issuer = try AccessTokenIssuer.ephemeral(issuer: issuerName, audience: audience, timeToLive: Int64(ttl), roles: roles) } catch {
                r.issue(p, "cannot generate a signing key: \(error.detail)")
                return nil
            }
        }
        var sessions = SessionConfiguration(issuer: issuer!, store: InMemorySessionStore(limits: limits),
                                            throttle: InMemoryLoginThrottle(accountPolicy: account, clientPolicy: client, maximumEntries: maxEntries))
        sessions.mode = mode
        sessions.identityService = service
        sessions.identityPath = path
        sessions.identityTimeout = timeout
        sessions.accessTokenTtlSeconds = Int64(ttl)
        sessions.refreshIdleSeconds = Int64(idle)
        sessions.sessionLifetimeSeconds = Int64(lifetime)
        sessions.allowedOrigins = origins
        sessions.accountLockout = account
        sessions.clientLockout = client
        sessions.lockoutMaxEntries = maxEntries
        sessions.maxLoginBodyBytes = maxBody
        sessions.revocationCheck = UInt64(check) * 1_000_000
        sessions.storeLimits = limits
        sessions.redisKeyPrefix = inRedis ? prefix : nil
        return sessions
    }

    private static func nonEmpty(_ o: JSONObject, _ key: String, _ p: String, _ r: ConfigReader) -> String? {
        guard let text = r.string(o, key, p) else { return nil }
        if text.isEmpty || text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { r.issue("\(p).\(key)", "expected a non-empty string without control characters"); return nil }
        return text
    }

    /// One lockout policy: the keys given replace `base`'s.
    private static func policy(_ value: JSONValue?, _ p: String, base: LockoutPolicy, _ r: ConfigReader) -> LockoutPolicy {
        guard let o = r.object(value, p, allowed: policyKeys) else { return base }
        var policy = base
        if let v = r.int(o, "threshold", p, range: 1...1000) { policy.threshold = v }
        if let v = r.int(o, "windowSeconds", p, range: 1...86_400) { policy.windowSeconds = Int64(v) }
        if let v = r.int(o, "baseLockSeconds", p, range: 1...86_400) { policy.baseLockSeconds = Int64(v) }
        if let v = r.int(o, "maximumLockSeconds", p, range: 1...86_400) { policy.maximumLockSeconds = Int64(v) }
        if policy.maximumLockSeconds < policy.baseLockSeconds { r.issue("\(p).maximumLockSeconds", "less than baseLockSeconds (\(policy.baseLockSeconds))") }
        return policy
    }

    /// `https://App.Example.com:443` → `https://app.example.com`; nil for anything that is not an origin.
    static func normalizedOrigin(_ text: String) -> String? {
        let lower = text.lowercased()
        let scheme: String
        if lower.hasPrefix("https://") { scheme = "https" } else if lower.hasPrefix("http://") { scheme = "http" } else { return nil }
        var authority = String(lower.dropFirst(scheme.count + 3))
        guard !authority.isEmpty, !authority.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F || "/?#@*\\".utf8.contains($0) }) else { return nil }
        if scheme == "https", authority.hasSuffix(":443") { authority.removeLast(4) }
        if scheme == "http", authority.hasSuffix(":80") { authority.removeLast(3) }
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let port = Int(authority[authority.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        }
        return scheme + "://" + authority
    }
}
