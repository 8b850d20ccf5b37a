import XCTest
@testable import AggregationKit

/// One suite of session-store behaviour, run against both stores (`InMemorySessionStoreConformanceTests`,
/// `RedisSessionStoreConformanceTests`) at hand-driven times: what the protocol documents, with the
/// boundaries of `SessionRecord.isExpired`/`isIdle`.
struct SessionStoreConformance {
    let make: (SessionStoreLimits) async throws -> any SessionStore

    static let t0: Int64 = 1_700_000_000
    static let idle: Int64 = 600

    static func hash(_ name: String) -> RefreshTokenHash { RefreshTokenHash(token: "token-" + name) }

    static func session(_ id: String, subject: String = "alice", at now: Int64 = t0, lifetime: Int64 = 3600,
                        roles: [String] = ["user"], client: String = "web") -> SessionRecord {
        SessionRecord(id: id, subject: subject, roles: roles, client: client, userAgent: "Test/1.0 (\(id))",
                      createdAt: now, lastRefreshedAt: now, expiresAt: now + lifetime)
    }

    private func store(_ limits: SessionStoreLimits = SessionStoreLimits()) async throws -> any SessionStore { try await make(limits) }

    /// Create, then a chain of rotations: each returns the record with the new `lastRefreshedAt`; the
    /// fields survive the round trip (roles with quotes and non-ASCII, an empty user agent).
    func createAndRotateChain() async throws {
        let s = try await store()
        var record = Self.session("s1", roles: ["user", "admin \"quoted\"", "rôle/ü", ""], client: "mobile")
        record.userAgent = ""
        try await s.create(record, token: Self.hash("0"), now: Self.t0)
        for n in 1...5 {
            let now = Self.t0 + Int64(n) * 60
            let result = try await s.rotate(Self.hash("\(n - 1)"), to: Self.hash("\(n)"), now: now, idleSeconds: Self.idle)
            record.lastRefreshedAt = now
            XCTAssertEqual(result, .rotated(record), "rotation \(n)")
        }
        let live = try await s.isLive(sessionID: "s1", now: Self.t0 + 400)
        XCTAssertTrue(live)
        let listed = try await s.sessions(subject: "alice", now: Self.t0 + 400)
        XCTAssertEqual(listed, [record])
        // An unknown token changes nothing.
        let unknown = try await s.rotate(Self.hash("nope"), to: Self.hash("x"), now: Self.t0 + 400, idleSeconds: Self.idle)
        XCTAssertEqual(unknown, .invalid)
        let after = try await s.rotate(Self.hash("5"), to: Self.hash("6"), now: Self.t0 + 401, idleSeconds: Self.idle)
        record.lastRefreshedAt = Self.t0 + 401
        XCTAssertEqual(after, .rotated(record))
    }

    /// A spent token presented again: `reused` with the family's record, the family is revoked, and its
    /// current token is `invalid` from then on.
    func reuseRevokesTheFamily() async throws {
        let s = try await store()
        var record = Self.session("s1")
        try await s.create(record, token: Self.hash("0"), now: Self.t0)
        _ = try await s.rotate(Self.hash("0"), to: Self.hash("1"), now: Self.t0 + 10, idleSeconds: Self.idle)
        _ = try await s.rotate(Self.hash("1"), to: Self.hash("2"), now: Self.t0 + 20, idleSeconds: Self.idle)
        record.lastRefreshedAt = Self.t0 + 20
        let reused = try await s.rotate(Self.hash("0"), to: Self.hash("evil"), now: Self.t0 + 30, idleSeconds: Self.idle)
        XCTAssertEqual(reused, .reused(record))
        let current = try await s.rotate(Self.hash("2"), to: Self.hash("3"), now: Self.t0 + 31, idleSeconds: Self.idle)
        XCTAssertEqual(current, .invalid, "the family's current token died with the family")
        let evil = try await s.rotate(Self.hash("evil"), to: Self.hash("4"), now: Self.t0 + 31, idleSeconds: Self.idle)
        XCTAssertEqual(evil, .invalid, "the thief's next token was never issued")
        let again = try await s.rotate(Self.hash("0"), to: Self.hash("5"), now: Self.t0 + 32, idleSeconds: Self.idle)
        XCTAssertEqual(again, .invalid, "a revoked family is gone: no second reuse event")
        let live = try await s.isLive(sessionID: "s1", now: Self.t0 + 32)
        XCTAssertFalse(live)
        let listed = try await s.sessions(subject: "alice", now: Self.t0 + 32)
        XCTAssertEqual(listed, [])
    }

