import XCTest
import Foundation
@testable import AggregationKit

/// `policy.auth` over real sockets: the gateway on 127.0.0.1 in front of Python's echoing downstream.
/// What a client sees when refused (status, `WWW-Authenticate`, problem body), and what the downstream
/// receives when let through (claim headers, no spoofed fields, no token unless configured).
final class AuthIntegrationTests: XCTestCase {
    var downstream: Downstream!
    var gateway: TestGateway!
    var mint: TokenMint!
    let now = Int64(Date().timeIntervalSince1970)

    override func setUpWithError() throws {
        mint = try TokenMint()
        downstream = try Downstream()
        gateway = try TestGateway("""
        {
          "listen": {"host": "127.0.0.1", "port": 0},
          "timeouts": {"headerMs": 2000, "bodyMs": 2000},
          "services": {"down": {"instances": ["127.0.0.1:\(downstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "auth": {"jwt": {"providers": {"main": {"keys": [{"jwk": \(mint.publicJWK)}], "issuers": ["\(TokenMint.issuer)"],
                                                  "audiences": ["\(TokenMint.audience)"]}}},
                   "roles": {"admin": {"permissions": ["users:write"], "inherits": ["user"]}, "user": {"permissions": ["users:read"]}}},
          "routes": [
            {"name": "users", "path": "/api/users/{id}", "proxy": {"service": "down", "path": "/echo/{id}"},
             "policy": {"auth": {"require": [{"owner": {"param": "id", "claim": "sub"}}, {"roles": ["admin"]}],
                                 "claimsToHeaders": {"sub": "X-User-Id", "tenant": "X-Tenant"}},
                        "headers": {"request": {"set": {"X-Greeting": "hello {claims.sub}"}}}}},
            {"name": "write", "path": "/api/admin", "proxy": {"service": "down"}, "policy": {"auth": {"require": {"permissions": ["users:write"]}}}},
            {"name": "fwd", "path": "/fwd", "proxy": {"service": "down"}, "policy": {"auth": {"forwardToken": true}}},
            {"name": "rest", "path": "/*", "proxy": {"service": "down"}}
          ]
        }
        """)
    }

    override func tearDown() {
        gateway?.stop()
        downstream?.stop()
    }

    private func send(_ head: String) throws -> HTTPResponse {
        let c = try RawClient(port: gateway.port)
        c.send(head + "\r\n")
        return try XCTUnwrap(c.readResponse(), "no response to \(head)")
    }

    private func get(_ path: String, token: String?, _ fields: String = "") throws -> HTTPResponse {
        try send("GET \(path) HTTP/1.1\r\nHost: gw\r\n" + (token.map { "Authorization: Bearer \($0)\r\n" } ?? "") + fields)
    }

