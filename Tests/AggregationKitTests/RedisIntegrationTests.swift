import XCTest
import Synchronization
@testable import AggregationKit

/// The client against a real `redis-server` (started per test on a free port, a Unix socket, with a
/// password, or with HELLO renamed away): commands, pipelining, AUTH/SELECT, scripts, timeouts, Redis
/// killed and restarted, the RESP2 fallback, the queue limit, shutdown.
final class RedisIntegrationTests: XCTestCase {
    private var group: EventLoopGroup!
    private var clients: [RedisClient] = []
    private var servers: [RedisServer] = []

    override func setUpWithError() throws {
        LogBuffer.enabled = false
        group = try EventLoopGroup(threads: 1)
    }

    override func tearDown() {
        for client in clients { client.shutdown() }
        group.shutdown()
        for server in servers { server.remove() }
        clients = []
        servers = []
    }

    private func server(password: String? = nil, unixSocket: Bool = false, extraConfig: [String] = []) throws -> RedisServer {
        let s = try RedisServer(password: password, unixSocket: unixSocket, extraConfig: extraConfig)
        servers.append(s)
        return s
    }

    private func client(_ url: String, commandTimeout: UInt64 = 2_000_000_000, pool: RedisPoolStateMachine.Configuration = .init()) throws -> RedisClient {
        var configuration = try RedisClient.Configuration(url: url)
        configuration.commandTimeout = commandTimeout
        configuration.pool = pool
        let c = try RedisClient(configuration: configuration, group: group)
        clients.append(c)
        return c
    }

    private func expectError(_ kinds: Set<RedisError.Kind>, _ body: () async throws -> Void, file: StaticString = #filePath, line: UInt = #line) async -> RedisError? {
        do {
            try await body()
            XCTFail("expected one of \(kinds.map(\.rawValue)), got a reply", file: file, line: line)
            return nil
        } catch let error as RedisError {
            XCTAssertTrue(kinds.contains(error.kind), "expected one of \(kinds.map(\.rawValue)), got \(error)", file: file, line: line)
            return error
        } catch {
            XCTFail("not a RedisError: \(error)", file: file, line: line)
            return nil
        }
    }

    private func assertEqual<T: Equatable>(_ value: @autoclosure () async throws -> T, _ expected: T, _ message: String = "",
                                           file: StaticString = #filePath, line: UInt = #line) async {
        do {
            let v = try await value()
            XCTAssertEqual(v, expected, message, file: file, line: line)
        } catch {
            XCTFail("threw \(error)", file: file, line: line)
        }
    }

    private func assertNil<T>(_ value: @autoclosure () async throws -> T?, file: StaticString = #filePath, line: UInt = #line) async {
        do {
            let v = try await value()
            XCTAssertNil(v, file: file, line: line)
        } catch {
            XCTFail("threw \(error)", file: file, line: line)
        }
    }

    private func assertTrue(_ value: @autoclosure () async throws -> Bool, file: StaticString = #filePath, line: UInt = #line) async {
        await assertEqual(try await value(), true, file: file, line: line)
    }

    private func assertFalse(_ value: @autoclosure () async throws -> Bool, file: StaticString = #filePath, line: UInt = #line) async {
        await assertEqual(try await value(), false, file: file, line: line)
    }

    func testBasicCommandsAndRESP3Types() async throws {
        let redis = try client(try server().url)
        try await redis.set("greeting", "hello")
        await assertEqual(try await redis.get("greeting"), Array("hello".utf8))
        await assertNil(try await redis.get("missing"))
        let binary: [UInt8] = [0, 13, 10, 255, 36, 42]
        try await redis.set("bin", binary, ex: 100)
        await assertEqual(try await redis.get("bin"), binary)
        let ttl = try await redis.send(["TTL", "bin"]).int ?? -1
        XCTAssertTrue((1...100).contains(ttl), "\(ttl)")
        await assertEqual(try await redis.incr("n"), 1)
        await assertEqual(try await redis.incr("n"), 2)
        await assertTrue(try await redis.expire("n", seconds: 60))
        await assertFalse(try await redis.expire("missing", seconds: 60))
        await assertEqual(try await redis.del(["n", "greeting", "missing"]), 2)
        await assertEqual(try await redis.send(["PING"]), .simpleString("PONG"))
        // An error reply is thrown, with its code; the connection goes on.
        try await redis.set("text", "abc")
        let wrong = await expectError([.server]) { try await redis.incr("text") }
        XCTAssertEqual(wrong?.serverError?.code, "ERR")
        let wrongType = await expectError([.server]) { _ = try await redis.send(["LPUSH", "text", "x"]) }
        XCTAssertEqual(wrongType?.serverError?.code, "WRONGTYPE")
        // RESP3 was negotiated: maps, doubles, sets and nulls come typed.
        _ = try await redis.send(["HSET", "h", "a", "1", "b", "2"])
        guard case .map(let pairs) = try await redis.send(["HGETALL", "h"]) else { return XCTFail("HGETALL is not a map") }
        XCTAssertEqual(Set(pairs.map { $0.key.string! + "=" + $0.value.string! }), ["a=1", "b=2"])
        _ = try await redis.send(["ZADD", "z", "1.5", "m"])
        await assertEqual(try await redis.send(["ZSCORE", "z", "m"]), .double(1.5))
        _ = try await redis.send(["SADD", "s", "x"])
        await assertEqual(try await redis.send(["SMEMBERS", "s"]), .set([.bulkString([120])]))
        await assertEqual(try await redis.send(["HGET", "h", "nope"]), .null)
        await assertEqual(try await redis.send(["EXISTS", "h"]), .integer(1))
    }

