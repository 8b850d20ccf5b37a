import XCTest
@testable import AggregationKit

/// The per-loop pool's decisions, driven by hand with explicit times (ns): no sockets, no sleeping.
final class RedisPoolStateMachineTests: XCTestCase {
    typealias Machine = RedisPoolStateMachine
    let ms: UInt64 = 1_000_000
    let t0: UInt64 = 1_000_000_000_000

    func machine(connections: Int = 1, depth: Int = 4, queue: Int = 3) -> Machine {
        Machine(configuration: .init(maxConnections: connections, maxInFlightPerConnection: depth, maxQueuedCommands: queue,
                                     connectTimeout: 500 * ms, backoff: RedisBackoff(initialDelay: 100 * ms, maxDelay: 800 * ms)),
                jitterSeed: 1)
    }

    func kinds(_ actions: [Machine.Action]) -> [String] {
        actions.map {
            switch $0 {
            case .connect(let c): "connect \(c)"
            case .send(let id, let c): "send \(id) on \(c)"
            case .fail(let id, let e): "fail \(id) \(e.kind.rawValue)"
            case .close(let c): "close \(c)"
            case .scheduleReconnect: "schedule"
            }
        }
    }

    /// A machine with connection 1 ready.
    func ready(_ m: inout Machine) {
        let (_, a) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        XCTAssertEqual(kinds(a), ["connect 1"])
        XCTAssertEqual(kinds(m.connectionReady(1, now: t0)), ["send 1 on 1"])
        XCTAssertEqual(m.replyReceived(on: 1, now: t0).0, 1)
    }

    func testFirstCommandOpensAConnectionAndWaitsForIt() {
        var m = machine()
        let (id, actions) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        XCTAssertEqual(kinds(actions), ["connect 1"])
        XCTAssertEqual(m.queuedCount, 1)
        XCTAssertEqual(kinds(m.connectionReady(1, now: t0 + ms)), ["send \(id) on 1"])
        let (answered, more) = m.replyReceived(on: 1, now: t0 + 2 * ms)
        XCTAssertEqual(answered, id)
        XCTAssertEqual(more, [])
        XCTAssertEqual(m.inFlightCount, 0)
    }

    /// Commands go out back to back on one connection; replies are matched in order.
    func testPipeliningMatchesRepliesInOrderAndQueuesPastTheDepth() {
        var m = machine(depth: 3, queue: 2)
        ready(&m)
        var ids: [Int] = []
        for _ in 0..<3 {
            let (id, a) = m.submit(deadline: t0 + 1000 * ms, now: t0)
            XCTAssertEqual(kinds(a), ["send \(id) on 1"])
            ids.append(id)
        }
        let (q1, a1) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        let (q2, a2) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        XCTAssertEqual(a1 + a2, [])
        let (q3, a3) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        XCTAssertEqual(kinds(a3), ["fail \(q3) queue_full"])
        XCTAssertEqual(m.queuedCount, 2)
        // Each reply answers the oldest command in flight and lets the oldest queued one go.
        let (r1, d1) = m.replyReceived(on: 1, now: t0)
        XCTAssertEqual(r1, ids[0])
        XCTAssertEqual(kinds(d1), ["send \(q1) on 1"])
        XCTAssertEqual(m.replyReceived(on: 1, now: t0).0, ids[1])
        XCTAssertEqual(m.replyReceived(on: 1, now: t0).0, ids[2])
        XCTAssertEqual(m.replyReceived(on: 1, now: t0).0, q1)
        XCTAssertEqual(m.replyReceived(on: 1, now: t0).0, q2)
        // A reply nobody waits for: a protocol violation for the shell to act on.
        XCTAssertNil(m.replyReceived(on: 1, now: t0).0)
    }

