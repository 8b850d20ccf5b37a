import XCTest
@testable import AggregationKit

final class UpstreamConnectionTests: XCTestCase {
    /// Reused only after a clean keep-alive response with a body the request could have: never after HEAD,
    /// 204 or 304 (a misbehaving upstream sends a body anyway), never with bytes left over, never when the
    /// upstream answered before the request was fully written (it still expects the rest of the body),
    /// never when the service says `pool.reuse: false`.
    func testReuseDecision() {
        func reuse(_ status: Int = 200, head: Bool = false, keepAlive: Bool = true, leftover: Int = 0, sent: Bool = true,
                   policy: Bool = true) -> Bool {
            UpstreamConnection.mayReuse(status: status, requestWasHead: head, keepAlive: keepAlive, leftoverBytes: leftover,
                                        requestFullySent: sent, reuseConnections: policy)
        }
        XCTAssertTrue(reuse())
        XCTAssertTrue(reuse(404))
        XCTAssertFalse(reuse(head: true))
        XCTAssertFalse(reuse(204))
        XCTAssertFalse(reuse(304))
        XCTAssertFalse(reuse(keepAlive: false))
        XCTAssertFalse(reuse(leftover: 1))
        XCTAssertFalse(reuse(sent: false))
        XCTAssertFalse(reuse(401, sent: false))
        XCTAssertFalse(reuse(policy: false))
    }
}
