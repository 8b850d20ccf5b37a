import XCTest
import Foundation
@testable import AggregationKit

/// Route policies over real sockets: the gateway on 127.0.0.1 in front of a real downstream (Python's
/// HTTP/1.1 server, which echoes what it received).
final class PolicyIntegrationTests: XCTestCase {
    var downstream: Downstream!
    var gateway: TestGateway!
    let app = "https://app.example.com"

    override func setUpWithError() throws {
        downstream = try Downstream()
        gateway = try TestGateway("""
        {
          "listen": {"host": "127.0.0.1", "port": 0},
          "timeouts": {"headerMs": 2000, "bodyMs": 2000},
          "defaults": {"policy": {"headers": {"response": {"add": {"X-Policy": "default"}}}}},
          "services": {"down": {"instances": ["127.0.0.1:\(downstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "routes": [
            {"name": "items", "path": "/api/items/{id}", "proxy": {"service": "down", "path": "/echo/{id}"},
             "policy": {"methods": ["GET", "PUT"], "timeoutMs": 5000,
                        "cors": {"allowOrigins": ["https://app.example.com", "https://*.example.com"], "allowMethods": ["GET", "PUT"],
                                 "allowHeaders": ["Content-Type", "X-Api-Key"], "exposeHeaders": ["X-Item"], "allowCredentials": true,
                                 "maxAgeSeconds": 600},
                        "headers": {"request": {"set": {"X-Item-Id": "{path.id}", "X-Req": "req {requestId}"}, "remove": ["Cookie"]},
                                    "response": {"set": {"X-Item": "{path.id}"}, "remove": ["Server"]}}}},
            {"name": "upload", "method": "POST", "path": "/upload", "proxy": {"service": "down"}, "policy": {"maxBodyBytes": 16}},
            {"name": "bare", "path": "/bare/*", "proxy": {"service": "down"}, "policy": {"headers": null}},
            {"name": "rest", "path": "/*", "proxy": {"service": "down"}}
          ]
        }
        """)
    }

    override func tearDown() {
        gateway?.stop()
        downstream?.stop()
    }

    private func send(_ head: String, body: String = "", on client: RawClient? = nil) throws -> HTTPResponse {
        let c = try client ?? RawClient(port: gateway.port)
        c.send(head + "\r\n" + body)
        return try XCTUnwrap(c.readResponse(), "no response to \(head)")
    }