    /// Absolute expiry: live at `expiresAt - 1`, expired at `expiresAt` exactly (for rotation, listing,
    /// `isLive`, logout), and a spent token of an expired family is no reuse, just `invalid`.
    func absoluteExpiryBoundary() async throws {
        let s = try await store()
        let record = Self.session("s1", lifetime: 1000)
        try await s.create(record, token: Self.hash("0"), now: Self.t0)
        let end = record.expiresAt
        let live = try await s.isLive(sessionID: "s1", now: end - 1)
        XCTAssertTrue(live)
        let rotated = try await s.rotate(Self.hash("0"), to: Self.hash("1"), now: end - 1, idleSeconds: 10_000)
        XCTAssertEqual(rotated, .rotated(SessionRecord(id: "s1", subject: "alice", roles: ["user"], client: "web", userAgent: "Test/1.0 (s1)",
                                                       createdAt: Self.t0, lastRefreshedAt: end - 1, expiresAt: end)))
        let listedBefore = try await s.sessions(subject: "alice", now: end - 1)
        XCTAssertEqual(listedBefore.map(\.id), ["s1"])
        let liveAtEnd = try await s.isLive(sessionID: "s1", now: end)
        XCTAssertFalse(liveAtEnd, "expiresAt is exclusive")
        let listedAtEnd = try await s.sessions(subject: "alice", now: end)
        XCTAssertEqual(listedAtEnd, [])
        let spent = try await s.rotate(Self.hash("0"), to: Self.hash("2"), now: end, idleSeconds: 10_000)
        XCTAssertEqual(spent, .invalid, "a spent token of an expired family is not reuse")
        let current = try await s.rotate(Self.hash("1"), to: Self.hash("2"), now: end, idleSeconds: 10_000)
        XCTAssertEqual(current, .invalid)

        // Logout of an expired session finds nothing.
        let other = Self.session("s2", lifetime: 100)
        try await s.create(other, token: Self.hash("a"), now: Self.t0)
        let revoked = try await s.revoke(token: Self.hash("a"), now: other.expiresAt)
        XCTAssertNil(revoked)
        let third = Self.session("s3", lifetime: 100)
        try await s.create(third, token: Self.hash("b"), now: Self.t0)
        let byID = try await s.revoke(sessionID: "s3", subject: "alice", now: third.expiresAt)
        XCTAssertFalse(byID)
    }

    /// Idle: a refresh exactly `idleSeconds` after the last one works; one second later it is `invalid`
    /// and the session is removed.
    func idleBoundary() async throws {
        let s = try await store()
        try await s.create(Self.session("s1"), token: Self.hash("0"), now: Self.t0)
        let atLimit = try await s.rotate(Self.hash("0"), to: Self.hash("1"), now: Self.t0 + Self.idle, idleSeconds: Self.idle)
        guard case .rotated = atLimit else { return XCTFail("idle exactly idleSeconds must still refresh, got \(atLimit)") }
        let pastLimit = try await s.rotate(Self.hash("1"), to: Self.hash("2"), now: Self.t0 + 2 * Self.idle + 1, idleSeconds: Self.idle)
        XCTAssertEqual(pastLimit, .invalid)
        let live = try await s.isLive(sessionID: "s1", now: Self.t0 + 2 * Self.idle + 1)
        XCTAssertFalse(live, "a refresh that found the session idle removes it")
        // The idle limit is the caller's per call: a shorter one applies at once.
        try await s.create(Self.session("s2"), token: Self.hash("a"), now: Self.t0)
        let shorter = try await s.rotate(Self.hash("a"), to: Self.hash("b"), now: Self.t0 + 61, idleSeconds: 60)
        XCTAssertEqual(shorter, .invalid)
    }

