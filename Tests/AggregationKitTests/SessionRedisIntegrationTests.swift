import XCTest
import Foundation
@testable import AggregationKit

/// Sessions with a real `redis-server` behind two gateway instances (bearer mode, one shared signing
/// key, `redis` configured so `auth.sessions` defaults to Redis): a session opened on one instance is
/// refreshed, rotated, reused, listed and ended on the other; lockouts are shared; with Redis gone the
/// session endpoints fail closed (503 within the Redis timeout) and recover when it returns.
final class SessionRedisIntegrationTests: XCTestCase {
    var redis: RedisServer!
    var identity: TestIdentityService!
    var downstream: Downstream!
    var keyDirectory: String!
    var a: TestGateway!
    var b: TestGateway!
    var mint: TokenMint!

    override func setUpWithError() throws {
        redis = try RedisServer()
        mint = try TokenMint()
        identity = try TestIdentityService()
        downstream = try Downstream()
        keyDirectory = NSTemporaryDirectory() + "bff-session-key-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: keyDirectory, withIntermediateDirectories: true)
        try AsymmetricKey.generateEC(curve: .p256).privateKeyPEM().write(toFile: keyDirectory + "/session.pem", atomically: true, encoding: .utf8)
        a = try TestGateway(configuration: try configuration())
        b = try TestGateway(configuration: try configuration())
    }

    override func tearDown() {
        a?.stop()
        b?.stop()
        downstream?.stop()
        identity?.stop()
        redis?.remove()
        if let keyDirectory { try? FileManager.default.removeItem(atPath: keyDirectory) }
    }

    func configuration() throws -> GatewayConfiguration {
        try GatewayConfiguration.parse(Array("""
        {
          "listen": {"host": "127.0.0.1", "port": 0},
          "redis": {"url": "\(redis.url)", "commandTimeoutMs": 500, "connectTimeoutMs": 500, "reconnectInitialMs": 20, "reconnectMaxMs": 100},
          "services": {"identity": {"instances": ["127.0.0.1:\(identity.port)"], "connectTimeoutMs": 500, "responseTimeoutMs": 2000},
                       "down": {"instances": ["127.0.0.1:\(downstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "auth": {"jwt": {"providers": {"idp": {"keys": [{"jwk": \(mint.publicJWK)}], "issuers": ["\(TokenMint.issuer)"],
                                                 "audiences": ["\(TokenMint.audience)"]}}},
                   "sessions": {"mode": "bearer", "identity": {"service": "identity"}, "signingKeyFile": "\(keyDirectory!)/session.pem",
                                "revocationCheckMs": 200, "redisKeyPrefix": "test:",
                                "lockout": {"account": {"threshold": 3}, "client": {"threshold": 100}}}},
          "routes": [{"name": "me", "path": "/api/me", "proxy": {"service": "down", "path": "/echo"},
                      "policy": {"auth": {"provider": "session", "claimsToHeaders": {"sub": "X-User-Id"}}}},
                     {"name": "jwt", "path": "/api/jwt", "proxy": {"service": "down", "path": "/echo"},
                      "policy": {"auth": {"provider": "idp"}}}]
        }
        """.utf8), file: "test.json")
    }

