import XCTest
@testable import AggregationKit

/// The lockout rule at hand-driven times, and the in-memory throttle's bound.
final class LockoutPolicyTests: XCTestCase {
    private func failures(_ policy: LockoutPolicy, at times: [Int64]) -> (LockoutPolicy.Entry, [Int64?]) {
        var entry = LockoutPolicy.Entry()
        let locks = times.map { policy.recordFailure(&entry, now: $0) }
        return (entry, locks)
    }

    /// Defaults: no lock for the first four failures; the fifth locks 1 s; each further one doubles;
    /// the 15th reaches the 900 s cap.
    func testThresholdDoublingAndCap() {
        let policy = LockoutPolicy()
        let (entry, locks) = failures(policy, at: Array(0..<20))
        XCTAssertEqual(locks, [nil, nil, nil, nil, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900, 900, 900])
        XCTAssertEqual(entry.failures, 20)
        XCTAssertEqual(entry.lockedUntil, 19 + 900)
        XCTAssertEqual(policy.retryAfter(entry, now: 19), 900)
        XCTAssertEqual(policy.retryAfter(entry, now: 918), 1)
        XCTAssertNil(policy.retryAfter(entry, now: 919), "lockedUntil is exclusive")
    }

    /// `retryAfter` counts down; at `lockedUntil` the key may try again.
    func testLockEndsAtLockedUntil() {
        let policy = LockoutPolicy(threshold: 2, windowSeconds: 100, baseLockSeconds: 10, maximumLockSeconds: 100)
        var entry = LockoutPolicy.Entry()
        XCTAssertNil(policy.recordFailure(&entry, now: 1000))
        XCTAssertNil(policy.retryAfter(entry, now: 1000))
        XCTAssertEqual(policy.recordFailure(&entry, now: 1001), 10)
        XCTAssertEqual(policy.retryAfter(entry, now: 1001), 10)
        XCTAssertEqual(policy.retryAfter(entry, now: 1010), 1)
        XCTAssertNil(policy.retryAfter(entry, now: 1011))
        XCTAssertEqual(policy.recordFailure(&entry, now: 1011), 20)
        XCTAssertEqual(policy.recordFailure(&entry, now: 1031), 40)
        XCTAssertEqual(policy.recordFailure(&entry, now: 1071), 80)
        XCTAssertEqual(policy.recordFailure(&entry, now: 1151), 100, "capped")
    }

    /// A quiet window (no failure for `windowSeconds`) starts over; one second less does not.
    func testWindowReset() {
        let policy = LockoutPolicy(threshold: 3, windowSeconds: 60, baseLockSeconds: 1, maximumLockSeconds: 60)
        var entry = LockoutPolicy.Entry()
        _ = policy.recordFailure(&entry, now: 1000)
        _ = policy.recordFailure(&entry, now: 1059)           // 59 s later: same window
        XCTAssertEqual(entry.failures, 2)
        XCTAssertEqual(policy.recordFailure(&entry, now: 1118), 1, "59 s later again: the third failure locks")
        XCTAssertFalse(policy.isStale(entry, now: 1177))
        XCTAssertTrue(policy.isStale(entry, now: 1178))
        XCTAssertNil(policy.recordFailure(&entry, now: 1178), "60 s of quiet: counting starts again")
        XCTAssertEqual(entry.failures, 1)
    }

    /// The doubling never overflows: a large base with many doublings is the cap, not a wrapped value.
    /// (Before: `base << 30` for base 2^34 wrapped to 0, a zero-second "lock".)
    func testLockNeverOverflows() {
        let policy = LockoutPolicy(threshold: 1, windowSeconds: 3600, baseLockSeconds: 1 << 34, maximumLockSeconds: 1 << 40)
        XCTAssertEqual(policy.lockSeconds(failures: 1), 1 << 34)
        XCTAssertEqual(policy.lockSeconds(failures: 7), 1 << 40)
        XCTAssertEqual(policy.lockSeconds(failures: 31), 1 << 40)
        XCTAssertEqual(policy.lockSeconds(failures: Int.max), 1 << 40)
        XCTAssertNil(policy.lockSeconds(failures: 0))
        let small = LockoutPolicy(threshold: 1, windowSeconds: 60, baseLockSeconds: 3, maximumLockSeconds: 1000)
        XCTAssertEqual((1...12).map { small.lockSeconds(failures: $0)! }, [3, 6, 12, 24, 48, 96, 192, 384, 768, 1000, 1000, 1000])
    }

