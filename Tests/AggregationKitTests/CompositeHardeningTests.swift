import XCTest
import Foundation
@testable import AggregationKit

/// Composite endpoints against misbehaving or surprising downstreams, over 127.0.0.1: exact ids, empty
/// bodies, duplicate keys, and problem documents that never show internals or downstream data.
final class CompositeHardeningTests: XCTestCase {
    // MARK: 64-bit ids

    func testBatchAndLookupKeepIdsBeyondTwoToTheFiftyThreeApart() throws {
        // Two ids that are the same Double: 2^53 and 2^53 + 1.
        let stub = try StubDownstream([
            "/orders/1": .init(body: #"{"items":[{"productId":9007199254740993,"qty":1},{"productId":9007199254740992,"qty":2},{"productId":9007199254740993.0,"qty":3}]}"#),
            "/products": .init(body: #"{"products":[{"id":9007199254740992,"name":"A"},{"id":9007199254740993,"name":"B"}]}"#),
        ])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "o", "path": "/o/{id}", "calls": {
           "order": {"service": "s", "path": "/orders/{path.id}"},
           "products": {"service": "s", "path": "/products", "query": {"ids": "{$}"},
                        "batch": {"in": "order.items[*].productId", "size": 10, "resultPath": "products"}}},
         "response": {"$select": "order.items", "$map": {"qty": "$.qty", "product": {"$lookup": "products", "$on": "$.productId", "$key": "id", "$pick": ["name"]}}}}
        """)
        defer { gw.stop() }
        let r = try gw.get("/o/1")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(stub.requests.map(\.target), ["/orders/1", "/products?ids=9007199254740993,9007199254740992"],
                       "both ids fetched; 9007199254740993.0 is the same number as 9007199254740993")
        XCTAssertEqual(r.text, #"[{"qty":1,"product":{"name":"B"}},{"qty":2,"product":{"name":"A"}},{"qty":3,"product":{"name":"B"}}]"#)
    }

    // MARK: Empty bodies

    func testEmptyBodyFromARequiredCallFails() throws {
        let stub = try StubDownstream(["/empty": .init(body: "")])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "e", "path": "/e", "calls": {"x": {"service": "s", "path": "/empty"}}, "response": {"x": "$x"}}
        """)
        defer { gw.stop() }
        let r = try gw.get("/e")
        XCTAssertEqual(r.status, 502, r.text)
        XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:downstream_call_failed")
        XCTAssertEqual(r.json?["call"]?.stringValue, "x")
    }

    func testEmptyBodyFromAnOptionalCallTakesItsFallback() throws {
        let stub = try StubDownstream(["/empty": .init(body: ""), "/ok": .init(body: #"{"v":1}"#)])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "e", "path": "/e", "partialMeta": true, "calls": {"ok": {"service": "s", "path": "/ok"},
           "x": {"service": "s", "path": "/empty", "required": false, "fallback": {"items": []}}},
         "response": {"v": "$ok.v", "x": "$x"}}
        """)
        defer { gw.stop() }
        let r = try gw.get("/e")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["x-partial-response"], "true")
        XCTAssertEqual(r.text, #"{"v":1,"x":{"items":[]},"_meta":{"failed":["x"]}}"#)
    }

    func testNoContentAndDeclaredEmptyBodiesAreNull() throws {
        let stub = try StubDownstream(["/none": .init(status: 204, body: ""), "/empty": .init(body: "")])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "e", "path": "/e", "calls": {"a": {"service": "s", "path": "/none"},
           "b": {"service": "s", "path": "/empty", "emptyBody": "null"}},
         "response": {"a": "$a", "b": "$b"}}
        """)
        defer { gw.stop() }
        let r = try gw.get("/e")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.text, #"{"a":null,"b":null}"#)
    }

    func testEmptyBodyOptionIsValidated() {
        let text = #"{"name": "t", "path": "/t", "calls": {"a": {"service": "s", "path": "/a", "emptyBody": "maybe"}}, "response": "$a"}"#
        guard case .failure(let e) = GatewayConfiguration.compileEndpoint(Array(text.utf8), file: "e.json", services: ["s"]) else {
            return XCTFail("an unknown emptyBody value must be refused")
        }
        XCTAssertEqual(e.issues.map(\.description), ["e.json: $.calls.a.emptyBody: 'maybe' is not error or null"])
    }

    // MARK: Duplicate keys

