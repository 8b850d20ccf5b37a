/// Web and mobile sessions (the BFF token pattern): a login opens a session, which is a *family* of
/// refresh tokens. Each refresh presents the family's current token and gets the next one; the
/// presented token is then spent. Presenting a spent token again is *reuse* (a stolen token raced its
/// owner): the whole family is revoked. The store decides rotation atomically, so two refreshes with one
/// token have exactly one winner. Stores only ever see SHA-256 digests of refresh tokens.
///
/// Implementations: `InMemorySessionStore` (the embedded default, one process) and `RedisSessionStore`
/// (shared by every instance; rotation in one Lua script).

/// The SHA-256 digest of an opaque refresh token, as lower-case hex (64 characters). The token itself
/// (256 random bits, base64url) is shown to the client once and never stored or logged.
public struct RefreshTokenHash: Hashable, Sendable, CustomStringConvertible {
    public let hex: String

    public init(token: String) {
        hex = Digest.hex(Digest.sha256(Array(token.utf8)))
    }

    /// For stores that read a digest back (Redis); `hex` must be 64 lower-case hex digits.
    public init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
        self.hex = hex
    }

    /// A new random refresh token (256 bits, base64url without padding) and its digest.
    public static func generate() throws(CryptoError) -> (token: String, hash: RefreshTokenHash) {
        let token = Base64URL.encode(try SecureRandom.bytes(32))
        return (token, RefreshTokenHash(token: token))
    }

    /// Never the digest in full: logs get a prefix, enough to correlate, useless to an attacker.
    public var description: String { String(hex.prefix(8)) + "…" }
}

/// One session (a refresh-token family), as listed by `GET /auth/sessions`.
public struct SessionRecord: Sendable, Equatable {
    /// Random 128-bit identifier (base64url), the `{id}` of `DELETE /auth/sessions/{id}`.
    public var id: String
    /// The user (`sub` of the access tokens).
    public var subject: String
    /// Roles the identity service reported at login, copied into each access token.
    public var roles: [String]
    /// `web` (cookie) or `mobile` (bearer tokens in bodies).
    public var client: String
    /// The login request's `User-Agent`, cut to 200 bytes, for the session list.
    public var userAgent: String
    /// Unix seconds.
    public var createdAt: Int64
    public var lastRefreshedAt: Int64
    /// Absolute end of the family (login + maximum session lifetime); no refresh extends it.
    public var expiresAt: Int64

    public init(id: String, subject: String, roles: [String], client: String, userAgent: String,
                createdAt: Int64, lastRefreshedAt: Int64, expiresAt: Int64) {
        self.id = id
        self.subject = subject
        self.roles = roles
        self.client = client
        self.userAgent = userAgent
        self.createdAt = createdAt
        self.lastRefreshedAt = lastRefreshedAt
        self.expiresAt = expiresAt
    }

    /// A new random session identifier (128 bits, base64url).
    public static func generateID() throws(CryptoError) -> String {
        Base64URL.encode(try SecureRandom.bytes(16))
    }
}

/// What a refresh did.
public enum RotationResult: Sendable, Equatable {
    /// The presented token was the family's current one; `next` is current now. The record has the
    /// new `lastRefreshedAt`.
    case rotated(SessionRecord)
    /// The presented token had already been rotated: the family is revoked now (security event).
    case reused(SessionRecord)
    /// Unknown token, or its family expired, idle too long, or revoked. Nothing changed.
    case invalid
}

/// A store failure. Sessions fail closed: the HTTP layer answers 503, never "logged in".
public struct SessionStoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The backing store cannot be reached, timed out, or is shutting down.
        case unavailable
        /// The store answered something it should not have (a protocol or script fault).
        case unexpectedReply
        /// A bound was hit (e.g. too many sessions in memory and none could be evicted).
        case full
    }
    public let kind: Kind
    /// Safe for logs: never a token, digest or password.
    public let detail: String
    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }
    public var description: String { "\(kind.rawValue): \(detail)" }
}

