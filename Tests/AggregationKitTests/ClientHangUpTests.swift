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
        (listener, port) = try loopbackListener()
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

/// The same for a task-free proxy request: its one upstream call is cancelled and the connection closed.
final class ProxyHangUpTests: XCTestCase {
    func testAProxiedRequestsCallIsCancelledWhenItsClientHangsUp() throws {
        let upstream = try SilentUpstream()
        defer { upstream.stop() }
        let gw = try TestGateway("""
        {"listen": {"host": "127.0.0.1", "port": 0}, "timeouts": {"drainMs": 100},
         "services": {"s": {"instances": ["127.0.0.1:\(upstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 60000}},
         "routes": [{"name": "all", "path": "/*", "proxy": {"service": "s"}}]}
        """)
        defer { gw.stop() }
        let client = try RawClient(port: gw.port)
        client.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(eventually(timeout: 10) { upstream.requests == 1 })
        shutdown(client.fd, Int32(SHUT_RDWR))
        XCTAssertTrue(eventually(timeout: 10) { upstream.closedByGateway == 1 }, "the upstream connection was closed, not kept")
        XCTAssertEqual(try gw.get("/healthz").status, 200)
    }
}

/// `policy.timeoutMs` bounds the whole request: a proxy call or a composite endpoint past it is a 504.
final class RouteTimeoutTests: XCTestCase {
    func testTimeoutMsCutsAProxyCallAndACompositeEndpoint() throws {
        let upstream = try SilentUpstream()
        defer { upstream.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-timeout-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
        try """
        {"listen": {"host": "127.0.0.1", "port": 0}, "timeouts": {"drainMs": 100},
         "services": {"s": {"instances": ["127.0.0.1:\(upstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 60000}},
         "routes": [{"name": "slow", "path": "/slow", "proxy": {"service": "s"}, "policy": {"timeoutMs": 300}}]}
        """.write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        try """
        {"name": "c", "path": "/c", "deadlineMs": 60000, "policy": {"timeoutMs": 300},
         "calls": {"a": {"service": "s", "path": "/a"}}, "response": {"a": "$a"}}
        """.write(to: dir.appendingPathComponent("endpoints/c.json"), atomically: true, encoding: .utf8)
        let gw = try TestGateway(directory: dir.path)
        defer { gw.stop() }
        for path in ["/slow", "/c"] {
            let started = Date()
            let r = try gw.get(path)
            XCTAssertEqual(r.status, 504, "\(path): \(r.text)")
            XCTAssertLessThan(Date().timeIntervalSince(started), 5, "cut by the route's 300 ms, not the service's 60 s")
        }
    }
}

/// A CORS preflight for a route declared for one method reaches that route's CORS stage (the router
/// alone would answer 405).
final class PreflightOnAMethodRouteTests: XCTestCase {
    func testPreflightForAGetOnlyRoute() throws {
        let downstream = try Downstream()
        defer { downstream.stop() }
        let gw = try TestGateway("""
        {"listen": {"host": "127.0.0.1", "port": 0},
         "services": {"down": {"instances": ["127.0.0.1:\(downstream.port)"]}},
         "routes": [{"name": "one", "method": "GET", "path": "/one/{id}", "proxy": {"service": "down", "path": "/echo/{id}"},
                     "policy": {"cors": {"allowOrigins": ["https://app.example.com"], "allowMethods": ["GET"]}}},
                    {"name": "plain", "method": "GET", "path": "/plain", "proxy": {"service": "down", "path": "/echo"}}]}
        """)
        defer { gw.stop() }
        let c = try RawClient(port: gw.port)
        c.send("OPTIONS /one/7 HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.example.com\r\nAccess-Control-Request-Method: GET\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 204)
        XCTAssertEqual(r.headers["Access-Control-Allow-Origin"], "https://app.example.com")
        c.send("OPTIONS /one/7 HTTP/1.1\r\nHost: gw\r\nOrigin: https://evil.example.net\r\nAccess-Control-Request-Method: GET\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 403)
        c.send("OPTIONS /plain HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.example.com\r\nAccess-Control-Request-Method: GET\r\n\r\n")
        let plain = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(plain.status, 405, "no CORS policy: the router's answer stands")
        XCTAssertNil(plain.headers["Access-Control-Allow-Origin"])
    }
}

/// A client that resets its connection (RST, not FIN) has gone away just the same: its upstream call is
/// cancelled and its connection closed.
final class ClientResetTests: XCTestCase {
    func testAResetClientsCallIsCancelled() throws {
        let upstream = try SilentUpstream()
        defer { upstream.stop() }
        let gw = try TestGateway("""
        {"listen": {"host": "127.0.0.1", "port": 0}, "timeouts": {"drainMs": 100},
         "services": {"s": {"instances": ["127.0.0.1:\(upstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 60000}},
         "routes": [{"name": "all", "path": "/*", "proxy": {"service": "s"}}]}
        """)
        defer { gw.stop() }
        // A socket of our own (not RawClient, which closes its descriptor again when it goes away).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(gw.port).bigEndian
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        XCTAssertEqual(connected, 0)
        sendAll(Array("GET /x HTTP/1.1\r\nHost: t\r\n\r\n".utf8), to: fd)
        XCTAssertTrue(eventually(timeout: 10) { upstream.requests == 1 })
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)  // with a zero linger: a reset
        XCTAssertTrue(eventually(timeout: 10) { upstream.closedByGateway == 1 }, "the upstream connection was closed, not kept")
        XCTAssertEqual(try gw.get("/healthz").status, 200)
    }
}

/// `timeoutMs` bounds the wait for a pooled connection too, not only the wait for the answer.
final class RouteTimeoutPoolWaitTests: XCTestCase {
    func testTimeoutMsCutsTheWaitForAConnection() throws {
        let upstream = try SilentUpstream()
        defer { upstream.stop() }
        let gw = try TestGateway("""
        {"listen": {"host": "127.0.0.1", "port": 0}, "timeouts": {"drainMs": 100},
         "services": {"s": {"instances": ["127.0.0.1:\(upstream.port)"], "connectTimeoutMs": 20000, "responseTimeoutMs": 60000,
                            "pool": {"maxConnections": 1}}},
         "routes": [{"name": "hold", "path": "/hold", "proxy": {"service": "s"}},
                    {"name": "limited", "path": "/limited", "proxy": {"service": "s"}, "policy": {"timeoutMs": 300}}]}
        """)
        defer { gw.stop() }
        let holder = try RawClient(port: gw.port)
        holder.send("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(eventually(timeout: 10) { upstream.requests == 1 }, "the pool's one connection is taken")
        let started = Date()
        let r = try gw.get("/limited")
        XCTAssertEqual(r.status, 504, r.text)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "cut by the route's 300 ms, not the 20 s pool wait")
        XCTAssertEqual(upstream.requests, 1, "the limited request never reached the upstream")
        shutdown(holder.fd, Int32(SHUT_RDWR))
    }
}

/// A composite endpoint's deadline also holds while a call waits for a pooled connection.
final class CompositeDeadlinePoolWaitTests: XCTestCase {
    func testTheDeadlineCutsTheWaitForAConnection() throws {
        let upstream = try SilentUpstream()
        defer { upstream.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-cdl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
        try """
        {"listen": {"host": "127.0.0.1", "port": 0}, "timeouts": {"drainMs": 100},
         "services": {"s": {"instances": ["127.0.0.1:\(upstream.port)"], "connectTimeoutMs": 20000, "responseTimeoutMs": 60000,
                            "pool": {"maxConnections": 1}}},
         "routes": [{"name": "hold", "path": "/hold", "proxy": {"service": "s"}}]}
        """.write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        try """
        {"name": "c", "path": "/c", "deadlineMs": 300, "calls": {"a": {"service": "s", "path": "/a"}}, "response": {"a": "$a"}}
        """.write(to: dir.appendingPathComponent("endpoints/c.json"), atomically: true, encoding: .utf8)
        let gw = try TestGateway(directory: dir.path)
        defer { gw.stop() }
        let holder = try RawClient(port: gw.port)
        holder.send("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(eventually(timeout: 10) { upstream.requests == 1 }, "the pool's one connection is taken")
        let started = Date()
        let r = try gw.get("/c")
        XCTAssertEqual(r.status, 504, r.text)
        XCTAssertEqual(r.problemCode, "deadline_exceeded")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "cut by the 300 ms deadline, not the 20 s pool wait")
        shutdown(holder.fd, Int32(SHUT_RDWR))
    }
}

/// A request's context (which keeps the way back through the stages, `RequestContext.returnPath`, and
/// through it the connection's completion) is released once the request is over: answered, or its client
/// gone (499) while the upstream says nothing, with or without a stage that took a task first.
final class RequestContextLifetimeTests: XCTestCase {
    /// Holds a context weakly, as seen by the first stage.
    final class Witness: @unchecked Sendable {
        private let lock = Mutex<Void>(())
        private var seen: [() -> RequestContext?] = []
        func add(_ context: RequestContext) { weak let weakly = context; lock.withLock { _ in seen.append { weakly } } }
        var alive: Int { lock.withLock { _ in seen.filter { $0() != nil }.count } }
        var count: Int { lock.withLock { _ in seen.count } }
    }