    func testDuplicateKeysInDownstreamJSONNeverLeakPastOmit() throws {
        let stub = try StubDownstream([
            "/flat": .init(body: #"{"a":1,"secret":"x","secret":"y"}"#),
            "/nested": .init(body: #"{"user":{"name":"Ada","secret":"x"},"user":{"name":"Bob","secret":"y","secret":"z"},"list":[{"secret":1,"k":1,"secret":2}]}"#),
        ])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "d", "path": "/d", "calls": {"flat": {"service": "s", "path": "/flat"}, "nested": {"service": "s", "path": "/nested"}},
         "response": {"flat": {"$select": "flat", "$omit": ["secret"]},
                      "nested": {"$select": "nested", "$omit": ["user.secret"]},
                      "list": {"$select": "nested.list", "$omit": ["secret"]},
                      "raw": "$flat"}}
        """)
        defer { gw.stop() }
        let r = try gw.get("/d")
        XCTAssertEqual(r.status, 200, r.text)
        // One member per key, in the position of its first occurrence, with the value of its last (as JavaScript's JSON.parse).
        XCTAssertEqual(r.text, #"{"flat":{"a":1},"nested":{"user":{"name":"Bob"},"list":[{"secret":2,"k":1}]},"list":[{"k":1}],"raw":{"a":1,"secret":"y"}}"#)
        XCTAssertEqual(r.text.components(separatedBy: "\"secret\"").count - 1, 2, "only the un-omitted copies: raw and the nested list")
    }

    // MARK: Problem details

    func testProblemDetailNeverShowsAddressesOrSystemErrors() throws {
        // A port nothing listens on: bind, read the port, close.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let closedPort = Int(UInt16(bigEndian: addr.sin_port))
        close(fd)
        let gw = try compositeGateway(services: ["users": closedPort], endpoint: """
        {"name": "c", "path": "/c", "calls": {"user": {"service": "users", "path": "/users/1"}}, "response": "$user"}
        """)
        defer { gw.stop() }
        let r = try gw.get("/c")
        XCTAssertEqual(r.status, 502, r.text)
        XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:downstream_call_failed")
        let detail = try XCTUnwrap(r.json?["detail"]?.stringValue)
        XCTAssertTrue(detail.contains("'user'") && detail.contains("'users'"), "names the call and its service: \(detail)")
        for leak in ["127.0.0.1", "\(closedPort)", "errno", "refused", "connect:"] {
            XCTAssertFalse(r.text.contains(leak), "\(leak) in \(r.text)")
        }
    }

    /// What the client does not see goes to `internalDetail`, for the log with the request id.
    func testTheFullStoryIsKeptForTheLogOnly() throws {
        let text = #"{"name": "t", "path": "/t", "calls": {"user": {"service": "users", "path": "/u"}}, "response": "$user"}"#
        guard case .success(let endpoint) = GatewayConfiguration.compileEndpoint(Array(text.utf8), file: "e.json", services: ["users"]) else { return XCTFail() }
        let failure = CompositeHandler.CallFailure(status: nil, upstream: UpstreamError(.connectFailed, "127.0.0.1:9101: connect: Connection refused (errno 111)"),
                                                   reason: "connect failed", internalReason: "connect_failed: 127.0.0.1:9101: connect: Connection refused (errno 111)")
        let problem = CompositeHandler.problem(for: endpoint.calls[0], failure)
        XCTAssertEqual(problem.detail, "required call 'user' (service 'users') failed: connect failed")
        XCTAssertEqual(problem.internalDetail, "required call 'user' (service 'users') failed: connect_failed: 127.0.0.1:9101: connect: Connection refused (errno 111)")
        let body = String(decoding: problem.response(requestID: "r-1").body, as: UTF8.self)
        XCTAssertFalse(body.contains("9101"), body)
    }

    func testEnforcedSchemaViolationNeverQuotesDownstreamData() throws {
        let stub = try StubDownstream(["/u": .init(body: #"{"id":"4111-1111-1111-1111","age":-7,"role":"root-secret","extra-key-secret":1}"#)])
        defer { stub.stop() }
        for (schema, leak) in [(#"{"properties": {"id": {"type": "integer"}}}"#, "4111"),
                               (#"{"properties": {"age": {"minimum": 0}}}"#, "-7"),
                               (#"{"properties": {"role": {"enum": ["user", "admin"]}}}"#, "root-secret"),
                               (#"{"properties": {"role": {"const": "user"}}}"#, "root-secret"),
                               (#"{"additionalProperties": false, "properties": {"id": true, "age": true, "role": true}}"#, "extra-key-secret")] {
            let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
            {"name": "v", "path": "/v", "calls": {"u": {"service": "s", "path": "/u"}}, "response": "$u", "schema": \(schema)}
            """, validation: "enforce")
            defer { gw.stop() }
            let r = try gw.get("/v")
            XCTAssertEqual(r.status, 502, schema)
            XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:response_schema_violation")
            XCTAssertFalse(r.text.contains(leak), "\(leak) in \(r.text)")
        }
    }
}