    func testBusyConnectionOpensAnotherAndUsesTheLeastBusy() {
        var m = machine(connections: 2, depth: 10)
        ready(&m)
        let (a, x) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        XCTAssertEqual(kinds(x), ["send \(a) on 1"])
        // Connection 1 is busy: a second one opens, the command still goes on 1 now.
        let (b, y) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        XCTAssertEqual(kinds(y), ["connect 2", "send \(b) on 1"])
        XCTAssertEqual(kinds(m.connectionReady(2, now: t0)), [])
        let (c, z) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        XCTAssertEqual(kinds(z), ["send \(c) on 2"])
        XCTAssertEqual(m.connectionCount, 2)
    }

    /// Redis refuses connections: the waiting command fails at once, new ones fail at once during the
    /// backoff, the pool retries by itself when it ends, and a success resets the backoff.
    func testDownFailsFastAndReconnectsAfterBackoff() {
        var m = machine()
        let (a, _) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        let refused = RedisError(.unavailable, "connection refused")
        let failed = m.connectionFailed(1, error: refused, now: t0 + ms)
        XCTAssertEqual(kinds(failed), ["fail \(a) unavailable", "schedule"])
        guard case .scheduleReconnect(let at) = failed.last! else { return XCTFail() }
        // First failure: a delay from the upper half of 100 ms.
        XCTAssertTrue((t0 + 51 * ms...t0 + 101 * ms).contains(at), "\(at - t0)")
        XCTAssertTrue(m.isDown(now: t0 + 2 * ms))
        let (b, fast) = m.submit(deadline: t0 + 1000 * ms, now: t0 + 2 * ms)
        XCTAssertEqual(kinds(fast), ["fail \(b) unavailable"])
        if case .fail(_, let e) = fast[0] { XCTAssertTrue(e.detail.contains("connection refused") && e.detail.contains("next attempt in")) }
        XCTAssertEqual(m.reconnectDue(now: at - 1), [])
        XCTAssertEqual(kinds(m.reconnectDue(now: at)), ["connect 2"])
        // While the attempt is under way, commands wait for it.
        let (c, waiting) = m.submit(deadline: t0 + 1000 * ms, now: at)
        XCTAssertEqual(waiting, [])
        // It fails again: the next delay is longer (upper half of 200 ms).
        let again = m.connectionFailed(2, error: refused, now: at)
        XCTAssertEqual(kinds(again), ["fail \(c) unavailable", "schedule"])
        guard case .scheduleReconnect(let at2) = again.last! else { return XCTFail() }
        XCTAssertTrue((at + 100 * ms...at + 200 * ms).contains(at2), "\(at2 - at)")
        XCTAssertEqual(kinds(m.reconnectDue(now: at2)), ["connect 3"])
        XCTAssertEqual(kinds(m.connectionReady(3, now: at2)), [])
        XCTAssertFalse(m.isDown(now: at2))
        // Lost later: the replacement is opened at once (the backoff was reset by the success)...
        let (d, sent) = m.submit(deadline: at2 + 1000 * ms, now: at2)
        XCTAssertEqual(kinds(sent), ["send \(d) on 3"])
        XCTAssertEqual(m.replyReceived(on: 3, now: at2).0, d)
        XCTAssertEqual(kinds(m.connectionClosed(3, error: RedisError(.connectionClosed, "eof"), now: at2)), ["connect 4"])
        // ...and failing, it starts again from the first step.
        let third = m.connectionFailed(4, error: refused, now: at2)
        guard case .scheduleReconnect(let at3) = third.last! else { return XCTFail() }
        XCTAssertTrue((at2 + 50 * ms...at2 + 100 * ms).contains(at3), "\(at3 - at2)")
    }

    func testBackoffIsCappedAfterManyFailures() {
        var m = machine()
        _ = m.submit(deadline: t0 + 1000 * ms, now: t0)
        var now = t0
        var connection = 1
        var delays: [UInt64] = []
        for _ in 0..<12 {
            guard case .scheduleReconnect(let at) = m.connectionFailed(connection, error: RedisError(.unavailable, "refused"), now: now).last! else { return XCTFail() }
            delays.append(at - now)
            now = at
            connection += 1
            XCTAssertEqual(kinds(m.reconnectDue(now: now)), ["connect \(connection)"])
        }
        XCTAssertTrue(delays.allSatisfy { $0 <= 800 * ms })
        XCTAssertTrue(delays.suffix(6).allSatisfy { $0 >= 400 * ms })
    }