    /// The headers the downstream received, lower-cased names.
    private func received(_ r: HTTPResponse) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for pair in r.json?["headers"]?.arrayValue ?? [] { out[pair.arrayValue![0].stringValue!.lowercased(), default: []].append(pair.arrayValue![1].stringValue!) }
        return out
    }

    private func requestCount() throws -> Int { try gateway.get("/stats").json?["requests"]?.numberValue?.intValue ?? -1 }

    // MARK: CORS

    func testPreflightIsAnsweredByTheGateway() throws {
        let before = try requestCount()
        let r = try send("OPTIONS /api/items/7 HTTP/1.1\r\nHost: gw\r\nOrigin: \(app)\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: content-type,x-api-key\r\n")
        XCTAssertEqual(r.status, 204)
        XCTAssertEqual(r.headers["Access-Control-Allow-Origin"], app)
        XCTAssertEqual(r.headers["Access-Control-Allow-Credentials"], "true")
        XCTAssertEqual(r.headers["Access-Control-Allow-Methods"], "GET, PUT, HEAD")
        XCTAssertEqual(r.headers["Access-Control-Allow-Headers"], "Content-Type, X-Api-Key")
        XCTAssertEqual(r.headers["Access-Control-Max-Age"], "600")
        XCTAssertEqual(r.headers["Vary"], "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
        XCTAssertTrue(r.body.isEmpty)
        XCTAssertEqual(try requestCount(), before + 1, "only the /stats call itself reached the downstream")

        let wildcard = try send("OPTIONS /api/items/7 HTTP/1.1\r\nHost: gw\r\nOrigin: https://shop.example.com\r\nAccess-Control-Request-Method: GET\r\n")
        XCTAssertEqual(wildcard.status, 204)
        XCTAssertEqual(wildcard.headers["Access-Control-Allow-Origin"], "https://shop.example.com")
    }

    func testRefusedPreflightIs403WithoutCORSHeaders() throws {
        let cases = [
            "Origin: https://evil-example.com\r\nAccess-Control-Request-Method: GET\r\n",
            "Origin: https://a.b.example.com\r\nAccess-Control-Request-Method: GET\r\n",
            "Origin: null\r\nAccess-Control-Request-Method: GET\r\n",
            "Origin: \(app)\r\nAccess-Control-Request-Method: DELETE\r\n",
            "Origin: \(app)\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: x-secret\r\n",
        ]
        for fields in cases {
            let r = try send("OPTIONS /api/items/7 HTTP/1.1\r\nHost: gw\r\n" + fields)
            XCTAssertEqual(r.status, 403, fields)
            XCTAssertEqual(r.headers["Content-Type"], "application/problem+json")
            XCTAssertTrue(r.problemCode?.hasPrefix("cors_") == true, r.text)
            XCTAssertEqual(r.accessControlFields, [], fields)
        }
    }

    func testActualRequestFromAnAllowedOrigin() throws {
        let r = try send("GET /api/items/7 HTTP/1.1\r\nHost: gw\r\nOrigin: \(app)\r\nCookie: session=1\r\n")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers.values("Access-Control-Allow-Origin"), [app])
        XCTAssertEqual(r.headers["Access-Control-Allow-Credentials"], "true")
        XCTAssertEqual(r.headers["Access-Control-Expose-Headers"], "X-Item")
        XCTAssertEqual(r.headers["Vary"], "Origin")
        XCTAssertEqual(r.json?["path"]?.stringValue, "/echo/7")
    }

    func testActualRequestFromAnotherOriginGetsNoCORSHeaders() throws {
        let r = try send("GET /api/items/7 HTTP/1.1\r\nHost: gw\r\nOrigin: https://evil.test\r\n")
        XCTAssertEqual(r.status, 200, "not refused: the browser withholds the response")
        XCTAssertEqual(r.accessControlFields, [])
        XCTAssertEqual(r.headers["Vary"], "Origin")
    }

    // MARK: methods

    func testMethodsPolicyAnswers405WithAllow() throws {
        let r = try send("DELETE /api/items/7 HTTP/1.1\r\nHost: gw\r\nOrigin: \(app)\r\n")
        XCTAssertEqual(r.status, 405)
        XCTAssertEqual(r.problemCode, "method_not_allowed")
        XCTAssertEqual(r.headers["Allow"], "GET, PUT, HEAD")
        XCTAssertEqual(r.headers["Access-Control-Allow-Origin"], app, "the page can read the refusal")
        let plainOptions = try send("OPTIONS /api/items/7 HTTP/1.1\r\nHost: gw\r\n")
        XCTAssertEqual(plainOptions.status, 405, "an OPTIONS that is not a preflight is checked like any method")
        let c = try RawClient(port: gateway.port)
        c.send("HEAD /api/items/7 HTTP/1.1\r\nHost: gw\r\n\r\n")
        XCTAssertEqual(try XCTUnwrap(c.readResponse(head: true)).status, 200, "HEAD goes with GET")
    }

    // MARK: headers

    func testHeaderPolicyEditsRequestAndResponse() throws {
        let r = try send("GET /api/items/a%20b HTTP/1.1\r\nHost: gw\r\nCookie: session=1\r\nX-Item-Id: forged\r\n")
        XCTAssertEqual(r.status, 200)
        let sent = received(r)
        XCTAssertEqual(sent["x-item-id"], ["a b"], "set replaces the client's field; the parameter is percent-decoded")
        XCTAssertNil(sent["cookie"])
        let requestID = try XCTUnwrap(r.headers["X-Request-ID"])
        XCTAssertEqual(sent["x-req"], ["req \(requestID)"])
        XCTAssertEqual(r.headers.values("X-Item"), ["a b"])
        XCTAssertNil(r.headers["Server"], "removed from the downstream's response")
        XCTAssertNil(r.headers["X-Policy"], "the route's headers section replaces the default's")
    }

    func testDefaultPolicyIsInheritedAndTurnedOff() throws {
        let inherited = try send("GET /other HTTP/1.1\r\nHost: gw\r\n")
        XCTAssertEqual(inherited.status, 200)
        XCTAssertEqual(inherited.headers["X-Policy"], "default")
        XCTAssertNotNil(inherited.headers["Server"])
        let off = try send("GET /bare/x HTTP/1.1\r\nHost: gw\r\n")
        XCTAssertEqual(off.status, 200)
        XCTAssertNil(off.headers["X-Policy"], "headers: null turns the default off")
    }

    /// CR LF from a percent-decoded path parameter never reaches a header, on either side.
    func testControlBytesInAPathParameterNeverReachAHeader() throws {
        let before = try requestCount()
        // (%00 is refused earlier, by the server's path check.)
        for (path, code) in [("/api/items/a%0D%0AX-Evil:%201", "invalid_header_value"), ("/api/items/a%0Ab", "invalid_header_value"), ("/api/items/%00", "invalid_path")] {
            let r = try send("GET \(path) HTTP/1.1\r\nHost: gw\r\n")
            XCTAssertEqual(r.status, 400, path)
            XCTAssertEqual(r.problemCode, code, path)
            XCTAssertNil(r.headers["X-Evil"])
            XCTAssertNil(r.headers["X-Item"])
        }
        XCTAssertEqual(try requestCount(), before + 1, "nothing was forwarded")
    }

    // MARK: body limit

    func testRouteBodyLimit() throws {
        let ok = try send("POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 16\r\n", body: "0123456789abcdef")
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(ok.json?["body"]?.stringValue, "0123456789abcdef")

        // Declared too large: answered from the head, the body never sent.
        let c = try RawClient(port: gateway.port)
        let declared = try send("POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 17\r\n", on: c)
        XCTAssertEqual(declared.status, 413)
        XCTAssertEqual(declared.problemCode, "body_too_large")

        // Chunked, too large once read: the stage refuses it.
        let chunked = try send("POST /upload HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n", body: "11\r\n0123456789abcdefg\r\n0\r\n\r\n")
        XCTAssertEqual(chunked.status, 413)
        XCTAssertEqual(chunked.problemCode, "body_too_large")

        // Other routes keep the server's limit.
        let elsewhere = try send("POST /other HTTP/1.1\r\nHost: gw\r\nContent-Length: 17\r\n", body: "0123456789abcdefg")
        XCTAssertEqual(elsewhere.status, 200)
    }

    // MARK: composite endpoint

    func testEndpointPolicyOverSockets() throws {
        let stub = try StubDownstream(["/u/42": .init(body: #"{"id": 42}"#)])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "e", "path": "/e/{userId}",
         "policy": {"auth": null, "rateLimit": null,
                    "cors": {"allowOrigins": ["https://*.example.com"]},
                    "headers": {"response": {"set": {"X-User": "{path.userId}"}}}},
         "calls": {"u": {"service": "s", "path": "/u/{path.userId}"}}, "response": "$u"}
        """)
        defer { gw.stop() }
        let r = try gw.get("/e/42", headers: [("Origin", "https://m.example.com")])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json?["id"]?.numberValue?.intValue, 42)
        XCTAssertEqual(r.headers["X-User"], "42")
        XCTAssertEqual(r.headers["Access-Control-Allow-Origin"], "https://m.example.com")
        let c = try RawClient(port: gw.port)
        c.send("OPTIONS /e/42 HTTP/1.1\r\nHost: gw\r\nOrigin: https://m.example.com\r\nAccess-Control-Request-Method: GET\r\n\r\n")
        let preflight = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(preflight.status, 204)
        XCTAssertEqual(preflight.headers["Access-Control-Allow-Origin"], "https://m.example.com")
        XCTAssertNil(preflight.headers["X-User"], "a preflight is answered before the headers stage")
        XCTAssertEqual(stub.requests.count, 1, "the preflight never reached the service")
    }
}