/// Where sessions live. Every method is atomic with respect to the others (in Redis: one script each).
/// Times are Unix seconds passed in by the caller (the gateway's injected clock), never read inside.
public protocol SessionStore: Sendable {
    /// Opens a session with its first refresh token. When the subject already has
    /// `maximumSessionsPerSubject` sessions, the oldest is revoked first.
    func create(_ session: SessionRecord, token: RefreshTokenHash, now: Int64) async throws(SessionStoreError)

    /// Rotates `presented` to `next` (see `RotationResult`). A session idle for more than `idleSeconds`
    /// (since `lastRefreshedAt`) or past `expiresAt` is `invalid`.
    func rotate(_ presented: RefreshTokenHash, to next: RefreshTokenHash, now: Int64, idleSeconds: Int64) async throws(SessionStoreError) -> RotationResult

    /// Logout: revokes the family of `token` (current or spent). Returns the revoked session, nil when
    /// there was none.
    func revoke(token: RefreshTokenHash, now: Int64) async throws(SessionStoreError) -> SessionRecord?

    /// Revokes one of `subject`'s sessions. False when `subject` has no session with that id (also
    /// when it belongs to someone else: no way to probe other users' ids).
    func revoke(sessionID: String, subject: String, now: Int64) async throws(SessionStoreError) -> Bool

    /// `subject`'s live sessions, newest first (at most `maximumSessionsPerSubject`).
    func sessions(subject: String, now: Int64) async throws(SessionStoreError) -> [SessionRecord]

    /// Whether the session is still live (not revoked, not expired). The session stage uses it to refuse
    /// the access tokens of a revoked session before they expire.
    func isLive(sessionID: String, now: Int64) async throws(SessionStoreError) -> Bool
}

/// Counts failed logins per account and per client address and locks them out with exponential
/// backoff. Decisions never reveal whether an account exists: unknown accounts are counted too.
public protocol LoginThrottle: Sendable {
    /// Before checking credentials: `nil` = go ahead; otherwise seconds until the next attempt is allowed.
    func retryAfter(account: String, client: String, now: Int64) async throws(SessionStoreError) -> Int64?
    /// After a failed check. Returns the lockout it started (seconds), nil when none.
    func recordFailure(account: String, client: String, now: Int64) async throws(SessionStoreError) -> Int64?
    /// After a successful login: clears the account's count (not the address's).
    func recordSuccess(account: String, client: String, now: Int64) async throws(SessionStoreError)

    /// Before checking credentials, atomically: when either key is locked, `.refused` with the seconds
    /// to wait, nothing counted; otherwise the attempt is counted as a failure in advance (exactly as
    /// `recordFailure`) and `.allowed` names the lock that count started, if any. Checking and counting
    /// in one step is what stops N parallel guesses from all passing the check before the first failure
    /// is recorded (`retryAfter` then `recordFailure` gave an attacker N guesses instead of `threshold`).
    func beginAttempt(account: String, client: String, now: Int64) async throws(SessionStoreError) -> LoginAttempt

    /// Takes back an attempt `beginAttempt` counted that was not a wrong password: one failure less on
    /// both keys (never below zero; a lock already started stays). `succeeded`: the credentials were
    /// good, so the account's count is cleared instead (as `recordSuccess`).
    func refundAttempt(account: String, client: String, now: Int64, succeeded: Bool) async throws(SessionStoreError)
}

/// What `LoginThrottle.beginAttempt` decided.
public enum LoginAttempt: Sendable, Equatable {
    /// Go ahead; the attempt is counted as a failure until refunded. `lockStarted`: the lock (seconds)
    /// that count started, nil when none.
    case allowed(lockStarted: Int64?)
    /// Locked: seconds until the next attempt may be made.
    case refused(retryAfter: Int64)
}
