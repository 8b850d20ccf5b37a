import XCTest
@testable import AggregationKit

final class ConnectionPoolStateMachineTests: XCTestCase {
    typealias SM = ConnectionPoolStateMachine
    let second: UInt64 = 1_000_000_000

    func testFirstLeaseOpensAConnectionThenReusesIt() {
        var sm = SM(configuration: .init(maxConnections: 2, maxIdle: 2, idleTimeout: 10 * second, maxWaiters: 1))
        guard case .wait(let w1, let c1?) = sm.lease(now: 0) else { return XCTFail() }
        XCTAssertEqual(sm.connectionEstablished(c1, now: 1), [.handOver(c1, to: w1)])
        XCTAssertEqual(sm.connectionReleased(c1, reusable: true, now: 2), [])
        XCTAssertEqual(sm.idleCount, 1)
        XCTAssertEqual(sm.lease(now: 3), .leased(c1))
        XCTAssertEqual(sm.connectionCount, 1)
    }

    func testQueueBoundAndFIFOHandOver() {
        var sm = SM(configuration: .init(maxConnections: 1, maxIdle: 1, idleTimeout: 10 * second, maxWaiters: 2))
        guard case .wait(let w1, let c1?) = sm.lease(now: 0) else { return XCTFail() }
        guard case .wait(let w2, nil) = sm.lease(now: 0) else { return XCTFail("at the limit: wait, no new connection") }
        guard case .wait(let w3, nil) = sm.lease(now: 0) else { return XCTFail() }
        XCTAssertEqual(sm.lease(now: 0), .rejected, "queue of 2 is full")
        XCTAssertEqual(sm.connectionEstablished(c1, now: 1), [.handOver(c1, to: w1)])
        XCTAssertEqual(sm.connectionReleased(c1, reusable: true, now: 2), [.handOver(c1, to: w2)])
        XCTAssertEqual(sm.connectionReleased(c1, reusable: true, now: 3), [.handOver(c1, to: w3)])
        XCTAssertEqual(sm.connectionReleased(c1, reusable: true, now: 4), [])
        XCTAssertEqual(sm.waiterCount, 0)
    }

    func testNonReusableReleaseOpensAReplacementForWaiters() {
        var sm = SM(configuration: .init(maxConnections: 1, maxIdle: 1, idleTimeout: 10 * second, maxWaiters: 5))
        guard case .wait(let w1, let c1?) = sm.lease(now: 0) else { return XCTFail() }
        guard case .wait(let w2, nil) = sm.lease(now: 0) else { return XCTFail() }
        _ = sm.connectionEstablished(c1, now: 0)
        _ = w1
        let actions = sm.connectionReleased(c1, reusable: false, now: 1)
        guard actions.count == 2, actions[0] == .close(c1), case .create(let c2) = actions[1] else { return XCTFail("\(actions)") }
        XCTAssertEqual(sm.connectionEstablished(c2, now: 2), [.handOver(c2, to: w2)])
    }

    func testConnectFailureFailsOldestWaiter() {
        var sm = SM(configuration: .init(maxConnections: 1, maxIdle: 1, idleTimeout: 10 * second, maxWaiters: 5))
        guard case .wait(let w1, let c1?) = sm.lease(now: 0) else { return XCTFail() }
        guard case .wait(let w2, nil) = sm.lease(now: 0) else { return XCTFail() }
        let actions = sm.connectionFailed(c1)
        XCTAssertEqual(actions.first, .fail(w1))
        guard actions.count == 2, case .create(let c2) = actions[1] else { return XCTFail("w2 still waits and gets a new attempt: \(actions)") }
        XCTAssertEqual(sm.connectionFailed(c2), [.fail(w2)])
        XCTAssertEqual(sm.connectionCount, 0)
        XCTAssertEqual(sm.waiterCount, 0)
    }

    func testCancelledWaiterIsSkipped() {
        var sm = SM(configuration: .init(maxConnections: 1, maxIdle: 1, idleTimeout: 10 * second, maxWaiters: 5))
        guard case .wait(let w1, let c1?) = sm.lease(now: 0) else { return XCTFail() }
        guard case .wait(let w2, nil) = sm.lease(now: 0) else { return XCTFail() }
        XCTAssertTrue(sm.cancelWaiter(w1))
        XCTAssertFalse(sm.cancelWaiter(w1))
        XCTAssertEqual(sm.connectionEstablished(c1, now: 1), [.handOver(c1, to: w2)])
    }