    /// Logout by the current token and by a spent one both revoke the family and return its record;
    /// a second logout, or an unknown token, returns nil.
    func logoutByCurrentAndSpentToken() async throws {
        let s = try await store()
        let a = Self.session("a")
        try await s.create(a, token: Self.hash("a0"), now: Self.t0)
        let revokedA = try await s.revoke(token: Self.hash("a0"), now: Self.t0 + 1)
        XCTAssertEqual(revokedA, a)
        let rotateA = try await s.rotate(Self.hash("a0"), to: Self.hash("a1"), now: Self.t0 + 2, idleSeconds: Self.idle)
        XCTAssertEqual(rotateA, .invalid)
        let twice = try await s.revoke(token: Self.hash("a0"), now: Self.t0 + 2)
        XCTAssertNil(twice)

        var b = Self.session("b")
        try await s.create(b, token: Self.hash("b0"), now: Self.t0)
        _ = try await s.rotate(Self.hash("b0"), to: Self.hash("b1"), now: Self.t0 + 5, idleSeconds: Self.idle)
        b.lastRefreshedAt = Self.t0 + 5
        let revokedB = try await s.revoke(token: Self.hash("b0"), now: Self.t0 + 6)
        XCTAssertEqual(revokedB, b, "logout with a spent token still ends the family")
        let rotateB = try await s.rotate(Self.hash("b1"), to: Self.hash("b2"), now: Self.t0 + 7, idleSeconds: Self.idle)
        XCTAssertEqual(rotateB, .invalid)
        let unknown = try await s.revoke(token: Self.hash("never"), now: Self.t0)
        XCTAssertNil(unknown)
        let liveB = try await s.isLive(sessionID: "b", now: Self.t0 + 7)
        XCTAssertFalse(liveB)
    }

    /// Newest first, only the subject's own, only live ones.
    func listNewestFirst() async throws {
        let s = try await store()
        try await s.create(Self.session("old", at: Self.t0), token: Self.hash("1"), now: Self.t0)
        try await s.create(Self.session("short", at: Self.t0 + 1, lifetime: 10), token: Self.hash("2"), now: Self.t0 + 1)
        try await s.create(Self.session("mid", at: Self.t0 + 1), token: Self.hash("3"), now: Self.t0 + 1)
        try await s.create(Self.session("bob's", subject: "bob", at: Self.t0 + 2), token: Self.hash("4"), now: Self.t0 + 2)
        try await s.create(Self.session("new", at: Self.t0 + 3), token: Self.hash("5"), now: Self.t0 + 3)
        let early = try await s.sessions(subject: "alice", now: Self.t0 + 5)
        XCTAssertEqual(early.map(\.id), ["new", "mid", "short", "old"])
        let later = try await s.sessions(subject: "alice", now: Self.t0 + 11)
        XCTAssertEqual(later.map(\.id), ["new", "mid", "old"], "an expired session is not listed")
        let bob = try await s.sessions(subject: "bob", now: Self.t0 + 11)
        XCTAssertEqual(bob.map(\.id), ["bob's"])
        let nobody = try await s.sessions(subject: "carol", now: Self.t0 + 11)
        XCTAssertEqual(nobody, [])
    }

