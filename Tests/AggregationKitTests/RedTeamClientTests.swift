import Foundation
import Synchronization
import XCTest
@testable import AggregationKit

// Red-team findings against the issue 6 fixes: each test here FAILS on the branch it was written on
// (redteam, = main after the hard-client / hard-proxy / hard-json merges) and describes what an outside
// auditor would still get through. Fixing the product code should make them pass unchanged.

// MARK: - An upstream that answers before it has read the request body

/// A raw-socket upstream with a tiny receive buffer. A `POST` is answered at once, as soon as its head
/// has arrived (as servers do for 401/413, or any handler that answers before reading the body), and the
/// body is then read and discarded exactly as its `Content-Length` says (what a correct keep-alive server
/// does). Anything else is answered `second`.
private final class EarlyAnswerUpstream: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let stopped = Atomic<Bool>(false)
    private let state = Mutex<(accepted: Int, heads: [String])>((0, []))

    init() throws {
        // SO_RCVBUF is inherited by accepted sockets: the gateway cannot push the whole body into our buffers.
        (listener, port) = try loopbackListener(backlog: 16, receiveBuffer: 4096)
        Thread { [self] in
            while !stopped.load(ordering: .acquiring) {
                let c = accept(listener, nil, nil)
                if c < 0 { if errno == EINTR { continue }; return }
                state.withLock { $0.accepted += 1 }
                Thread { [self] in serve(c) }.start()
            }
        }.start()
    }

    var accepted: Int { state.withLock { $0.accepted } }
    /// Request lines seen, in order.
    var heads: [String] { state.withLock { $0.heads } }

    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        func fill() -> Bool {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
        while true {
            var end: Int? = nil
            while end == nil {
                if buffer.count >= 4 {
                    for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 { end = i; break }
                }
                if end == nil && !fill() { return }
            }
            let head = String(decoding: buffer[0..<end!], as: UTF8.self)
            buffer.removeFirst(end! + 4)
            let lines = head.components(separatedBy: "\r\n")
            state.withLock { $0.heads.append(lines[0]) }
            var length = 0
            for line in lines.dropFirst() where line.lowercased().hasPrefix("content-length:") {
                length = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0
            }
            if lines[0].hasPrefix("POST") {
                sendAll(Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly".utf8), to: fd)
                // Let the gateway pass the answer on and take its next request before we read on.
                usleep(400_000)
                while buffer.count < length { if !fill() { return } }
                buffer.removeFirst(length)
            } else {
                sendAll(Array("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond".utf8), to: fd)
            }
        }
    }
}

/// Item 1, a timing the fix did not cover: the response completes while the gateway is still writing the
/// request body. The connection is released as reusable with part of the body unsent; the next request
/// is written in its place (`UpstreamConnection.send` empties `outgoing`), so the upstream reads the next
/// request's head as the rest of the previous body: a desynchronised connection.
final class RedTeamEarlyResponseTests: XCTestCase {
    func testAnAnswerBeforeTheBodyIsWrittenDoesNotLeaveTheConnectionOutOfStep() throws {
        let upstream = try EarlyAnswerUpstream()
        defer { upstream.stop() }
        // A body larger than loopback's socket buffers can take at once (about 3 MB here).
        let config = proxyConfig(port: upstream.port, pool: "\"maxConnections\": 1")
            .replacingOccurrences(of: "\"services\": {", with: "\"limits\": {\"maxBodyBytes\": 16777216}, \"services\": {")
        let gateway = try TestGateway(config)
        defer { gateway.stop() }

        let body = String(repeating: "b", count: 8_000_000)
        let a = try RawClient(port: gateway.port, timeoutSeconds: 15)
        a.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        let first = try XCTUnwrap(a.readResponse())
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first.text, "early")

        let b = try RawClient(port: gateway.port, timeoutSeconds: 15)
        b.send("GET /second HTTP/1.1\r\nHost: t\r\n\r\n")
        let second = try XCTUnwrap(b.readResponse())
        // Today: 504 after the response timeout: the upstream swallowed `GET /second` as body bytes of the
        // POST (its body was cut short by the gateway) and waits for the rest.
        XCTAssertEqual(second.status, 200, second.text)
        XCTAssertEqual(second.text, "second")
        XCTAssertEqual(upstream.heads.last, "GET /second HTTP/1.1")
    }
}

