import XCTest
@testable import AggregationKit

/// The Redis stores when Redis fails: killed mid-test (fail closed within the command timeout, recover
/// when it returns), and a hostile server answering the scripts with the wrong shapes
/// (`unexpectedReply`, never a crash, never a "rotated").
final class SessionStoreFailureTests: XCTestCase {
    private var group: EventLoopGroup!
    private var clients: [RedisClient] = []

    override func setUpWithError() throws {
        LogBuffer.enabled = false
        group = try EventLoopGroup(threads: 1)
    }

    override func tearDown() {
        for client in clients { client.shutdown() }
        group.shutdown()
        clients = []
    }

    private func client(_ url: String, commandTimeout: UInt64 = 1_000_000_000, resp3: Bool = true) throws -> RedisClient {
        var configuration = try RedisClient.Configuration(url: url)
        configuration.commandTimeout = commandTimeout
        configuration.preferRESP3 = resp3
        let c = try RedisClient(configuration: configuration, group: group)
        clients.append(c)
        return c
    }

    @discardableResult
    private func expectError(_ kind: SessionStoreError.Kind, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                             _ body: () async throws -> Any) async -> SessionStoreError? {
        do {
            let value = try await body()
            XCTFail("\(what): expected \(kind.rawValue), got \(value)", file: file, line: line)
        } catch let error as SessionStoreError {
            XCTAssertEqual(error.kind, kind, "\(what): \(error)", file: file, line: line)
            return error
        } catch {
            XCTFail("\(what): not a SessionStoreError: \(error)", file: file, line: line)
        }
        return nil
    }

    private static let t0: Int64 = 1_700_000_000

    /// Redis killed (SIGKILL) with sessions in it: every store and throttle call fails `unavailable`
    /// within the 1 s command timeout (most at once); restarted on the same port, calls work again
    /// without anything being rebuilt (the data is gone: nothing is persisted).
    func testRedisKilledFailsClosedThenRecovers() async throws {
        let server = try RedisServer()
        defer { server.remove() }
        let redis = try client(server.url)
        let store = RedisSessionStore(redis: redis)
        let throttle = RedisLoginThrottle(redis: redis)
        let t0 = Self.t0
        try await store.create(SessionStoreConformance.session("s1", at: t0), token: SessionStoreConformance.hash("0"), now: t0)
        server.kill()
        let calls: [(String, () async throws -> Any)] = [
            ("rotate", { try await store.rotate(SessionStoreConformance.hash("0"), to: SessionStoreConformance.hash("1"), now: t0 + 1, idleSeconds: 600) }),
            ("create", { try await store.create(SessionStoreConformance.session("s2", at: t0), token: SessionStoreConformance.hash("x"), now: t0) }),
            ("revoke token", { try await store.revoke(token: SessionStoreConformance.hash("0"), now: t0 + 1) as Any }),
            ("revoke id", { try await store.revoke(sessionID: "s1", subject: "alice", now: t0 + 1) }),
            ("sessions", { try await store.sessions(subject: "alice", now: t0 + 1) }),
            ("isLive", { try await store.isLive(sessionID: "s1", now: t0 + 1) }),
            ("retryAfter", { try await throttle.retryAfter(account: "alice", client: "10.0.0.1", now: t0) as Any }),
            ("recordFailure", { try await throttle.recordFailure(account: "alice", client: "10.0.0.1", now: t0) as Any }),
            ("recordSuccess", { try await throttle.recordSuccess(account: "alice", client: "10.0.0.1", now: t0) }),
        ]
        for round in 0..<2 {
            for (name, call) in calls {
                let started = monotonicSeconds()
                await expectError(.unavailable, "\(name) (round \(round))") { try await call() }
                XCTAssertLessThan(monotonicSeconds() - started, 1.0 + 1.0, "\(name) outlived the 1 s command timeout by far")
            }
        }
        try server.start()
        let recovered = await pollUntil(within: 30) {
            (try? await store.create(SessionStoreConformance.session("s3", at: t0), token: SessionStoreConformance.hash("s3-0"), now: t0)) != nil
        }
        XCTAssertTrue(recovered, "the store did not recover when Redis came back")
        let rotated = try await store.rotate(SessionStoreConformance.hash("s3-0"), to: SessionStoreConformance.hash("s3-1"), now: t0 + 1, idleSeconds: 600)
        guard case .rotated = rotated else { return XCTFail("rotation after recovery: \(rotated)") }
        let gone = try await store.rotate(SessionStoreConformance.hash("0"), to: SessionStoreConformance.hash("1"), now: t0 + 1, idleSeconds: 600)
        XCTAssertEqual(gone, .invalid, "sessions from before the crash are gone (no persistence): invalid, not a crash")
        let lock = try await throttle.recordFailure(account: "alice", client: "10.0.0.1", now: t0)
        XCTAssertNil(lock)
    }

