import XCTest
@testable import AggregationKit

/// The lockout rule is written twice — `LockoutPolicy` in Swift (the in-memory throttle) and Lua in
/// `RedisLoginThrottle.failureScript` — so both throttles, and the pure rule applied by hand, are fed
/// the same failures, checks and successes at the same hand-driven times and must give the same answer
/// every time.
final class LoginThrottleConformanceTests: XCTestCase {
    private var group: EventLoopGroup!
    private var server: RedisServer!
    private var redis: RedisClient!

    override func setUpWithError() throws {
        LogBuffer.enabled = false
        group = try EventLoopGroup(threads: 1)
        server = try RedisServer()
        redis = try RedisClient(configuration: try .init(url: server.url), group: group)
    }

    override func tearDown() {
        redis?.shutdown()
        group?.shutdown()
        server?.remove()
    }

    /// The rule applied by hand, as the reference.
    private struct Reference {
        let account: LockoutPolicy
        let client: LockoutPolicy
        var entries: [String: LockoutPolicy.Entry] = [:]

        func retryAfter(_ a: String, _ c: String, _ now: Int64) -> Int64? {
            LoginThrottleKey.longer(entries["a" + a].flatMap { account.retryAfter($0, now: now) },
                                    entries["c" + c].flatMap { client.retryAfter($0, now: now) })
        }

        mutating func fail(_ a: String, _ c: String, _ now: Int64) -> Int64? {
            var ea = entries["a" + a] ?? .init()
            var ec = entries["c" + c] ?? .init()
            let la = account.recordFailure(&ea, now: now)
            let lc = client.recordFailure(&ec, now: now)
            entries["a" + a] = ea
            entries["c" + c] = ec
            return LoginThrottleKey.longer(la, lc)
        }
    }

