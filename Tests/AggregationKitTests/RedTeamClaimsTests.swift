import XCTest
import Foundation
@testable import AggregationKit

/// `{claims.…}` in composite endpoints, over real sockets: a gateway with a JWT provider in front of
/// Python's echoing downstream, which answers with the target and headers it received. What the
/// downstream receives when a claim is hostile (it is data, never request structure), what the client
/// sees, and the configuration rule (claims need auth).
final class RedTeamClaimsTests: XCTestCase {
    var downstream: Downstream!
    var gateway: TestGateway!
    var mint: TokenMint!
    let now = Int64(Date().timeIntervalSince1970)

    /// Reads claims in a call's path, query and header, and in the response.
    static let endpoint = """
    { "name": "me", "method": "GET", "path": "/me", "policy": { "auth": {} },
      "calls": { "echo": { "service": "down", "path": "/echo/{claims.sub}/x",
                           "query": { "org": "{claims.org.id}", "roles": "{claims.roles}" },
                           "headers": { "X-Tenant": "{claims.tenant}" } } },
      "response": { "sub": "$claims.sub", "org": "$claims.org.id", "firstRole": "$claims.roles[0]",
                    "target": "$echo.path", "headers": "$echo.headers" } }
    """

    /// The same calls on an endpoint that reads no claims: its scope never takes them.
    static let plainEndpoint = """
    { "name": "plain", "method": "GET", "path": "/plain", "policy": { "auth": {} },
      "calls": { "echo": { "service": "down", "path": "/echo/plain" } },
      "response": { "target": "$echo.path" } }
    """