    /// The headers the downstream received, lower-cased names.
    private func received(_ r: HTTPResponse) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for pair in r.json?["headers"]?.arrayValue ?? [] { out[pair.arrayValue![0].stringValue!.lowercased(), default: []].append(pair.arrayValue![1].stringValue!) }
        return out
    }

    private func requestCount() throws -> Int { try gateway.get("/stats").json?["requests"]?.numberValue?.intValue ?? -1 }

    private func token(sub: String = "u1", exp: Int64? = nil, extra: String = #""tenant":"t1""#) throws -> String {
        try mint.token(claims: TokenMint.claims(sub: sub, exp: exp ?? now + 300, extra: extra))
    }

    func testRefusalsOnTheWire() throws {
        let before = try requestCount()
        let missing = try get("/api/users/u1", token: nil)
        XCTAssertEqual(missing.status, 401)
        XCTAssertEqual(missing.headers.values("WWW-Authenticate"), ["Bearer"])
        XCTAssertEqual(missing.headers["Content-Type"], "application/problem+json")
        XCTAssertEqual(missing.json?["type"]?.stringValue, "urn:bff-gateway:problem:authentication_required")
        XCTAssertEqual(missing.json?["status"]?.numberValue?.intValue, 401)
        XCTAssertNotNil(missing.json?["requestId"]?.stringValue)

        let expiredToken = try token(exp: now - 3600)
        let expired = try get("/api/users/u1", token: expiredToken)
        XCTAssertEqual(expired.status, 401)
        XCTAssertEqual(expired.headers["WWW-Authenticate"], #"Bearer error="invalid_token", error_description="the token has expired""#)
        XCTAssertEqual(expired.problemCode, "invalid_token")
        XCTAssertEqual(expired.json?["reason"]?.stringValue, "token_expired")
        for part in expiredToken.split(separator: ".") { XCTAssertFalse(expired.text.contains(part), "no token content in the body") }

        let none = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + Base64URL.encode(Array(TokenMint.claims(exp: now + 300).utf8)) + "."
        XCTAssertEqual(try get("/api/users/u1", token: none).json?["reason"]?.stringValue, "alg_none")

        let good = try token()
        let twice = try get("/api/users/u1", token: good, "Authorization: Bearer \(good)\r\n")
        XCTAssertEqual(twice.status, 401)
        XCTAssertEqual(twice.problemCode, "invalid_request")

        let other = try get("/api/users/u2", token: good)
        XCTAssertEqual(other.status, 403)
        XCTAssertEqual(other.headers["WWW-Authenticate"], #"Bearer error="insufficient_scope""#)
        XCTAssertEqual(other.problemCode, "insufficient_scope")
        let user = try get("/api/admin", token: try token(extra: #""roles":["user"]"#))
        XCTAssertEqual(user.status, 403)

        XCTAssertEqual(try requestCount(), before + 1, "no refused request reached the downstream; only the /stats call itself")
    }

    func testClaimsReachTheDownstreamAndSpoofedFieldsDoNot() throws {
        let good = try token()
        let r = try get("/api/users/u1", token: good, "X-User-Id: admin\r\nx-user-id: root\r\nX-Tenant: other\r\nX-Greeting: spoof\r\n")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json?["path"]?.stringValue, "/echo/u1")
        let headers = received(r)
        XCTAssertEqual(headers["x-user-id"], ["u1"])
        XCTAssertEqual(headers["x-tenant"], ["t1"])
        XCTAssertEqual(headers["x-greeting"], ["hello u1"])
        XCTAssertNil(headers["authorization"], "the token is not forwarded by default")

        // A second request with the same token (a cache hit) gets the same treatment.
        let again = received(try get("/api/users/u1", token: good, "X-User-Id: admin\r\n"))
        XCTAssertEqual(again["x-user-id"], ["u1"])
        XCTAssertNil(again["authorization"])
    }

    func testAdminRoleAndInheritedPermissions() throws {
        let admin = try token(sub: "root", extra: #""roles":["admin"]"#)
        XCTAssertEqual(try get("/api/users/u7", token: admin).status, 200, "admin may read anyone's record")
        XCTAssertEqual(try get("/api/admin", token: admin).status, 200)
    }

    func testForwardTokenRoute() throws {
        let good = try token()
        let r = try get("/fwd", token: good)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(received(r)["authorization"], ["Bearer \(good)"])
        XCTAssertNil(received(try get("/open", token: good))["x-user-id"], "a route without auth adds nothing")
    }
}

/// A composite endpoint behind `policy.auth` takes the user from the verified token (`{claims.sub}`), not
/// from anything the client could change.
final class CompositeClaimsTests: XCTestCase {
    func testClaimsFeedACompositeCall() throws {
        let mint = try TokenMint()
        let now = Int64(Date().timeIntervalSince1970)
        let stub = try StubDownstream(["/users/u42": .init(body: #"{"id":"u42","name":"Ada"}"#)])
        defer { stub.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-claims-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
        try """
        {"listen": {"host": "127.0.0.1", "port": 0}, "routes": [],
         "services": {"s": {"instances": ["127.0.0.1:\(stub.port)"]}},
         "auth": {"jwt": {"providers": {"main": {"keys": [{"jwk": \(mint.publicJWK)}], "issuers": ["\(TokenMint.issuer)"],
                                                 "audiences": ["\(TokenMint.audience)"]}}}}}
        """.write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        try """
        {"name": "me", "path": "/me", "policy": {"auth": {}},
         "calls": {"user": {"service": "s", "path": "/users/{claims.sub}"}}, "response": {"name": "$user.name"}}
        """.write(to: dir.appendingPathComponent("endpoints/me.json"), atomically: true, encoding: .utf8)
        let gw = try TestGateway(directory: dir.path)
        defer { gw.stop() }
        let token = try mint.token(claims: TokenMint.claims(sub: "u42", exp: now + 300, extra: #""tenant":"t""#))
        let r = try gw.get("/me", headers: [("Authorization", "Bearer \(token)")])
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.text, #"{"name":"Ada"}"#)
        XCTAssertEqual(stub.requests.map(\.target), ["/users/u42"])
        XCTAssertEqual(try gw.get("/me").status, 401)
    }
}