    func send(_ gateway: TestGateway, _ method: String, _ path: String, token: String? = nil, body: String? = nil) throws -> HTTPResponse {
        let c = try RawClient(port: gateway.port)
        var text = "\(method) \(path) HTTP/1.1\r\nHost: gw\r\n"
        if let token { text += "Authorization: Bearer \(token)\r\n" }
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body } else { text += "\r\n" }
        c.send(text)
        return try XCTUnwrap(c.readResponse(), "no response to \(method) \(path)")
    }

    func login(_ gateway: TestGateway, _ user: String = "alice", _ password: String = "wonderland") throws -> HTTPResponse {
        try send(gateway, "POST", "/auth/login", body: #"{"username":"\#(user)","password":"\#(password)"}"#)
    }

    func refresh(_ gateway: TestGateway, _ token: String) throws -> HTTPResponse {
        try send(gateway, "POST", "/auth/refresh", body: #"{"refresh_token":"\#(token)"}"#)
    }

    func testASessionOpenedOnOneInstanceRotatesAndEndsOnTheOther() throws {
        let opened = try login(a)
        XCTAssertEqual(opened.status, 200, opened.text)
        let access = try XCTUnwrap(opened.json?["access_token"]?.stringValue)
        let first = try XCTUnwrap(opened.json?["refresh_token"]?.stringValue)
        XCTAssertEqual(try send(b, "GET", "/api/me", token: access).status, 200, "B verifies A's token (shared key) and finds the session live")

        let rotated = try refresh(b, first)
        XCTAssertEqual(rotated.status, 200, rotated.text)
        let second = try XCTUnwrap(rotated.json?["refresh_token"]?.stringValue)
        let secondAccess = try XCTUnwrap(rotated.json?["access_token"]?.stringValue)
        XCTAssertEqual(try send(a, "GET", "/api/me", token: secondAccess).status, 200)

        // The spent token presented again, on the other instance: reuse, the family is revoked everywhere.
        XCTAssertEqual(try refresh(a, first).status, 401)
        XCTAssertEqual(try refresh(b, second).status, 401, "the rightful current token dies with its family")
        // Access tokens of the revoked session stop within revocationCheckMs (200 ms) on both instances.
        let deadline = monotonicSeconds() + 5
        var refused = false
        while monotonicSeconds() < deadline {
            if try send(a, "GET", "/api/me", token: secondAccess).status == 401, try send(b, "GET", "/api/me", token: secondAccess).status == 401 {
                refused = true
                break
            }
            usleep(50_000)
        }
        XCTAssertTrue(refused, "a revoked session's access token is refused on both instances")

        // Sessions listed on one instance, ended on the other.
        let again = try login(b)
        let token = try XCTUnwrap(again.json?["access_token"]?.stringValue)
        let refreshToken = try XCTUnwrap(again.json?["refresh_token"]?.stringValue)
        let list = try send(a, "GET", "/auth/sessions", token: token)
        XCTAssertEqual(list.json?["sessions"]?.arrayValue?.count, 1, list.text)
        XCTAssertEqual(try send(a, "POST", "/auth/logout", body: #"{"refresh_token":"\#(refreshToken)"}"#).status, 204)
        XCTAssertEqual(try refresh(b, refreshToken).status, 401)
    }

    func testLockoutIsSharedBetweenInstances() throws {
        for gateway in [a!, b!, a!] { XCTAssertEqual(try login(gateway, "alice", "wrong").status, 401) }
        let locked = try login(b, "alice", "wonderland")
        XCTAssertEqual(locked.status, 429, "three failures across two instances lock the account on both")
        XCTAssertNotNil(locked.headers["Retry-After"])
    }

    func testRedisDownFailsClosedThenRecovers() throws {
        let opened = try login(a)
        let refreshToken = try XCTUnwrap(opened.json?["refresh_token"]?.stringValue)
        let now = Int64(Date().timeIntervalSince1970)
        let external = try mint.token(claims: TokenMint.claims(sub: "u1", exp: now + 300))
        redis.kill()
        XCTAssertEqual(try send(a, "GET", "/api/jwt", token: external).status, 200, "plain JWT validation needs no Redis")
        for (what, request) in [("login", { try self.login(self.a) }), ("refresh", { try self.refresh(self.b, refreshToken) })] {
            let started = monotonicSeconds()
            let r = try request()
            XCTAssertEqual(r.status, 503, "\(what): \(r.text)")
            XCTAssertEqual(r.problemCode, "session_store_unavailable", what)
            XCTAssertLessThan(monotonicSeconds() - started, 3, "\(what): bounded by the Redis timeout, no hang")
        }
        // Back (empty: the test server keeps nothing on disk): the pools reconnect by themselves.
        try redis.start()
        for gateway in [a!, b!] {
            let deadline = monotonicSeconds() + 10
            var status = 0
            while monotonicSeconds() < deadline {
                status = try login(gateway).status
                if status != 503 { break }
                usleep(100_000)
            }
            XCTAssertEqual(status, 200, "logins work again on each instance once Redis is back")
        }
        XCTAssertEqual(try refresh(a, refreshToken).status, 401, "the session died with the data; its token is refused, not an error")
    }
}
