import Foundation
import Synchronization
import XCTest
@testable import AggregationKit

/// Reads parsed where they lie in the loop's read scratch (`HTTPServerConnection.processBuffer(read:)`,
/// `UpstreamConnection.parseInPlace`), over real sockets: whatever a read holds (several requests, a
/// head and part of its body, 64 KiB and more, a response and its body in pieces), every byte that
/// outlives the read must have been copied before the scratch is read into again.
final class InPlaceReadTests: XCTestCase {
    /// A checksum of body bytes (FNV-1a), echoed by the upstream and recomputed by the client.
    private static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in bytes { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    /// Body `i` of `n` bytes: different for every request, so a byte of another request shows.
    private static func body(_ i: Int, _ n: Int) -> [UInt8] {
        (0..<n).map { UInt8(truncatingIfNeeded: 97 + ($0 &* 7 &+ i &* 13) % 26) }
    }

    /// Our own server as the upstream: echoes the method, target, body length and checksum; `/big/N`
    /// answers N bytes (some of them sent by the kernel in several reads).
    private func startEcho() throws -> HTTPServer {
        LogBuffer.enabled = false
        var config = ServerConfiguration()
        config.port = 0
        config.accessLog = false
        let server = HTTPServer(configuration: config, group: try EventLoopGroup(threads: 1), handler: ClosureHandler { request, _ in
            let path = String(request.path)
            if path.hasPrefix("/plain/big/") || path.hasPrefix("/staged/big/"), let n = Int(path.split(separator: "/").last ?? "") {
                return HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/plain")]), body: Self.body(n, n))
            }
            return HTTPResponse(status: 200, contentType: "text/plain",
                                body: "\(request.method) \(request.target) \(request.body.count) \(Self.checksum(request.body))")
        })
        try server.start()
        return server
    }

    private struct Sent {
        let wire: [UInt8]
        let method: String
        /// What the response must be: its body, or for HEAD its `Content-Length`.
        let expected: [UInt8]
        let staged: Bool
    }

    /// One random request of the mix: a GET, a HEAD, a POST with a `Content-Length` body (0 bytes to
    /// 70 KB), a chunked POST, either with `Expect: 100-continue`, a `/healthz` (answered before
    /// `respond` returns), a GET of a response over 64 KiB; on a route with no stage or one with three
    /// (CORS, headers, methods).
    private static func request(_ i: Int, using g: inout SplitMix64) -> Sent {
        let staged = Bool.random(using: &g)
        let prefix = staged ? "/staged" : "/plain"
        let origin = staged && Bool.random(using: &g) ? "Origin: https://app.example.com\r\n" : ""
        let expect = Int.random(in: 0..<4, using: &g) == 0 ? "Expect: 100-continue\r\n" : ""
        switch Int.random(in: 0..<10, using: &g) {
        case 0:
            return Sent(wire: Array("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n".utf8), method: "GET", expected: Array(#"{"status":"ok"}"#.utf8), staged: false)
        case 1:
            let n = [65_536, 70_000, 200_000].randomElement(using: &g)!
            let target = "\(prefix)/big/\(n)"
            return Sent(wire: Array("GET \(target) HTTP/1.1\r\nHost: t\r\n\(origin)\r\n".utf8), method: "GET", expected: body(n, n), staged: staged)
        case 2:
            let target = "\(prefix)/head/\(i)"
            let echoed = "HEAD \(target) 0 \(checksum([]))"
            return Sent(wire: Array("HEAD \(target) HTTP/1.1\r\nHost: t\r\n\(origin)\r\n".utf8), method: "HEAD",
                        expected: Array(String(echoed.utf8.count).utf8), staged: staged)
        case 3, 4:
            let n = [0, 1, 100, 4000, 65_536, 70_000].randomElement(using: &g)!
            let b = body(i, n)
            let target = "\(prefix)/length/\(i)?n=\(n)"
            return Sent(wire: Array("POST \(target) HTTP/1.1\r\nHost: t\r\n\(origin)\(expect)Content-Length: \(n)\r\n\r\n".utf8) + b,
                        method: "POST", expected: Array("POST \(target) \(n) \(checksum(b))".utf8), staged: staged)
        case 5, 6:
            let n = [1, 10, 3000, 70_000].randomElement(using: &g)!
            let b = body(i, n)
            var wire = Array("POST \(prefix)/chunked/\(i) HTTP/1.1\r\nHost: t\r\n\(origin)\(expect)Transfer-Encoding: chunked\r\n\r\n".utf8)
            var at = 0
            while at < n {
                let size = min(n - at, Int.random(in: 1...20_000, using: &g))
                wire += Array("\(String(size, radix: 16))\r\n".utf8) + b[at..<at + size] + [13, 10]
                at += size
            }
            wire += Array("0\r\n\r\n".utf8)
            return Sent(wire: wire, method: "POST", expected: Array("POST \(prefix)/chunked/\(i) \(n) \(checksum(b))".utf8), staged: staged)
        default:
            let target = "\(prefix)/get/\(i)"
            return Sent(wire: Array("GET \(target) HTTP/1.1\r\nHost: t\r\n\(origin)\r\n".utf8), method: "GET",
                        expected: Array("GET \(target) 0 \(checksum([]))".utf8), staged: staged)
        }
    }

    /// Batches of 40 pipelined requests of the mix, written at once or in random pieces (cut anywhere:
    /// mid-line, mid-chunk, between requests), on one connection: every response comes in order, with its
    /// own body, and the staged route's fields on the staged ones only.
    func testPipelinedMixedRequestsAreEachAnsweredInOrderWithTheirOwnBody() throws {
        let echo = try startEcho()
        defer { echo.shutdown(); echo.group.shutdown() }
        let gateway = try TestGateway("""
        {
          "listen": {"host": "127.0.0.1", "port": 0},
          "services": {"down": {"instances": ["127.0.0.1:\(echo.port)"], "connectTimeoutMs": 2000, "responseTimeoutMs": 10000}},
          "routes": [
            {"name": "staged", "path": "/staged/*", "proxy": {"service": "down"},
             "policy": {"methods": ["GET", "POST"], "cors": {"allowOrigins": ["https://app.example.com"]},
                        "headers": {"response": {"add": {"X-Staged": "yes"}}}}},
            {"name": "plain", "path": "/plain/*", "proxy": {"service": "down"}, "policy": null}
          ]
        }
        """)
        defer { gateway.stop() }
        var g = SplitMix64(seed: 6)
        for batch in 0..<6 {
            let requests = (0..<40).map { Self.request(batch * 100 + $0, using: &g) }
            let wire = requests.flatMap(\.wire)
            // Batch 0: one write; the others in 1 to 40 random pieces with short pauses between them.
            var cuts: [Int] = []
            if batch > 0 {
                cuts = (0..<Int.random(in: 1...40, using: &g)).map { _ in Int.random(in: 1..<wire.count, using: &g) }.sorted()
            }
            let client = try RawClient(port: gateway.port, timeoutSeconds: 20)
            let fd = client.fd, pieces = cuts + [wire.count]
            let writer = Thread {
                var from = 0
                for cut in pieces where cut > from {
                    sendAll(Array(wire[from..<cut]), to: fd)
                    from = cut
                    usleep(1000)
                }
            }
            writer.start()
            for (i, sent) in requests.enumerated() {
                var response = client.readResponse(head: sent.method == "HEAD", maxBodyBytes: 1 << 21)
                while response?.status == 100 { response = client.readResponse(head: sent.method == "HEAD", maxBodyBytes: 1 << 21) }
                guard let r = response else { return XCTFail("batch \(batch), request \(i): no response") }
                XCTAssertEqual(r.status, 200, "batch \(batch), request \(i): \(r.text.prefix(200))")
                if sent.method == "HEAD" {
                    XCTAssertTrue(r.body.isEmpty)
                    XCTAssertEqual(r.headers["content-length"], String(decoding: sent.expected, as: UTF8.self), "batch \(batch), request \(i)")
                } else if r.body != sent.expected {
                    return XCTFail("batch \(batch), request \(i): expected \(String(decoding: sent.expected.prefix(80), as: UTF8.self)), got \(r.text.prefix(80)) (\(r.body.count) bytes)")
                }
                XCTAssertEqual(r.headers["x-staged"], sent.staged ? "yes" : nil, "batch \(batch), request \(i)")
                XCTAssertEqual(r.headers.values("via").count, sent.expected.starts(with: Array("{\"status\"".utf8)) ? 0 : 1)
            }
        }
    }

    /// Responses larger than the 64 KiB scratch, framed each way (length, chunked with chunks across the
    /// reads' edges, close-delimited), written whole or in pieces, one after another on one kept upstream
    /// connection (close-delimited ones end it): each arrives whole and the next is not disturbed.
    func testResponsesLargerThanTheScratchArriveWholeOverAKeptConnection() throws {
        let sizes = [65_535, 65_536, 65_537, 131_072, 300_000]
        let upstream = try ScriptedUpstream { request in
            // /<framing>/<size>/<pieces>
            let parts = request.target.split(separator: "/")
            let framing = String(parts[0]), n = Int(parts[1])!, pieces = Int(parts[2])!
            let body = Self.body(n, n)
            var bytes: [UInt8]
            switch framing {
            case "chunked":
                bytes = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
                var at = 0, size = 1
                while at < n {
                    // Chunks of growing sizes: edges fall anywhere in the reads.
                    let s = min(n - at, size)
                    bytes += Array("\(String(s, radix: 16))\r\n".utf8) + body[at..<at + s] + [13, 10]
                    at += s
                    size = size * 3 + 1
                }
                bytes += Array("0\r\n\r\n".utf8)
            case "close":
                bytes = Array("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".utf8) + body
            default:
                bytes = Array("HTTP/1.1 200 OK\r\nContent-Length: \(n)\r\n\r\n".utf8) + body
            }
            var steps: [ScriptedUpstream.Step] = []
            let step = (bytes.count + pieces - 1) / pieces
            var from = 0
            while from < bytes.count {
                steps.append(.send(Array(bytes[from..<min(bytes.count, from + step)])))
                steps.append(.pause(milliseconds: 2))
                from += step
            }
            if framing == "close" { steps.append(.close) }
            return steps
        }
        defer { upstream.stop() }
        let gateway = try TestGateway(proxyConfig(port: upstream.port, pool: "\"maxConnections\": 1"))
        defer { gateway.stop() }
        let client = try RawClient(port: gateway.port, timeoutSeconds: 20)
        var expectedConnections = 1
        for framing in ["length", "chunked", "length", "close", "chunked"] {
            for n in sizes {
                for pieces in [1, 3] {
                    client.send("GET /\(framing)/\(n)/\(pieces) HTTP/1.1\r\nHost: t\r\n\r\n")
                    guard let r = client.readResponse(maxBodyBytes: 1 << 21) else { return XCTFail("\(framing) \(n) in \(pieces): no response") }
                    XCTAssertEqual(r.status, 200, "\(framing) \(n) in \(pieces): \(r.text.prefix(200))")
                    XCTAssertEqual(r.body.count, n, "\(framing) \(n) in \(pieces)")
                    XCTAssertTrue(r.body == Self.body(n, n), "\(framing) \(n) in \(pieces): the body differs")
                    if framing == "close" { expectedConnections += 1 }
                }
            }
        }
        // Every close-delimited response ended its connection; the others kept theirs.
        XCTAssertEqual(upstream.accepted, expectedConnections)
    }
}