    struct Watch: RequestStage {
        let witness: Witness
        let suspends: Bool
        var name: String { "watch" }
        func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
            witness.add(context)
            return suspends ? .suspend : .proceed
        }
        func processAsync(_ request: inout HTTPRequest, context: RequestContext) async throws -> HTTPResponse? {
            await Task.yield()
            return nil
        }
        func processResponse(_ response: inout HTTPResponse, request: HTTPRequest, context: RequestContext) {
            response.headers.add("X-Watched", "yes")
        }
    }

    struct Front: Responder {
        let pipeline: Pipeline
        func respond(to request: consuming HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
            pipeline.run(request, context: context, completion: completion)
        }
    }

    private func check(suspends: Bool, answered: Bool) throws {
        let silent = try SilentUpstream()
        defer { silent.stop() }
        let echo = try ScriptedUpstream { _ in [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")] }
        defer { echo.stop() }
        LogBuffer.enabled = false
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let origin = try UpstreamOrigin(host: "127.0.0.1", port: answered ? echo.port : silent.port, connectTimeout: 1_000_000_000,
                                        responseTimeout: 60_000_000_000)
        let upstream = Upstream(name: "s", instances: [UpstreamInstance(index: 0, origin: origin)], group: group)
        let proxy = ProxyHandler(service: upstream, configuration: ProxyConfiguration(service: "s"), via: "gw")
        let witness = Witness()
        let pipeline = Pipeline(stages: [Watch(witness: witness, suspends: suspends), MethodsStage(methods: ["GET"])], responder: proxy)
        var config = ServerConfiguration()
        config.port = 0
        config.accessLog = false
        let server = HTTPServer(configuration: config, group: group, responder: Front(pipeline: pipeline))
        let port = try server.start()
        defer { server.shutdown() }
        for round in 0..<3 {
            let client = try RawClient(port: port)
            client.send("GET /x/\(round) HTTP/1.1\r\nHost: t\r\n\r\n")
            if answered {
                let r = client.readResponse()
                XCTAssertEqual(r?.text, "ok")
                XCTAssertEqual(r?.headers["x-watched"], "yes")
            } else {
                XCTAssertTrue(eventually { silent.requests == round + 1 })
            }
            shutdown(client.fd, Int32(SHUT_RDWR))
        }
        XCTAssertEqual(witness.count, 3)
        XCTAssertTrue(eventually { witness.alive == 0 }, "\(witness.alive) of 3 contexts still alive (suspends: \(suspends), answered: \(answered))")
    }

    func testAnAnsweredRequestsContextIsReleased() throws { try check(suspends: false, answered: true) }
    func testAnAnsweredRequestsContextIsReleasedAfterATask() throws { try check(suspends: true, answered: true) }
    func testAHungUpRequestsContextIsReleased() throws { try check(suspends: false, answered: false) }
    func testAHungUpRequestsContextIsReleasedAfterATask() throws { try check(suspends: true, answered: false) }
}
