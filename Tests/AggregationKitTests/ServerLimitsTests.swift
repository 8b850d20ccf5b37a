import XCTest
import Synchronization
import Foundation
@testable import AggregationKit

/// Timeouts and limits of the server, over real sockets, with a built-in handler (no downstream).
final class ServerLimitsTests: XCTestCase {
    private func startServer(_ configure: (inout ServerConfiguration) -> Void) throws -> HTTPServer {
        LogBuffer.enabled = false
        var c = ServerConfiguration()
        c.port = 0
        c.accessLog = false
        configure(&c)
        let server = HTTPServer(configuration: c, group: try EventLoopGroup(threads: 1), handler: ClosureHandler { request, _ in
            HTTPResponse(status: 200, contentType: "text/plain", body: "\(request.method) \(request.target) \(request.body.count)")
        })
        try server.start()
        return server
    }

    private func stop(_ server: HTTPServer) {
        server.shutdown()
        server.group.shutdown()
    }

    func testIdleKeepAliveConnectionIsClosed() throws {
        let server = try startServer { $0.idleTimeout = 300_000_000 }
        defer { stop(server) }
        let c = try RawClient(port: server.port, timeoutSeconds: 3)
        c.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 200)
        let start = Date()
        XCTAssertTrue(c.waitForClose())
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThan(elapsed, 0.2)
        XCTAssertLessThan(elapsed, 1.5)
    }

    /// A valid chunked body in 1-byte chunks is 6 bytes on the wire per body byte: 400 KB of body is
    /// 2.4 MB of framing, more than the raw buffer may hold. The body limit applies to the decoded body,
    /// so the request succeeds (before, reading paused with a full buffer and nothing resumed it: 408).
    func testBodyInOneByteChunksWithinTheLimitSucceeds() throws {
        let server = try startServer { $0.limits.maxBodyBytes = 1 << 20 }
        defer { stop(server) }
        let c = try RawClient(port: server.port, timeoutSeconds: 20)
        var wire = Array("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        wire.reserveCapacity(2_500_000)
        for _ in 0..<400_000 { wire += [49, 13, 10, 97, 13, 10] }   // "1\r\na\r\n"
        wire += Array("0\r\n\r\n".utf8)
        c.send(wire)
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "POST /upload 400000")
        // The decoded body is still limited: 1 MiB + 1 byte in small chunks is refused.
        let big = try RawClient(port: server.port, timeoutSeconds: 20)
        var tooBig = Array("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        for _ in 0..<((1 << 20) / 4096 + 1) { tooBig += Array("1000\r\n".utf8) + [UInt8](repeating: 97, count: 4096) + [13, 10] }
        tooBig += Array("0\r\n\r\n".utf8)
        big.send(tooBig)
        XCTAssertEqual(big.readResponse()?.status, 413)
    }

    func testSlowBodyGets408() throws {
        let server = try startServer { $0.bodyTimeout = 300_000_000 }
        defer { stop(server) }
        let c = try RawClient(port: server.port, timeoutSeconds: 3)
        c.send("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 408)
        XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:body_timeout")
        XCTAssertTrue(c.waitForClose())
    }

    func testConnectionCapHoldsNewConnectionsUntilOneCloses() throws {
        let server = try startServer { $0.maxConnections = 2 }
        defer { stop(server) }
        let a = try RawClient(port: server.port), b = try RawClient(port: server.port)
        for c in [a, b] {
            c.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(c.readResponse()?.status, 200)
        }
        let third = try RawClient(port: server.port, timeoutSeconds: 1)
        third.send("GET /third HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertNil(third.readResponse(), "not accepted while two connections are open")
        XCTAssertEqual(server.connectionCount, 2)
        a.send("GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(a.readResponse()?.status, 200)
        // The third connection is accepted once the first is gone, and its waiting request answered.
        var answered: HTTPResponse? = nil
        for _ in 0..<3 where answered == nil { answered = third.readResponse() }
        XCTAssertEqual(answered?.text, "GET /third 0")
    }

    func testManyPipelinedRequestsAreAnsweredInOrderWithBoundedBuffering() throws {
        let server = try startServer { config in
            config.limits.maxHeaderBytes = 1024
            config.limits.maxBodyBytes = 1024
        }
        defer { stop(server) }
        let c = try RawClient(port: server.port, timeoutSeconds: 5)
        // ~200 KB of pipelined requests in one go: far more than the server buffers (about 66 KB here);
        // it stops reading until it has answered, and the kernel's buffers hold the rest.
        var batch = ""
        for i in 0..<2000 { batch += "POST /r\(i) HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\n\r\n" + String(repeating: "x", count: 40) }
        let payload = Array(batch.utf8)
        let fd = c.fd
        let writer = Thread { sendAll(payload, to: fd) }
        writer.start()
        for i in 0..<2000 {
            guard let r = c.readResponse() else { return XCTFail("response \(i) missing") }
            XCTAssertEqual(r.text, "POST /r\(i) 40")
            if r.text != "POST /r\(i) 40" { break }
        }
    }

    func testOversizedRequestsGetTheirOwnStatus() throws {
        let server = try startServer { config in
            config.limits.maxRequestLineBytes = 100
            config.limits.maxHeaderBytes = 300
            config.limits.maxBodyBytes = 10
        }
        defer { stop(server) }
        for (request, status) in [
            ("GET /\(String(repeating: "a", count: 200)) HTTP/1.1\r\nHost: t\r\n\r\n", 414),
            ("GET / HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "b", count: 400))\r\n\r\n", 431),
            ("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n", 413),
        ] {
            let c = try RawClient(port: server.port)
            c.send(request)
            let r = try XCTUnwrap(c.readResponse())
            XCTAssertEqual(r.status, status)
            XCTAssertEqual(r.headers["content-type"], "application/problem+json")
            XCTAssertTrue(c.waitForClose())
        }
    }
}

/// A client that stops reading: the response cannot be written, and the write timeout drops the connection.
final class WriteTimeoutTests: XCTestCase {
    func testStalledReaderIsDroppedAtTheWriteTimeout() throws {
        LogBuffer.enabled = false
        var c = ServerConfiguration()
        c.port = 0
        c.writeTimeout = 300_000_000
        let big = [UInt8](repeating: 120, count: 64 * 1024 * 1024)
        let server = HTTPServer(configuration: c, group: try EventLoopGroup(threads: 1), handler: ClosureHandler { _, _ in
            HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/plain")]), body: big)
        })
        try server.start()
        defer { server.shutdown(); server.group.shutdown() }
        let client = try RawClient(port: server.port, timeoutSeconds: 5)
        var small: Int32 = 4096
        setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &small, 4)
        client.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        // Never read: after the kernel buffers fill, no progress is possible.
        let start = Date()
        var open = true
        while open && Date().timeIntervalSince(start) < 5 {
            Thread.sleep(forTimeInterval: 0.1)
            open = server.connectionCount > 0
        }
        XCTAssertFalse(open, "the stalled connection was closed")
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.0)
    }
}

/// A client that half-closes after its request has gone away, as nginx sees it: its request is
/// cancelled and logged as 499, and the connection closed at once (no busy loop on the EOF). With
/// `ignoreClientAbort` (nginx's `proxy_ignore_client_abort on`) it still gets the response.
final class HalfCloseTests: XCTestCase {
    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    private func serve(ignoreClientAbort: Bool, cancelled: Flag) throws -> HTTPServer {
        var c = ServerConfiguration()
        c.port = 0
        c.ignoreClientAbort = ignoreClientAbort
        let server = HTTPServer(configuration: c, group: try EventLoopGroup(threads: 1), handler: ClosureHandler { _, _ in
            do {
                try await Task.sleep(nanoseconds: 600_000_000)
            } catch {
                cancelled.set()
                throw error
            }
            return HTTPResponse(status: 200, contentType: "text/plain", body: "late")
        })
        try server.start()
        return server
    }

    func testHalfClosedClientIsCancelledAt499() throws {
        LogBuffer.enabled = false
        let cancelled = Flag()
        let server = try serve(ignoreClientAbort: false, cancelled: cancelled)
        defer { server.shutdown(); server.group.shutdown() }
        let client = try RawClient(port: server.port, timeoutSeconds: 3)
        client.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        shutdown(client.fd, Int32(SHUT_WR))
        XCTAssertNil(client.readResponse(), "no answer for a client that went away")
        XCTAssertTrue(eventually(timeout: 5) { cancelled.isSet }, "the handler's task was cancelled")
    }

    func testWithIgnoreClientAbortAHalfClosedClientGetsItsResponseWithoutBusyLooping() throws {
        LogBuffer.enabled = false
        let cancelled = Flag()
        let server = try serve(ignoreClientAbort: true, cancelled: cancelled)
        defer { server.shutdown(); server.group.shutdown() }
        let client = try RawClient(port: server.port, timeoutSeconds: 3)
        client.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        shutdown(client.fd, Int32(SHUT_WR))
        var before = rusage(), after = rusage()
        getrusage(RUSAGE_SELF.rawValue, &before)
        let r = try XCTUnwrap(client.readResponse())
        getrusage(RUSAGE_SELF.rawValue, &after)
        XCTAssertEqual(r.text, "late")
        XCTAssertEqual(r.headers["connection"], "close")
        XCTAssertFalse(cancelled.isSet)
        let cpu = Double(after.ru_utime.tv_sec - before.ru_utime.tv_sec + after.ru_stime.tv_sec - before.ru_stime.tv_sec)
            + Double(after.ru_utime.tv_usec - before.ru_utime.tv_usec + after.ru_stime.tv_usec - before.ru_stime.tv_usec) / 1e6
        XCTAssertLessThan(cpu, 0.2, "CPU seconds spent while the response was pending")
    }
}

/// Out of file descriptors: the listener stops spinning on the connection it cannot accept, and picks it
/// up once a descriptor is free. The client is another process, so only the server runs out.
final class DescriptorExhaustionTests: XCTestCase {
    func testAcceptPausesOnEMFILEAndRecovers() throws {
        LogBuffer.enabled = false
        var c = ServerConfiguration()
        c.port = 0
        let server = HTTPServer(configuration: c, group: try EventLoopGroup(threads: 1), handler: ClosureHandler { _, _ in
            HTTPResponse(status: 200, contentType: "text/plain", body: "ok")
        })
        try server.start()
        defer { server.shutdown(); server.group.shutdown() }
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = ["python3", "-c", """
        import socket, sys
        s = socket.create_connection(("127.0.0.1", \(server.port)))
        s.settimeout(5)
        s.sendall(b"GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n")
        print(s.recv(4096).split(b"\\r\\n")[0].decode(), flush=True)
        """]
        let out = Pipe()
        client.standardOutput = out
        var saved = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved)
        // Launch first (it needs descriptors here for its pipes), then leave this process none to spare.
        try client.run()
        // The next descriptor would be the lowest free number: a limit at that number leaves none.
        let lowestFree = dup(0)
        close(lowestFree)
        var tight = saved
        tight.rlim_cur = rlim_t(lowestFree)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &tight)
        Thread.sleep(forTimeInterval: 0.2)  // the client connects; the server cannot accept
        var before = rusage(), after = rusage()
        getrusage(RUSAGE_SELF.rawValue, &before)
        Thread.sleep(forTimeInterval: 0.4)
        getrusage(RUSAGE_SELF.rawValue, &after)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved)
        let cpu = Double(after.ru_utime.tv_sec - before.ru_utime.tv_sec + after.ru_stime.tv_sec - before.ru_stime.tv_sec)
            + Double(after.ru_utime.tv_usec - before.ru_utime.tv_usec + after.ru_stime.tv_usec - before.ru_stime.tv_usec) / 1e6
        XCTAssertLessThan(cpu, 0.1, "the loop does not spin on a connection it cannot accept")
        client.waitUntilExit()
        let line = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(line, "HTTP/1.1 200 OK\n", "accepted and answered once a descriptor is free")
    }
}

