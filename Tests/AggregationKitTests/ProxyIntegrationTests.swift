import XCTest
import Foundation
@testable import AggregationKit

/// The gateway over real sockets on 127.0.0.1, in front of a real downstream (Python's HTTP/1.1 server).
final class ProxyIntegrationTests: XCTestCase {
    var downstream: Downstream!
    var gateway: TestGateway!

    override func setUpWithError() throws {
        downstream = try Downstream()
        gateway = try TestGateway(proxyConfig(port: downstream.port, timeouts: "\"headerMs\": 1000, \"bodyMs\": 1000"))
    }

    override func tearDown() {
        gateway?.stop()
        downstream?.stop()
    }

    private func stats() throws -> (connections: Int, requests: Int) {
        let s = try gateway.get("/stats").json
        return (s?["connections"]?.numberValue?.intValue ?? -1, s?["requests"]?.numberValue?.intValue ?? -1)
    }

    func testForwardsWithProxyHeadersAndStripsHopByHop() throws {
        let client = try RawClient(port: gateway.port)
        client.send("GET /echo/a?b=1 HTTP/1.1\r\nHost: shop.example\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=3\r\nTE: trailers\r\nX-Request-ID: abc-123\r\nX-Custom: kept\r\n\r\n")
        let r = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(r.status, 200)
        let echo = try XCTUnwrap(r.json)
        XCTAssertEqual(echo["path"]?.stringValue, "/echo/a?b=1")
        var sent: [String: String] = [:]
        for pair in echo["headers"]?.arrayValue ?? [] { sent[pair.arrayValue![0].stringValue!.lowercased()] = pair.arrayValue![1].stringValue! }
        XCTAssertEqual(sent["x-forwarded-for"], "127.0.0.1")
        XCTAssertEqual(sent["x-forwarded-proto"], "http")
        XCTAssertEqual(sent["x-forwarded-host"], "shop.example")
        XCTAssertEqual(sent["via"], "1.1 bff-gateway")
        XCTAssertEqual(sent["x-request-id"], "abc-123")
        XCTAssertEqual(sent["x-custom"], "kept")
        XCTAssertEqual(sent["host"], "127.0.0.1:\(downstream.port)")
        XCTAssertNil(sent["x-secret"], "a header named by Connection is hop-by-hop")
        XCTAssertNil(sent["keep-alive"])
        XCTAssertNil(sent["te"])
        // Response side: the downstream's hop-by-hop fields do not reach the client.
        XCTAssertNil(r.headers["x-hop"])
        XCTAssertNil(r.headers["keep-alive"])
        XCTAssertEqual(r.headers["via"], "1.1 bff-gateway")
        XCTAssertEqual(r.headers["x-request-id"], "abc-123")
    }

    func testObsTextHeaderBytesAreForwardedUnchanged() throws {
        let client = try RawClient(port: gateway.port)
        // 0xE9 is "é" in ISO-8859-1 and invalid as UTF-8: it must reach upstream as the same single byte.
        client.send(Array("GET /echo HTTP/1.1\r\nHost: t\r\nX-Latin: caf".utf8) + [0xE9] + Array("\r\n\r\n".utf8))
        let r = try XCTUnwrap(client.readResponse())
        var sent: [String: String] = [:]
        for pair in r.json?["headers"]?.arrayValue ?? [] { sent[pair.arrayValue![0].stringValue!.lowercased()] = pair.arrayValue![1].stringValue! }
        XCTAssertEqual(sent["x-latin"], "caf\u{e9}", "Python decodes header bytes as ISO-8859-1: one byte 0xE9")
    }

    func testGeneratesRequestIDWhenMissingOrInvalid() throws {
        let a = try gateway.get("/echo")
        let b = try gateway.get("/echo", headers: [("X-Request-ID", "bad id with spaces")])
        let idA = try XCTUnwrap(a.headers["x-request-id"]), idB = try XCTUnwrap(b.headers["x-request-id"])
        XCTAssertNotEqual(idA, idB)
        XCTAssertNotEqual(idB, "bad id with spaces")
    }

