import XCTest
import Foundation
import Synchronization
@testable import AggregationKit

/// An upstream that reads each request's head and never answers; it counts the requests and the
/// connections the gateway closed on it.
final class SilentUpstream: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let state = Mutex<(requests: Int, closed: Int)>((0, 0))

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 128) == 0 else { close(fd); throw TestError("cannot listen") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        listener = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread { [self] in
            while true {
                let c = accept(listener, nil, nil)
                if c < 0 { return }
                Thread { [self] in serve(c) }.start()
            }
        }.start()
    }

    var requests: Int { state.withLock { $0.requests } }
    var closedByGateway: Int { state.withLock { $0.closed } }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var seen: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var counted = false
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 {
                state.withLock { $0.closed += 1 }
                return
            }
            if !counted {
                seen += buffer[0..<n]
                if seen.count >= 4, (0...(seen.count - 4)).contains(where: { seen[$0] == 13 && seen[$0 + 1] == 10 && seen[$0 + 2] == 13 && seen[$0 + 3] == 10 }) {
                    counted = true
                    state.withLock { $0.requests += 1 }
                }
            }
        }
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}

/// A request's work ends with its client: when the client closes before the answer, the request's task
/// and its downstream calls are cancelled and their upstream connections closed, not kept.
final class ClientHangUpTests: XCTestCase {
    func testACompositeRequestsCallsAreCancelledWhenItsClientHangsUp() throws {
        try hangUp(ignoreClientAbort: false)
    }

    /// With `ignoreClientAbort` the calls run on (the control: the test above is not passing by accident).
    func testWithIgnoreClientAbortTheCallsRunOn() throws {
        try hangUp(ignoreClientAbort: true)
    }

    private func hangUp(ignoreClientAbort: Bool) throws {
        let upstream = try SilentUpstream()
        defer { upstream.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-hangup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
        try """
        {"listen": {"host": "127.0.0.1", "port": 0}, "routes": [], "ignoreClientAbort": \(ignoreClientAbort), "timeouts": {"drainMs": 100},
         "services": {"s": {"instances": ["127.0.0.1:\(upstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 60000}}}
        """.write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        try """
        {"name": "five", "path": "/five", "deadlineMs": 60000, "calls": {
           "a": {"service": "s", "path": "/a"}, "b": {"service": "s", "path": "/b"}, "c": {"service": "s", "path": "/c"},
           "d": {"service": "s", "path": "/d"}, "e": {"service": "s", "path": "/e"}},
         "response": {"a": "$a"}}
        """.write(to: dir.appendingPathComponent("endpoints/five.json"), atomically: true, encoding: .utf8)
        let gw = try TestGateway(directory: dir.path)
        defer { gw.stop() }
        let client = try RawClient(port: gw.port)
        client.send("GET /five HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(eventually(timeout: 10) { upstream.requests == 5 }, "the five calls reached the upstream")
        XCTAssertEqual(upstream.closedByGateway, 0)
        shutdown(client.fd, Int32(SHUT_RDWR))  // the client hangs up (its descriptor is closed with it)
        if ignoreClientAbort {
            XCTAssertFalse(eventually(timeout: 1) { upstream.closedByGateway > 0 }, "the calls run on")
        } else {
            XCTAssertTrue(eventually(timeout: 10) { upstream.closedByGateway == 5 },
                          "the five upstream connections were closed when the client went away (closed: \(upstream.closedByGateway))")
        }
        // The gateway is still fine, and no connection of the cancelled calls is reused.
        XCTAssertEqual(try gw.get("/healthz").status, 200)
    }
}