/// During the readiness grace, idle keep-alive connections close at once, but a connection that has not
/// sent its first request yet (a health check just connecting) is answered, then closed.
final class ReadinessGraceFreshConnectionTests: XCTestCase {
    func testAFreshConnectionIsAnsweredDuringTheGrace() throws {
        LogBuffer.enabled = false
        var c = ServerConfiguration()
        c.port = 0
        let server = HTTPServer(configuration: c, group: try EventLoopGroup(threads: 1), handler: ClosureHandler { _, _ in
            HTTPResponse(status: 200, contentType: "text/plain", body: "ok")
        })
        try server.start()
        defer { server.shutdown(); server.group.shutdown() }
        let used = try RawClient(port: server.port)
        used.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(used.readResponse()?.status, 200)
        let fresh = try RawClient(port: server.port)
        XCTAssertTrue(eventually(timeout: 5) { server.connectionCount == 2 }, "both connections accepted")
        server.closeConnectionsAfterResponses()
        _ = server.group.loops[0].execute(sync: { 0 })  // the loop has run the grace's first step
        XCTAssertTrue(used.waitForClose(), "an idle keep-alive connection closes at once")
        fresh.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try XCTUnwrap(fresh.readResponse(), "the fresh connection is answered")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["connection"], "close")
    }
}
