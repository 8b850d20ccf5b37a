import XCTest
@testable import AggregationKit

/// The middleware chain: built once, runs in order around the handler, and can answer early.
final class MiddlewareTests: XCTestCase {
    struct Tag: Middleware {
        let name: String
        func handle(_ request: HTTPRequest, context: RequestContext, next: any HTTPHandler) async throws -> HTTPResponse {
            if request.headers["x-stop-at"] == name { return HTTPResponse(status: 403, contentType: "text/plain", body: "stopped by \(name)") }
            var response = try await next.handle(request, context: context)
            response.headers.add("X-Trace", name)
            return response
        }
    }

    func testChainOrderAndEarlyAnswerOverRealSockets() throws {
        LogBuffer.enabled = false
        let handler: any HTTPHandler = ClosureHandler { _, context in
            XCTAssertTrue(context.loop.inEventLoop, "handlers run on their connection's loop")
            return HTTPResponse(status: 200, contentType: "text/plain", body: "handled")
        }
        var config = ServerConfiguration()
        config.port = 0
        let server = HTTPServer(configuration: config, group: try EventLoopGroup(threads: 1),
                                handler: ([Tag(name: "outer"), Tag(name: "inner")] as [any Middleware]).chained(to: handler))
        try server.start()
        defer { server.shutdown(); server.group.shutdown() }
        let c = try RawClient(port: server.port)
        c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.text, "handled")
        XCTAssertEqual(r.headers.values("x-trace"), ["inner", "outer"])
        c.send("GET / HTTP/1.1\r\nHost: t\r\nX-Stop-At: inner\r\n\r\n")
        let stopped = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(stopped.status, 403)
        XCTAssertEqual(stopped.headers.values("x-trace"), ["outer"])
    }
}
