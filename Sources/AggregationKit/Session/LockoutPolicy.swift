import Foundation

/// The decision rule of brute-force protection, pure: failures counted per key (an account, a client
/// address); from the `threshold`-th failure within `windowSeconds` on, the key is locked for
/// `baseLockSeconds · 2^(failures − threshold)`, at most `maximumLockSeconds`. A quiet window (no
/// failure for `windowSeconds`) starts the count again.
///
/// Worked example, the account defaults (threshold 5, window 900 s, base 1 s, cap 900 s), failures at
/// t = 0, 1, 2, 3 → no lock; 4 → locked 1 s (until 5); 5 → 2 s; 6 → 4 s; … the 15th failure → 900 s (the
/// cap). Nothing for 900 s after the last failure → the next failure counts as the first again.
///
/// `RedisLoginThrottle` runs the same rule inside a Lua script (`RedisLoginThrottle.failureScript`): the
/// two must stay identical (`LoginThrottleConformanceTests` feeds both the same failures at the same
/// times and compares every answer).
public struct LockoutPolicy: Sendable, Equatable {
    public var threshold: Int
    public var windowSeconds: Int64
    public var baseLockSeconds: Int64
    public var maximumLockSeconds: Int64

    /// The largest lock accepted (about 35,000 years): keeps `now + lock` far from overflow and every
    /// value exact in Lua's doubles.
    public static let largestLockSeconds: Int64 = 1 << 40

    public init(threshold: Int = 5, windowSeconds: Int64 = 900, baseLockSeconds: Int64 = 1, maximumLockSeconds: Int64 = 900) {
        precondition(threshold >= 1 && threshold <= 1_000_000 && windowSeconds >= 1 && windowSeconds <= Self.largestLockSeconds
                     && baseLockSeconds >= 1 && baseLockSeconds <= maximumLockSeconds && maximumLockSeconds <= Self.largestLockSeconds,
                     "LockoutPolicy: threshold ≥ 1, window ≥ 1 s, 1 s ≤ base ≤ maximum ≤ 2^40 s")
        self.threshold = threshold
        self.windowSeconds = windowSeconds
        self.baseLockSeconds = baseLockSeconds
        self.maximumLockSeconds = maximumLockSeconds
    }

    /// One key's record.
    public struct Entry: Sendable, Equatable {
        public var failures: Int = 0
        public var lastFailure: Int64 = 0
        public var lockedUntil: Int64 = 0
        public init() {}
        public init(failures: Int, lastFailure: Int64, lockedUntil: Int64) {
            self.failures = failures
            self.lastFailure = lastFailure
            self.lockedUntil = lockedUntil
        }

        /// Takes back one counted failure (`LoginThrottle.refundAttempt`): never below zero, the lock and
        /// the time of the last failure stay.
        public mutating func refund() { failures = max(0, failures - 1) }
    }

    /// Seconds until `entry` may try again, nil when it may now.
    public func retryAfter(_ entry: Entry, now: Int64) -> Int64? {
        entry.lockedUntil > now ? entry.lockedUntil - now : nil
    }

    /// The lock the `failures`-th failure in a window starts, nil below the threshold:
    /// `min(base · 2^(failures − threshold), maximum)`, without overflow for any count.
    public func lockSeconds(failures: Int) -> Int64? {
        guard failures >= threshold else { return nil }
        let doublings = failures - threshold
        // base ≤ maximum ≤ 2^40, so from 40 doublings on the cap always wins.
        guard doublings < 40, baseLockSeconds <= maximumLockSeconds >> Int64(doublings) else { return maximumLockSeconds }
        return baseLockSeconds << Int64(doublings)
    }

    /// Records a failure; returns the lock it started (seconds), nil when none.
    public func recordFailure(_ entry: inout Entry, now: Int64) -> Int64? {
        if now - entry.lastFailure >= windowSeconds { entry.failures = 0 }
        entry.failures += 1
        entry.lastFailure = now
        guard let lock = lockSeconds(failures: entry.failures) else { return nil }
        entry.lockedUntil = now + lock
        return lock
    }

    /// Whether the entry carries no information any more (can be forgotten): its window has passed
    /// and it is not locked.
    public func isStale(_ entry: Entry, now: Int64) -> Bool {
        now - entry.lastFailure >= windowSeconds && entry.lockedUntil <= now
    }

    /// Seconds until `entry` becomes stale (at least 1): how long a store must keep it (Redis TTL).
    public func secondsToKeep(_ entry: Entry, now: Int64) -> Int64 {
        max(1, max(entry.lastFailure + windowSeconds, entry.lockedUntil) - now)
    }
}

/// The keys the throttles count under: SHA-256 of the account name or client address, so a password
/// typed into the user-name field never lands in memory dumps or Redis, and every key has one size.
enum LoginThrottleKey {
    /// The account a user name counts against: compatibility-normalized (NFKC: fullwidth `ＡＬＩＣＥ`,
    /// ligatures, no-break spaces fold to their plain forms), trimmed of surrounding white space, lower-
    /// cased. An identity service that folds widths and case (PRECIS UsernameCaseMapped, RFC 8265) or
    /// trims names sees one account in all those spellings; so must the lockout, else each spelling is
    /// a fresh count. Folding more than the identity service does only merges counts (stricter), never
    /// splits them. Only the lockout key: the identity service gets the name as typed.
    static func normalizedAccount(_ username: String) -> String {
        username.precomposedStringWithCompatibilityMapping.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            .precomposedStringWithCompatibilityMapping
    }

    static func account(_ account: String) -> String { "a:" + Digest.hex(Digest.sha256(Array(account.utf8))) }
    static func client(_ client: String) -> String { "c:" + Digest.hex(Digest.sha256(Array(client.utf8))) }

    /// The later of two optional deadlines (nil = none).
    static func longer(_ a: Int64?, _ b: Int64?) -> Int64? {
        switch (a, b) {
        case (nil, nil): return nil
        case (let x?, nil), (nil, let x?): return x
        case (let x?, let y?): return max(x, y)
        }
    }
}
