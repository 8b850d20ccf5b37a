/// Sessions in Redis, shared by every gateway instance: each method is one Lua script (atomic), so two
/// refreshes with one token have exactly one winner across all instances. Layout, rules and replies:
/// `RedisSessionStore+Scripts.swift`; replies are read by `RedisSessionReply`, strictly.
///
/// Fails closed: any Redis failure is a `SessionStoreError` (`unavailable` or `unexpectedReply`, see
/// `SessionStoreError(redis:during:)`), within the client's command timeout. A rotation that failed
/// `unavailable` may have run; it must not be retried blindly.
///
/// Any task or thread.
public final class RedisSessionStore: SessionStore {
    public typealias Limits = SessionStoreLimits
    public static let defaultPrefix = "bff:sess:"

    public let redis: RedisClient
    /// Prepended to every key (`bff:sess:`); lets several deployments share one Redis.
    public let prefix: String
    /// `maximumSessions` is not used here: Redis is bounded by its `maxmemory` (every key has a TTL).
    public let limits: Limits
    /// Nanoseconds per script call; nil for the client's `commandTimeout`.
    public let timeout: UInt64?

    public init(redis: RedisClient, prefix: String = RedisSessionStore.defaultPrefix, limits: Limits = Limits(), timeout: UInt64? = nil) {
        precondition(Self.isValidPrefix(prefix), "RedisSessionStore: the prefix must be 1–64 printable ASCII characters without spaces")
        precondition(limits.isValid, "RedisSessionStore: limits out of range")
        self.redis = redis
        self.prefix = prefix
        self.limits = limits
        self.timeout = timeout
    }

    /// 1–64 printable ASCII characters, no space (the configuration parser applies the same rule).
    public static func isValidPrefix(_ prefix: String) -> Bool {
        !prefix.isEmpty && prefix.utf8.count <= 64 && prefix.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }

    public func create(_ session: SessionRecord, token: RefreshTokenHash, now: Int64) async throws(SessionStoreError) {
        let reply = try await run(Self.createScript, "create", [
            session.id, session.subject, RedisSessionReply.encodeRoles(session.roles), session.client, session.userAgent,
            String(session.createdAt), String(session.lastRefreshedAt), String(session.expiresAt), token.hex, String(now),
            String(limits.maximumSessionsPerSubject),
        ])
        guard reply == .integer(1) else { throw .malformed("create", "a \(reply.typeName) instead of 1") }
    }

    public func rotate(_ presented: RefreshTokenHash, to next: RefreshTokenHash, now: Int64, idleSeconds: Int64) async throws(SessionStoreError) -> RotationResult {
        let reply = try await run(Self.rotateScript, "rotate", [
            presented.hex, next.hex, String(now), String(idleSeconds), String(limits.spentTokensPerFamily),
            String(limits.reuseGraceSeconds),
        ])
        return try RedisSessionReply.rotation(reply, now: now)
    }

    public func revoke(token: RefreshTokenHash, now: Int64) async throws(SessionStoreError) -> SessionRecord? {
        let reply = try await run(Self.revokeTokenScript, "revoke", [token.hex, String(now)])
        return try RedisSessionReply.revokedToken(reply, now: now)
    }

    public func revoke(sessionID: String, subject: String, now: Int64) async throws(SessionStoreError) -> Bool {
        guard !sessionID.isEmpty else { return false }
        let reply = try await run(Self.revokeIDScript, "revoke session", [sessionID, subject, String(now)])
        return try RedisSessionReply.flag(reply, "revoke session")
    }

    public func sessions(subject: String, now: Int64) async throws(SessionStoreError) -> [SessionRecord] {
        let most = limits.maximumSessionsPerSubject
        let reply = try await run(Self.sessionsScript, "sessions", [subject, String(now), String(most)])
        return try RedisSessionReply.sessions(reply, subject: subject, now: now, most: most)
    }

    public func isLive(sessionID: String, now: Int64) async throws(SessionStoreError) -> Bool {
        guard !sessionID.isEmpty else { return false }
        let reply = try await run(Self.isLiveScript, "isLive", [sessionID, String(now)])
        return try RedisSessionReply.flag(reply, "isLive")
    }

    private func run(_ script: RedisScript, _ operation: String, _ arguments: [String]) async throws(SessionStoreError) -> RedisValue {
        do {
            return try await redis.evalScript(script, arguments: [prefix] + arguments, timeout: timeout)
        } catch {
            throw SessionStoreError(redis: error, during: operation)
        }
    }
}
