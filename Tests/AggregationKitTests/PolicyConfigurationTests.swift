import Foundation
import XCTest
@testable import AggregationKit

/// `defaults.policy`, `routes[].policy` and the contract's `policy`: effective policies, and every bad
/// value reported with its file and JSON path.
final class PolicyConfigurationTests: XCTestCase {
    private let service = #""services": {"a": {"instances": ["127.0.0.1:81"]}}"#

    private func parse(_ json: String) throws(ConfigurationError) -> GatewayConfiguration {
        try GatewayConfiguration.parse(Array(json.utf8), file: "gateway.json")
    }

    private func issues(_ json: String) -> [String] {
        do {
            _ = try parse(json)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    /// The issues of a route policy (and, optionally, the defaults).
    private func routeIssues(_ policy: String, defaults: String? = nil, method: String? = nil, path: String = "/x/{id}", limits: String = "") -> [String] {
        issues("""
        {\(limits.isEmpty ? "" : "\"limits\": {\(limits)},") \(defaults.map { "\"defaults\": {\"policy\": \($0)}," } ?? "") \(service),
         "routes": [{"name": "r", \(method.map { "\"method\": \"\($0)\"," } ?? "") "path": "\(path)", "proxy": {"service": "a"}, "policy": \(policy)}]}
        """)
    }

    private func endpointIssues(_ policy: String, method: String = "GET") -> [String] {
        let text = """
        {"name": "e", "method": "\(method)", "path": "/e/{userId}", "policy": \(policy), "calls": {"u": {"service": "s", "path": "/u"}}, "response": "$u"}
        """
        guard case .failure(let e) = GatewayConfiguration.compileEndpoint(Array(text.utf8), file: "e.json", services: ["s"], maxBodyBytes: 1000) else { return [] }
        return e.issues.map(\.description)
    }

    // MARK: effective policy

    func testDefaultsAreOverriddenSectionBySection() throws {
        let c = try parse("""
        {"defaults": {"policy": {"timeoutMs": 3000, "methods": ["GET"], "maxBodyBytes": 1024,
                                 "headers": {"response": {"add": {"X-Gateway": "bff"}}},
                                 "cors": {"allowOrigins": ["https://app.example.com"]}, "auth": null, "rateLimit": null, "cache": null}},
         \(service),
         "routes": [
           {"name": "inherits", "path": "/a", "proxy": {"service": "a"}},
           {"name": "overrides", "path": "/b/{id}", "proxy": {"service": "a"},
            "policy": {"timeoutMs": 500, "methods": ["GET", "POST"], "headers": {"request": {"set": {"X-Id": "{path.id}"}}}}},
           {"name": "off", "path": "/c", "proxy": {"service": "a"}, "policy": {"cors": null, "headers": null, "maxBodyBytes": null}},
           {"name": "allOff", "path": "/d", "proxy": {"service": "a"}, "policy": null}
         ]}
        """)
        let inherits = c.effectivePolicy(route: c.routes[0])
        XCTAssertEqual(inherits.timeout, 3_000_000_000)
        XCTAssertEqual(inherits.methods, ["GET"])
        XCTAssertEqual(inherits.maxBodyBytes, 1024)
        XCTAssertEqual(inherits.headers?.response.add.map(\.name), ["X-Gateway"])
        XCTAssertEqual(inherits.cors?.allowOrigins, [.exact("https://app.example.com")])

        let overrides = c.effectivePolicy(route: c.routes[1])
        XCTAssertEqual(overrides.timeout, 500_000_000)
        XCTAssertEqual(overrides.methods, ["GET", "POST"])
        XCTAssertEqual(overrides.maxBodyBytes, 1024)
        XCTAssertEqual(overrides.headers?.request.set.map(\.name), ["X-Id"])
        XCTAssertEqual(overrides.headers?.response.isEmpty, true, "a section replaces the default's whole, never merged key by key")
        XCTAssertNotNil(overrides.cors)

        let off = c.effectivePolicy(route: c.routes[2])
        XCTAssertNil(off.cors)
        XCTAssertNil(off.headers)
        XCTAssertNil(off.maxBodyBytes)
        XCTAssertEqual(off.timeout, 3_000_000_000)

        XCTAssertTrue(c.effectivePolicy(route: c.routes[3]).isEmpty, "policy: null turns every section off")
        XCTAssertEqual(PipelineCompiler.stages(for: c.effectivePolicy(route: c.routes[3])).count, 0)
        XCTAssertEqual(c.policy(of: c.routes[1]).timeout, 500_000_000, "the wiring's name for the same thing")
    }

    func testNoPolicyAnywhereMeansNoStages() throws {
        let c = try parse(#"{\#(service), "routes": [{"name": "r", "path": "/r", "proxy": {"service": "a"}}]}"#)
        XCTAssertTrue(c.effectivePolicy(route: c.routes[0]).isEmpty)
        XCTAssertTrue(PipelineCompiler.stages(for: c.effectivePolicy(route: c.routes[0])).isEmpty)
    }

    func testCORSSectionIsCompiled() throws {
        let c = try parse("""
        {\(service), "routes": [{"name": "r", "path": "/r", "proxy": {"service": "a"}, "policy": {"cors": {
          "allowOrigins": ["HTTPS://App.Example.com", "https://*.example.com:8443", "capacitor://localhost", "http://[::1]:3000"],
          "allowMethods": ["GET", "PATCH"], "allowHeaders": ["Content-Type"], "exposeHeaders": ["ETag"], "allowCredentials": true, "maxAgeSeconds": 0}}}]}
        """)
        let cors = try XCTUnwrap(c.effectivePolicy(route: c.routes[0]).cors)
        XCTAssertEqual(cors.allowOrigins, [.exact("https://app.example.com"), .subdomain(prefix: "https://", suffix: ".example.com:8443"),
                                           .exact("capacitor://localhost"), .exact("http://[::1]:3000")])
        XCTAssertEqual(cors.allowMethods, ["GET", "PATCH"])
        XCTAssertEqual(cors.allowHeaders, ["Content-Type"])
        XCTAssertEqual(cors.exposeHeaders, ["ETag"])
        XCTAssertTrue(cors.allowCredentials)
        XCTAssertEqual(cors.maxAgeSeconds, 0)
    }

    func testEndpointPolicyAndInheritedDefaults() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-policy-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
        try """
        {"defaults": {"policy": {"timeoutMs": 2000, "headers": {"response": {"set": {"X-User": "{path.userId}"}}}}}, "services": {"s": {"instances": ["127.0.0.1:81"]}}}
        """.write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        try """
        {"name": "e", "method": "GET", "path": "/e/{userId}", "policy": {"auth": null, "maxBodyBytes": 0, "methods": ["GET"]},
         "calls": {"u": {"service": "s", "path": "/u"}}, "response": "$u"}
        """.write(to: dir.appendingPathComponent("endpoints/e.json"), atomically: true, encoding: .utf8)
        let c = try GatewayConfiguration.load(directory: dir.path)
        let policy = c.effectivePolicy(endpoint: c.endpoints[0])
        XCTAssertEqual(policy.timeout, 2_000_000_000)
        XCTAssertEqual(policy.maxBodyBytes, 0)
        XCTAssertEqual(policy.methods, ["GET"])
        XCTAssertEqual(policy.headers?.response.set.map(\.name), ["X-User"])

        // An endpoint without {userId} cannot inherit a header template that uses it.
        try """
        {"name": "f", "path": "/f", "calls": {"u": {"service": "s", "path": "/u"}}, "response": "$u"}
        """.write(to: dir.appendingPathComponent("endpoints/f.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try GatewayConfiguration.load(directory: dir.path)) { error in
            let issues = (error as! ConfigurationError).issues
            XCTAssertEqual(issues.map(\.path), ["$.policy"])
            XCTAssertTrue(issues[0].file.hasSuffix("endpoints/f.json"), issues[0].file)
            XCTAssertTrue(issues[0].reason.contains("{path.userId}"), issues[0].reason)
        }
    }

    // MARK: errors

    func testSectionsOfLaterIssuesAcceptOnlyNull() {
        XCTAssertEqual(routeIssues(#"{"rateLimit": {"perMinute": 10}, "cache": false}"#), [
            "gateway.json: $.routes[0].policy.rateLimit: not available yet: only null (off) is accepted until the gateway implements rateLimit",
            "gateway.json: $.routes[0].policy.cache: not available yet: only null (off) is accepted until the gateway implements cache",
        ])
        XCTAssertEqual(routeIssues(#"{"auth": null, "rateLimit": null, "cache": null}"#), [])
        // auth is read now (AuthConfigurationTests): strictly, and only against configured providers.
        XCTAssertEqual(routeIssues(#"{"auth": {"jwt": true}}"#), [
            "gateway.json: $.routes[0].policy.auth.jwt: unknown key (allowed: provider, require, claimsToHeaders, forwardToken)",
            "gateway.json: $.routes[0].policy.auth.provider: no auth.jwt.providers are configured",
        ])
        XCTAssertEqual(endpointIssues(#"{"auth": "required"}"#), ["e.json: $.policy.auth: expected an object, found string"])
    }

    func testScalarSections() {
        XCTAssertEqual(routeIssues(#"{"timeoutMs": 0, "maxBodyBytes": 2000, "methods": ["get", "POST", "POST", 5], "retries": 1}"#, limits: #""maxBodyBytes": 1000"#), [
            "gateway.json: $.routes[0].policy.retries: unknown key (allowed: auth, rateLimit, cache, cors, headers, timeoutMs, maxBodyBytes, methods)",
            "gateway.json: $.routes[0].policy.timeoutMs: 0 is out of range 1...600000",
            "gateway.json: $.routes[0].policy.maxBodyBytes: 2000 is out of range 0...1000",
            "gateway.json: $.routes[0].policy.methods[0]: 'get' is not an upper-case method token",
            "gateway.json: $.routes[0].policy.methods[2]: 'POST' is listed twice",
            "gateway.json: $.routes[0].policy.methods[3]: expected a method string, found number",
        ])
        XCTAssertEqual(routeIssues(#"{"timeoutMs": 600001, "methods": []}"#), [
            "gateway.json: $.routes[0].policy.timeoutMs: 600001 is out of range 1...600000",
            "gateway.json: $.routes[0].policy.methods: at least one method is required (null turns the check off)",
        ])
        XCTAssertEqual(routeIssues(#"{"timeoutMs": 1.5, "maxBodyBytes": "1k", "methods": "GET"}"#), [
            "gateway.json: $.routes[0].policy.timeoutMs: expected an integer, found a fraction",
            "gateway.json: $.routes[0].policy.maxBodyBytes: expected an integer, found string",
            "gateway.json: $.routes[0].policy.methods: expected an array, found string",
        ])
        XCTAssertEqual(routeIssues(#""strict""#), ["gateway.json: $.routes[0].policy: expected an object, found string"])
        XCTAssertEqual(endpointIssues(#"{"maxBodyBytes": 1001}"#), ["e.json: $.policy.maxBodyBytes: 1001 is out of range 0...1000"])
    }

    func testDefaultsAreCheckedToo() {
        XCTAssertEqual(issues(#"{"defaults": {"policy": {"timeoutMs": -1}, "other": 1}}"#), [
            "gateway.json: $.defaults.other: unknown key (allowed: policy)",
            "gateway.json: $.defaults.policy.timeoutMs: -1 is out of range 1...600000",
        ])
    }

    /// A route whose own method the effective `methods` leave out could never answer anything but 405.
    func testMethodsMustIncludeTheRoutesMethod() {
        XCTAssertEqual(routeIssues(#"{"methods": ["POST"]}"#, method: "GET"), [
            "gateway.json: $.routes[0].policy.methods: methods (POST) leave out this route's method GET: every request would get 405",
        ])
        XCTAssertEqual(routeIssues(#"{}"#, defaults: #"{"methods": ["GET"]}"#, method: "PUT"), [
            "gateway.json: $.routes[0].policy: the inherited defaults.policy.methods (GET) leave out this route's method PUT: every request would get 405",
        ])
        XCTAssertEqual(routeIssues(#"{"methods": ["GET"]}"#, method: "HEAD"), [])
        XCTAssertEqual(endpointIssues(#"{"methods": ["POST"]}"#), [
            "e.json: $.policy.methods: methods (POST) leave out this route's method GET: every request would get 405",
        ])
    }

    func testCORSErrors() {
        let found = routeIssues("""
        {"cors": {"allowOrigins": ["*", "https://app.example.com/", "null", "app.example.com", "https://*.com", "https://a.*.example.com",
                                   "https://app.example.com:443", "http://x:0", "https://u@x.example.com", "ftp ://x"],
                  "allowMethods": ["patch"], "allowHeaders": ["*", "X-A"], "exposeHeaders": ["Bad Header"], "allowCredentials": true,
                  "maxAgeSeconds": 86401, "origin": "x"}}
        """)
        XCTAssertEqual(found, [
            "gateway.json: $.routes[0].policy.cors.origin: unknown key (allowed: allowOrigins, allowMethods, allowHeaders, exposeHeaders, allowCredentials, maxAgeSeconds)",
            "gateway.json: $.routes[0].policy.cors.allowOrigins[1]: 'https://app.example.com/' is not an origin: no path, query or user (a browser's Origin is scheme://host[:port], with no trailing slash)",
            "gateway.json: $.routes[0].policy.cors.allowOrigins[2]: the 'null' origin cannot be allowed: sandboxed frames and file: pages of any site send it",
            "gateway.json: $.routes[0].policy.cors.allowOrigins[3]: 'app.example.com' is not an origin: write scheme://host[:port], e.g. https://app.example.com or https://*.example.com",
            "gateway.json: $.routes[0].policy.cors.allowOrigins[4]: 'https://*.com' is too broad: a wildcard needs a domain of at least two labels (https://*.example.com)",
            "gateway.json: $.routes[0].policy.cors.allowOrigins[5]: 'https://a.*.example.com': '*' may only stand for the first label, as in https://*.example.com",
            "gateway.json: $.routes[0].policy.cors.allowOrigins[6]: browsers send 'https://app.example.com:443' without its default port: write 'https://app.example.com'",
            "gateway.json: $.routes[0].policy.cors.allowOrigins[7]: 'http://x:0' has an invalid port",
            "gateway.json: $.routes[0].policy.cors.allowOrigins[8]: 'https://u@x.example.com' is not an origin: no path, query or user (a browser's Origin is scheme://host[:port], with no trailing slash)",
            "gateway.json: $.routes[0].policy.cors.allowOrigins[9]: 'ftp ://x' has no valid scheme",
            "gateway.json: $.routes[0].policy.cors.allowOrigins: '*' allows every origin: list nothing else",
            "gateway.json: $.routes[0].policy.cors.allowMethods[0]: 'patch' is not an upper-case method token",
            "gateway.json: $.routes[0].policy.cors.allowHeaders[0]: '*' allows every header: list nothing else",
            "gateway.json: $.routes[0].policy.cors.exposeHeaders[0]: 'Bad Header' is not a valid header name",
            "gateway.json: $.routes[0].policy.cors.maxAgeSeconds: 86401 is out of range 0...86400",
            "gateway.json: $.routes[0].policy.cors.allowCredentials: true with allowOrigins '*' would let every site make credentialed calls: list the origins",
            "gateway.json: $.routes[0].policy.cors.allowHeaders: '*' is not allowed with allowCredentials true: list the headers",
        ])
        XCTAssertEqual(routeIssues(#"{"cors": {}}"#), ["gateway.json: $.routes[0].policy.cors.allowOrigins: required"])
        XCTAssertEqual(routeIssues(#"{"cors": {"allowOrigins": []}}"#), ["gateway.json: $.routes[0].policy.cors.allowOrigins: at least one origin is required"])
        XCTAssertEqual(routeIssues(#"{"cors": {"allowOrigins": ["https://a.example.com", "HTTPS://A.example.com"]}}"#),
                       ["gateway.json: $.routes[0].policy.cors.allowOrigins[1]: 'HTTPS://A.example.com' is listed twice"])
        XCTAssertEqual(routeIssues(#"{"cors": {"allowOrigins": ["*"], "allowHeaders": ["*"]}}"#), [], "'*' headers without credentials")
    }

    func testHeadersErrors() {
        let found = routeIssues("""
        {"headers": {"request": {"set": {"Host": "x", "X-A": "{query.a}", "X-B": 5, "X-C": "{path.other}"}, "remove": ["Content-Length", "Transfer-Encoding", "x-d", "X-D"],
                                 "add": {"Connection": "close", "Bad Name": "v", "X-E": "a}b"}, "replace": {}},
                     "response": {"remove": ["Keep-Alive", 1], "add": {"x-f": "v", "X-F": "w"}}, "both": {}}}
        """)
        XCTAssertEqual(found, [
            "gateway.json: $.routes[0].policy.headers.both: unknown key (allowed: request, response)",
            "gateway.json: $.routes[0].policy.headers.request.replace: unknown key (allowed: add, set, remove)",
            "gateway.json: $.routes[0].policy.headers.request.remove[0]: 'Content-Length' is the gateway's own (framing, routing or hop-by-hop) and cannot be changed by a policy",
            "gateway.json: $.routes[0].policy.headers.request.remove[1]: 'Transfer-Encoding' is the gateway's own (framing, routing or hop-by-hop) and cannot be changed by a policy",
            "gateway.json: $.routes[0].policy.headers.request.remove[3]: 'X-D' is listed twice",
            "gateway.json: $.routes[0].policy.headers.request.set.Host: 'Host' is the gateway's own (framing, routing or hop-by-hop) and cannot be changed by a policy",
            "gateway.json: $.routes[0].policy.headers.request.set.X-A: unknown placeholder '{query.a}' (use {path.<name>}, {claims.<name>} or {requestId})",
            "gateway.json: $.routes[0].policy.headers.request.set.X-B: expected a string value (a template), found number",
            "gateway.json: $.routes[0].policy.headers.request.add.Connection: 'Connection' is the gateway's own (framing, routing or hop-by-hop) and cannot be changed by a policy",
            "gateway.json: $.routes[0].policy.headers.request.add.Bad Name: 'Bad Name' is not a valid header name",
            "gateway.json: $.routes[0].policy.headers.request.add.X-E: unmatched '}' (write '}}' for a literal brace)",
            "gateway.json: $.routes[0].policy.headers.response.remove[0]: 'Keep-Alive' is the gateway's own (framing, routing or hop-by-hop) and cannot be changed by a policy",
            "gateway.json: $.routes[0].policy.headers.response.remove[1]: expected a header name, found number",
            "gateway.json: $.routes[0].policy.headers.response.add.X-F: 'X-F' is set twice (names are case-insensitive)",
        ])
        // Path parameters the route does not capture, in the route's own section and inherited.
        XCTAssertEqual(routeIssues(#"{"headers": {"request": {"set": {"X-C": "{path.other}-{path.id}"}}}}"#), [
            "gateway.json: $.routes[0].policy.headers: uses {path.other}, which the path '/x/{id}' does not capture",
        ])
        XCTAssertEqual(routeIssues(#"{}"#, defaults: #"{"headers": {"response": {"add": {"X-T": "{path.tenant}"}}}}"#), [
            "gateway.json: $.routes[0].policy: inherits defaults.policy.headers, which uses {path.tenant}: the path '/x/{id}' does not capture it (set policy.headers here, or null)",
        ])
        XCTAssertEqual(routeIssues(#"{"headers": null}"#, defaults: #"{"headers": {"response": {"add": {"X-T": "{path.tenant}"}}}}"#), [])
        XCTAssertEqual(routeIssues(#"{"headers": {"request": {"add": {"X-Ctl": "a\u000db"}}}}"#), [
            "gateway.json: $.routes[0].policy.headers.request.add.X-Ctl: control characters (CR, LF, NUL, tab, …) are not allowed in a header value",
        ])
        XCTAssertEqual(endpointIssues(#"{"headers": {"request": {"set": {"X-U": "{path.userId}", "X-V": "{path.nope}"}}}}"#), [
            "e.json: $.policy.headers: uses {path.nope}, which the path '/e/{userId}' does not capture",
        ])
    }

    /// The shipped contracts still load.
    func testShippedContractsLoad() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for client in ["web", "mobile", "partner"] {
            XCTAssertNoThrow(try GatewayConfiguration.load(directory: root.appendingPathComponent("contracts/\(client)").path), client)
        }
    }
}