    func testSwiftAndLuaGiveTheSameAnswers() async throws {
        let account = LockoutPolicy(threshold: 3, windowSeconds: 60, baseLockSeconds: 2, maximumLockSeconds: 50)
        let client = LockoutPolicy(threshold: 5, windowSeconds: 120, baseLockSeconds: 1, maximumLockSeconds: 100)
        let memory = InMemoryLoginThrottle(accountPolicy: account, clientPolicy: client)
        let shared = RedisLoginThrottle(redis: redis, accountPolicy: account, clientPolicy: client)
        var reference = Reference(account: account, client: client)
        var random: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: UInt64) -> Int {
            random = random &* 6364136223846793005 &+ 1442695040888963407
            return Int((random >> 33) % n)
        }
        let accounts = ["alice", "bob", "carol@example.com"]
        let clients = ["10.0.0.1", "2001:db8::1"]
        var now: Int64 = 1_700_000_000
        var locksSeen = 0, capsSeen = 0, resetsSeen = 0
        for step in 0..<1500 {
            // Mostly small steps, sometimes exactly a boundary (a window, a lock length), sometimes a long pause.
            let boundaries: [Int64] = [59, 60, 61, 119, 120, 121, 2, 4, 8, 50, 100]
            let jump: Int64
            switch next(20) {
            case 0: jump = Int64(100 + next(100))
            case 1, 2, 3: jump = boundaries[next(UInt64(boundaries.count))]
            default: jump = Int64(next(15))
            }
            now += jump
            if jump >= 60 { resetsSeen += 1 }
            let a = accounts[next(3)], c = clients[next(2)]
            switch next(10) {
            case 0:
                memory.recordSuccess(account: a, client: c, now: now)
                try await shared.recordSuccess(account: a, client: c, now: now)
                reference.entries["a" + a] = nil
            case 1, 2:
                let expected = reference.retryAfter(a, c, now)
                XCTAssertEqual(memory.retryAfter(account: a, client: c, now: now), expected, "step \(step): in-memory retryAfter")
                let fromRedis = try await shared.retryAfter(account: a, client: c, now: now)
                XCTAssertEqual(fromRedis, expected, "step \(step): Redis retryAfter")
            default:
                let expected = reference.fail(a, c, now)
                if expected != nil { locksSeen += 1 }
                if expected == 100 || expected == 50 { capsSeen += 1 }
                XCTAssertEqual(memory.recordFailure(account: a, client: c, now: now), expected, "step \(step): in-memory recordFailure")
                let fromRedis = try await shared.recordFailure(account: a, client: c, now: now)
                XCTAssertEqual(fromRedis, expected, "step \(step): Redis recordFailure")
            }
        }
        // The sequence exercised locks, the cap and window resets (else it would prove little).
        XCTAssertGreaterThan(locksSeen, 50)
        XCTAssertGreaterThan(capsSeen, 5)
        XCTAssertGreaterThan(resetsSeen, 10)
    }

    /// `beginAttempt` (check and count in one step) and `refundAttempt`, against the rule applied by hand:
    /// refused while either key is locked (nothing counted), else counted exactly as `recordFailure`; a
    /// refund takes one failure back (never below zero, locks stay), a success clears the account.
    func testAttemptsAndRefundsGiveTheSameAnswers() async throws {
        let account = LockoutPolicy(threshold: 3, windowSeconds: 60, baseLockSeconds: 2, maximumLockSeconds: 50)
        let client = LockoutPolicy(threshold: 5, windowSeconds: 120, baseLockSeconds: 1, maximumLockSeconds: 100)
        let memory = InMemoryLoginThrottle(accountPolicy: account, clientPolicy: client)
        let shared = RedisLoginThrottle(redis: redis, accountPolicy: account, clientPolicy: client)
        var reference = Reference(account: account, client: client)
        var random: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ n: UInt64) -> Int {
            random = random &* 6364136223846793005 &+ 1442695040888963407
            return Int((random >> 33) % n)
        }
        let accounts = ["alice", "bob"], clients = ["10.0.0.1", "10.0.0.2"]
        var now: Int64 = 1_700_000_000
        var refused = 0, allowedWithLock = 0, refunds = 0
        for step in 0..<1200 {
            now += [0, 0, 1, 1, 2, 3, 5, 8, 50, 61, 121][next(11)]
            let a = accounts[next(2)], c = clients[next(2)]
            switch next(6) {
            case 0, 1:
                let succeeded = next(2) == 0
                refunds += 1
                memory.refundAttempt(account: a, client: c, now: now, succeeded: succeeded)
                try await shared.refundAttempt(account: a, client: c, now: now, succeeded: succeeded)
                if succeeded { reference.entries["a" + a] = nil } else { reference.entries["a" + a]?.refund() }
                reference.entries["c" + c]?.refund()
            default:
                let expected: LoginAttempt
                if let wait = reference.retryAfter(a, c, now) {
                    expected = .refused(retryAfter: wait)
                    refused += 1
                } else {
                    let lock = reference.fail(a, c, now)
                    expected = .allowed(lockStarted: lock)
                    if lock != nil { allowedWithLock += 1 }
                }
                XCTAssertEqual(memory.beginAttempt(account: a, client: c, now: now), expected, "step \(step): in-memory")
                let fromRedis = try await shared.beginAttempt(account: a, client: c, now: now)
                XCTAssertEqual(fromRedis, expected, "step \(step): Redis")
            }
        }
        XCTAssertGreaterThan(refused, 30)
        XCTAssertGreaterThan(allowedWithLock, 20)
        XCTAssertGreaterThan(refunds, 100)
    }

    /// Many instances' attempts at once on one account (one Redis): exactly `threshold` are let through.
    func testParallelAttemptsInRedisLetThroughExactlyTheThreshold() async throws {
        let throttle = RedisLoginThrottle(redis: redis, accountPolicy: LockoutPolicy(threshold: 4), clientPolicy: LockoutPolicy(threshold: 1000))
        let now: Int64 = 1_700_000_000
        let allowed = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<40 {
                group.addTask {
                    if case .allowed = try await throttle.beginAttempt(account: "alice", client: "10.0.0.\(i)", now: now) { return true }
                    return false
                }
            }
            var count = 0
            for try await ok in group where ok { count += 1 }
            return count
        }
        XCTAssertEqual(allowed, 4)
    }

    /// Keys in Redis: hashed (no account name or address), under the prefix, each with a TTL that ends
    /// when the entry becomes stale (the longer of window and lock).
    func testRedisKeysAreHashedAndExpire() async throws {
        let policy = LockoutPolicy(threshold: 1, windowSeconds: 60, baseLockSeconds: 300, maximumLockSeconds: 300)
        let throttle = RedisLoginThrottle(redis: redis, prefix: "lk:", accountPolicy: policy, clientPolicy: LockoutPolicy(threshold: 10, windowSeconds: 60))
        let now: Int64 = 1_700_000_000
        let lock = try await throttle.recordFailure(account: "alice@example.com", client: "192.0.2.7", now: now)
        XCTAssertEqual(lock, 300)
        let keys = (try await redis.send(["KEYS", "*"]).elements ?? []).compactMap(\.string).sorted()
        XCTAssertEqual(keys.count, 2)
        for key in keys {
            XCTAssertTrue(key.hasPrefix("lk:l:a:") || key.hasPrefix("lk:l:c:"), key)
            XCTAssertEqual(key.utf8.count, "lk:l:a:".utf8.count + 64)
            XCTAssertFalse(key.contains("alice") || key.contains("192.0.2.7"))
        }
        let accountTTL = try await redis.send(["TTL", keys[0]]).int ?? -1   // lk:l:a:…: locked 300 s
        let clientTTL = try await redis.send(["TTL", keys[1]]).int ?? -1    // lk:l:c:…: window 60 s
        XCTAssertTrue((295...300).contains(accountTTL), "\(accountTTL)")
        XCTAssertTrue((55...60).contains(clientTTL), "\(clientTTL)")
        try await throttle.recordSuccess(account: "alice@example.com", client: "192.0.2.7", now: now + 1)
        let left = (try await redis.send(["KEYS", "*"]).elements ?? []).compactMap(\.string)
        XCTAssertEqual(left, [keys[1]], "success clears the account, not the address")
    }
}