    /// 1000 commands at once from 1000 tasks: at most two connections, so they were pipelined; every
    /// caller gets its own reply.
    func testPipelinesAThousandCommandsWithExactReplies() async throws {
        let redis = try client(try server().url)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for i in 0..<1000 {
                tasks.addTask { try await redis.set("key:\(i)", "value:\(i)") }
            }
            try await tasks.waitForAll()
        }
        let values = try await withThrowingTaskGroup(of: (Int, String?).self) { tasks in
            for i in 0..<1000 {
                tasks.addTask { (i, try await redis.get("key:\(i)").map { String(decoding: $0, as: UTF8.self) }) }
            }
            var all: [Int: String] = [:]
            for try await (i, v) in tasks { all[i] = v }
            return all
        }
        XCTAssertEqual(values.count, 1000)
        for i in 0..<1000 { XCTAssertEqual(values[i], "value:\(i)") }
        let counts = try await withThrowingTaskGroup(of: Int64.self) { tasks in
            for _ in 0..<1000 { tasks.addTask { try await redis.incr("counter") } }
            var all: [Int64] = []
            for try await n in tasks { all.append(n) }
            return all
        }
        XCTAssertEqual(counts.sorted(), Array(1...1000))
        XCTAssertLessThanOrEqual(redis.poolCounts(on: group.loops[0]).connections, 2)
        let clientsLine = try await redis.send(["INFO", "clients"]).string ?? ""
        XCTAssertTrue(clientsLine.contains("connected_clients:1\r") || clientsLine.contains("connected_clients:2\r"), clientsLine)
    }

    func testAuthAndSelect() async throws {
        let s = try server(password: "s3cret")
        let db3 = try client("redis://:s3cret@127.0.0.1:\(s.port)/3")
        try await db3.set("where", "three")
        let db0 = try client("redis://default:s3cret@127.0.0.1:\(s.port)/0")
        await assertNil(try await db0.get("where"))
        await assertEqual(try await db0.send(["SELECT", "3"]), .simpleString("OK"))
        await assertEqual(try await db0.get("where"), Array("three".utf8))
        // A wrong password and a missing one: refused as authentication failures, never hanging.
        let wrong = try client("redis://:nope@127.0.0.1:\(s.port)")
        let error = await expectError([.authenticationFailed]) { _ = try await wrong.send(["PING"]) }
        XCTAssertFalse(error?.detail.contains("nope") ?? true, "the password leaked into \(String(describing: error))")
        let none = try client("redis://127.0.0.1:\(s.port)")
        _ = await expectError([.authenticationFailed]) { _ = try await none.send(["PING"]) }
        let badDatabase = try client("redis://:s3cret@127.0.0.1:\(s.port)/999")
        _ = await expectError([.unavailable]) { _ = try await badDatabase.send(["PING"]) }
    }

    func testUnixSocket() async throws {
        let s = try server(unixSocket: true)
        let redis = try client("unix://\(s.socketPath!)?db=2")
        try await redis.set("k", "over a unix socket")
        await assertEqual(try await redis.get("k"), Array("over a unix socket".utf8))
        let db0 = try client("unix://\(s.socketPath!)")
        await assertNil(try await db0.get("k"))
    }

    func testEvalShaFallsBackToEvalOnNoScript() async throws {
        let redis = try client(try server().url)
        let script = RedisScript("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}")
        await assertEqual(try await redis.send(["SCRIPT", "LOAD", script.source]).string, script.sha1)
        _ = try await redis.send(["SCRIPT", "FLUSH"])
        await assertEqual(try await redis.send(["SCRIPT", "EXISTS", script.sha1]), .array([.integer(0)]))
        // EVALSHA answers NOSCRIPT; EVAL runs it (and caches it).
        await assertEqual(try await redis.evalScript(script, keys: ["c"], arguments: ["x"]),
                       .array([.bulkString([99]), .bulkString([120]), .integer(1)]))
        await assertEqual(try await redis.send(["SCRIPT", "EXISTS", script.sha1]), .array([.integer(1)]))
        await assertEqual(try await redis.evalScript(script, keys: ["c"], arguments: ["y"]),
                       .array([.bulkString([99]), .bulkString([121]), .integer(2)]))
        // A script error is thrown as it is (no retry with EVAL).
        let failing = RedisScript("return redis.call('NOSUCHCOMMAND')")
        _ = await expectError([.server]) { _ = try await redis.evalScript(failing) }
    }

    /// Read, add one, write: racy as three commands, exact as one script.
    func testScriptIsAtomicUnderConcurrency() async throws {
        let redis = try client(try server().url)
        let script = RedisScript("""
            local v = tonumber(redis.call('GET', KEYS[1]) or '0')
            redis.call('SET', KEYS[1], v + 1)
            return v + 1
            """)
        let results = try await withThrowingTaskGroup(of: Int64?.self) { tasks in
            for _ in 0..<100 { tasks.addTask { try await redis.evalScript(script, keys: ["atomic"]).int } }
            var all: [Int64] = []
            for try await r in tasks { all.append(r ?? -1) }
            return all
        }
        XCTAssertEqual(results.sorted(), Array(1...100))
        await assertEqual(try await redis.get("atomic"), Array("100".utf8))
    }

    /// Redis stalls (CLIENT PAUSE): the command fails at its timeout, not later, and the client works
    /// again once Redis does.
    func testCommandTimeout() async throws {
        let s = try server()
        let redis = try client(s.url, commandTimeout: 300_000_000)
        let admin = try client(s.url)
        await assertEqual(try await redis.send(["PING"]), .simpleString("PONG"))
        await assertEqual(try await admin.send(["CLIENT", "PAUSE", "2000", "ALL"]), .simpleString("OK"))
        let started = monotonicSeconds()
        _ = await expectError([.timeout]) { _ = try await redis.get("k") }
        let elapsed = monotonicSeconds() - started
        XCTAssertGreaterThanOrEqual(elapsed, 0.25)
        XCTAssertLessThan(elapsed, 1.5, "the timeout was 300 ms")
        let recovered = await pollUntil(within: 20) { (try? await redis.send(["PING"])) == .simpleString("PONG") }
        XCTAssertTrue(recovered)
    }

    /// Redis killed mid-test: calls fail fast (within the timeout, most at once) with a distinct error;
    /// restarted on the same port, the client recovers by itself.
    func testRedisKilledThenRestarted() async throws {
        let s = try server()
        let timeout: UInt64 = 1_000_000_000
        let redis = try client(s.url, commandTimeout: timeout)
        try await redis.set("before", "1")
        s.kill()
        var kinds: [RedisError.Kind] = []
        for _ in 0..<20 {
            let started = monotonicSeconds()
            if let e = await expectError([.connectionClosed, .unavailable], { _ = try await redis.get("before") }) { kinds.append(e.kind) }
            XCTAssertLessThan(monotonicSeconds() - started, 1.0 + 0.5, "a call took longer than its timeout")
        }
        // Once the loss is known, the pool fails calls at once rather than at their timeout.
        XCTAssertEqual(kinds.last, .unavailable)
        try s.start()
        let recovered = await pollUntil(within: 20) { (try? await redis.send(["PING"])) == .simpleString("PONG") }
        XCTAssertTrue(recovered, "the client did not reconnect to the restarted Redis")
        try await redis.set("after", "2")
        await assertEqual(try await redis.get("after"), Array("2".utf8))
    }

    /// A server that was never there: every call fails fast with `unavailable`, never hangs.
    func testUnreachableServerFailsFast() async throws {
        let redis = try client("redis://127.0.0.1:\(try freePort())", commandTimeout: 5_000_000_000)
        for _ in 0..<5 {
            let started = monotonicSeconds()
            _ = await expectError([.unavailable]) { _ = try await redis.send(["PING"]) }
            XCTAssertLessThan(monotonicSeconds() - started, 1.0)
        }
    }

    /// HELLO renamed away (a Redis that does not speak RESP3): the client falls back to RESP2 and still
    /// authenticates and selects.
    func testRESP2Fallback() async throws {
        let s = try server(password: "pw", extraConfig: ["rename-command HELLO \"\""])
        let redis = try client("redis://:pw@127.0.0.1:\(s.port)/1")
        try await redis.set("k", "v")
        await assertEqual(try await redis.get("k"), Array("v".utf8))
        _ = try await redis.send(["HSET", "h", "a", "1"])
        // RESP2: a hash comes as a flat array, a score as a string.
        await assertEqual(try await redis.send(["HGETALL", "h"]), .array([.bulkString([97]), .bulkString([49])]))
        _ = try await redis.send(["ZADD", "z", "2.5", "m"])
        await assertEqual(try await redis.send(["ZSCORE", "z", "m"]), .bulkString(Array("2.5".utf8)))
        let db0 = try client("redis://:pw@127.0.0.1:\(s.port)/0")
        await assertNil(try await db0.get("k"))
        await assertEqual(try await db0.evalScript(RedisScript("return 7")), .integer(7))
    }

    /// One connection, one command in flight, two queued: the rest fail at once with `queueFull`, and
    /// the accepted ones complete when Redis answers again.
    func testQueueLimit() async throws {
        let s = try server()
        let redis = try client(s.url, commandTimeout: 15_000_000_000,
                               pool: .init(maxConnections: 1, maxInFlightPerConnection: 1, maxQueuedCommands: 2))
        let admin = try client(s.url)
        await assertEqual(try await redis.send(["PING"]), .simpleString("PONG"))
        await assertEqual(try await admin.send(["CLIENT", "PAUSE", "3000", "ALL"]), .simpleString("OK"))
        let started = monotonicSeconds()
        let outcomes = await withTaskGroup(of: (Result<RedisValue, RedisError>, Double).self) { tasks in
            for i in 0..<10 {
                tasks.addTask {
                    do throws(RedisError) {
                        let v = try await redis.send(["ECHO", "\(i)"])
                        return (.success(v), monotonicSeconds() - started)
                    } catch {
                        return (.failure(error), monotonicSeconds() - started)
                    }
                }
            }
            var all: [(Result<RedisValue, RedisError>, Double)] = []
            for await o in tasks { all.append(o) }
            return all
        }
        let refused = outcomes.filter { if case .failure(let e) = $0.0 { return e.kind == .queueFull } else { return false } }
        let answered = outcomes.filter { if case .success = $0.0 { return true } else { return false } }
        XCTAssertEqual(refused.count, 7, "\(outcomes.map { $0.0 })")
        XCTAssertEqual(answered.count, 3)
        // Refused at once, not when the pause ended.
        XCTAssertTrue(refused.allSatisfy { $0.1 < 2.0 }, "\(refused.map { $0.1 })")
    }

    /// Shutdown fails what waits (never leaves a caller hanging) and closes the connections.
    func testShutdownFailsWaitingCommands() async throws {
        let s = try server()
        let redis = try client(s.url, commandTimeout: 30_000_000_000)
        let admin = try client(s.url)
        await assertEqual(try await redis.send(["PING"]), .simpleString("PONG"))
        await assertEqual(try await admin.send(["CLIENT", "PAUSE", "5000", "ALL"]), .simpleString("OK"))
        let started = monotonicSeconds()
        let pending = Task { () -> RedisError? in
            do throws(RedisError) { _ = try await redis.send(["PING"]); return nil } catch { return error }
        }
        // Let the command reach the connection, then shut down.
        try await Task.sleep(nanoseconds: 200_000_000)
        let group = self.group!
        await Task.detached { redis.shutdown() }.value
        let error = await pending.value
        XCTAssertEqual(error?.kind, .shutDown)
        XCTAssertLessThan(monotonicSeconds() - started, 3.0)
        XCTAssertEqual(redis.poolCounts(on: group.loops[0]), RedisClient.PoolCounts())
        _ = await expectError([.shutDown]) { _ = try await redis.send(["PING"]) }
    }

    func testCancelledCallEndsAndLeavesTheConnectionInStep() async throws {
        let s = try server()
        let redis = try client(s.url, commandTimeout: 30_000_000_000)
        try await redis.set("k", "v")
        let slow = Task { () -> RedisError? in
            do throws(RedisError) { _ = try await redis.send(["BLPOP", "nothing", "2"]); return nil } catch { return error }
        }
        try await Task.sleep(nanoseconds: 200_000_000)
        slow.cancel()
        let error = await slow.value
        XCTAssertEqual(error?.kind, .cancelled)
        // The BLPOP reply (null, after 2 s) is read and dropped; the next caller gets its own reply.
        await assertEqual(try await redis.get("k"), Array("v".utf8))
    }
}
