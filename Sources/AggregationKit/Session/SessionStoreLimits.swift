/// The bounds and the reuse rule shared by the session stores.
///
/// Memory (in-memory store): each session costs its record plus one 32-byte token key per remembered
/// token, so at most `maximumSessions · (1 + spentTokensPerFamily)` token entries (100,000 · 33 ≈ 3.3 M,
/// roughly 250 MB in the worst case where every session has rotated 32 times). Redis holds the same
/// per family; its total is bounded by `maxmemory` (every key has a TTL, so a `volatile-*` policy works).
public struct SessionStoreLimits: Sendable, Equatable {
    /// In-memory store only: sessions in total. At the bound, expired sessions are swept (at most once
    /// per second of the caller's clock), then `create` fails `full`.
    public var maximumSessions = 100_000
    /// Sessions per subject; a new login beyond it revokes the subject's oldest (after its expired ones).
    public var maximumSessionsPerSubject = 10
    /// Spent tokens each family remembers for reuse detection (newest kept). An older spent token is
    /// simply unknown: `invalid`, not `reused`. 0 turns reuse detection off (not recommended).
    public var spentTokensPerFamily = 32
    /// Seconds after a rotation during which the token it spent, presented again, is answered `invalid`
    /// (nothing revoked) instead of `reused` (family revoked): leeway for a client racing itself (two
    /// browser tabs refreshing at once). 0, the default, is strict: every loser of a race is `reused`
    /// and the family is revoked, because a stolen token racing its owner looks exactly like that race.
    /// Only the most recently spent token gets the leeway, and only while `now - lastRefreshedAt`
    /// is below this.
    public var reuseGraceSeconds: Int64 = 0

    public init() {}

    public init(maximumSessions: Int = 100_000, maximumSessionsPerSubject: Int = 10, spentTokensPerFamily: Int = 32,
                reuseGraceSeconds: Int64 = 0) {
        self.maximumSessions = maximumSessions
        self.maximumSessionsPerSubject = maximumSessionsPerSubject
        self.spentTokensPerFamily = spentTokensPerFamily
        self.reuseGraceSeconds = reuseGraceSeconds
    }

    /// Whether every bound is usable (the configuration parser checks ranges before this).
    var isValid: Bool {
        maximumSessions >= 1 && maximumSessionsPerSubject >= 1 && spentTokensPerFamily >= 0 && spentTokensPerFamily <= 10_000
            && reuseGraceSeconds >= 0 && reuseGraceSeconds <= 3600
    }
}