    /// Someone else's session id: false, and the session lives on; one's own: true, then false.
    func revokeByIDOfAnotherSubject() async throws {
        let s = try await store()
        try await s.create(Self.session("alice-1"), token: Self.hash("1"), now: Self.t0)
        let byBob = try await s.revoke(sessionID: "alice-1", subject: "bob", now: Self.t0 + 1)
        XCTAssertFalse(byBob)
        let stillLive = try await s.isLive(sessionID: "alice-1", now: Self.t0 + 1)
        XCTAssertTrue(stillLive)
        let unknown = try await s.revoke(sessionID: "no-such-id", subject: "alice", now: Self.t0 + 1)
        XCTAssertFalse(unknown)
        let own = try await s.revoke(sessionID: "alice-1", subject: "alice", now: Self.t0 + 1)
        XCTAssertTrue(own)
        let again = try await s.revoke(sessionID: "alice-1", subject: "alice", now: Self.t0 + 1)
        XCTAssertFalse(again)
        let live = try await s.isLive(sessionID: "alice-1", now: Self.t0 + 1)
        XCTAssertFalse(live)
        let rotated = try await s.rotate(Self.hash("1"), to: Self.hash("2"), now: Self.t0 + 2, idleSeconds: Self.idle)
        XCTAssertEqual(rotated, .invalid)
    }

    /// At the per-subject cap a new login revokes the oldest (its token dies); expired sessions are
    /// dropped before any live one; other subjects are untouched.
    func perSubjectCapEvictsTheOldest() async throws {
        let s = try await store(SessionStoreLimits(maximumSessionsPerSubject: 3))
        try await s.create(Self.session("bob-1", subject: "bob"), token: Self.hash("b"), now: Self.t0)
        for n in 1...4 {
            try await s.create(Self.session("a\(n)", at: Self.t0 + Int64(n)), token: Self.hash("a\(n)"), now: Self.t0 + Int64(n))
        }
        let listed = try await s.sessions(subject: "alice", now: Self.t0 + 5)
        XCTAssertEqual(listed.map(\.id), ["a4", "a3", "a2"])
        let oldest = try await s.rotate(Self.hash("a1"), to: Self.hash("x"), now: Self.t0 + 5, idleSeconds: Self.idle)
        XCTAssertEqual(oldest, .invalid)
        let oldestLive = try await s.isLive(sessionID: "a1", now: Self.t0 + 5)
        XCTAssertFalse(oldestLive)
        let bob = try await s.sessions(subject: "bob", now: Self.t0 + 5)
        XCTAssertEqual(bob.map(\.id), ["bob-1"])

        // Expired first: c1 (long) and c2 (short, expired by t0 + 200) for carol at a cap of 2.
        let t = Self.t0 + 100
        let s2 = try await store(SessionStoreLimits(maximumSessionsPerSubject: 2))
        try await s2.create(Self.session("c1", subject: "carol", at: t), token: Self.hash("c1"), now: t)
        try await s2.create(Self.session("c2", subject: "carol", at: t + 1, lifetime: 50), token: Self.hash("c2"), now: t + 1)
        try await s2.create(Self.session("c3", subject: "carol", at: t + 100), token: Self.hash("c3"), now: t + 100)
        let carol = try await s2.sessions(subject: "carol", now: t + 100)
        XCTAssertEqual(carol.map(\.id), ["c3", "c1"], "the expired session made room, not the oldest live one")
    }

    /// Each family remembers only its last `spentTokensPerFamily` spent tokens: an older one is unknown
    /// (`invalid`, family untouched), a remembered one is reuse.
    func spentTokenMemoryIsBounded() async throws {
        let s = try await store(SessionStoreLimits(spentTokensPerFamily: 2))
        try await s.create(Self.session("s1"), token: Self.hash("0"), now: Self.t0)
        for n in 1...3 {
            _ = try await s.rotate(Self.hash("\(n - 1)"), to: Self.hash("\(n)"), now: Self.t0 + Int64(n), idleSeconds: Self.idle)
        }
        let forgotten = try await s.rotate(Self.hash("0"), to: Self.hash("x"), now: Self.t0 + 10, idleSeconds: Self.idle)
        XCTAssertEqual(forgotten, .invalid)
        let live = try await s.isLive(sessionID: "s1", now: Self.t0 + 10)
        XCTAssertTrue(live, "a forgotten token does not touch the family")
        let remembered = try await s.rotate(Self.hash("1"), to: Self.hash("y"), now: Self.t0 + 11, idleSeconds: Self.idle)
        guard case .reused = remembered else { return XCTFail("the second-newest spent token is remembered, got \(remembered)") }
    }

