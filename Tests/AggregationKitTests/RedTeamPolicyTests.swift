import XCTest
import Foundation
@testable import AggregationKit

/// Hostile clients against the per-route policies, over real sockets on 127.0.0.1 (a gateway in front
/// of the echoing Python downstream).
final class RedTeamPolicyTests: XCTestCase {
    var downstream: Downstream!
    var gateway: TestGateway!

    override func setUpWithError() throws {
        downstream = try Downstream()
        gateway = try TestGateway("""
        {
          "listen": {"host": "127.0.0.1", "port": 0},
          "timeouts": {"headerMs": 2000, "bodyMs": 2000},
          "services": {"down": {"instances": ["127.0.0.1:\(downstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "routes": [
            {"name": "upload", "method": "POST", "path": "/upload", "proxy": {"service": "down"}, "policy": {"maxBodyBytes": 16}},
            {"name": "rest", "path": "/*", "proxy": {"service": "down"}}
          ]
        }
        """)
    }

    override func tearDown() {
        gateway?.stop()
        downstream?.stop()
    }

    /// An absolute-form target (`POST http://gw/upload`) is routed like its origin form, so the route's
    /// body limit must refuse it from the head too: before, the gateway answered `100 Continue` and
    /// waited for (and buffered, up to the server's limit) a body the route would refuse.
    func testAbsoluteFormRequestIsRefusedFromTheHeadByTheRouteBodyLimit() throws {
        let c = try RawClient(port: gateway.port)
        c.send("POST http://gw/upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse(), "no answer to the head")
        XCTAssertEqual(r.status, 413, "the body limit applies before the body is read")
        XCTAssertEqual(r.problemCode, "body_too_large")

        // The same request in origin form, for comparison.
        let o = try RawClient(port: gateway.port)
        o.send("POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        XCTAssertEqual(o.readResponse()?.status, 413)
    }
}
