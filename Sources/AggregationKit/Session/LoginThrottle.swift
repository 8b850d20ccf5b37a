import Synchronization

/// The decision rule of brute-force protection, pure: failures counted per key (an account, a client
/// address); from the `threshold`-th failure within `windowSeconds` on, the key is locked for
/// `baseLockSeconds · 2^(failures − threshold)`, at most `maximumLockSeconds`. A quiet window resets it.
public struct LockoutPolicy: Sendable, Equatable {
    public var threshold: Int
    public var windowSeconds: Int64
    public var baseLockSeconds: Int64
    public var maximumLockSeconds: Int64

    public init(threshold: Int = 5, windowSeconds: Int64 = 900, baseLockSeconds: Int64 = 1, maximumLockSeconds: Int64 = 900) {
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
    }

    /// Seconds until `entry` may try again, nil when it may now.
    public func retryAfter(_ entry: Entry, now: Int64) -> Int64? {
        entry.lockedUntil > now ? entry.lockedUntil - now : nil
    }

    /// Records a failure; returns the lock it started (seconds), nil when none.
    public func recordFailure(_ entry: inout Entry, now: Int64) -> Int64? {
        if now - entry.lastFailure >= windowSeconds { entry.failures = 0 }
        entry.failures += 1
        entry.lastFailure = now
        guard entry.failures >= threshold else { return nil }
        let doublings = min(entry.failures - threshold, 30)
        let lock = min(baseLockSeconds << Int64(doublings), maximumLockSeconds)
        entry.lockedUntil = now + lock
        return lock
    }

    /// Whether the entry carries no information any more (can be forgotten).
    public func isStale(_ entry: Entry, now: Int64) -> Bool {
        now - entry.lastFailure >= windowSeconds && entry.lockedUntil <= now
    }
}

/// The embedded default throttle: one process, one lock, at most `maximumEntries` keys (stale keys are
/// swept at the bound, then the oldest failure is forgotten).
public final class InMemoryLoginThrottle: LoginThrottle {
    public let accountPolicy: LockoutPolicy
    public let clientPolicy: LockoutPolicy
    public let maximumEntries: Int
    private let entries = Mutex([String: LockoutPolicy.Entry]())

    /// Per address the threshold is higher: many users can share one address (a NAT, an office).
    public init(accountPolicy: LockoutPolicy = LockoutPolicy(),
                clientPolicy: LockoutPolicy = LockoutPolicy(threshold: 20),
                maximumEntries: Int = 100_000) {
        self.accountPolicy = accountPolicy
        self.clientPolicy = clientPolicy
        self.maximumEntries = maximumEntries
    }

    public var count: Int { entries.withLock { $0.count } }

    private static func accountKey(_ account: String) -> String { "a:" + account }
    private static func clientKey(_ client: String) -> String { "c:" + client }

    public func retryAfter(account: String, client: String, now: Int64) -> Int64? {
        entries.withLock { entries in
            let a = entries[Self.accountKey(account)].flatMap { accountPolicy.retryAfter($0, now: now) }
            let c = entries[Self.clientKey(client)].flatMap { clientPolicy.retryAfter($0, now: now) }
            switch (a, c) {
            case (nil, nil): return nil
            case (let x?, nil), (nil, let x?): return x
            case (let x?, let y?): return max(x, y)
            }
        }
    }

    public func recordFailure(account: String, client: String, now: Int64) -> Int64? {
        entries.withLock { entries in
            let a = update(&entries, Self.accountKey(account), accountPolicy, now)
            let c = update(&entries, Self.clientKey(client), clientPolicy, now)
            switch (a, c) {
            case (nil, nil): return nil
            case (let x?, nil), (nil, let x?): return x
            case (let x?, let y?): return max(x, y)
            }
        }
    }

    public func recordSuccess(account: String, client: String, now: Int64) {
        _ = entries.withLock { $0.removeValue(forKey: Self.accountKey(account)) }
    }

    private func update(_ entries: inout [String: LockoutPolicy.Entry], _ key: String, _ policy: LockoutPolicy, _ now: Int64) -> Int64? {
        if entries[key] == nil, entries.count >= maximumEntries {
            entries = entries.filter { !(($0.key.hasPrefix("a:") ? accountPolicy : clientPolicy).isStale($0.value, now: now)) }
            if entries.count >= maximumEntries, let oldest = entries.min(by: { $0.value.lastFailure < $1.value.lastFailure })?.key {
                entries[oldest] = nil
            }
        }
        var entry = entries[key] ?? LockoutPolicy.Entry()
        let lock = policy.recordFailure(&entry, now: now)
        entries[key] = entry
        return lock
    }
}
