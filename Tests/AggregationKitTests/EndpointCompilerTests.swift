import Foundation
import XCTest
@testable import AggregationKit

/// Contract compilation: every graph and template problem, with file, JSON path and reason.
final class EndpointCompilerTests: XCTestCase {
    private func issues(_ text: String) -> [String] {
        switch GatewayConfiguration.compileEndpoint(Array(text.utf8), file: "e.json", services: ["users", "orders"]) {
        case .success: return []
        case .failure(let e): return e.issues.map(\.description)
        }
    }

    private func endpoint(calls: String, response: String = #"{"x": 1}"#, extra: String = "") -> String {
        #"{"name": "t", "method": "GET", "path": "/t/{id}", "calls": {\#(calls)}, "response": \#(response)\#(extra)}"#
    }

    func testValidEndpointCompilesWithDependencies() throws {
        let text = endpoint(calls: #""a": {"service": "users", "path": "/u/{path.id}"}, "b": {"service": "orders", "path": "/o/{a.orderId}"}"#,
                            response: #"{"a": "$a", "b": "$b"}"#)
        guard case .success(let e) = GatewayConfiguration.compileEndpoint(Array(text.utf8), file: "e.json", services: ["users", "orders"]) else { return XCTFail(issues(text).joined()) }
        XCTAssertEqual(e.calls.map(\.name), ["a", "b"])
        XCTAssertEqual(e.dependencies, [[], [0]])
    }

    func testUnknownService() {
        XCTAssertEqual(issues(endpoint(calls: #""a": {"service": "billing", "path": "/x"}"#)),
                       ["e.json: $.calls.a.service: unknown service 'billing' (defined: orders, users)"])
    }

    func testUnknownCallAndFieldReferences() {
        XCTAssertEqual(issues(endpoint(calls: #""a": {"service": "users", "path": "/u/{nope.id}"}"#)),
                       ["e.json: $.calls.a.path: 'nope.id': unknown call 'nope' (calls: a)"])
        XCTAssertEqual(issues(endpoint(calls: #""a": {"service": "users", "path": "/u/{path.userId}"}"#)),
                       ["e.json: $.calls.a.path: 'path.userId': the route has no path parameter 'userId' (it has: id)"])
        XCTAssertEqual(issues(endpoint(calls: #""a": {"service": "users", "path": "/u"}"#, response: #"{"x": "$b.name"}"#)),
                       ["e.json: $.response: 'b.name': unknown call 'b' (calls: a)"])
        XCTAssertEqual(issues(endpoint(calls: #""a": {"service": "users", "path": "/u/{$.id}"}"#)),
                       ["e.json: $.calls.a.path: '$.id': '$' (the current element) exists only inside $map, forEach or batch"])
    }

    func testCycle() {
        XCTAssertEqual(issues(endpoint(calls: #""a": {"service": "users", "path": "/u/{c.id}"}, "b": {"service": "users", "path": "/u/{a.id}"}, "c": {"service": "users", "path": "/u/{b.id}"}"#)),
                       ["e.json: $.calls: dependency cycle: a → c → b → a"])
        XCTAssertEqual(issues(endpoint(calls: #""a": {"service": "users", "path": "/u/{a.id}"}"#)),
                       ["e.json: $.calls.a.path: 'a.id': a call cannot use its own result"])
    }

    func testResponsePathThatCanNeverExist() {
        let calls = #""a": {"service": "users", "path": "/u", "responseSchema": {"type": "object", "additionalProperties": false, "properties": {"name": {"type": "string"}, "tags": {"type": "array"}}}}"#
        XCTAssertEqual(issues(endpoint(calls: calls, response: #"{"x": "$a.email"}"#)),
                       ["e.json: $.response: 'a.email' can never exist: no property 'email' (allowed: name, tags)"])
        XCTAssertEqual(issues(endpoint(calls: calls, response: #"{"x": "$a.name[0]"}"#)),
                       ["e.json: $.response: 'a.name[0]' can never exist: indexed into a value that is string, never an array"])
        XCTAssertEqual(issues(endpoint(calls: calls, response: #"{"x": "$a.tags[*]", "y": "$a.name"}"#)), [])
    }

    func testCallOptionsAndCollisions() {
        XCTAssertEqual(issues(endpoint(calls: #""a": {"service": "users", "path": "/u", "fallback": {}}"#)),
                       ["e.json: $.calls.a.fallback: a required call never uses its fallback; set \"required\": false"])
        XCTAssertEqual(issues(endpoint(calls: #""a": {"service": "users", "path": "/u", "statusMap": {"404": 200}, "retries": 3}"#)).sorted(), [
            "e.json: $.calls.a.retries: unknown key (allowed: service, method, path, query, headers, body, timeoutMs, required, fallback, successStatus, statusMap, passHeaders, dependsOn, forEach, batch, responseSchema, description, emptyBody)",
            "e.json: $.calls.a.statusMap.404: values are client status codes 400...599",
        ])
        XCTAssertEqual(issues(endpoint(calls: #""a": {"service": "users", "path": "/u"}"#, response: #"{"$merge": [{"id": "$a.id"}, {"id": 2}]}"#)),
                       ["e.json: $.response.$merge: parts 0 and 1 both write 'id' and $collision is error"])
        XCTAssertEqual(issues(endpoint(calls: #""a": {"service": "users", "path": "/u", "forEach": {"in": "path.id"}, "batch": {"in": "path.id"}}"#)),
                       ["e.json: $.calls.a: forEach and batch cannot both be set"])
        XCTAssertEqual(issues(endpoint(calls: #""a": {"service": "users", "path": "/u"}"#, extra: #", "schema": {"type": "objet"}"#)),
                       ["e.json: $.schema.type: unknown type 'objet'"])
    }

    func testRouteClashWithProxyRoute() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-clash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
        try #"{"services": {"users": {"instances": ["127.0.0.1:1"]}}, "routes": [{"name": "p", "method": "GET", "path": "/t/{x}", "proxy": {"service": "users"}}]}"#
            .write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        try endpoint(calls: #""a": {"service": "users", "path": "/u"}"#).write(to: dir.appendingPathComponent("endpoints/t.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try GatewayConfiguration.load(directory: dir.path)) { error in
            XCTAssertEqual((error as? ConfigurationError)?.issues.map(\.reason), ["route 'GET /t/{id}' conflicts with 'GET /t/{x}'"])
        }
    }
}