    /// How long a store keeps an entry: until it is stale (window over and unlocked), at least 1 s.
    func testSecondsToKeep() {
        let policy = LockoutPolicy(threshold: 1, windowSeconds: 60, baseLockSeconds: 100, maximumLockSeconds: 100)
        var entry = LockoutPolicy.Entry()
        _ = policy.recordFailure(&entry, now: 1000)
        XCTAssertEqual(policy.secondsToKeep(entry, now: 1000), 100, "the lock outlasts the window")
        XCTAssertEqual(policy.secondsToKeep(entry, now: 1099), 1)
        XCTAssertEqual(policy.secondsToKeep(entry, now: 5000), 1)
    }

    // MARK: InMemoryLoginThrottle

    /// Account and address counted separately; the longer lock wins; success clears the account only.
    func testAccountAndClientKeys() {
        let throttle = InMemoryLoginThrottle(accountPolicy: LockoutPolicy(threshold: 2, baseLockSeconds: 10, maximumLockSeconds: 100),
                                             clientPolicy: LockoutPolicy(threshold: 3, baseLockSeconds: 50, maximumLockSeconds: 100))
        XCTAssertNil(throttle.recordFailure(account: "alice", client: "10.0.0.1", now: 100))
        XCTAssertEqual(throttle.recordFailure(account: "alice", client: "10.0.0.1", now: 101), 10)
        XCTAssertEqual(throttle.retryAfter(account: "alice", client: "10.0.0.9", now: 105), 6, "the account is locked from any address")
        XCTAssertNil(throttle.retryAfter(account: "bob", client: "10.0.0.1", now: 105), "the address is not locked yet")
        XCTAssertEqual(throttle.recordFailure(account: "bob", client: "10.0.0.1", now: 106), 50, "the third failure from the address")
        XCTAssertEqual(throttle.retryAfter(account: "carol", client: "10.0.0.1", now: 106), 50)
        throttle.recordSuccess(account: "alice", client: "10.0.0.1", now: 107)
        XCTAssertEqual(throttle.retryAfter(account: "alice", client: "10.0.0.2", now: 107), nil, "success clears the account")
        XCTAssertEqual(throttle.retryAfter(account: "alice", client: "10.0.0.1", now: 107), 49, "but not the address")
    }

    /// A flood of fresh accounts from fresh addresses never grows the table past its bound, and does not
    /// evict the lock on the account under attack.
    func testBoundHoldsAndSparesLockedKeys() {
        let throttle = InMemoryLoginThrottle(maximumEntries: 40)
        for t in 0..<5 { _ = throttle.recordFailure(account: "victim", client: "attacker-0", now: 1000 + Int64(t)) }
        XCTAssertEqual(throttle.retryAfter(account: "victim", client: "elsewhere", now: 1004), 1)
        // Lock it long: 5 more failures → 32 s.
        for t in 5..<10 { _ = throttle.recordFailure(account: "victim", client: "attacker-0", now: 1000 + Int64(t)) }
        for n in 1...5000 {
            _ = throttle.recordFailure(account: "flood-\(n)", client: "bot-\(n)", now: 1010)
            XCTAssertLessThanOrEqual(throttle.count, 40)
        }
        XCTAssertEqual(throttle.count, 40)
        XCTAssertEqual(throttle.retryAfter(account: "victim", client: "elsewhere", now: 1010), 31, "the lock survived the flood")
        XCTAssertLessThanOrEqual(throttle.queueLength, 2 * 40 + 64 + 1, "the LRU queue is compacted")
    }