    /// A `next` the store already knows (here: the presented token itself) is refused without change.
    func nextTokenMustBeFresh() async throws {
        let s = try await store()
        try await s.create(Self.session("s1"), token: Self.hash("0"), now: Self.t0)
        try await s.create(Self.session("s2"), token: Self.hash("other"), now: Self.t0)
        let same = try await s.rotate(Self.hash("0"), to: Self.hash("0"), now: Self.t0 + 1, idleSeconds: Self.idle)
        XCTAssertEqual(same, .invalid)
        let taken = try await s.rotate(Self.hash("0"), to: Self.hash("other"), now: Self.t0 + 1, idleSeconds: Self.idle)
        XCTAssertEqual(taken, .invalid)
        let fine = try await s.rotate(Self.hash("0"), to: Self.hash("1"), now: Self.t0 + 2, idleSeconds: Self.idle)
        guard case .rotated = fine else { return XCTFail("the family must be intact, got \(fine)") }
        let otherLive = try await s.rotate(Self.hash("other"), to: Self.hash("2"), now: Self.t0 + 2, idleSeconds: Self.idle)
        guard case .rotated = otherLive else { return XCTFail("the other family must be intact, got \(otherLive)") }
    }

    /// 100 refreshes of one token at once (a task group): exactly one `rotated`. Strict default: the
    /// first loser presents a spent token — `reused`, and the family (the winner's new token too) is
    /// revoked, because a stolen token racing its owner looks the same; the 98 after it find no family
    /// (`invalid`, no second security event).
    func parallelRefreshesStrict() async throws {
        let s = try await store()
        try await s.create(Self.session("s1"), token: Self.hash("0"), now: Self.t0)
        let results = try await Self.race(s, now: Self.t0 + 1)
        XCTAssertEqual(results.rotated.count, 1, "exactly one winner")
        XCTAssertEqual(results.reused, 1)
        XCTAssertEqual(results.invalid, 98)
        let winner = try await s.rotate(results.rotated[0], to: Self.hash("after"), now: Self.t0 + 2, idleSeconds: Self.idle)
        XCTAssertEqual(winner, .invalid, "reuse revoked the family")
    }

    /// With `reuseGraceSeconds` the losers of a race within the grace period are `invalid` and the
    /// winner's family lives; after the grace period the same spent token is reuse.
    func parallelRefreshesWithGrace() async throws {
        let s = try await store(SessionStoreLimits(reuseGraceSeconds: 5))
        try await s.create(Self.session("s1"), token: Self.hash("0"), now: Self.t0)
        let results = try await Self.race(s, now: Self.t0 + 1)
        XCTAssertEqual(results.rotated.count, 1, "exactly one winner")
        XCTAssertEqual(results.invalid, 99)
        XCTAssertEqual(results.reused, 0)
        let winner = try await s.rotate(results.rotated[0], to: Self.hash("w1"), now: Self.t0 + 2, idleSeconds: Self.idle)
        guard case .rotated = winner else { return XCTFail("the winner's family must live, got \(winner)") }
        // The grace covers only the most recently spent token, only while now - lastRefreshedAt < 5.
        let olderSpent = try await s.rotate(Self.hash("0"), to: Self.hash("x"), now: Self.t0 + 3, idleSeconds: Self.idle)
        guard case .reused = olderSpent else { return XCTFail("an older spent token is reuse, got \(olderSpent)") }

        let s2 = try await store(SessionStoreLimits(reuseGraceSeconds: 5))
        try await s2.create(Self.session("s2"), token: Self.hash("a"), now: Self.t0)
        _ = try await s2.rotate(Self.hash("a"), to: Self.hash("b"), now: Self.t0 + 10, idleSeconds: Self.idle)
        let within = try await s2.rotate(Self.hash("a"), to: Self.hash("x"), now: Self.t0 + 14, idleSeconds: Self.idle)
        XCTAssertEqual(within, .invalid)
        let after = try await s2.rotate(Self.hash("a"), to: Self.hash("y"), now: Self.t0 + 15, idleSeconds: Self.idle)
        guard case .reused = after else { return XCTFail("after the grace period it is reuse, got \(after)") }
    }

