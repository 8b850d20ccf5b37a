/// When a session stops being usable, as one rule every store applies (the Redis scripts spell the same
/// comparisons in Lua: `RedisSessionStore+Scripts.swift`; keep them in step).
///
/// Worked example, login at 1000 with a 3600 s lifetime and a 600 s idle limit:
///
///     expiresAt = 4600: at 4599 live, at 4600 expired (the end is exclusive)
///     lastRefreshedAt = 1000: a refresh at 1600 is allowed (idle exactly 600 s), at 1601 it is not
extension SessionRecord {
    /// Past the absolute end of the family: `now >= expiresAt`. An expired session is gone for every
    /// store method (not listed, not live, not refreshable, not revocable).
    public func isExpired(now: Int64) -> Bool {
        now >= expiresAt
    }

    /// Unused for longer than `idleSeconds`: `now - lastRefreshedAt > idleSeconds` (idle for exactly
    /// `idleSeconds` is still fine). Only a refresh applies it: the store is not told the idle limit
    /// otherwise, so `sessions` and `isLive` show an idle session until it expires or is refreshed
    /// (the refresh then fails and removes it). Its access tokens live no longer than their own `exp`.
    public func isIdle(now: Int64, idleSeconds: Int64) -> Bool {
        now - lastRefreshedAt > idleSeconds
    }
}
