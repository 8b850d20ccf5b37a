import XCTest
import Foundation
import Synchronization
@testable import AggregationKit

/// The upstream registry over real sockets on 127.0.0.1, with time driven by a `ManualClock`: outcome
/// reports, balancing through proxy routes, pool shutdown and idle expiry.
final class UpstreamTests: XCTestCase {
    let second: UInt64 = 1_000_000_000

    /// An upstream with one instance at `port`, on `group`.
    private func upstream(port: Int, group: EventLoopGroup, observers: [any UpstreamObserver], pool: ConnectionPoolStateMachine.Configuration = .init(),
                          responseTimeout: UInt64 = 30_000_000_000) throws -> Upstream {
        let origin = try UpstreamOrigin(host: "127.0.0.1", port: port, pool: pool, connectTimeout: 2 * second, responseTimeout: responseTimeout)
        return Upstream(name: "s", instances: [UpstreamInstance(index: 0, origin: origin)], group: group, observers: observers)
    }

    /// A task-free call on `loop`; waits (bounded) for its completion.
    private func call(_ upstream: Upstream, _ target: String, on loop: EventLoop) throws -> Result<HTTPResponse, UpstreamError> {
        let result = Mutex<Result<HTTPResponse, UpstreamError>?>(nil)
        loop.post {
            upstream.start(UpstreamRequest(method: "GET", target: target), on: loop) { r, _ in result.withLock { $0 = r } }
        }
        guard eventually({ result.withLock { $0 != nil } }) else { throw TestError("no answer for \(target)") }
        return result.withLock { $0! }
    }

    /// 200, 503, a close before any response, a timeout, a refused connection, a cancelled call: one
    /// report each, with the right result, status, instance and latency. Time moves only by hand.
    func testOneOutcomeReportPerCall() throws {
        let scripted = try ScriptedUpstream { request in
            switch request.target {
            case "/ok": return [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]
            case "/unavailable": return [.send("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")]
            case "/close": return [.close]
            default: return []  // never answers
            }
        }
        defer { scripted.stop() }
        let clock = ManualClock()
        let group = try EventLoopGroup(threads: 1, clock: clock)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let observer = RecordingObserver()
        let s = try upstream(port: scripted.port, group: group, observers: [observer], responseTimeout: 5 * second)
        defer { s.shutdown() }

        XCTAssertEqual(try call(s, "/ok", on: loop).get().status, 200)
        XCTAssertEqual(try call(s, "/unavailable", on: loop).get().status, 503, "a 5xx is a response for the caller")
        guard case .failure(let closed) = try call(s, "/close", on: loop) else { return XCTFail("a close is a failure") }
        XCTAssertEqual(closed.kind, .connectionClosed)
        XCTAssertEqual(closed.authority, "127.0.0.1:\(scripted.port)")

        // The timeout: the request reaches the upstream, then the clock moves past the response timeout.
        let result = Mutex<Result<HTTPResponse, UpstreamError>?>(nil)
        loop.post { s.start(UpstreamRequest(method: "GET", target: "/slow"), on: loop) { r, _ in result.withLock { $0 = r } } }
        XCTAssertTrue(eventually { scripted.requests.contains { $0.target == "/slow" } })
        loop.settle()
        XCTAssertNil(result.withLock { $0 }, "no timeout while the clock stands still")
        clock.advance(by: 6 * second)
        XCTAssertTrue(eventually { result.withLock { $0 != nil } })
        guard case .failure(let timedOut)? = result.withLock({ $0 }) else { return XCTFail() }
        XCTAssertEqual(timedOut.kind, .responseTimeout)

        // Cancelled by its caller while waiting for the answer.
        let call = Mutex<UpstreamCall?>(nil)
        let cancelled = Mutex<Result<HTTPResponse, UpstreamError>?>(nil)
        loop.post { call.withLock { $0 = s.start(UpstreamRequest(method: "GET", target: "/slow2"), on: loop) { r, _ in cancelled.withLock { $0 = r } } } }
        XCTAssertTrue(eventually { scripted.requests.contains { $0.target == "/slow2" } })
        let running = call.withLock { $0 }!
        loop.post { running.cancel() }
        XCTAssertTrue(eventually { cancelled.withLock { $0 != nil } })

        // Nothing listens on a port just freed: the connection is refused.
        let closedPort = try freePort()
        let refused = try upstream(port: closedPort, group: group, observers: [observer])
        defer { refused.shutdown() }
        guard case .failure(let refusal) = try self.call(refused, "/x", on: loop) else { return XCTFail() }
        XCTAssertEqual(refusal.kind, .connectFailed)

        let outcomes = observer.outcomes
        XCTAssertEqual(outcomes.map(\.result), [.success, .serverError, .protocolError, .timeout, .cancelled, .connectFailure])
        XCTAssertEqual(outcomes.map(\.status), [200, 503, nil, nil, nil, nil])
        XCTAssertEqual(outcomes.map(\.error), [nil, nil, .connectionClosed, .responseTimeout, .cancelled, .connectFailed])
        XCTAssertEqual(outcomes.map(\.instance), [0, 0, 0, 0, 0, 0])
        XCTAssertEqual(outcomes.map(\.authority), Array(repeating: "127.0.0.1:\(scripted.port)", count: 5) + ["127.0.0.1:\(closedPort)"])
        XCTAssertEqual(outcomes.map(\.latencyNanoseconds), [0, 0, 0, 6 * second, 0, 0],
                       "latency on the loop's clock: only the timeout saw the clock move")
        XCTAssertEqual(observer.services, Array(repeating: "s", count: 6))
    }