    struct RaceResults {
        var rotated: [RefreshTokenHash] = []
        var reused = 0
        var invalid = 0
    }

    static func race(_ s: any SessionStore, now: Int64) async throws -> RaceResults {
        try await withThrowingTaskGroup(of: (RefreshTokenHash, RotationResult).self) { group in
            for n in 0..<100 {
                group.addTask {
                    let next = hash("next-\(n)")
                    return (next, try await s.rotate(hash("0"), to: next, now: now, idleSeconds: idle))
                }
            }
            var results = RaceResults()
            for try await (next, result) in group {
                switch result {
                case .rotated: results.rotated.append(next)
                case .reused: results.reused += 1
                case .invalid: results.invalid += 1
                }
            }
            return results
        }
    }
}

final class InMemorySessionStoreConformanceTests: XCTestCase {
    private let suite = SessionStoreConformance { limits in InMemorySessionStore(limits: limits) }

    func testCreateAndRotateChain() async throws { try await suite.createAndRotateChain() }
    func testReuseRevokesTheFamily() async throws { try await suite.reuseRevokesTheFamily() }
    func testAbsoluteExpiryBoundary() async throws { try await suite.absoluteExpiryBoundary() }
    func testIdleBoundary() async throws { try await suite.idleBoundary() }
    func testLogoutByCurrentAndSpentToken() async throws { try await suite.logoutByCurrentAndSpentToken() }
    func testListNewestFirst() async throws { try await suite.listNewestFirst() }
    func testRevokeByIDOfAnotherSubject() async throws { try await suite.revokeByIDOfAnotherSubject() }
    func testPerSubjectCapEvictsTheOldest() async throws { try await suite.perSubjectCapEvictsTheOldest() }
    func testSpentTokenMemoryIsBounded() async throws { try await suite.spentTokenMemoryIsBounded() }
    func testNextTokenMustBeFresh() async throws { try await suite.nextTokenMustBeFresh() }
    func testParallelRefreshesStrict() async throws { try await suite.parallelRefreshesStrict() }
    func testParallelRefreshesWithGrace() async throws { try await suite.parallelRefreshesWithGrace() }
}

final class RedisSessionStoreConformanceTests: XCTestCase {
    private var group: EventLoopGroup!
    private var redisServer: RedisServer!
    private var client: RedisClient!
    private var suite: SessionStoreConformance!

    override func setUpWithError() throws {
        LogBuffer.enabled = false
        group = try EventLoopGroup(threads: 2)
        redisServer = try RedisServer()
        client = try RedisClient(configuration: try .init(url: redisServer.url), group: group)
        let client = self.client!
        // Each store of a test gets its own prefix on the one server.
        let counter = PrefixCounter()
        suite = SessionStoreConformance { limits in
            RedisSessionStore(redis: client, prefix: "test\(counter.next()):", limits: limits)
        }
    }

    override func tearDown() {
        client?.shutdown()
        group?.shutdown()
        redisServer?.remove()
    }

