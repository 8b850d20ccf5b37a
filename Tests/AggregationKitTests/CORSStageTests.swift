import XCTest
@testable import AggregationKit

/// The CORS stage against the Fetch standard's server side, through `Pipeline.run` (no sockets).
final class CORSStageTests: XCTestCase {
    var harness: StageHarness!

    override func setUpWithError() throws { harness = try StageHarness() }
    override func tearDown() { harness.close() }

    private let app = "https://app.example.com"

    private func stage(_ origins: [String], methods: [String]? = nil, headers: [String] = [], expose: [String] = [],
                       credentials: Bool = false, maxAge: Int? = nil) -> CORSStage {
        let rules = origins.map { try! PolicyConfiguration.originRule($0).get() }
        return CORSStage(policy: CORSPolicy(allowOrigins: rules, allowMethods: methods, allowHeaders: headers, exposeHeaders: expose,
                                            allowCredentials: credentials, maxAgeSeconds: maxAge))
    }

    private func preflight(_ stage: CORSStage, origin: String, method: String = "GET", headers: String? = nil) -> StageHarness.Outcome {
        var fields = [("Origin", origin), ("Access-Control-Request-Method", method)]
        if let headers { fields.append(("Access-Control-Request-Headers", headers)) }
        return harness.run([stage], makeRequest("OPTIONS", "/api/x", fields))
    }

    // MARK: preflight