    /// Every key locked (threshold 1): the bound still holds (the oldest locked key goes), no hang.
    func testBoundHoldsWhenEverythingIsLocked() {
        let policy = LockoutPolicy(threshold: 1, windowSeconds: 900, baseLockSeconds: 900, maximumLockSeconds: 900)
        let throttle = InMemoryLoginThrottle(accountPolicy: policy, clientPolicy: policy, maximumEntries: 4)
        for n in 1...200 {
            XCTAssertEqual(throttle.recordFailure(account: "a\(n)", client: "c\(n)", now: 1000), 900)
            XCTAssertLessThanOrEqual(throttle.count, 4)
        }
        XCTAssertEqual(throttle.retryAfter(account: "a200", client: "x", now: 1000), 900, "the newest lock is kept")
    }

    /// One account failing again and again: one key, and the queue of stamps stays bounded.
    func testQueueStaysBoundedForOneKey() {
        let throttle = InMemoryLoginThrottle(maximumEntries: 100)
        for t in 0..<10_000 { _ = throttle.recordFailure(account: "alice", client: "10.0.0.1", now: Int64(t) * 1000) }
        XCTAssertEqual(throttle.count, 2)
        XCTAssertLessThanOrEqual(throttle.queueLength, 2 * 2 + 64 + 1)
    }

    // MARK: InMemorySessionStore bounds

    /// At `maximumSessions` a create fails `full` until sessions expire (then the sweep makes room).
    func testInMemorySessionStoreTotalBound() throws {
        let store = InMemorySessionStore(limits: SessionStoreLimits(maximumSessions: 3))
        let t0: Int64 = 1_000_000
        for n in 1...3 {
            try store.create(SessionStoreConformance.session("s\(n)", subject: "u\(n)", at: t0, lifetime: 100),
                             token: SessionStoreConformance.hash("\(n)"), now: t0)
        }
        XCTAssertThrowsError(try store.create(SessionStoreConformance.session("s4", subject: "u4", at: t0 + 99),
                                              token: SessionStoreConformance.hash("4"), now: t0 + 99)) { error in
            XCTAssertEqual((error as? SessionStoreError)?.kind, .full)
        }
        XCTAssertEqual(store.count, 3)
        // A new login of a subject that holds a session replaces nothing here (cap 10), so still full.
        XCTAssertThrowsError(try store.create(SessionStoreConformance.session("s5", subject: "u1", at: t0 + 99),
                                              token: SessionStoreConformance.hash("5"), now: t0 + 99))
        // At t0 + 100 all three have expired: the sweep makes room.
        try store.create(SessionStoreConformance.session("s6", subject: "u6", at: t0 + 100), token: SessionStoreConformance.hash("6"), now: t0 + 100)
        XCTAssertEqual(store.count, 1)
        XCTAssertEqual(store.tokenCount, 1)
    }

    /// The token map holds the current token plus at most `spentTokensPerFamily` per family, and drops
    /// them all with the family.
    func testInMemorySessionStoreTokenBound() throws {
        let store = InMemorySessionStore(limits: SessionStoreLimits(spentTokensPerFamily: 2))
        let t0: Int64 = 1_000_000
        try store.create(SessionStoreConformance.session("s1", at: t0), token: SessionStoreConformance.hash("0"), now: t0)
        for n in 1...50 {
            _ = store.rotate(SessionStoreConformance.hash("\(n - 1)"), to: SessionStoreConformance.hash("\(n)"), now: t0 + Int64(n), idleSeconds: 600)
        }
        XCTAssertEqual(store.tokenCount, 3)
        _ = store.revoke(token: SessionStoreConformance.hash("49"), now: t0 + 60)
        XCTAssertEqual(store.tokenCount, 0)
        XCTAssertEqual(store.count, 0)
    }
}
