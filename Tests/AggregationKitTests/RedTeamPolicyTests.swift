import XCTest
import Foundation
@testable import AggregationKit

/// Hostile clients against the per-route policies, over real sockets on 127.0.0.1 (a gateway in front
/// of the echoing Python downstream).
final class RedTeamPolicyTests: XCTestCase {
    var downstream: Downstream!
    var gateway: TestGateway!

    override func setUpWithError() throws {
        downstream = try Downstream()
        gateway = try TestGateway("""
        {
          "listen": {"host": "127.0.0.1", "port": 0},
          "timeouts": {"headerMs": 2000, "bodyMs": 2000},
          "services": {"down": {"instances": ["127.0.0.1:\(downstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "routes": [
            {"name": "upload", "method": "POST", "path": "/upload", "proxy": {"service": "down"}, "policy": {"maxBodyBytes": 16}},
            {"name": "rest", "path": "/*", "proxy": {"service": "down"}}
          ]
        }
        """)
    }

    override func tearDown() {
        gateway?.stop()
        downstream?.stop()
    }

    /// An absolute-form target (`POST http://gw/upload`) is routed like its origin form, so the route's
    /// body limit must refuse it from the head too: before, the gateway answered `100 Continue` and
    /// waited for (and buffered, up to the server's limit) a body the route would refuse.
    func testAbsoluteFormRequestIsRefusedFromTheHeadByTheRouteBodyLimit() throws {
        let c = try RawClient(port: gateway.port)
        c.send("POST http://gw/upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse(), "no answer to the head")
        XCTAssertEqual(r.status, 413, "the body limit applies before the body is read")
        XCTAssertEqual(r.problemCode, "body_too_large")

        // The same request in origin form, for comparison.
        let o = try RawClient(port: gateway.port)
        o.send("POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        XCTAssertEqual(o.readResponse()?.status, 413)
    }
}

/// Identity headers (what `claimsToHeaders` sets from a verified token) on routes that do not
/// authenticate: a service trusts them from the gateway, so a client must not be able to send them on
/// any route, with or without `auth`.
final class RedTeamIdentityTests: XCTestCase {
    var downstream: Downstream!
    var gateway: TestGateway!
    var mint: TokenMint!

    override func setUpWithError() throws {
        mint = try TokenMint()
        downstream = try Downstream()
        gateway = try TestGateway("""
        {
          "listen": {"host": "127.0.0.1", "port": 0},
          "timeouts": {"headerMs": 2000, "bodyMs": 2000},
          "services": {"down": {"instances": ["127.0.0.1:\(downstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "auth": {"jwt": {"providers": {"main": {"keys": [{"jwk": \(mint.publicJWK)}], "issuers": ["\(TokenMint.issuer)"],
                                                  "audiences": ["\(TokenMint.audience)"]}}}},
          "defaults": {"policy": {"auth": {"claimsToHeaders": {"sub": "X-User-Id"}}}},
          "routes": [
            {"name": "users", "path": "/api/users/{id}", "proxy": {"service": "down", "path": "/echo/{id}"},
             "policy": {"auth": {"claimsToHeaders": {"tenant": "X-Tenant"}},
                        "headers": {"request": {"set": {"X-Display": "{claims.sub}"}}}}},
            {"name": "public", "path": "/*", "proxy": {"service": "down"}, "policy": {"auth": null}}
          ]
        }
        """)
    }

    override func tearDown() {
        gateway?.stop()
        downstream?.stop()
    }

    private func received(_ r: HTTPResponse) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for pair in r.json?["headers"]?.arrayValue ?? [] { out[pair.arrayValue![0].stringValue!.lowercased(), default: []].append(pair.arrayValue![1].stringValue!) }
        return out
    }

    func testIdentityHeadersCannotBeSpoofedOnARouteWithoutAuth() throws {
        let c = try RawClient(port: gateway.port)
        c.send("GET /public/x HTTP/1.1\r\nHost: gw\r\nX-User-Id: admin\r\nx-user-id: root\r\nX-TENANT: t9\r\nX-Display: admin\r\nX-Other: kept\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 200)
        let seen = received(r)
        XCTAssertNil(seen["x-user-id"], "a client's X-User-Id reached the service on a route without auth")
        XCTAssertNil(seen["x-tenant"], "a client's X-Tenant reached the service")
        XCTAssertNil(seen["x-display"], "a header the gateway fills from claims reached the service")
        XCTAssertEqual(seen["x-other"], ["kept"])
    }

    func testARouteWithAuthStripsOtherRoutesIdentityHeadersToo() throws {
        let token = try mint.token(claims: TokenMint.claims(sub: "u1", exp: Int64(Date().timeIntervalSince1970) + 300, extra: #""tenant":"t1""#))
        let c = try RawClient(port: gateway.port)
        // The route's own auth sets X-Tenant (its claimsToHeaders replaces the default's); X-User-Id is
        // the default's identity header, which a client must not be able to send here either.
        c.send("GET /api/users/u1 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer \(token)\r\nX-User-Id: admin\r\nX-Tenant: t9\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 200)
        let seen = received(r)
        XCTAssertEqual(seen["x-tenant"], ["t1"])
        XCTAssertEqual(seen["x-display"], ["u1"])
        XCTAssertNil(seen["x-user-id"], "a client's X-User-Id reached the service")
    }
}

/// The 413 a route's body limit gives from the head is the route's own answer: it passes back through
/// the stages before the limit (CORS: a page can read it) and is counted under the route.
final class EarlyBodyLimitThroughThePipelineTests: XCTestCase {
    func testTheEarly413CarriesCORSAndNothingIsForwarded() throws {
        let downstream = try Downstream()
        defer { downstream.stop() }
        let gw = try TestGateway("""
        {"listen": {"host": "127.0.0.1", "port": 0},
         "services": {"down": {"instances": ["127.0.0.1:\(downstream.port)"]}},
         "routes": [{"name": "upload", "path": "/upload", "proxy": {"service": "down", "path": "/echo"},
                     "policy": {"maxBodyBytes": 16, "cors": {"allowOrigins": ["https://app.example.com"], "allowMethods": ["POST"]}}}]}
        """)
        defer { gw.stop() }
        let c = try RawClient(port: gw.port)
        c.send("POST /upload HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.example.com\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 413, "no 100 Continue first: \(r.status)")
        XCTAssertEqual(r.problemCode, "body_too_large")
        XCTAssertEqual(r.headers["Access-Control-Allow-Origin"], "https://app.example.com")
        XCTAssertEqual(r.headers["connection"], "close")
        XCTAssertTrue(c.waitForClose())
        XCTAssertEqual(try gw.get("/upload").status, 200, "a request without a body passes the limit and is forwarded")
    }
}
