import XCTest
import Foundation
@testable import AggregationKit

/// What a composite call sends upstream when its target is filled from client input or downstream data,
/// over real sockets: Python's echo server answers with the target it received.
final class CompositeTargetTests: XCTestCase {
    var downstream: Downstream!

    override func setUpWithError() throws {
        downstream = try Downstream()
    }

    override func tearDown() {
        downstream?.stop()
    }

    private func echoGateway(_ path: String, route: String = "/c/{id}", headers: String = "") throws -> TestGateway {
        try compositeGateway(services: ["s": downstream.port], endpoint: """
        {"name": "c", "method": "GET", "path": "\(route)",
         "calls": {"a": {"service": "s", "path": "\(path)" \(headers)}},
         "response": {"target": "$a.path"}}
        """)
    }

    func testPlusInAPathParameterIsAPlus() throws {
        let gw = try echoGateway("/echo/{path.id}")
        defer { gw.stop() }
        XCTAssertEqual(try gw.get("/c/1+1").json?["target"]?.stringValue, "/echo/1%2B1")
        XCTAssertEqual(try gw.get("/c/1%2B1").json?["target"]?.stringValue, "/echo/1%2B1")
        XCTAssertEqual(try gw.get("/c/a%20b").json?["target"]?.stringValue, "/echo/a%20b")
    }

    func testValuesAreEncodedForWhereTheyLand() throws {
        let gw = try echoGateway("/echo/{path.id}?id={path.id}&{query.name}={query.value}", route: "/c/{id}")
        defer { gw.stop() }
        let r = try gw.get("/c/7&x=1?name=a%3Db%26c&value=1%2B1%20x")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json?["target"]?.stringValue, "/echo/7%26x%3D1?id=7%26x%3D1&a%3Db%26c=1%2B1%20x")
    }

    func testDotSegmentFromTheClientIsRefused() throws {
        let gw = try echoGateway("/echo/{query.id}/x")
        defer { gw.stop() }
        for value in ["..", ".", "%2E%2E", "%2e"] {
            let r = try gw.get("/c/1?id=\(value)")
            XCTAssertEqual(r.status, 400, "\(value): \(r.text)")
            XCTAssertEqual(r.json?["call"]?.stringValue, "a")
            XCTAssertNil(r.json?["target"])
        }
        let empty = try gw.get("/c/1?id=")
        XCTAssertEqual(empty.status, 400, "an empty value would change which resource is asked for: \(empty.text)")
        XCTAssertEqual(try gw.get("/c/1?id=...").json?["target"]?.stringValue, "/echo/.../x")
        // `..%2F` is `../` to an upstream that decodes before it resolves: refused like the parser's rule
        // with `allowEncodedSlashes` (each part between decoded slashes is dot-checked).
        XCTAssertEqual(try gw.get("/c/1?id=..%2F").status, 400)
        XCTAssertEqual(try gw.get("/c/1?id=a%2F..").status, 400)
        XCTAssertEqual(try gw.get("/c/1?id=a%2Fb").json?["target"]?.stringValue, "/echo/a%2Fb/x", "a '/' in a value is data")
    }

    func testDotSegmentFromAHeaderIsRefused() throws {
        let gw = try echoGateway("/echo/{header.x-id}")
        defer { gw.stop() }
        let r = try gw.get("/c/1", headers: [("X-Id", "..")])
        XCTAssertEqual(r.status, 400, r.text)
        XCTAssertEqual(r.json?["call"]?.stringValue, "a")
    }

    func testHeaderNamesWithUnderscoresAreNotVisible() throws {
        let gw = try compositeGateway(services: ["s": downstream.port], endpoint: """
        {"name": "c", "path": "/c",
         "calls": {"a": {"service": "s", "path": "/echo", "query": {"u": "{header.x_user}", "d": "{header.x-user}"}}},
         "response": {"target": "$a.path"}}
        """)
        defer { gw.stop() }
        let r = try gw.get("/c", headers: [("X_User", "evil"), ("X-User", "ok")])
        XCTAssertEqual(r.json?["target"]?.stringValue, "/echo?d=ok")
    }

    func testDotSegmentFromADownstreamFailsTheCall() throws {
        let stub = try StubDownstream([
            "/first": .init(body: #"{"id":"..","items":[{"id":"1"},{"id":"."}]}"#),
            "/users": .init(body: #"{"ok":true}"#),
        ])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "c", "path": "/c",
         "calls": {"first": {"service": "s", "path": "/first"},
                   "user": {"service": "s", "path": "/users/{first.id}/x"}},
         "response": "$user"}
        """)
        defer { gw.stop() }
        let r = try gw.get("/c")
        XCTAssertEqual(r.status, 502, r.text)
        XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:downstream_call_failed")
        XCTAssertEqual(r.json?["call"]?.stringValue, "user")
        XCTAssertEqual(stub.requests.map(\.target), ["/first"], "nothing was sent for the refused call")

        let each = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "c", "path": "/c",
         "calls": {"first": {"service": "s", "path": "/first"},
                   "users": {"service": "s", "path": "/users/{$.id}", "forEach": {"in": "first.items"}, "required": false}},
         "response": {"users": "$users"}}
        """)
        defer { each.stop() }
        let partial = try each.get("/c")
        XCTAssertEqual(partial.status, 200, partial.text)
        XCTAssertEqual(partial.headers["x-partial-response"], "true")
        XCTAssertFalse(stub.requests.map(\.target).contains("/users/."))
    }
}