    func testAuthenticationFailureIsReportedAsSuch() {
        var m = machine()
        let (a, _) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        let refused = RedisError(.authenticationFailed, "WRONGPASS", serverError: RedisServerError(message: "WRONGPASS no"))
        let actions = m.connectionFailed(1, error: refused, now: t0)
        XCTAssertEqual(kinds(actions), ["fail \(a) authentication_failed", "schedule"])
    }

    /// A command past its deadline fails; its connection closes (replies would be out of step), the
    /// others on it fail as closed, and a replacement opens.
    func testInFlightTimeoutClosesTheConnection() {
        var m = machine(depth: 10)
        ready(&m)
        let (a, _) = m.submit(deadline: t0 + 100 * ms, now: t0)
        let (b, _) = m.submit(deadline: t0 + 300 * ms, now: t0)
        XCTAssertEqual(m.expire(now: t0 + 99 * ms), [])
        XCTAssertEqual(kinds(m.expire(now: t0 + 100 * ms)), ["fail \(a) timeout", "fail \(b) connection_closed", "close 1", "connect 2"])
        XCTAssertEqual(m.inFlightCount, 0)
        XCTAssertEqual(m.connectionCount, 1)
    }

    func testQueuedTimeoutAndConnectTimeout() {
        var m = machine()
        let (a, _) = m.submit(deadline: t0 + 200 * ms, now: t0)
        let (b, _) = m.submit(deadline: t0 + 900 * ms, now: t0)
        XCTAssertEqual(kinds(m.expire(now: t0 + 200 * ms)), ["fail \(a) timeout"])
        // The connection is not ready 500 ms after it was opened: a failed attempt.
        XCTAssertEqual(kinds(m.expire(now: t0 + 500 * ms)), ["close 1", "fail \(b) unavailable", "schedule"])
        XCTAssertEqual(m.connectionCount, 0)
    }

    func testConnectionLostBeforeServingAnythingBacksOff() {
        var m = machine()
        let (a, _) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        _ = m.connectionReady(1, now: t0)
        // The server hangs up on the very first command: no tight reconnect loop.
        XCTAssertEqual(kinds(m.connectionClosed(1, error: RedisError(.connectionClosed, "eof"), now: t0)), ["fail \(a) connection_closed", "schedule"])
        XCTAssertTrue(m.isDown(now: t0 + ms))
    }

    func testCancel() {
        var m = machine(depth: 1)
        ready(&m)
        let (a, _) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        let (b, _) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        XCTAssertTrue(m.cancel(b))
        XCTAssertEqual(m.queuedCount, 0)
        // In flight: stays, so its reply is still matched (and dropped by the shell).
        XCTAssertFalse(m.cancel(a))
        XCTAssertEqual(m.replyReceived(on: 1, now: t0).0, a)
    }

    func testShutdownFailsEverythingAndRefusesNewCommands() {
        var m = machine(depth: 1, queue: 5)
        ready(&m)
        let (a, _) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        let (b, _) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        XCTAssertEqual(kinds(m.shutdown()), ["fail \(b) shut_down", "fail \(a) shut_down", "close 1"])
        let (c, after) = m.submit(deadline: t0 + 1000 * ms, now: t0)
        XCTAssertEqual(kinds(after), ["fail \(c) shut_down"])
        XCTAssertEqual(m.shutdown(), [])
        XCTAssertEqual(m.reconnectDue(now: t0 + 10_000 * ms), [])
    }

    func testUnusedPoolDoesNotReconnect() {
        var m = machine()
        XCTAssertEqual(m.reconnectDue(now: t0), [])
        XCTAssertEqual(m.expire(now: t0), [])
        XCTAssertEqual(m.connectionCount, 0)
    }
}