    func testIdleLimitAndExpiry() {
        var sm = SM(configuration: .init(maxConnections: 3, maxIdle: 1, idleTimeout: 5 * second, maxWaiters: 0))
        guard case .wait(_, let a?) = sm.lease(now: 0), case .wait(_, let b?) = sm.lease(now: 0) else { return XCTFail() }
        _ = sm.connectionEstablished(a, now: 0)
        _ = sm.connectionEstablished(b, now: 0)
        XCTAssertEqual(sm.connectionReleased(a, reusable: true, now: 1 * second), [])
        XCTAssertEqual(sm.connectionReleased(b, reusable: true, now: 1 * second), [.close(b)], "maxIdle 1: the second idle one closes")
        XCTAssertEqual(sm.expireIdle(now: 5 * second), [])
        XCTAssertEqual(sm.expireIdle(now: 6 * second), [.close(a)])
        XCTAssertEqual(sm.connectionCount, 0)
    }

    func testMostRecentlyUsedIdleConnectionFirst() {
        var sm = SM(configuration: .init(maxConnections: 2, maxIdle: 2, idleTimeout: 5 * second, maxWaiters: 0))
        guard case .wait(_, let a?) = sm.lease(now: 0), case .wait(_, let b?) = sm.lease(now: 0) else { return XCTFail() }
        _ = sm.connectionEstablished(a, now: 0)
        _ = sm.connectionEstablished(b, now: 0)
        _ = sm.connectionReleased(a, reusable: true, now: 1)
        _ = sm.connectionReleased(b, reusable: true, now: 2)
        XCTAssertEqual(sm.lease(now: 3), .leased(b))
    }

    func testIdleConnectionClosedByPeerAndShutdown() {
        var sm = SM(configuration: .init(maxConnections: 2, maxIdle: 2, idleTimeout: 5 * second, maxWaiters: 3))
        guard case .wait(_, let a?) = sm.lease(now: 0) else { return XCTFail() }
        _ = sm.connectionEstablished(a, now: 0)
        _ = sm.connectionReleased(a, reusable: true, now: 1)
        sm.idleConnectionClosed(a)
        XCTAssertEqual(sm.connectionCount, 0)
        guard case .wait(let w, let c?) = sm.lease(now: 2) else { return XCTFail() }
        XCTAssertEqual(sm.shutdown(), [.fail(w)])
        XCTAssertEqual(sm.connectionFailed(c), [])
    }
}

extension ConnectionPoolStateMachineTests {
    /// After shutdown the idle connection closes, leases are refused, and a connection in use or still
    /// connecting closes instead of idling.
    func testShutdownClosesEverythingAsItBecomesIdle() {
        var sm = SM(configuration: .init(maxConnections: 3, maxIdle: 3, idleTimeout: 10 * second, maxWaiters: 5))
        guard case .wait(let w1, let c1?) = sm.lease(now: 0), case .wait(let w2, let c2?) = sm.lease(now: 0) else { return XCTFail() }
        XCTAssertEqual(sm.connectionEstablished(c1, now: 1), [.handOver(c1, to: w1)])
        XCTAssertEqual(sm.connectionEstablished(c2, now: 1), [.handOver(c2, to: w2)])
        guard case .wait(let w3, let c3?) = sm.lease(now: 2) else { return XCTFail() }
        XCTAssertEqual(sm.connectionReleased(c1, reusable: true, now: 3), [.handOver(c1, to: w3)])
        XCTAssertEqual(sm.connectionReleased(c1, reusable: true, now: 4), [])
        // c1 idle, c2 in use, c3 connecting.
        XCTAssertEqual(sm.shutdown(), [.close(c1)])
        XCTAssertEqual(sm.lease(now: 5), .shutDown)
        XCTAssertEqual(sm.connectionReleased(c2, reusable: true, now: 6), [.close(c2)], "in use: closes when done")
        XCTAssertEqual(sm.connectionEstablished(c3, now: 7), [.close(c3)], "connecting: closes when connected")
        XCTAssertEqual(sm.connectionCount, 0)
        XCTAssertEqual(sm.shutdown(), [], "twice: nothing more to do")
    }