    func testPreflightFromAnAllowedOriginIsAnsweredByTheGateway() {
        let s = stage([app], methods: ["GET", "PUT"], headers: ["Content-Type", "X-Api-Key"], credentials: true, maxAge: 600)
        let outcome = preflight(s, origin: app, method: "PUT", headers: "content-type, x-api-key")
        XCTAssertNil(outcome.forwarded, "a preflight never reaches the service")
        let r = outcome.response
        XCTAssertEqual(r.status, 204)
        XCTAssertEqual(r.headers["Access-Control-Allow-Origin"], app, "the origin is echoed")
        XCTAssertEqual(r.headers["Access-Control-Allow-Credentials"], "true")
        XCTAssertEqual(r.headers["Access-Control-Allow-Methods"], "GET, PUT, HEAD")
        XCTAssertEqual(r.headers["Access-Control-Allow-Headers"], "Content-Type, X-Api-Key")
        XCTAssertEqual(r.headers["Access-Control-Max-Age"], "600")
        XCTAssertEqual(r.headers["Vary"], "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
        XCTAssertTrue(r.body.isEmpty)
    }

    func testPreflightDefaults() {
        let r = preflight(stage([app]), origin: app, method: "POST").response
        XCTAssertEqual(r.status, 204)
        XCTAssertEqual(r.headers["Access-Control-Allow-Methods"], "GET, HEAD, POST", "the CORS-safelisted methods by default")
        XCTAssertNil(r.headers["Access-Control-Allow-Credentials"])
        XCTAssertNil(r.headers["Access-Control-Allow-Headers"])
        XCTAssertNil(r.headers["Access-Control-Max-Age"])
        XCTAssertEqual(preflight(stage([app]), origin: app, method: "DELETE").response.status, 403)
        // Without allowMethods, the route's `methods` are the default.
        let routeMethods = CORSStage(policy: CORSPolicy(allowOrigins: [.exact(app)]), routeMethods: ["DELETE"])
        XCTAssertEqual(harness.run([routeMethods], makeRequest("OPTIONS", "/", [("Origin", app), ("Access-Control-Request-Method", "DELETE")])).response.status, 204)
    }

    /// A refused preflight is a 403 problem with no CORS field at all (the browser then fails the call).
    func testRefusedPreflightsCarryNoCORSField() {
        let s = stage([app], methods: ["GET"], headers: ["X-Api-Key"], credentials: true, maxAge: 60)
        let cases: [(String, String, String?, String)] = [
            ("https://evil.example.org", "GET", nil, "cors_origin_not_allowed"),
            (app, "DELETE", nil, "cors_method_not_allowed"),
            (app, "get", nil, "cors_method_not_allowed"),
            (app, "GET", "x-api-key, x-other", "cors_header_not_allowed"),
            ("null", "GET", nil, "cors_origin_not_allowed"),
        ]
        for (origin, method, headers, code) in cases {
            let r = preflight(s, origin: origin, method: method, headers: headers)
            XCTAssertEqual(r.response.status, 403, "\(origin) \(method)")
            XCTAssertEqual(r.response.problemCode, code)
            XCTAssertEqual(r.response.accessControlFields, [], "no CORS field on a refused preflight")
            XCTAssertNil(r.forwarded)
        }
        XCTAssertEqual(preflight(s, origin: app, headers: "X-API-KEY").response.status, 204, "header names are case-insensitive")
        XCTAssertEqual(preflight(s, origin: app, headers: "").response.status, 204)
        // Two Origin fields: which one did the browser mean? Neither.
        let twice = harness.run([s], makeRequest("OPTIONS", "/", [("Origin", app), ("Origin", app), ("Access-Control-Request-Method", "GET")]))
        XCTAssertEqual(twice.response.status, 403)
    }

    func testAnyOriginAndAnyHeader() {
        let s = stage(["*"], headers: ["*"])
        let r = preflight(s, origin: "https://anyone.test", headers: "x-one, x-two").response
        XCTAssertEqual(r.status, 204)
        XCTAssertEqual(r.headers["Access-Control-Allow-Origin"], "*")
        XCTAssertEqual(r.headers["Access-Control-Allow-Headers"], "x-one, x-two", "the requested headers, echoed")
        XCTAssertNil(r.headers["Access-Control-Allow-Credentials"])
    }

    // MARK: origins

    func testOriginMatching() {
        let s = stage(["https://app.example.com", "https://*.example.com", "http://localhost:3000", "https://*.shop.test:8443"])
        let allowed = ["https://app.example.com", "https://a.example.com", "https://A-1.EXAMPLE.com", "http://localhost:3000", "https://x.shop.test:8443"]
        let refused = [
            "https://example.com",  // the apex is not a subdomain
            "https://a.b.example.com",  // one label only
            "https://evil-example.com",
            "https://evilexample.com",
            "https://a.example.com.evil.com",
            "http://a.example.com",  // another scheme
            "https://a.example.com:8443",  // another port
            "https://.example.com",  // an empty label
            "https://a_b.example.com",
            "https://u@a.example.com",
            "https://evil.com/.example.com",
            "http://localhost:3001",
            "http://localhost",
            "https://x.shop.test",
            "null",
            "",
        ]
        for origin in allowed {
            XCTAssertEqual(preflight(s, origin: origin).response.status, 204, origin)
        }
        for origin in refused {
            XCTAssertEqual(preflight(s, origin: origin).response.status, 403, origin)
        }
    }

    // MARK: actual requests

    func testActualRequestFromAnAllowedOrigin() {
        let s = stage([app], expose: ["X-Request-Id", "ETag"], credentials: true)
        let reply = HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "application/json"), ("Vary", "Accept-Encoding"),
                                                                    ("Access-Control-Allow-Origin", "*"), ("access-control-allow-credentials", "false")]))
        let outcome = harness.run([s], makeRequest("GET", "/x", [("Origin", app)]), reply: reply)
        XCTAssertNotNil(outcome.forwarded, "an actual request goes to the service")
        let h = outcome.response.headers
        XCTAssertEqual(h.values("Access-Control-Allow-Origin"), [app], "the service's own CORS fields are replaced")
        XCTAssertEqual(h.values("Access-Control-Allow-Credentials"), ["true"])
        XCTAssertEqual(h["Access-Control-Expose-Headers"], "X-Request-Id, ETag")
        XCTAssertEqual(h.values("Vary"), ["Accept-Encoding, Origin"], "merged into the existing Vary")
        XCTAssertEqual(h["Content-Type"], "application/json")
    }

    func testActualRequestFromAnotherOriginPassesWithoutCORSFields() {
        let s = stage([app], credentials: true)
        let reply = HTTPResponse(status: 200, headers: HTTPHeaders([("Access-Control-Allow-Origin", "https://evil.test")]))
        let outcome = harness.run([s], makeRequest("POST", "/x", [("Origin", "https://evil.test")], body: "{}"), reply: reply)
        XCTAssertNotNil(outcome.forwarded, "not refused: the browser enforces CORS")
        XCTAssertEqual(outcome.response.status, 200)
        XCTAssertEqual(outcome.response.accessControlFields, [])
        XCTAssertEqual(outcome.response.headers.values("Vary"), ["Origin"])

        let noOrigin = harness.run([s], makeRequest("GET", "/x"))
        XCTAssertEqual(noOrigin.response.accessControlFields, [])
        XCTAssertEqual(noOrigin.response.headers["Vary"], "Origin", "a cache must not serve this answer to a cross-origin request")
    }

    func testVaryIsMergedOnce() {
        let s = stage([app])
        func vary(_ fields: [(String, String)]) -> [String] {
            harness.run([s], makeRequest("GET", "/", [("Origin", app)]), reply: HTTPResponse(status: 200, headers: HTTPHeaders(fields))).response.headers.values("Vary")
        }
        XCTAssertEqual(vary([("Vary", "accept, ORIGIN")]), ["accept, ORIGIN"])
        XCTAssertEqual(vary([("Vary", "*")]), ["*"])
        XCTAssertEqual(vary([("Vary", "Accept"), ("Vary", "Cookie")]), ["Accept", "Cookie, Origin"])
        XCTAssertEqual(vary([("Vary", "")]), ["Origin"])
        XCTAssertEqual(vary([("Vary", "Originator")]), ["Originator, Origin"])
    }

    func testAnyOriginOnActualRequests() {
        let s = stage(["*"], expose: ["X-Total"])
        for fields in [[("Origin", "https://a.test")], [("Origin", "null")], []] {
            let r = harness.run([s], makeRequest("GET", "/", fields)).response
            XCTAssertEqual(r.headers["Access-Control-Allow-Origin"], "*")
            XCTAssertEqual(r.headers["Access-Control-Expose-Headers"], "X-Total")
            XCTAssertNil(r.headers["Vary"], "the same answer for every origin")
        }
    }

    /// Errors from the service (or a later stage) carry the CORS fields: the page can read them.
    func testErrorResponsesGetCORSFields() {
        let r = harness.run([stage([app])], makeRequest("GET", "/", [("Origin", app)]),
                            reply: HTTPError.badGateway("down").response(requestID: "r")).response
        XCTAssertEqual(r.status, 502)
        XCTAssertEqual(r.headers["Access-Control-Allow-Origin"], app)
    }
}
