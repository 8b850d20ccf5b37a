import Foundation
import XCTest
@testable import AggregationKit

final class GatewayConfigurationTests: XCTestCase {
    private func issues(_ json: String) -> [String] {
        do {
            _ = try GatewayConfiguration.parse(Array(json.utf8), file: "gateway.json")
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    func testValidConfiguration() throws {
        let c = try GatewayConfiguration.parse(Array("""
        {"listen": {"host": "0.0.0.0", "port": 9000}, "timeouts": {"headerMs": 500},
         "services": {"a": {"instances": ["127.0.0.1:81", "http://localhost:82/"], "pool": {"maxConnections": 3}}},
         "routes": [{"name": "r", "method": "GET", "path": "/x/{id}", "proxy": {"service": "a", "path": "/y/{id}"}}]}
        """.utf8), file: "g.json")
        XCTAssertEqual(c.server.port, 9000)
        XCTAssertEqual(c.server.headerTimeout, 500_000_000)
        XCTAssertEqual(c.services[0].instances.map(\.port), [81, 82])
        XCTAssertEqual(c.services[0].pool.maxConnections, 3)
        XCTAssertEqual(c.routes[0].proxy.path, "/y/{id}")
    }

    /// Names the gateway's own answers use in logs and metrics are not route names.
    func testReservedRouteNamesAreRefused() {
        let found = issues("""
        {"services": {"a": {"instances": ["127.0.0.1:81"]}},
         "routes": [{"name": "healthz", "path": "/h", "proxy": {"service": "a"}},
                    {"name": "unmatched", "path": "/u", "proxy": {"service": "a"}}]}
        """)
        XCTAssertEqual(found, [
            "gateway.json: $.routes[0].name: 'healthz' is the name of a built-in answer (logs and metrics would mix them up)",
            "gateway.json: $.routes[1].name: 'unmatched' is the name of a built-in answer (logs and metrics would mix them up)",
        ])
    }

    func testEveryProblemIsReportedWithItsPath() {
        let found = issues("""
        {"listen": {"port": 70000, "hots": "x"},
         "services": {"a": {"instances": ["nohost", 5]}, "b": {"instances": []}},
         "routes": [
           {"name": "r1", "path": "/x/{id}", "proxy": {"service": "missing"}},
           {"name": "r1", "path": "/x/{other}", "proxy": {"service": "a", "path": "/y/{nope}"}},
           {"name": "r3", "method": "get", "path": "nopath", "proxy": {"service": "a"}}
         ]}
        """)
        let expected = [
            "gateway.json: $.listen.hots: unknown key (allowed: host, port)",
            "gateway.json: $.listen.port: 70000 is out of range 0...65535",
            "gateway.json: $.services.a.instances[0]: 'nohost' is not host:port with a port in 1...65535",
            "gateway.json: $.services.a.instances[1]: expected \"host:port\" or {\"address\": \"host:port\", \"weight\": 1, \"zone\": \"…\"}, found number",
            "gateway.json: $.services.b.instances: at least one instance is required",
            "gateway.json: $.routes[0].proxy.service: unknown service 'missing' (defined: a, b)",
            "gateway.json: $.routes[1].name: duplicate route name 'r1'",
            "gateway.json: $.routes[1].path: route '* /x/{other}' conflicts with '* /x/{id}'",
            "gateway.json: $.routes[1].proxy.path: uses {nope}, which the route path '/x/{other}' does not capture",
            "gateway.json: $.routes[2].method: 'get' is not an upper-case method token",
            "gateway.json: $.routes[2].path: invalid path template 'nopath': must start with '/'",
        ]
        XCTAssertEqual(found, expected)
    }

    func testResponseLimitAndPoolReuse() throws {
        let c = try GatewayConfiguration.parse(Array("""
        {"limits": {"maxResponseBytes": 4096},
         "services": {"a": {"instances": ["127.0.0.1:81"], "pool": {"reuse": false}}, "b": {"instances": ["127.0.0.1:82"]}}}
        """.utf8), file: "g.json")
        let a = try c.services[0].origins()[0], b = try c.services[1].origins()[0]
        XCTAssertEqual(a.limits.maxBodyBytes, 4096)
        XCTAssertFalse(a.reuseConnections)
        XCTAssertEqual(b.limits.maxBodyBytes, 4096)
        XCTAssertTrue(b.reuseConnections, "reuse by default")
        let defaults = try GatewayConfiguration.parse(Array(#"{"services": {"a": {"instances": ["127.0.0.1:81"]}}}"#.utf8), file: "g.json")
        XCTAssertEqual(try defaults.services[0].origins()[0].limits.maxBodyBytes, 16 * 1024 * 1024)
        XCTAssertEqual(issues(#"{"limits": {"maxResponseBytes": 100}, "services": {"a": {"instances": ["127.0.0.1:81"], "pool": {"reuse": "no"}}}}"#), [
            "gateway.json: $.limits.maxResponseBytes: 100 is out of range 1024...1073741824",
            "gateway.json: $.services.a.pool.reuse: expected true or false, found string",
        ])
    }

    func testSyntaxErrorHasLineAndColumn() {
        XCTAssertEqual(issues("{\n  \"listen\": {,}\n}"), ["gateway.json: $: invalid JSON at line 2, column 14: expected a string key"])
    }

    /// A key written twice in a configuration file is a mistake (which of the two was meant?), not last-wins.
    func testDuplicateKeysAreRefused() {
        XCTAssertEqual(issues("{\n  \"threads\": 1,\n  \"threads\": 2\n}"), ["gateway.json: $: invalid JSON at line 3, column 3: duplicate key \"threads\""])
        let twice = #"{"name": "t", "path": "/t", "calls": {"a": {"service": "s", "path": "/a"}, "a": {"service": "s", "path": "/b"}}, "response": "$a"}"#
        guard case .failure(let e) = GatewayConfiguration.compileEndpoint(Array(twice.utf8), file: "e.json", services: ["s"]) else { return XCTFail("a call defined twice must be refused") }
        XCTAssertEqual(e.issues.map(\.description), ["e.json: $: invalid JSON at line 1, column 76: duplicate key \"a\""])
    }

    func testWrongTypes() {
        XCTAssertEqual(issues("{\"threads\": \"two\", \"accessLog\": 1, \"routes\": {}}"), [
            "gateway.json: $.threads: expected an integer, found string",
            "gateway.json: $.accessLog: expected true, false or an object such as {\"path\": \"/var/log/bff/access.log\"}, found number",
            "gateway.json: $.routes: expected an array, found object",
        ])
    }

    func testShippedContractsAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for client in ["web", "mobile", "partner"] {
            XCTAssertNoThrow(try GatewayConfiguration.load(directory: root.appendingPathComponent("contracts/\(client)").path), client)
        }
    }
}