    func testShutdownFailsEveryWaiter() {
        var sm = SM(configuration: .init(maxConnections: 1, maxIdle: 1, idleTimeout: 10 * second, maxWaiters: 5))
        guard case .wait(let w1, let c1?) = sm.lease(now: 0), case .wait(let w2, nil) = sm.lease(now: 0) else { return XCTFail() }
        XCTAssertEqual(sm.shutdown(), [.fail(w1), .fail(w2)])
        XCTAssertEqual(sm.waiterCount, 0)
        XCTAssertEqual(sm.connectionEstablished(c1, now: 1), [.close(c1)])
    }

    /// Idle expiry by the time a clock reports, advanced by hand.
    func testIdleExpiryFollowsAManualClock() {
        let clock = ManualClock()
        var sm = SM(configuration: .init(maxConnections: 2, maxIdle: 2, idleTimeout: 60 * second, maxWaiters: 1))
        guard case .wait(let w1, let c1?) = sm.lease(now: clock.monotonicNanoseconds()) else { return XCTFail() }
        XCTAssertEqual(sm.connectionEstablished(c1, now: clock.monotonicNanoseconds()), [.handOver(c1, to: w1)])
        XCTAssertEqual(sm.connectionReleased(c1, reusable: true, now: clock.monotonicNanoseconds()), [])
        clock.advance(by: 60 * second - 1)
        XCTAssertEqual(sm.expireIdle(now: clock.monotonicNanoseconds()), [])
        clock.advance(by: 1)
        XCTAssertEqual(sm.expireIdle(now: clock.monotonicNanoseconds()), [.close(c1)])
        XCTAssertEqual(sm.connectionCount, 0)
    }

    /// Connections live in reused slots: the table stays as small as the most connections open at once,
    /// and the ID of a closed connection never reaches the connection that took its slot.
    func testAClosedConnectionsIDNeverReachesItsSlotsNextConnection() {
        var sm = SM(configuration: .init(maxConnections: 3, maxIdle: 0, idleTimeout: 10 * second, maxWaiters: 8))
        var seen = Set<SM.ConnectionID>()
        var previous: SM.ConnectionID? = nil
        for round in 0..<10_000 {
            guard case .wait(let w, let c?) = sm.lease(now: 0) else { return XCTFail("round \(round)") }
            XCTAssertTrue(seen.insert(c).inserted, "an ID is never handed out twice")
            XCTAssertLessThan(SM.slot(of: c), 3)
            if let old = previous {
                XCTAssertEqual(SM.slot(of: old), SM.slot(of: c), "the slot is reused")
                // Events for the closed connection are ignored; the new one is untouched.
                XCTAssertEqual(sm.connectionEstablished(old, now: 1), [])
                XCTAssertEqual(sm.connectionReleased(old, reusable: true, now: 1), [])
                XCTAssertEqual(sm.connectionFailed(old), [])
                sm.idleConnectionClosed(old)
            }
            XCTAssertEqual(sm.connectionCount, 1)
            XCTAssertEqual(sm.connectionEstablished(c, now: 1), [.handOver(c, to: w)])
            // maxIdle 0: released, it closes.
            XCTAssertEqual(sm.connectionReleased(c, reusable: true, now: 2), [.close(c)])
            XCTAssertEqual(sm.connectionCount, 0)
            previous = c
        }
    }

    /// From the review: a connection that reports its close before it was established (an immediate
    /// connect whose `connectionEstablished` was deferred) fails like a connect instead of holding its slot.
    func testACloseBeforeEstablishedFailsTheWaiterAndFreesTheSlot() {
        var sm = SM(configuration: .init(maxConnections: 1, maxIdle: 1, idleTimeout: 10 * second, maxWaiters: 4))
        guard case .wait(let w, let c?) = sm.lease(now: 0) else { return XCTFail() }
        XCTAssertEqual(sm.idleConnectionClosed(c), [.fail(w)])
        XCTAssertEqual(sm.connectionCount, 0)
        XCTAssertEqual(sm.connectionEstablished(c, now: 1), [], "its late establishment is ignored")
        guard case .wait(_, let next?) = sm.lease(now: 2) else { return XCTFail("the slot is free again") }
        XCTAssertNotEqual(next, c)
    }
}