    override func setUpWithError() throws {
        mint = try TokenMint()
        downstream = try Downstream()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("claims-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        try """
        { "listen": {"host": "127.0.0.1", "port": 0},
          "services": {"down": {"instances": ["127.0.0.1:\(downstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "auth": {"jwt": {"providers": {"main": {"keys": [{"jwk": \(mint.publicJWK)}], "issuers": ["\(TokenMint.issuer)"],
                                                  "audiences": ["\(TokenMint.audience)"]}}}} }
        """.write(to: directory.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        try Self.endpoint.write(to: directory.appendingPathComponent("endpoints/me.json"), atomically: true, encoding: .utf8)
        try Self.plainEndpoint.write(to: directory.appendingPathComponent("endpoints/plain.json"), atomically: true, encoding: .utf8)
        gateway = try TestGateway(directory: directory.path)
    }

    override func tearDown() {
        gateway?.stop()
        downstream?.stop()
    }

    /// A token whose claims are `members` plus iss, aud and exp (serialized, so any string is exact).
    private func token(_ members: [(String, JSONValue)]) throws -> String {
        let claims = JSONObject([("iss", .string(TokenMint.issuer)), ("aud", .string(TokenMint.audience)),
                                 ("exp", .number(JSONNumber(Int(now) + 300)))] + members.map { (key: $0.0, value: $0.1) })
        return try mint.token(claims: JSONSerializer.string(.object(claims)))
    }

    private func get(_ path: String, token: String?) throws -> HTTPResponse {
        let c = try RawClient(port: gateway.port)
        c.send("GET \(path) HTTP/1.1\r\nHost: gw\r\n" + (token.map { "Authorization: Bearer \($0)\r\n" } ?? "") + "\r\n")
        return try XCTUnwrap(c.readResponse(), "no response to \(path)")
    }

    private func downstreamRequests() throws -> Int {
        let c = try RawClient(port: downstream.port)
        c.send("GET /stats HTTP/1.1\r\nHost: d\r\n\r\n")
        return try XCTUnwrap(c.readResponse()?.json?["requests"]?.numberValue?.intValue)
    }

    /// The values of `name` among the headers the downstream received.
    private func received(_ r: HTTPResponse, _ name: String) -> [String] {
        (r.json?["headers"]?.arrayValue ?? []).compactMap { pair -> String? in
            guard let p = pair.arrayValue, p.count == 2, p[0].stringValue?.lowercased() == name.lowercased() else { return nil }
            return p[1].stringValue
        }
    }

    func testClaimsReachTemplatesAndTheResponse() throws {
        let t = try token([("sub", .string("u1")), ("tenant", .string("t1")), ("roles", try JSONParser.parse(#"["a","b"]"#)),
                           ("org", try JSONParser.parse(#"{"id":42,"name":"Acme"}"#))])
        let r = try get("/me", token: t)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json?["sub"]?.stringValue, "u1")
        XCTAssertEqual(r.json?["org"]?.numberValue?.intValue, 42, "nested claim paths")
        XCTAssertEqual(r.json?["firstRole"]?.stringValue, "a")
        XCTAssertEqual(r.json?["target"]?.stringValue, "/echo/u1/x?org=42&roles=a,b")
        XCTAssertEqual(received(r, "X-Tenant"), ["t1"])
        XCTAssertEqual(received(r, "Authorization"), [], "the token itself is not passed on")
    }

    func testWithoutATokenNothingIsCalled() throws {
        let before = try downstreamRequests()
        let r = try get("/me", token: nil)
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(r.headers["WWW-Authenticate"], "Bearer")
        XCTAssertEqual(try downstreamRequests(), before + 1, "only the /stats request reached the downstream")
    }

    /// Hostile subjects in a path segment: every byte that could end the segment, start a query or a
    /// fragment, or an escape is percent-encoded (as `{path.x}` values are), so the downstream sees one
    /// segment with the claim as data.
    func testHostileClaimsInThePathAreEncoded() throws {
        let cases: [(String, String)] = [
            ("a/b", "/echo/a%2Fb/x"),
            ("7?admin=true", "/echo/7%3Fadmin%3Dtrue/x"),
            ("7#frag", "/echo/7%23frag/x"),
            ("100%", "/echo/100%25/x"),
            ("%2e%2e", "/echo/%252e%252e/x"),
            ("a b+c;d", "/echo/a%20b%2Bc%3Bd/x"),
            ("a\r\nX-Evil: 1", "/echo/a%0D%0AX-Evil%3A%201/x"),
            ("nul\u{0}byte", "/echo/nul%00byte/x"),
            ("tab\tdel\u{7F}", "/echo/tab%09del%7F/x"),
            ("café", "/echo/caf%C3%A9/x"),
            ("http://evil.example/", "/echo/http%3A%2F%2Fevil.example%2F/x"),
        ]
        for (sub, expected) in cases {
            let r = try get("/me", token: try token([("sub", .string(sub))]))
            XCTAssertEqual(r.status, 200, "\(sub.debugDescription): \(r.text)")
            XCTAssertEqual(r.json?["target"]?.stringValue, expected, "\(sub.debugDescription)")
            XCTAssertEqual(r.json?["sub"]?.stringValue, sub, "the response template gets the claim as it is")
            XCTAssertEqual(received(r, "X-Evil"), [])
        }
    }

    /// A claim that would make a `.`, `..` or empty segment is refused (400, nothing sent), like a path
    /// parameter that would; so is `../x`, whose encoded slash some servers decode into a real `..`.
    func testDotAndEmptySegmentClaimsAreRefused() throws {
        for sub in ["..", ".", "", "../admin", "..;x"] {
            let before = try downstreamRequests()
            let r = try get("/me", token: try token([("sub", .string(sub))]))
            XCTAssertEqual(r.status, 400, "\(sub.debugDescription): \(r.text)")
            XCTAssertEqual(r.problemCode, "invalid_call_parameter")
            XCTAssertEqual(r.json?["call"]?.stringValue, "echo")
            XCTAssertEqual(try downstreamRequests(), before + 1, "\(sub.debugDescription): nothing but /stats reached the downstream")
        }
    }

    /// In the query, `&`, `=` and `#` inside a claim stay in its value: no parameter is added.
    func testHostileClaimsInTheQueryStayOneValue() throws {
        let org = try JSONParser.parse(#"{"id":"1&admin=true#x"}"#)
        let roles = try JSONParser.parse(#"["user&role=admin","a=b"]"#)
        let r = try get("/me", token: try token([("sub", .string("u1")), ("org", org), ("roles", roles)]))
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json?["target"]?.stringValue, "/echo/u1/x?org=1%26admin%3Dtrue%23x&roles=user%26role%3Dadmin,a%3Db")
    }

    /// A header value from a claim with CR, LF or NUL is left out (no header injection); the rest of the
    /// request goes on.
    func testControlBytesInAHeaderClaimLeaveTheHeaderOut() throws {
        for tenant in ["t1\r\nX-Evil: 1", "t1\nX-Evil: 1", "t\u{0}1"] {
            let r = try get("/me", token: try token([("sub", .string("u1")), ("tenant", .string(tenant))]))
            XCTAssertEqual(r.status, 200, r.text)
            XCTAssertEqual(received(r, "X-Tenant"), [], tenant.debugDescription)
            XCTAssertEqual(received(r, "X-Evil"), [], tenant.debugDescription)
        }
    }

    /// A claim that is an object has no text: an optional query pair it fills is left out, the rest goes on.
    func testAnObjectClaimIsNotAValue() throws {
        let r = try get("/me", token: try token([("sub", .string("u1")), ("org", try JSONParser.parse(#"{"id":{"nested":1}}"#))]))
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json?["target"]?.stringValue, "/echo/u1/x")
    }

    func testAnEndpointWithoutClaimsDoesNotTakeThem() throws {
        let configuration = gateway.gateway.configuration
        XCTAssertEqual(configuration.endpoints.first { $0.name == "me" }?.usesClaims, true)
        XCTAssertEqual(configuration.endpoints.first { $0.name == "plain" }?.usesClaims, false)
        let r = try get("/plain", token: try token([("sub", .string("u1"))]))
        XCTAssertEqual(r.status, 200, r.text)
    }

    // MARK: Configuration

    private func loadIssues(gateway: String, endpoint: String) throws -> [String] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("claims-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try gateway.write(to: directory.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        try endpoint.write(to: directory.appendingPathComponent("endpoints/e.json"), atomically: true, encoding: .utf8)
        do {
            _ = try GatewayConfiguration.load(directory: directory.path)
            return []
        } catch {
            return error.issues.map { "\($0.path): \($0.reason)" }
        }
    }

    func testClaimsWithoutAuthAreAConfigurationError() throws {
        let provider = #""auth": {"jwt": {"providers": {"main": {"keys": [{"jwk": \#(mint.publicJWK)}], "issuers": ["https://id.test"]}}}}"#
        let services = #""services": {"down": {"instances": ["127.0.0.1:1"]}}"#
        func endpoint(_ policy: String, _ where_: String) -> String {
            """
            { "name": "e", "method": "GET", "path": "/e", \(policy)
              "calls": { "c": { "service": "down", \(where_) } }, "response": "$c" }
            """
        }
        let uses = [#""path": "/u/{claims.sub}""#, #""path": "/u", "query": {"t": "{claims.tenant}"}"#,
                    #""path": "/u", "headers": {"X-T": "{claims.tenant}"}"#, #""path": "/u", "method": "POST", "body": {"who": "$claims.sub"}"#]
        for use in uses {
            let issues = try loadIssues(gateway: "{ \(services), \(provider) }", endpoint: endpoint(#""policy": {"auth": null},"#, use))
            XCTAssertEqual(issues.count, 1, "\(use): \(issues)")
            XCTAssertTrue(issues.first?.hasPrefix("$.policy: the endpoint reads 'claims.") ?? false, "\(use): \(issues)")
            XCTAssertTrue(issues.first?.contains("has no auth") ?? false, "\(issues)")
            // The same endpoint with auth, its own or inherited, loads.
            XCTAssertEqual(try loadIssues(gateway: "{ \(services), \(provider) }", endpoint: endpoint(#""policy": {"auth": {}},"#, use)), [])
            XCTAssertEqual(try loadIssues(gateway: #"{ \#(services), \#(provider), "defaults": {"policy": {"auth": {}}} }"#, endpoint: endpoint("", use)), [])
        }
        // In the response template too.
        let response = #"{ "name": "e", "method": "GET", "path": "/e", "calls": { "c": { "service": "down", "path": "/u" } }, "response": {"me": "$claims.sub"} }"#
        XCTAssertEqual(try loadIssues(gateway: "{ \(services), \(provider) }", endpoint: response).count, 1)
    }
}
