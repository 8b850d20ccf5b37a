import Synchronization

/// The embedded default throttle: one process, one lock, at most `maximumEntries` keys, O(1) per call.
///
/// At the bound a new key evicts an old one, least recently failed first (an LRU queue with lazy
/// deletion: each failure appends a stamped record; records whose key has failed again since are
/// skipped). Evicting a *locked* key would lift its lock, which is what an attacker flooding the table
/// with fresh accounts wants: up to 16 locked candidates are moved to the back instead; only if all 16
/// are locked does the least recently failed one go. Stale keys (window over, no lock) are the oldest by
/// construction, so they go first.
///
/// The queue holds at most about `2 · maximumEntries` records: it is compacted (one pass) when it grows
/// past that, so the cost stays O(1) amortized.
public final class InMemoryLoginThrottle: LoginThrottle {
    public let accountPolicy: LockoutPolicy
    public let clientPolicy: LockoutPolicy
    public let maximumEntries: Int

    private struct Slot {
        var entry: LockoutPolicy.Entry
        var stamp: UInt64
    }

    private struct State {
        var slots: [String: Slot] = [:]
        /// (key, stamp), least recently failed first from `head`; a record whose stamp differs from its
        /// slot's is stale.
        var queue: [(key: String, stamp: UInt64)] = []
        var head = 0
        var nextStamp: UInt64 = 0

        mutating func touch(_ key: String, _ entry: LockoutPolicy.Entry) {
            nextStamp += 1
            slots[key] = Slot(entry: entry, stamp: nextStamp)
            queue.append((key, nextStamp))
            if queue.count - head > 2 * slots.count + 64 { compact() }
        }

        mutating func compact() {
            let slots = self.slots
            queue = queue[head...].filter { slots[$0.key]?.stamp == $0.stamp }
            head = 0
        }

        /// The least recently failed key still held, removed from the queue.
        mutating func popOldest() -> String? {
            while head < queue.count {
                let record = queue[head]
                head += 1
                if slots[record.key]?.stamp == record.stamp { return record.key }
            }
            return nil
        }

        mutating func evictOne(now: Int64) {
            for _ in 0..<16 {
                guard let key = popOldest(), let slot = slots[key] else { return }
                if slot.entry.lockedUntil <= now {
                    slots[key] = nil
                    return
                }
                touch(key, slot.entry)
            }
            if let key = popOldest() { slots[key] = nil }
        }
    }

    private let state = Mutex(State())

    /// Per address the threshold is higher: many users can share one address (a NAT, an office).
    public init(accountPolicy: LockoutPolicy = LockoutPolicy(),
                clientPolicy: LockoutPolicy = LockoutPolicy(threshold: 20),
                maximumEntries: Int = 100_000) {
        precondition(maximumEntries >= 2, "InMemoryLoginThrottle: a failure records two keys")
        self.accountPolicy = accountPolicy
        self.clientPolicy = clientPolicy
        self.maximumEntries = maximumEntries
    }

    /// Keys held (accounts and addresses), for tests and gauges.
    public var count: Int { state.withLock { $0.slots.count } }

    /// Records in the LRU queue (live and stale), for the test of its bound.
    var queueLength: Int { state.withLock { $0.queue.count - $0.head } }

    public func retryAfter(account: String, client: String, now: Int64) -> Int64? {
        let accountKey = LoginThrottleKey.account(account)
        let clientKey = LoginThrottleKey.client(client)
        return state.withLock { state in
            LoginThrottleKey.longer(state.slots[accountKey].flatMap { accountPolicy.retryAfter($0.entry, now: now) },
                                    state.slots[clientKey].flatMap { clientPolicy.retryAfter($0.entry, now: now) })
        }
    }

    public func recordFailure(account: String, client: String, now: Int64) -> Int64? {
        let accountKey = LoginThrottleKey.account(account)
        let clientKey = LoginThrottleKey.client(client)
        return state.withLock { state in
            LoginThrottleKey.longer(update(&state, accountKey, accountPolicy, now), update(&state, clientKey, clientPolicy, now))
        }
    }

    public func recordSuccess(account: String, client: String, now: Int64) {
        let accountKey = LoginThrottleKey.account(account)
        // The queue record goes stale and is skipped later.
        state.withLock { _ = $0.slots.removeValue(forKey: accountKey) }
    }

    public func beginAttempt(account: String, client: String, now: Int64) -> LoginAttempt {
        let accountKey = LoginThrottleKey.account(account)
        let clientKey = LoginThrottleKey.client(client)
        return state.withLock { state in
            if let wait = LoginThrottleKey.longer(state.slots[accountKey].flatMap { accountPolicy.retryAfter($0.entry, now: now) },
                                                  state.slots[clientKey].flatMap { clientPolicy.retryAfter($0.entry, now: now) }) {
                return .refused(retryAfter: wait)
            }
            return .allowed(lockStarted: LoginThrottleKey.longer(update(&state, accountKey, accountPolicy, now),
                                                                 update(&state, clientKey, clientPolicy, now)))
        }
    }

    public func refundAttempt(account: String, client: String, now: Int64, succeeded: Bool) {
        let accountKey = LoginThrottleKey.account(account)
        let clientKey = LoginThrottleKey.client(client)
        state.withLock { state in
            if succeeded { state.slots[accountKey] = nil } else { state.slots[accountKey]?.entry.refund() }
            state.slots[clientKey]?.entry.refund()
        }
    }

    private func update(_ state: inout State, _ key: String, _ policy: LockoutPolicy, _ now: Int64) -> Int64? {
        if state.slots[key] == nil, state.slots.count >= maximumEntries { state.evictOne(now: now) }
        var entry = state.slots[key]?.entry ?? LockoutPolicy.Entry()
        let lock = policy.recordFailure(&entry, now: now)
        state.touch(key, entry)
        return lock
    }
}