    /// A server that answers the scripts with everything but the right shape: each is `unexpectedReply`
    /// (or `unavailable` for a transient refusal / a hang-up / silence), and nothing is ever `rotated`.
    func testHostileRedisRepliesAreRefused() async throws {
        let hostile = try HostileRedis()
        defer { hostile.stop() }
        let now: Int64 = 1000
        let rotateCases: [(String, HostileRedis.Answer, SessionStoreError.Kind)] = [
            ("an integer", .bytes(Array(":1\r\n".utf8)), .unexpectedReply),
            ("null", .bytes(Array("$-1\r\n".utf8)), .unexpectedReply),
            ("an empty array", .bytes(Array("*0\r\n".utf8)), .unexpectedReply),
            ("rotated without a record", .bytes(Array(RESP.array([RESP.bulk("rotated")]).utf8)), .unexpectedReply),
            ("an unknown status", .bytes(Array(RESP.array([RESP.bulk("welcome"), RESP.record()]).utf8)), .unexpectedReply),
            ("a status as an integer", .bytes(Array(RESP.array([":1\r\n", RESP.record()]).utf8)), .unexpectedReply),
            ("invalid with extra fields", .bytes(Array(RESP.array([RESP.bulk("invalid"), RESP.record()]).utf8)), .unexpectedReply),
            ("a record of 7 fields", .bytes(Array(RESP.array([RESP.bulk("rotated"), RESP.array(["a", "b", "c", "d", "e", "f", "g"].map(RESP.bulk))]).utf8)), .unexpectedReply),
            ("a record flattened", .bytes(Array(RESP.array([RESP.bulk("rotated")] + ["s1", "alice", "[]", "web", "UA", "1000", "1000", "5000"].map(RESP.bulk)).utf8)), .unexpectedReply),
            ("a number with a plus", .bytes(Array(RESP.array([RESP.bulk("rotated"), RESP.record(created: "+5")]).utf8)), .unexpectedReply),
            ("a number with a leading zero", .bytes(Array(RESP.array([RESP.bulk("rotated"), RESP.record(created: "0100")]).utf8)), .unexpectedReply),
            ("a number too large", .bytes(Array(RESP.array([RESP.bulk("rotated"), RESP.record(expires: "99999999999999999999")]).utf8)), .unexpectedReply),
            ("a number as an integer reply", .bytes(Array(RESP.array([RESP.bulk("rotated"), RESP.array(["s1", "alice", "[]", "web", "UA", "1000"].map(RESP.bulk) + [":1000\r\n", RESP.bulk("5000")])]).utf8)), .unexpectedReply),
            ("roles that are not JSON", .bytes(Array(RESP.array([RESP.bulk("rotated"), RESP.record(roles: "admin")]).utf8)), .unexpectedReply),
            ("roles with a number", .bytes(Array(RESP.array([RESP.bulk("rotated"), RESP.record(roles: "[\"user\", 1]")]).utf8)), .unexpectedReply),
            ("an empty id", .bytes(Array(RESP.array([RESP.bulk("rotated"), RESP.record(id: "")]).utf8)), .unexpectedReply),
            ("invalid UTF-8", .bytes(Array("*2\r\n$7\r\nrotated\r\n*8\r\n$2\r\ns1\r\n$2\r\n\u{FF}\r\n".utf8).map { $0 == 0xC3 ? 0xFF : $0 }
                + Array((["[]", "web", "UA", "1000", "1000", "5000"].map(RESP.bulk).joined()).utf8)), .unexpectedReply),
            ("a rotation at another time", .bytes(Array(RESP.array([RESP.bulk("rotated"), RESP.record(refreshed: "999")]).utf8)), .unexpectedReply),
            ("a rotation of an expired session", .bytes(Array(RESP.array([RESP.bulk("rotated"), RESP.record(expires: "1000")]).utf8)), .unexpectedReply),
            ("a huge array header", .bytes(Array("*50000000\r\n".utf8)), .unexpectedReply),
            ("a large but legal array", .bytes(Array(("*100000\r\n" + String(repeating: ":1\r\n", count: 100_000)).utf8)), .unexpectedReply),
            ("deep nesting", .bytes(Array((String(repeating: "*1\r\n", count: 100) + ":1\r\n").utf8)), .unexpectedReply),
            ("a huge bulk header", .bytes(Array("$999999999\r\n".utf8)), .unexpectedReply),
            ("broken RESP", .bytes(Array("?what\r\n".utf8)), .unexpectedReply),
            ("a script error", .bytes(Array("-ERR user_script:1: attempt to compare nil with number\r\n".utf8)), .unexpectedReply),
            ("WRONGTYPE", .bytes(Array("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n".utf8)), .unexpectedReply),
            ("BUSY", .bytes(Array("-BUSY Redis is busy running a script\r\n".utf8)), .unavailable),
            ("OOM", .bytes(Array("-OOM command not allowed when used memory > 'maxmemory'\r\n".utf8)), .unavailable),
            ("a hang-up", .close, .unavailable),
            ("silence", .silence, .unavailable),
        ]
        for (name, answer, kind) in rotateCases {
            hostile.reply(answer)
            // A fresh client each time: a protocol violation closes the connection and starts a backoff.
            let store = RedisSessionStore(redis: try client(hostile.url, commandTimeout: 500_000_000, resp3: false))
            let started = monotonicSeconds()
            let error = await expectError(kind, "rotate answered with \(name)") {
                try await store.rotate(SessionStoreConformance.hash("0"), to: SessionStoreConformance.hash("1"), now: now, idleSeconds: 600)
            }
            if ProcessInfo.processInfo.environment["SHOW_HOSTILE"] != nil { print("HOSTILE \(name): \(error.map { "\($0)" } ?? "-")") }
            XCTAssertLessThan(monotonicSeconds() - started, 3.0, name)
        }
        XCTAssertTrue(hostile.commands.contains { $0.first == "EVALSHA" })
        XCTAssertFalse(hostile.commands.contains { $0.joined(separator: " ").contains("token-0") }, "a raw token went to Redis")

        // The well-formed answer is accepted (so the cases above fail for the reason they name).
        hostile.reply(RESP.array([RESP.bulk("rotated"), RESP.record(refreshed: "1000")]))
        let good = RedisSessionStore(redis: try client(hostile.url, resp3: false))
        let accepted = try await good.rotate(SessionStoreConformance.hash("0"), to: SessionStoreConformance.hash("1"), now: now, idleSeconds: 600)
        XCTAssertEqual(accepted, .rotated(SessionRecord(id: "s1", subject: "alice", roles: ["user"], client: "web", userAgent: "UA",
                                                        createdAt: 1000, lastRefreshedAt: 1000, expiresAt: 5000)))

        // The other methods.
        let store = RedisSessionStore(redis: try client(hostile.url, resp3: false), limits: SessionStoreLimits(maximumSessionsPerSubject: 2))
        let throttle = RedisLoginThrottle(redis: try client(hostile.url, resp3: false))
        hostile.reply("+OK\r\n")
        await expectError(.unexpectedReply, "create answered OK") {
            try await store.create(SessionStoreConformance.session("s1", at: now), token: SessionStoreConformance.hash("0"), now: now)
        }
        hostile.reply(":2\r\n")
        await expectError(.unexpectedReply, "isLive answered 2") { try await store.isLive(sessionID: "s1", now: now) }
        await expectError(.unexpectedReply, "revoke id answered 2") { try await store.revoke(sessionID: "s1", subject: "alice", now: now) }
        hostile.reply(RESP.array([RESP.bulk("revoked")]))
        await expectError(.unexpectedReply, "revoke answered without a record") { try await store.revoke(token: SessionStoreConformance.hash("0"), now: now) as Any }
        hostile.reply(RESP.array([RESP.record(subject: "mallory")]))
        await expectError(.unexpectedReply, "sessions of someone else") { try await store.sessions(subject: "alice", now: now) }
        hostile.reply(RESP.array([RESP.record(id: "a"), RESP.record(id: "b"), RESP.record(id: "c")]))
        await expectError(.unexpectedReply, "more sessions than the cap") { try await store.sessions(subject: "alice", now: now) }
        hostile.reply(RESP.array([RESP.record(id: "a"), RESP.record(id: "a")]))
        await expectError(.unexpectedReply, "one session twice") { try await store.sessions(subject: "alice", now: now) }
        hostile.reply(RESP.array([RESP.record(expires: "1000")]))
        await expectError(.unexpectedReply, "an expired session listed") { try await store.sessions(subject: "alice", now: now) }
        hostile.reply("*5\r\n:0\r\n:0\r\n:0\r\n:0\r\n:0\r\n")
        await expectError(.unexpectedReply, "a lockout read of 5 fields") { try await throttle.retryAfter(account: "a", client: "c", now: now) as Any }
        hostile.reply("*6\r\n:0\r\n:0\r\n:-5\r\n:0\r\n:0\r\n:0\r\n")
        await expectError(.unexpectedReply, "a negative lock") { try await throttle.retryAfter(account: "a", client: "c", now: now) as Any }
        hostile.reply("*8\r\n:1\r\n:1000\r\n:1000\r\n:5\r\n:1\r\n:1000\r\n:1000\r\n:-1\r\n")
        await expectError(.unexpectedReply, "a lock the policy does not give") { try await throttle.recordFailure(account: "a", client: "c", now: now) as Any }
        hostile.reply("*8\r\n:0\r\n:1000\r\n:1000\r\n:-1\r\n:1\r\n:1000\r\n:1000\r\n:-1\r\n")
        await expectError(.unexpectedReply, "a failure count of 0") { try await throttle.recordFailure(account: "a", client: "c", now: now) as Any }
        hostile.reply("+OK\r\n")
        await expectError(.unexpectedReply, "DEL answered OK") { try await throttle.recordSuccess(account: "a", client: "c", now: now) }
        // What the login path calls: an attempt and a refund.
        hostile.reply("*3\r\n:0\r\n:0\r\n:0\r\n")
        await expectError(.unexpectedReply, "a refusal without a lock") { try await throttle.beginAttempt(account: "a", client: "c", now: now) as Any }
        hostile.reply("*9\r\n:2\r\n:1\r\n:1000\r\n:0\r\n:1\r\n:1000\r\n:0\r\n:0\r\n:0\r\n")
        await expectError(.unexpectedReply, "an unknown decision") { try await throttle.beginAttempt(account: "a", client: "c", now: now) as Any }
        hostile.reply(":2\r\n")
        await expectError(.unexpectedReply, "a refund answered 2") { try await throttle.refundAttempt(account: "a", client: "c", now: now, succeeded: false) }
        // Account names and addresses are hashed before they reach Redis: every lockout key ends in 64 hex digits.
        let keys = hostile.commands.joined().filter { $0.contains("l:a:") || $0.contains("l:c:") }
        XCTAssertFalse(keys.isEmpty, "the throttle's keys were sent")
        for key in keys {
            let tail = key.split(separator: ":").last ?? ""
            XCTAssertTrue(tail.count == 64 && tail.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }, key)
        }
    }
}