    func testCreateAndRotateChain() async throws { try await suite.createAndRotateChain() }
    func testReuseRevokesTheFamily() async throws { try await suite.reuseRevokesTheFamily() }
    func testAbsoluteExpiryBoundary() async throws { try await suite.absoluteExpiryBoundary() }
    func testIdleBoundary() async throws { try await suite.idleBoundary() }
    func testLogoutByCurrentAndSpentToken() async throws { try await suite.logoutByCurrentAndSpentToken() }
    func testListNewestFirst() async throws { try await suite.listNewestFirst() }
    func testRevokeByIDOfAnotherSubject() async throws { try await suite.revokeByIDOfAnotherSubject() }
    func testPerSubjectCapEvictsTheOldest() async throws { try await suite.perSubjectCapEvictsTheOldest() }
    func testSpentTokenMemoryIsBounded() async throws { try await suite.spentTokenMemoryIsBounded() }
    func testNextTokenMustBeFresh() async throws { try await suite.nextTokenMustBeFresh() }
    func testParallelRefreshesStrict() async throws { try await suite.parallelRefreshesStrict() }
    func testParallelRefreshesWithGrace() async throws { try await suite.parallelRefreshesWithGrace() }

    /// What lands in Redis: only keys under the prefix, every one with a TTL no longer than the family's
    /// remaining life, no raw token anywhere (keys or values), the spent list bounded.
    func testKeyLayoutTTLsAndNoRawTokens() async throws {
        let store = RedisSessionStore(redis: client, prefix: "layout:", limits: SessionStoreLimits(spentTokensPerFamily: 3))
        let t0 = SessionStoreConformance.t0
        let rawTokens = (0...6).map { "raw-token-\($0)" }
        try await store.create(SessionStoreConformance.session("s1", lifetime: 3600), token: RefreshTokenHash(token: rawTokens[0]), now: t0)
        for n in 1...6 {
            _ = try await store.rotate(RefreshTokenHash(token: rawTokens[n - 1]), to: RefreshTokenHash(token: rawTokens[n]),
                                       now: t0 + Int64(n) * 100, idleSeconds: 600)
        }
        let keys = try await client.send(["KEYS", "*"]).elements?.compactMap(\.string) ?? []
        XCTAssertEqual(Set(keys.map { String($0.prefix(8)) }), ["layout:f", "layout:t", "layout:s", "layout:u"])
        XCTAssertEqual(keys.filter { $0.hasPrefix("layout:t:") }.count, 4, "current + 3 remembered spent tokens")
        let spent = try await client.send(["LLEN", "layout:s:s1"])
        XCTAssertEqual(spent, .integer(3))
        for key in keys {
            let ttl = try await client.send(["TTL", key]).int ?? -99
            XCTAssertGreaterThan(ttl, 0, "\(key) must expire")
            XCTAssertLessThanOrEqual(ttl, 3600, "\(key) outlives its family")
            for raw in rawTokens { XCTAssertFalse(key.contains(raw)) }
            let type = try await client.send(["TYPE", key]).string ?? ""
            let dump: [String]
            switch type {
            case "hash": dump = try await client.send(["HGETALL", key]).elements?.compactMap(\.string) ?? []
            case "list": dump = try await client.send(["LRANGE", key, "0", "-1"]).elements?.compactMap(\.string) ?? []
            default: dump = [try await client.send(["GET", key]).string ?? ""]
            }
            for value in dump { for raw in rawTokens { XCTAssertFalse(value.contains(raw), "a raw token in \(key)") } }
        }
        // Logout removes every key of the family (the subject list goes once empty).
        _ = try await store.revoke(token: RefreshTokenHash(token: rawTokens[6]), now: t0 + 700)
        let left = try await client.send(["KEYS", "layout:*"]).elements ?? []
        XCTAssertEqual(left, [])
    }
}

/// A thread-safe counter for unique test prefixes.
final class PrefixCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