    /// The gateway's own refusals are `rejected`, not held against the instance.
    func testAFullPoolIsRejectedNotTheInstancesFault() throws {
        let scripted = try ScriptedUpstream { _ in [] }  // holds every request
        defer { scripted.stop() }
        let group = try EventLoopGroup(threads: 1, clock: ManualClock())
        defer { group.shutdown() }
        let loop = group.loops[0]
        let observer = RecordingObserver()
        let s = try upstream(port: scripted.port, group: group, observers: [observer],
                             pool: .init(maxConnections: 1, maxIdle: 1, idleTimeout: 60 * second, maxWaiters: 0))
        loop.post { s.start(UpstreamRequest(method: "GET", target: "/held"), on: loop) { _, _ in } }
        XCTAssertTrue(eventually { scripted.requests.count == 1 })
        guard case .failure(let e) = try call(s, "/second", on: loop) else { return XCTFail() }
        XCTAssertEqual(e.kind, .poolExhausted)
        XCTAssertEqual(e.status, 503)
        XCTAssertEqual(observer.outcomes.map(\.result), [.rejected])
        s.shutdown()
    }

    /// `shutdown()` closes idle connections (the upstream sees them go), fails calls waiting for a
    /// connection, lets a call in progress finish and then closes its connection, and refuses later calls.
    func testShutdownClosesIdleConnectionsAndFailsWaiters() throws {
        // `/held` is answered when the test says so.
        let answerHeld = Atomic<Bool>(false)
        let scripted = try ScriptedUpstream { request in
            guard request.target == "/held" else { return [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")] }
            while !answerHeld.load(ordering: .acquiring) { usleep(1000) }
            return [.send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]
        }
        defer { scripted.stop() }
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let observer = RecordingObserver()
        let s = try upstream(port: scripted.port, group: group, observers: [observer],
                             pool: .init(maxConnections: 2, maxIdle: 2, idleTimeout: 60 * second, maxWaiters: 4))
        // Two connections, both idle after their calls.
        let both = Mutex(0)
        loop.post {
            for _ in 0..<2 { s.start(UpstreamRequest(method: "GET", target: "/ok"), on: loop) { _, _ in both.withLock { $0 += 1 } } }
        }
        XCTAssertTrue(eventually { both.withLock { $0 } == 2 })
        loop.settle()
        XCTAssertEqual(loop.execute(sync: { s.poolCounts(on: loop) }), [Upstream.PoolCounts(open: 2, idle: 2, waiters: 0)])
        XCTAssertEqual(scripted.accepted, 2)

        // One call in progress (held by the upstream), one connection idle.
        let held = Mutex<Result<HTTPResponse, UpstreamError>?>(nil)
        loop.post { s.start(UpstreamRequest(method: "GET", target: "/held"), on: loop) { r, _ in held.withLock { $0 = r } } }
        XCTAssertTrue(eventually { scripted.requests.contains { $0.target == "/held" } })
        s.shutdown()
        XCTAssertTrue(eventually { scripted.closedByPeer == 1 }, "the idle connection was closed by the gateway")
        XCTAssertNil(held.withLock { $0 }, "the call in progress goes on")
        answerHeld.store(true, ordering: .releasing)
        XCTAssertTrue(eventually { held.withLock { $0 != nil } })
        XCTAssertEqual(try held.withLock { $0! }.get().status, 200, "a call in progress finishes")
        XCTAssertTrue(eventually { scripted.closedByPeer == 2 }, "its connection is closed afterwards, not pooled")
        XCTAssertEqual(loop.execute(sync: { s.poolCounts(on: loop) }), [Upstream.PoolCounts(open: 0, idle: 0, waiters: 0)])

        guard case .failure(let later) = try call(s, "/ok", on: loop) else { return XCTFail("a call after shutdown must fail") }
        XCTAssertEqual(later.kind, .shutDown)
        XCTAssertEqual(later.status, 503)
        XCTAssertEqual(observer.outcomes.last?.result, .rejected)
        XCTAssertNil(observer.outcomes.last?.instance, "refused before any instance was picked")
        s.shutdown()  // idempotent
    }

    func testShutdownFailsCallsWaitingForAConnection() throws {
        let scripted = try ScriptedUpstream { _ in [] }  // holds every request
        defer { scripted.stop() }
        let group = try EventLoopGroup(threads: 1, clock: ManualClock())
        defer { group.shutdown() }
        let loop = group.loops[0]
        let s = try upstream(port: scripted.port, group: group, observers: [],
                             pool: .init(maxConnections: 1, maxIdle: 1, idleTimeout: 60 * second, maxWaiters: 4))
        let waiting = Mutex<Result<HTTPResponse, UpstreamError>?>(nil)
        loop.post {
            s.start(UpstreamRequest(method: "GET", target: "/held"), on: loop) { _, _ in }
            s.start(UpstreamRequest(method: "GET", target: "/waits"), on: loop) { r, _ in waiting.withLock { $0 = r } }
        }
        XCTAssertTrue(eventually { scripted.requests.count == 1 })
        XCTAssertEqual(loop.execute(sync: { s.poolCounts(on: loop) })[0].waiters, 1)
        s.shutdown()
        XCTAssertTrue(eventually { waiting.withLock { $0 != nil } })
        guard case .failure(let e)? = waiting.withLock({ $0 }) else { return XCTFail() }
        XCTAssertEqual(e.kind, .shutDown)
    }

    /// Idle expiry decided by the loop's clock: the connection stays at 59 s idle and goes past 60 s,
    /// with no waiting on the wall clock.
    func testIdleConnectionsExpireByTheLoopsClock() throws {
        let scripted = try ScriptedUpstream { _ in [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")] }
        defer { scripted.stop() }
        let clock = ManualClock()
        let group = try EventLoopGroup(threads: 1, clock: clock)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let s = try upstream(port: scripted.port, group: group, observers: [],
                             pool: .init(maxConnections: 4, maxIdle: 4, idleTimeout: 60 * second, maxWaiters: 4))
        defer { s.shutdown() }
        XCTAssertEqual(try call(s, "/a", on: loop).get().status, 200)
        loop.settle()
        XCTAssertEqual(loop.execute(sync: { s.poolCounts(on: loop) })[0], Upstream.PoolCounts(open: 1, idle: 1))

        clock.advance(by: 59 * second)
        loop.settle()
        XCTAssertEqual(loop.execute(sync: { s.poolCounts(on: loop) })[0], Upstream.PoolCounts(open: 1, idle: 1), "59 s idle: kept")
        XCTAssertEqual(scripted.closedByPeer, 0)

        clock.advance(by: 2 * second)
        loop.settle()
        XCTAssertEqual(loop.execute(sync: { s.poolCounts(on: loop) })[0], Upstream.PoolCounts(open: 0, idle: 0), "61 s idle: closed")
        XCTAssertTrue(eventually { scripted.closedByPeer == 1 }, "the upstream sees the connection close")
        XCTAssertEqual(try call(s, "/b", on: loop).get().status, 200, "the next call opens a fresh connection")
        XCTAssertEqual(scripted.accepted, 2)
    }

    /// A loop decides with its injected clock: its `now`, its timers and the wall time it prints.
    func testTheLoopRunsOnItsInjectedClock() throws {
        let clock = ManualClock()
        let group = try EventLoopGroup(threads: 1, clock: clock)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let start = clock.monotonicNanoseconds()
        loop.settle()
        XCTAssertEqual(loop.execute(sync: { loop.now }), start)
        XCTAssertEqual(loop.execute(sync: { loop.clock.httpDate() }), "Thu, 01 Jan 2026 00:00:00 GMT")
        let fired = Atomic<Bool>(false)
        let second = self.second
        loop.execute(sync: { _ = loop.schedule(at: loop.now + 10 * second) { fired.store(true, ordering: .releasing) } })
        loop.settle()
        XCTAssertFalse(fired.load(ordering: .acquiring))
        clock.advance(by: 10 * second)
        loop.settle()
        XCTAssertTrue(fired.load(ordering: .acquiring))
        XCTAssertEqual(loop.execute(sync: { loop.now }), start + 10 * second)
        XCTAssertEqual(loop.execute(sync: { loop.clock.iso8601() }), "2026-01-01T00:00:10.000Z")
    }

    // MARK: Through the gateway

    /// Proxy routes call through the upstream: weights 2:1 give a b a, again and again, and every call is
    /// reported; the gateway's shutdown closes the pooled connections.
    func testProxyRoutesBalanceByWeightAndReportEveryCall() throws {
        let a = try ScriptedUpstream { _ in [.send("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")] }
        let b = try ScriptedUpstream { _ in [.send("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb")] }
        defer { a.stop(); b.stop() }
        let observer = RecordingObserver()
        let gw = try ObservedGateway("""
        {"listen": {"host": "127.0.0.1", "port": 0},
         "services": {"down": {"instances": [{"address": "127.0.0.1:\(a.port)", "weight": 2, "zone": "eu-1"}, "127.0.0.1:\(b.port)"]}},
         "routes": [{"name": "all", "path": "/*", "proxy": {"service": "down"}}]}
        """, observers: [observer])
        XCTAssertEqual(try (0..<6).map { _ in try gw.get("/x").text }.joined(), "abaaba")
        XCTAssertEqual(a.requests.first?.header("host"), "127.0.0.1:\(a.port)", "Host names the picked instance")
        XCTAssertEqual(b.requests.first?.header("host"), "127.0.0.1:\(b.port)")
        XCTAssertEqual(observer.outcomes.map(\.instance), [0, 1, 0, 0, 1, 0])
        XCTAssertEqual(observer.outcomes.map(\.result), Array(repeating: .success, count: 6))
        XCTAssertEqual(gw.gateway.upstreams["down"]?.instances.map(\.zone), ["eu-1", nil])
        XCTAssertEqual(a.closedByPeer + b.closedByPeer, 0)
        gw.stop()
        XCTAssertTrue(eventually { a.closedByPeer == 1 && b.closedByPeer == 1 }, "the gateway's shutdown closes its pooled upstream connections")
    }

    /// Composite calls go through the upstream too, and the endpoint's deadline is read from the loop's
    /// clock: moving it by hand past the deadline answers 504 at once.
    func testCompositeCallsAreReportedAndTheirDeadlineFollowsTheLoopsClock() throws {
        let fast = try ScriptedUpstream { _ in [.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"v\":1}")] }
        let hang = try ScriptedUpstream { _ in [] }
        defer { fast.stop(); hang.stop() }
        let clock = ManualClock()
        let observer = RecordingObserver()
        let gw = try ObservedGateway("""
        {"listen": {"host": "127.0.0.1", "port": 0},
         "services": {"fast": {"instances": ["127.0.0.1:\(fast.port)"]}, "hang": {"instances": ["127.0.0.1:\(hang.port)"]}}}
        """, endpoints: ["""
        {"name": "d", "path": "/d", "deadlineMs": 300, "calls": {"f": {"service": "fast", "path": "/fast"}, "h": {"service": "hang", "path": "/never"}},
         "response": {"f": "$f.v", "h": "$h"}}
        """], clock: clock, observers: [observer])
        defer { gw.stop() }
        let client = try RawClient(port: gw.port, timeoutSeconds: 10)
        client.send("GET /d HTTP/1.1\r\nHost: test\r\n\r\n")
        XCTAssertTrue(eventually { hang.requests.count == 1 && observer.outcomes.count == 1 })
        clock.advance(by: 400_000_000)
        gw.group.loops[0].post {}  // wake the loop now rather than at its next 50 ms poll
        guard let r = client.readResponse() else { return XCTFail("no response") }
        XCTAssertEqual(r.status, 504, r.text)
        XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:deadline_exceeded")
        XCTAssertEqual(r.json?["calls"]?.stringValue, "h")
        XCTAssertEqual(observer.services, ["fast", "hang"])
        XCTAssertEqual(observer.outcomes.map(\.result), [.success, .timeout])
        XCTAssertEqual(observer.outcomes.last?.latencyNanoseconds, 400_000_000)
    }
}

/// A loopback port nothing listens on (bound, then closed).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard bound == 0 else { throw TestError("cannot bind") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}
