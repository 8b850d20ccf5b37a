import XCTest
import Foundation
@testable import AggregationKit

/// The `redis` section (strict parsing, the URL from the file or `BFF_REDIS_URL`, no password in any
/// message) and the gateway's Redis client lifecycle against a real `redis-server`.
final class RedisConfigurationTests: XCTestCase {
    static let noEnvironment: @Sendable (String) -> String? = { _ in nil }

    func parse(_ redis: String, environment: (String) -> String? = noEnvironment) -> Result<GatewayConfiguration, ConfigurationError> {
        let json = #"{"services": {"s": {"instances": ["127.0.0.1:1"]}}, "redis": \#(redis)}"#
        do { return .success(try GatewayConfiguration.parse(Array(json.utf8), file: "gateway.json", environment: environment)) } catch { return .failure(error) }
    }

    func issues(_ redis: String, environment: (String) -> String? = noEnvironment) -> [String] {
        guard case .failure(let e) = parse(redis, environment: environment) else { return [] }
        return e.issues.map { "\($0.path): \($0.reason)" }
    }

    func testEveryKeyIsRead() throws {
        let c = try XCTUnwrap(try parse(#"""
            {"url": "redis://:pw@127.0.0.1:6380/2", "commandTimeoutMs": 250, "connectTimeoutMs": 300, "maxConnectionsPerLoop": 3,
             "pipelineDepth": 16, "maxQueuedCommands": 10, "reconnectInitialMs": 20, "reconnectMaxMs": 500}
            """#).get().redis)
        XCTAssertEqual(c.endpoint.address, .tcp(host: "127.0.0.1", port: 6380))
        XCTAssertEqual(c.endpoint.password, "pw")
        XCTAssertEqual(c.endpoint.database, 2)
        XCTAssertEqual(c.commandTimeout, 250_000_000)
        XCTAssertEqual(c.pool.connectTimeout, 300_000_000)
        XCTAssertEqual(c.pool.maxConnections, 3)
        XCTAssertEqual(c.pool.maxInFlightPerConnection, 16)
        XCTAssertEqual(c.pool.maxQueuedCommands, 10)
        XCTAssertEqual(c.pool.backoff, RedisBackoff(initialDelay: 20_000_000, maxDelay: 500_000_000))
    }

    func testDefaultsAndAbsence() throws {
        let none = try GatewayConfiguration.parse(Array(#"{"services": {}}"#.utf8), file: "g.json", environment: { _ in "redis://127.0.0.1:1" })
        XCTAssertNil(none.redis, "the environment variable alone does not switch the stores to Redis")
        let c = try XCTUnwrap(try parse(#"{"url": "unix:///tmp/redis.sock?db=3"}"#).get().redis)
        XCTAssertEqual(c, RedisClient.Configuration(endpoint: RedisEndpoint(address: .unix(path: "/tmp/redis.sock"), database: 3)))
    }

    func testTheURLFromTheEnvironment() throws {
        let env: (String) -> String? = { $0 == "BFF_REDIS_URL" ? "redis://user:s3cret@127.0.0.1:7000" : nil }
        let c = try XCTUnwrap(try parse("{}", environment: env).get().redis)
        XCTAssertEqual(c.endpoint.user, "user")
        XCTAssertEqual(c.endpoint.password, "s3cret")
        XCTAssertEqual(issues(#"{"url": "redis://127.0.0.1"}"#, environment: env),
                       ["$.redis.url: also set by the environment variable BFF_REDIS_URL: set only one"])
        XCTAssertEqual(issues("{}"), ["$.redis.url: required (or set the environment variable BFF_REDIS_URL)"])
        let bad = issues("{}", environment: { _ in "http://:hunter2@host" })
        XCTAssertEqual(bad.count, 1)
        XCTAssertTrue(bad[0].hasPrefix("$.redis.url: BFF_REDIS_URL is not a Redis URL"), bad[0])
        XCTAssertFalse(bad[0].contains("hunter2"))
    }

    func testBadValuesAreRefusedWithTheirPathAndNoPassword() {
        let secret = "hunter2-secret"
        for url in ["rediss://:\(secret)@host:6379", "redis://:\(secret)@host:99999", "redis://:\(secret)@host/x", "redis://u\(secret)@host",
                    "redis://:\(secret)@host?x=1", "unix://:\(secret)@/tmp/s?foo=1", "ftp://:\(secret)@h"] {
            let found = issues(#"{"url": "\#(url)"}"#)
            XCTAssertEqual(found.count, 1, url)
            XCTAssertTrue(found.first?.hasPrefix("$.redis.url: not a Redis URL: ") ?? false, "\(found)")
            XCTAssertFalse(found.joined().contains(secret), "the password is echoed: \(found)")
            XCTAssertFalse(found.joined().contains("host"), "the URL is echoed: \(found)")
        }
        XCTAssertEqual(issues(#"{"url": "redis://h", "password": "x"}"#),
                       ["$.redis.password: unknown key (allowed: url, commandTimeoutMs, connectTimeoutMs, maxConnectionsPerLoop, pipelineDepth, maxQueuedCommands, reconnectInitialMs, reconnectMaxMs)"])
        XCTAssertEqual(issues(#"{"url": "redis://h", "commandTimeoutMs": 0}"#), ["$.redis.commandTimeoutMs: 0 is out of range 1...60000"])
        XCTAssertEqual(issues(#"{"url": "redis://h", "maxConnectionsPerLoop": 65}"#), ["$.redis.maxConnectionsPerLoop: 65 is out of range 1...64"])
        XCTAssertEqual(issues(#"{"url": "redis://h", "reconnectInitialMs": 500, "reconnectMaxMs": 100}"#),
                       ["$.redis.reconnectMaxMs: must be at least reconnectInitialMs (500)"])
        XCTAssertEqual(issues(#"{"url": 5}"#), ["$.redis.url: expected a string, found number"])
        XCTAssertEqual(issues(#""redis://h""#), ["$.redis: expected an object, found string"])
    }

}

/// The gateway's Redis client, live: started and stopped with the gateway's services.
final class RedisGatewayLifecycleTests: XCTestCase {
    var downstream: Downstream!
    var logPath: String!

    override func setUpWithError() throws {
        LogBuffer.enabled = false
        logPath = NSTemporaryDirectory() + "bff-redis-log-\(UUID().uuidString.prefix(8))"
        // Started here, on the test's thread: a child started from a concurrency thread inherits its
        // signal mask (SIGTERM blocked) and would not stop.
        downstream = try Downstream()
    }

    override func tearDown() {
        downstream?.stop()
        if let logPath { try? FileManager.default.removeItem(atPath: logPath) }
    }

    /// A gateway with `redis.url` = `url` and one open route, started and stopped as the command does
    /// (the loops first in, the gateway's services after them), its log in a file.
    func withGateway(redisURL url: String, _ body: (Gateway, Int) async throws -> Void) async throws {
        let json = proxyConfig(port: downstream.port).replacingOccurrences(of: #""listen":"#, with: #""redis": {"url": "\#(url)", "commandTimeoutMs": 500}, "listen":"#)
        var configuration = try GatewayConfiguration.parse(Array(json.utf8), file: "test.json", environment: { _ in nil })
        configuration.server.port = 0
        let writer = try LogWriter.appending(toFile: logPath)
        let group = try EventLoopGroup(threads: 1, logging: LogStreams(application: Logger(threshold: .info, writer: writer), access: nil))
        let gateway = try Gateway(configuration: configuration, group: group)
        let lifecycle = ServiceGroup([ServiceHooks("event-loops", stop: { group.shutdown() })] + gateway.services)
        XCTAssertEqual(gateway.services.map(\.name), ["redis", "upstreams", "admin-server", "http-server"], "redis stops after the listeners and upstreams")
        try lifecycle.start()
        do {
            try await body(gateway, gateway.server.port)
        } catch {
            _ = lifecycle.stop()
            throw error
        }
        XCTAssertEqual(lifecycle.stop().map(\.description), [], "a clean stop")
        do {
            try await gateway.redis!.send(["PING"])
            XCTFail("the client answers after the stop")
        } catch {
            XCTAssertEqual(error.kind, .shutDown)
        }
        _ = writer.flush(timeout: 2_000_000_000)
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func testTheGatewayStartsAndStopsItsClientWithARealRedis() async throws {
        let server = try RedisServer(password: "pa55word")
        defer { server.remove() }
        try await withGateway(redisURL: "redis://:pa55word@127.0.0.1:\(server.port)") { gateway, port in
            let redis = try XCTUnwrap(gateway.redis)
            try await redis.set("k", "v", ex: 60)
            let value = try await redis.get("k")
            XCTAssertEqual(value, Array("v".utf8))
            XCTAssertEqual(try TestGateway.get(port: port, "/x").status, 200)
            let logged = await pollUntil(within: 10) { self.log().contains("redis reachable") }
            XCTAssertTrue(logged, log())
        }
        XCTAssertFalse(log().contains("pa55word"), "the password is never logged")
    }

    func testAnUnreachableRedisDoesNotPreventTheStart() async throws {
        let closedPort = try freePort()
        try await withGateway(redisURL: "redis://:pa55word@127.0.0.1:\(closedPort)") { gateway, port in
            XCTAssertEqual(try TestGateway.get(port: port, "/x").status, 200, "routes that do not need Redis are served")
            let started = monotonicSeconds()
            do {
                try await gateway.redis!.send(["PING"])
                XCTFail("PING answered by nobody")
            } catch let error as RedisError {
                XCTAssertTrue(error.kind == .unavailable || error.kind == .timeout, "\(error)")
            }
            XCTAssertLessThan(monotonicSeconds() - started, 5, "fails within the timeouts")
            let logged = await pollUntil(within: 10) { self.log().contains("redis unreachable at start") }
            XCTAssertTrue(logged, log())
        }
        XCTAssertFalse(log().contains("pa55word"))
        XCTAssertTrue(log().contains("***"), "the endpoint is logged with its password hidden")
    }
}
