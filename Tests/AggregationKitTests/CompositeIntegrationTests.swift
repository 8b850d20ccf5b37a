import XCTest
import Foundation
@testable import AggregationKit

/// Composite endpoints end to end: client ─▶ gateway ─▶ stub downstreams, all over 127.0.0.1.
final class CompositeIntegrationTests: XCTestCase {
    func testIndependentCallsRunConcurrently() throws {
        let stub = try StubDownstream([
            "/a": .init(body: #"{"v":"a"}"#, delayMs: 200),
            "/b": .init(body: #"{"v":"b"}"#, delayMs: 200),
            "/c": .init(body: #"{"v":"c"}"#, delayMs: 200),
        ])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "three", "method": "GET", "path": "/three",
         "calls": {"a": {"service": "s", "path": "/a"}, "b": {"service": "s", "path": "/b"}, "c": {"service": "s", "path": "/c"}},
         "response": {"a": "$a.v", "b": "$b.v", "c": "$c.v"}}
        """)
        defer { gw.stop() }
        _ = try gw.get("/three") // warm the pool
        let start = Date()
        let r = try gw.get("/three")
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, #"{"a":"a","b":"b","c":"c"}"#)
        XCTAssertLessThan(elapsed, 0.38, "three 200 ms calls in parallel")
        XCTAssertGreaterThan(elapsed, 0.19)
    }

    func testChainedCallsRunInDependencyOrderWithBatchAndJoin() throws {
        let stub = try StubDownstream([
            "/orders/42": .init(body: #"{"id":42,"customerId":7,"items":[{"productId":5,"qty":1},{"productId":6,"qty":2},{"productId":5,"qty":1}],"internalNote":"x"}"#, delayMs: 50),
            "/customers/7": .init(body: #"{"id":7,"name":"Ada","ssn":"secret"}"#, delayMs: 50),
            "/products": .init(body: #"{"products":[{"id":5,"name":"Hub"},{"id":6,"name":"Lamp"}]}"#),
        ])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["orders": stub.port, "customers": stub.port, "catalog": stub.port], endpoint: """
        {"name": "order", "method": "GET", "path": "/orders/{id}",
         "calls": {
           "order": {"service": "orders", "path": "/orders/{path.id}", "statusMap": {"404": 404}},
           "customer": {"service": "customers", "path": "/customers/{order.customerId}"},
           "products": {"service": "catalog", "path": "/products", "query": {"ids": "{$}"},
                        "batch": {"in": "order.items[*].productId", "size": 1, "resultPath": "products"}}
         },
         "response": {"id": "$order.id",
                      "customer": {"$select": "customer", "$omit": ["ssn"]},
                      "items": {"$select": "order.items", "$map": {"qty": "$.qty", "product": {"$lookup": "products", "$on": "$.productId", "$key": "id"}}}},
         "schema": {"type": "object", "required": ["id", "customer", "items"], "additionalProperties": false,
                    "properties": {"id": {"type": "integer"}, "customer": {"type": "object"}, "items": {"type": "array", "items": {"type": "object"}}}}}
        """)
        defer { gw.stop() }
        let r = try gw.get("/orders/42")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.text, #"{"id":42,"customer":{"id":7,"name":"Ada"},"items":[{"qty":1,"product":{"id":5,"name":"Hub"}},{"qty":2,"product":{"id":6,"name":"Lamp"}},{"qty":1,"product":{"id":5,"name":"Hub"}}]}"#)
        let items = try XCTUnwrap(r.json?["items"]?.arrayValue)
        XCTAssertEqual(items.count, 3)
        XCTAssertEqual(items[1]["product"]?["name"]?.stringValue, "Lamp")
        XCTAssertNil(r.json?["customer"]?["ssn"])
        let log = stub.requests.map(\.target)
        XCTAssertEqual(log.first, "/orders/42")
        XCTAssertEqual(log[1], "/customers/7", "the customer call waited for the order and used its customerId")
        XCTAssertEqual(Set(log.dropFirst(2)), ["/products?ids=5", "/products?ids=6"], "ids deduplicated, batches of one")
        let notFound = try gw.get("/orders/1")
        XCTAssertEqual(notFound.status, 404, "a required 404 maps to the client's 404")
        XCTAssertEqual(notFound.json?["call"]?.stringValue, "order")
    }

    func testRequestIDIsSentOnEveryCall() throws {
        let stub = try StubDownstream(["/echo": .init(body: #"{"ok":true}"#)])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "id", "path": "/id", "calls": {"a": {"service": "s", "path": "/echo"}}, "response": "$a.ok"}
        """)
        defer { gw.stop() }
        let r = try gw.get("/id", headers: [("X-Request-ID", "trace-123")])
        XCTAssertEqual(r.headers["x-request-id"], "trace-123")
        XCTAssertEqual(stub.requestIDs, ["trace-123"])
        let generated = try gw.get("/id")
        XCTAssertEqual(stub.requestIDs.last, generated.headers["x-request-id"], "a generated id goes downstream too")
    }

    func testPathParametersCannotAddUpstreamSegments() throws {
        let stub = try StubDownstream(["/users/1%2F..%2Fadmin": .init(body: #"{"id":"odd"}"#), "/admin": .init(body: #"{"secret":true}"#)])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "u", "path": "/u/{id}", "calls": {"user": {"service": "s", "path": "/users/{path.id}"}}, "response": "$user"}
        """)
        defer { gw.stop() }
        // An encoded '/' in the client's path is refused before routing (`allowEncodedSlashes` is off);
        // with it on, the value stays one segment (see TargetTemplateTests).
        let r = try gw.get("/u/1%2F..%2Fadmin")
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:invalid_path")
        XCTAssertEqual(try gw.get("/u/a%2Fb").status, 400)
        XCTAssertEqual(stub.requests.map(\.target), [])
    }

    func testHeaderTemplatesCannotInjectHeaders() throws {
        let stub = try StubDownstream([
            "/order": .init(body: #"{"tenant":"acme\r\nX-Injected: yes","plain":"acme"}"#),
            "/who": .init(body: #"{"ok":true}"#),
        ])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "h", "path": "/h", "calls": {"order": {"service": "s", "path": "/order"},
          "who": {"service": "s", "path": "/who", "headers": {"X-Tenant": "{order.tenant}", "X-Plain": "{order.plain}"}}},
         "response": "$who.ok"}
        """)
        defer { gw.stop() }
        let r = try gw.get("/h")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "true")
        let sent = try XCTUnwrap(stub.headers(of: "/who"))
        XCTAssertEqual(sent["x-plain"], "acme")
        XCTAssertNil(sent["x-tenant"], "a value with CR LF is left out")
        XCTAssertNil(sent["x-injected"])
    }

    func testForEachKeepsOrder() throws {
        let stub = try StubDownstream([
            "/list": .init(body: #"{"ids":[3,1,2]}"#),
            "/item/1": .init(body: #"{"id":1}"#, delayMs: 120),
            "/item/2": .init(body: #"{"id":2}"#, delayMs: 10),
            "/item/3": .init(body: #"{"id":3}"#, delayMs: 60),
        ])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "each", "path": "/each", "calls": {
           "list": {"service": "s", "path": "/list"},
           "items": {"service": "s", "path": "/item/{$}", "forEach": {"in": "list.ids", "concurrency": 3}}},
         "response": {"$select": "items[*].id"}}
        """)
        defer { gw.stop() }
        XCTAssertEqual(try gw.get("/each").text, "[3,1,2]")
    }

    /// A composite request runs on the loop through callbacks (no Swift task), and a fan-out that fails
    /// reports its first failure (the cause), not the cancellations of the requests it stopped.
    func testCompositeRequestsTakeNoTaskAndAFanOutFailsWithItsCause() throws {
        let stub = try StubDownstream([
            "/list": .init(body: #"{"ids":[1,2,3]}"#),
            "/item/1": .init(status: 500, body: #"{"error":"boom"}"#),
            "/item/2": .init(body: #"{"id":2}"#, delayMs: 2000),
            "/item/3": .init(body: #"{"id":3}"#, delayMs: 2000),
        ])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "each", "path": "/each", "calls": {
           "list": {"service": "s", "path": "/list"},
           "items": {"service": "s", "path": "/item/{$}", "forEach": {"in": "list.ids", "concurrency": 3}}},
         "response": {"ids": "$list.ids", "items": "$items"}}
        """)
        defer { gw.stop() }
        let loop = gw.gateway.group.loops[0]
        let tasksBefore = loop.execute(sync: { loop.requestTasksStarted })
        let start = Date()
        let r = try gw.get("/each")
        XCTAssertEqual(r.status, 502)
        XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:downstream_call_failed")
        XCTAssertEqual(r.json?["detail"]?.stringValue, "required call 'items' (service 's') failed: downstream answered 500")
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.9, "the slow siblings were cancelled, not waited for")
        XCTAssertEqual(loop.execute(sync: { loop.requestTasksStarted }), tasksBefore, "no task for a composite request")
    }

    func testOptionalFailureGivesPartialResponse() throws {
        let stub = try StubDownstream([
            "/user": .init(body: #"{"name":"Ada"}"#),
            "/recs": .init(status: 503, body: #"{"error":"down"}"#),
        ])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "home", "path": "/home", "partialMeta": true, "calls": {
           "user": {"service": "s", "path": "/user"},
           "recs": {"service": "s", "path": "/recs", "required": false, "fallback": {"items": []}},
           "nowhere": {"service": "s", "path": "/missing", "required": false}},
         "response": {"name": "$user.name", "recommendations": "$recs.items", "extra": "$nowhere"}}
        """)
        defer { gw.stop() }
        let r = try gw.get("/home")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["x-partial-response"], "true")
        // Failed calls are listed in contract order, whatever order their failures arrived in.
        XCTAssertEqual(r.text, #"{"name":"Ada","recommendations":[],"extra":null,"_meta":{"failed":["recs","nowhere"]}}"#)
    }

    func testRequiredFailuresAreProblemsNamingTheCall() throws {
        let stub = try StubDownstream([
            "/ok": .init(body: #"{"v":1}"#),
            "/boom": .init(status: 500, body: #"{"stack":"secret internals"}"#),
            "/slow": .init(body: #"{"v":2}"#, delayMs: 1500),
            "/notjson": .init(body: "<html>"),
        ])
        defer { stub.stop() }
        let endpoint = { (path: String, timeout: String) in """
        {"name": "r", "path": "/r", "calls": {"ok": {"service": "s", "path": "/ok"}, "x": {"service": "s", "path": "\(path)"\(timeout)}},
         "response": {"ok": "$ok.v", "x": "$x"}}
        """ }
        for (path, timeout, status, code) in [("/boom", "", 502, "downstream_call_failed"), ("/slow", ", \"timeoutMs\": 200", 504, "downstream_timeout"),
                                              ("/notjson", "", 502, "downstream_call_failed")] {
            let gw = try compositeGateway(services: ["s": stub.port], endpoint: endpoint(path, timeout))
            defer { gw.stop() }
            let r = try gw.get("/r")
            XCTAssertEqual(r.status, status, path)
            XCTAssertEqual(r.headers["content-type"], "application/problem+json")
            XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:\(code)")
            XCTAssertEqual(r.json?["call"]?.stringValue, "x")
            XCTAssertFalse(r.text.contains("secret internals"), "never the downstream's raw body")
        }
    }

    func testDeadlineCancelsOutstandingCallsAndClosesTheirConnections() throws {
        // A raw listener that accepts, reads the request, never answers, and reports when the gateway closes.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(listener, 8)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        defer { close(listener) }
        let closed = expectation(description: "upstream connection closed by the gateway")
        Thread {
            let fd = accept(listener, nil, nil)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while recv(fd, &buffer, buffer.count, 0) > 0 {}
            close(fd)
            closed.fulfill()
        }.start()
        let fast = try StubDownstream(["/fast": .init(body: #"{"v":1}"#)])
        defer { fast.stop() }
        let gw = try compositeGateway(services: ["hang": port, "fast": fast.port], endpoint: """
        {"name": "d", "path": "/d", "deadlineMs": 300, "calls": {"f": {"service": "fast", "path": "/fast"}, "h": {"service": "hang", "path": "/never"}},
         "response": {"f": "$f.v", "h": "$h"}}
        """)
        defer { gw.stop() }
        let start = Date()
        let r = try gw.get("/d")
        XCTAssertEqual(r.status, 504)
        XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:deadline_exceeded")
        XCTAssertEqual(r.json?["calls"]?.stringValue, "h")
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.0)
        wait(for: [closed], timeout: 2)
    }

    func testETagAnd304() throws {
        let stub = try StubDownstream(["/u": .init(body: #"{"name":"Ada","bio":"long text"}"#)])
        defer { stub.stop() }
        let gw = try compositeGateway(services: ["s": stub.port], endpoint: """
        {"name": "m", "path": "/m", "etag": true, "calls": {"u": {"service": "s", "path": "/u"}}, "response": {"name": "$u.name"}}
        """)
        defer { gw.stop() }
        let first = try gw.get("/m")
        let tag = try XCTUnwrap(first.headers["etag"])
        XCTAssertTrue(tag.hasPrefix("\"") && tag.hasSuffix("\""))
        let again = try gw.get("/m", headers: [("If-None-Match", "\"other\", \(tag)")])
        XCTAssertEqual(again.status, 304)
        XCTAssertTrue(again.body.isEmpty)
        XCTAssertEqual(again.headers["etag"], tag)
        XCTAssertEqual(try gw.get("/m", headers: [("If-None-Match", "\"stale\"")]).status, 200)
    }

    func testSchemaValidationModes() throws {
        let stub = try StubDownstream(["/u": .init(body: #"{"id":"not-a-number"}"#)])
        defer { stub.stop() }
        let endpoint = """
        {"name": "v", "path": "/v", "calls": {"u": {"service": "s", "path": "/u"}}, "response": {"id": "$u.id"},
         "schema": {"type": "object", "properties": {"id": {"type": "integer"}}}}
        """
        let enforce = try compositeGateway(services: ["s": stub.port], endpoint: endpoint, validation: "enforce")
        let r = try enforce.get("/v")
        XCTAssertEqual(r.status, 502)
        XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:response_schema_violation")
        enforce.stop()
        let log = try compositeGateway(services: ["s": stub.port], endpoint: endpoint, validation: "log")
        XCTAssertEqual(try log.get("/v").status, 200)
        XCTAssertEqual(log.gateway.validation.violations, 1)
        log.stop()
        let off = try compositeGateway(services: ["s": stub.port], endpoint: endpoint, validation: "off")
        XCTAssertEqual(try off.get("/v").status, 200)
        XCTAssertEqual(off.gateway.validation.violations, 0)
        off.stop()
    }
}
