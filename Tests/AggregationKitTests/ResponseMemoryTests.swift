import XCTest
import Foundation
@testable import AggregationKit

/// Memory held for slow readers, over real sockets: large responses count against one process-wide
/// budget, and a reader slower than the minimum rate is dropped.
final class ResponseMemoryTests: XCTestCase {
    /// 6 MiB responses, an 8 MiB budget: a client that does not read holds its response (most of it in
    /// user space, the kernel buffers take about 4 MiB at most), so the next large response gets 503 at
    /// once instead of growing the process; once the first client reads, large responses flow again.
    func testLargeResponsesPastTheBudgetFailFast() throws {
        let downstream = try Downstream()
        defer { downstream.stop() }
        let config = proxyConfig(port: downstream.port).replacingOccurrences(of: "\"listen\"",
            with: "\"limits\": {\"maxBufferedResponseBytes\": 8388608, \"minSendBytesPerSecond\": 0}, \"listen\"")
        let gateway = try TestGateway(config)
        defer { gateway.stop() }
        let size = 6 << 20
        let stalled = try RawClient(port: gateway.port, timeoutSeconds: 20, receiveBuffer: 4096)
        stalled.send("GET /bytes?n=\(size) HTTP/1.1\r\nHost: t\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.5)
        let next = try RawClient(port: gateway.port, timeoutSeconds: 20)
        next.send("GET /bytes?n=\(size) HTTP/1.1\r\nHost: t\r\n\r\n")
        let refused = try XCTUnwrap(next.readResponse())
        XCTAssertEqual(refused.status, 503, refused.text)
        XCTAssertTrue(refused.text.contains("budget"), refused.text)
        // Small responses are not affected.
        let small = try RawClient(port: gateway.port)
        small.send("GET /bytes?n=1000 HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(small.readResponse()?.status, 200)
        // The stalled client reads its response: the budget comes back.
        let first = try XCTUnwrap(stalled.readResponse(maxBodyBytes: 16 << 20))
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first.body.count, size)
        next.send("GET /bytes?n=\(size) HTTP/1.1\r\nHost: t\r\n\r\n")
        let again = try XCTUnwrap(next.readResponse(maxBodyBytes: 16 << 20))
        XCTAssertEqual(again.status, 200)
        XCTAssertEqual(again.body.count, size)
    }

    /// A client that reads 4 KiB every 100 ms (40 KB/s) while the minimum is 200 KB/s over 500 ms windows
    /// is dropped within a few windows; before, it kept making progress and held its response for minutes.
    func testTrickleReaderIsDropped() throws {
        let downstream = try Downstream()
        defer { downstream.stop() }
        let config = proxyConfig(port: downstream.port).replacingOccurrences(of: "\"listen\"",
            with: "\"limits\": {\"minSendBytesPerSecond\": 200000, \"sendRateWindowMs\": 500}, \"listen\"")
        let gateway = try TestGateway(config)
        defer { gateway.stop() }
        let slow = try RawClient(port: gateway.port, timeoutSeconds: 20, receiveBuffer: 4096)
        slow.send("GET /bytes?n=\(8 << 20) HTTP/1.1\r\nHost: t\r\n\r\n")
        let started = Date()
        var total = 0
        var chunk = [UInt8](repeating: 0, count: 4096)
        while Date().timeIntervalSince(started) < 30 {
            let n = recv(slow.fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            total += n
            usleep(100_000)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 15, "dropped well before the 8 MiB were read")
        XCTAssertLessThan(total, 8 << 20)
        XCTAssertEqual(gateway.gateway.configuration.server.responseBudget.inUse, 0, "the dropped response's budget is back")
    }
}