    func testKeepAliveReusesOneUpstreamConnection() throws {
        let before = try stats()
        let client = try RawClient(port: gateway.port)
        for i in 0..<50 {
            client.send("GET /echo/\(i) HTTP/1.1\r\nHost: t\r\n\r\n")
            let r = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(r.status, 200)
        }
        let after = try stats()
        XCTAssertEqual(after.requests - before.requests, 51)
        XCTAssertEqual(after.connections, before.connections, "all requests went over the pooled connection")
        XCTAssertEqual(after.connections, 1)
    }

    func testPipelinedRequestsAnsweredInOrder() throws {
        let client = try RawClient(port: gateway.port)
        client.send("GET /echo/1 HTTP/1.1\r\nHost: t\r\n\r\nGET /slow?ms=200 HTTP/1.1\r\nHost: t\r\n\r\nGET /echo/3 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r1 = try XCTUnwrap(client.readResponse())
        let r2 = try XCTUnwrap(client.readResponse())
        let r3 = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(r1.json?["path"]?.stringValue, "/echo/1")
        XCTAssertEqual(r2.json?["slow"], .bool(true))
        XCTAssertEqual(r3.json?["path"]?.stringValue, "/echo/3")
    }

    func testChunkedRequestBodyAndChunkedResponse() throws {
        let client = try RawClient(port: gateway.port)
        client.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n")
        let r = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(r.json?["body"]?.stringValue, "hello, world")
        var sent: [String: String] = [:]
        for pair in r.json?["headers"]?.arrayValue ?? [] { sent[pair.arrayValue![0].stringValue!.lowercased()] = pair.arrayValue![1].stringValue! }
        XCTAssertEqual(sent["content-length"], "12", "de-chunked and sent with Content-Length")
        XCTAssertNil(sent["transfer-encoding"])
        client.send("GET /chunked HTTP/1.1\r\nHost: t\r\n\r\n")
        let c = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(c.text, "hello chunked world")
        XCTAssertEqual(c.headers["content-length"], "19")
    }

    func testHeadHasNoBody() throws {
        let client = try RawClient(port: gateway.port)
        client.send("HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\nGET /echo/after HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try XCTUnwrap(client.readResponse(head: true))
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.body.isEmpty)
        XCTAssertNotNil(head.headers["content-length"])
        let next = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(next.json?["path"]?.stringValue, "/echo/after", "no stray body bytes between the two responses")
    }

    func testExpectContinue() throws {
        let client = try RawClient(port: gateway.port)
        client.send("PUT /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        let interim = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(interim.status, 100)
        client.send("data")
        let r = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(r.json?["body"]?.stringValue, "data")
        XCTAssertEqual(r.json?["method"]?.stringValue, "PUT")
    }

    func testHTTP10ClosesUnlessKeepAlive() throws {
        let a = try RawClient(port: gateway.port)
        a.send("GET /echo HTTP/1.0\r\n\r\n")
        let r = try XCTUnwrap(a.readResponse())
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["connection"], "close")
        XCTAssertTrue(a.waitForClose())
        let b = try RawClient(port: gateway.port)
        b.send("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(b.readResponse()?.headers["connection"], "keep-alive")
        b.send("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(b.readResponse()?.status, 200)
    }

    func testConnectionCloseIsHonoured() throws {
        let c = try RawClient(port: gateway.port)
        c.send("GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.headers["connection"], "close")
        XCTAssertTrue(c.waitForClose())
    }

    func testMalformedRequestGets400ProblemAndClose() throws {
        let c = try RawClient(port: gateway.port)
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(r.headers["content-type"], "application/problem+json")
        XCTAssertEqual(r.json?["status"]?.numberValue?.intValue, 400)
        XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:content_length_and_transfer_encoding")
        XCTAssertEqual(r.headers["connection"], "close")
        XCTAssertTrue(c.waitForClose())
        let v = try RawClient(port: gateway.port)
        v.send("GET / HTTP/2.0\r\nHost: t\r\n\r\n")
        XCTAssertEqual(v.readResponse()?.status, 505)
    }

    func testUpstreamStatusAndBodyPassThrough() throws {
        let r = try gateway.get("/status/418")
        XCTAssertEqual(r.status, 418)
        XCTAssertEqual(r.json?["status"]?.numberValue?.intValue, 418)
    }

    func testUpstreamClosingConnectionIsNotReused() throws {
        let client = try RawClient(port: gateway.port)
        for _ in 0..<3 {
            client.send("GET /close HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.json?["closing"], .bool(true))
        }
    }

    func testSlowlorisClosedAtHeaderTimeoutWhileOthersAreServed() throws {
        let slow = try RawClient(port: gateway.port, timeoutSeconds: 5)
        let start = Date()
        let head = Array("GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: 1\r\n".utf8)
        var closedAt: TimeInterval? = nil
        var served = 0
        for byte in head {
            slow.send([byte])
            // Others are served while the slow client trickles.
            if try gateway.get("/echo").status == 200 { served += 1 }
            Thread.sleep(forTimeInterval: 0.1)
            var probe = pollfd(fd: slow.fd, events: Int16(POLLIN), revents: 0)
            if poll(&probe, 1, 0) > 0 {
                closedAt = Date().timeIntervalSince(start)
                break
            }
        }
        let response = slow.readResponse()
        XCTAssertEqual(response?.status, 408)
        XCTAssertTrue(slow.waitForClose())
        let elapsed = closedAt ?? Date().timeIntervalSince(start)
        XCTAssertGreaterThan(elapsed, 0.9)
        XCTAssertLessThan(elapsed, 2.5)
        XCTAssertGreaterThan(served, 3)
    }

    func testNoRouteAnd405() throws {
        gateway.stop()
        gateway = try TestGateway(proxyConfig(port: downstream.port, routes: """
            [{"name": "only-get", "method": "GET", "path": "/items/{id}", "proxy": {"service": "down", "path": "/echo/item/{id}"}}]
            """))
        let ok = try gateway.get("/items/42?x=1")
        XCTAssertEqual(ok.json?["path"]?.stringValue, "/echo/item/42?x=1")
        let missing = try gateway.get("/nothing")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.headers["content-type"], "application/problem+json")
        let c = try RawClient(port: gateway.port)
        c.send("DELETE /items/42 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 405)
        XCTAssertEqual(r.headers["allow"], "GET, HEAD")
        XCTAssertEqual(try gateway.get("/items/../admin").status, 400)
        let connect = try RawClient(port: gateway.port)
        connect.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        XCTAssertEqual(connect.readResponse()?.status, 501)
        XCTAssertTrue(connect.waitForClose(), "bytes after CONNECT are never parsed as HTTP")
        let trace = try RawClient(port: gateway.port)
        trace.send("TRACE /items/1 HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(trace.readResponse()?.status, 405)
        XCTAssertEqual(try gateway.get("/healthz").status, 200)
        XCTAssertEqual(try gateway.get("/readyz").status, 200)
    }
}

/// Upstream failures become problem documents with the right status.
final class UpstreamFailureTests: XCTestCase {
    func testConnectionRefusedIs502() throws {
        // A port that was just free: nothing listens there.
        let probe = try HTTPServer(configuration: { var c = ServerConfiguration(); c.port = 0; return c }(), group: EventLoopGroup(threads: 1), handler: ClosureHandler { _, _ in HTTPResponse(status: 200) })
        let port = try probe.start()
        probe.shutdown()
        probe.group.shutdown()
        let gateway = try TestGateway(proxyConfig(port: port))
        defer { gateway.stop() }
        let r = try gateway.get("/x")
        XCTAssertEqual(r.status, 502)
        XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:upstream_connect_failed")
        XCTAssertNotNil(r.json?["requestId"]?.stringValue)
    }

    func testResponseTimeoutIs504AndPoolQueueFullIs503() throws {
        let downstream = try Downstream()
        defer { downstream.stop() }
        let config = proxyConfig(port: downstream.port, pool: "\"maxConnections\": 1, \"maxWaiters\": 0").replacingOccurrences(of: "\"responseTimeoutMs\": 3000", with: "\"responseTimeoutMs\": 500")
        let gateway = try TestGateway(config)
        defer { gateway.stop() }
        let slow = try RawClient(port: gateway.port)
        slow.send("GET /slow?ms=2000 HTTP/1.1\r\nHost: t\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.1)
        let second = try gateway.get("/echo")
        XCTAssertEqual(second.status, 503, "the only connection is busy and no one may wait")
        XCTAssertEqual(second.json?["type"]?.stringValue, "urn:bff-gateway:problem:upstream_pool_exhausted")
        let first = try XCTUnwrap(slow.readResponse())
        XCTAssertEqual(first.status, 504)
        XCTAssertEqual(first.json?["type"]?.stringValue, "urn:bff-gateway:problem:upstream_response_timeout")
        // The timed-out connection was closed, not returned: the next request works on a new one.
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(try gateway.get("/echo").status, 200)
    }
}

/// Proxy routes behind synchronous stages stay on the task-free path; a suspending stage moves only its
/// request to a task. Same behaviour either way.
final class ProxyBehindStagesTests: XCTestCase {
    /// Stamps the route's name on the response, synchronously.
    struct Stamp: RequestStage {
        let name = "stamp"
        func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision { .proceed }
        func processResponse(_ response: inout HTTPResponse, request: HTTPRequest, context: RequestContext) {
            response.headers.add("X-Stamped", context.route ?? "-")
        }
    }
    /// Suspends when asked to by a header (as a stage that must fetch something would).
    struct MaybeSuspend: RequestStage {
        let name = "maybe-suspend"
        func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
            request.headers["x-suspend"] == nil ? .proceed : .suspend
        }
        func processAsync(_ request: inout HTTPRequest, context: RequestContext) async throws -> HTTPResponse? {
            await Task.yield()
            request.headers.add("X-Was-Suspended", "1")
            return nil
        }
    }

    func testProxyBehindSynchronousStagesTakesNoTask() throws {
        LogBuffer.enabled = false
        let downstream = try Downstream()
        defer { downstream.stop() }
        var config = try GatewayConfiguration.parse(Array(proxyConfig(port: downstream.port).utf8), file: "t.json")
        config.server.port = 0
        let gateway = try Gateway(configuration: config, group: try EventLoopGroup(threads: 1), stages: [Stamp(), MaybeSuspend()])
        let port = try gateway.start()
        defer { gateway.shutdown(); gateway.group.shutdown() }
        let loop = gateway.group.loops[0]
        let before = loop.execute(sync: { loop.requestTasksStarted })
        let c = try RawClient(port: port)
        for _ in 0..<3 {
            c.send("GET /echo/x HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n\r\n")
            let r = try XCTUnwrap(c.readResponse())
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.headers["x-stamped"], "all")
            XCTAssertEqual(r.headers["via"], "1.1 bff-gateway")
            XCTAssertFalse(r.text.contains("X-Secret"))
        }
        XCTAssertEqual(loop.execute(sync: { loop.requestTasksStarted }), before, "synchronous stages keep proxy routes task-free")
        c.send("GET /echo/x HTTP/1.1\r\nHost: t\r\nX-Suspend: 1\r\n\r\n")
        let suspended = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(suspended.status, 200)
        XCTAssertEqual(suspended.headers["x-stamped"], "all", "stages before the suspension see the response")
        XCTAssertTrue(suspended.text.lowercased().contains("x-was-suspended"), "the async part's change reached upstream")
        XCTAssertEqual(loop.execute(sync: { loop.requestTasksStarted }), before + 1, "a suspending stage takes one task")
        c.send("GET /status/503 HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 503)
    }
}
