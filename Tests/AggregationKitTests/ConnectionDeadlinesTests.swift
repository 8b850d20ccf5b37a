import XCTest
@testable import AggregationKit

/// The server connection's timeout decisions, with a manual clock.
final class ConnectionDeadlinesTests: XCTestCase {
    let ms: UInt64 = 1_000_000
    var config: ServerConfiguration {
        var c = ServerConfiguration()
        c.headerTimeout = 100 * ms
        c.bodyTimeout = 200 * ms
        c.idleTimeout = 300 * ms
        c.writeTimeout = 50 * ms
        return c
    }

    private func verdict(_ d: ConnectionDeadlines, at now: UInt64, _ stage: ConnectionDeadlines.Stage = .reading,
                         body: Bool = false, draining: Bool = false, writing: Bool = false) -> ConnectionDeadlines.Verdict {
        d.verdict(now: now, stage: stage, awaitingBody: body, draining: draining, writePending: writing, configuration: config)
    }

    func testIdleKeepAlive() {
        let d = ConnectionDeadlines(now: 1000 * ms)
        XCTAssertEqual(verdict(d, at: 1300 * ms), .keep)
        XCTAssertEqual(verdict(d, at: 1301 * ms), .close)
        XCTAssertEqual(verdict(d, at: 1001 * ms, draining: true), .close, "draining closes idle connections at once")
    }

    func testHeaderTimeoutRunsFromTheFirstByte() {
        var d = ConnectionDeadlines(now: 0)
        d.requestStartedAt = 500 * ms
        d.lastActivity = 590 * ms  // trickling bytes do not extend it (slowloris)
        XCTAssertEqual(verdict(d, at: 600 * ms), .keep)
        XCTAssertEqual(verdict(d, at: 601 * ms), .headerTimeout)
        XCTAssertEqual(verdict(d, at: 601 * ms, draining: true), .headerTimeout, "a request in progress is not cut by draining")
    }

    func testBodyTimeoutRunsFromTheEndOfTheHead() {
        var d = ConnectionDeadlines(now: 0)
        d.requestStartedAt = 0
        d.bodyStartedAt = 100 * ms
        XCTAssertEqual(verdict(d, at: 300 * ms, body: true), .keep)
        XCTAssertEqual(verdict(d, at: 301 * ms, body: true), .bodyTimeout)
    }

    func testWriteStallInAnyStageAndLinger() {
        var d = ConnectionDeadlines(now: 0)
        d.writeProgressAt = 1000 * ms
        XCTAssertEqual(verdict(d, at: 1050 * ms, .processing, writing: true), .keep)
        XCTAssertEqual(verdict(d, at: 1051 * ms, .processing, writing: true), .writeStalled)
        XCTAssertEqual(verdict(d, at: 1051 * ms, .processing, writing: false), .keep, "no pending output, no write timeout")
        XCTAssertEqual(verdict(d, at: 5000 * ms, .processing), .keep, "a slow handler is not the server's timeout")
        d.lingerUntil = 2000 * ms
        XCTAssertEqual(verdict(d, at: 2000 * ms, .lingering), .keep)
        XCTAssertEqual(verdict(d, at: 2001 * ms, .lingering), .close)
    }
}

final class DescriptorBudgetTests: XCTestCase {
    func testClientsGetThreeQuartersOfWhatIsLeftAfterTheReserve() {
        XCTAssertEqual(DescriptorBudget(descriptorLimit: 1024, configuredConnections: 16384).clientConnections, 720)
        XCTAssertEqual(DescriptorBudget(descriptorLimit: 20000, configuredConnections: 16384).clientConnections, 14952)
        XCTAssertTrue(DescriptorBudget(descriptorLimit: 1024, configuredConnections: 16384).isCapped)
        XCTAssertEqual(DescriptorBudget(descriptorLimit: 1 << 20, configuredConnections: 16384).clientConnections, 16384)
        XCTAssertFalse(DescriptorBudget(descriptorLimit: 1 << 20, configuredConnections: 16384).isCapped)
        XCTAssertEqual(DescriptorBudget(descriptorLimit: 10, configuredConnections: 100).clientConnections, 1)
    }
}

final class MemoryBudgetTests: XCTestCase {
    func testReservationsStopAtTheLimitAndComeBackOnRelease() {
        let budget = MemoryBudget(limit: 100)
        XCTAssertTrue(budget.tryReserve(60))
        XCTAssertFalse(budget.tryReserve(41))
        XCTAssertTrue(budget.tryReserve(40))
        XCTAssertEqual(budget.inUse, 100)
        XCTAssertFalse(budget.tryReserve(1))
        budget.release(60)
        XCTAssertTrue(budget.tryReserve(60))
        budget.release(100)
        XCTAssertEqual(budget.inUse, 0)
    }
}

/// The minimum send rate, with a manual clock: a trickle reader is dropped, a slow but steady one is not.
final class SendRateTests: XCTestCase {
    let ms: UInt64 = 1_000_000
    var config: ServerConfiguration {
        var c = ServerConfiguration()
        c.writeTimeout = 60_000 * ms
        c.minSendBytesPerSecond = 1024
        c.sendRateWindow = 10_000 * ms
        return c
    }

    func testTrickleReaderIsDroppedAtTheEndOfTheWindow() {
        var d = ConnectionDeadlines(now: 0)
        d.outputBlocked(now: 1000 * ms)
        // One byte a second: progress every second, so the write timeout never fires.
        for s in 1...9 { d.sent(1, now: (1000 + UInt64(s) * 1000) * ms, configuration: config) }
        XCTAssertEqual(d.verdict(now: 10_999 * ms, stage: .processing, awaitingBody: false, draining: false, writePending: true, configuration: config), .keep)
        XCTAssertEqual(d.verdict(now: 11_000 * ms, stage: .processing, awaitingBody: false, draining: false, writePending: true, configuration: config), .writeStalled)
    }

    func testExactlyTheMinimumRateKeepsTheConnection() {
        var d = ConnectionDeadlines(now: 0)
        d.outputBlocked(now: 1000 * ms)
        d.sent(10_240, now: 11_000 * ms, configuration: config)
        XCTAssertEqual(d.verdict(now: 11_001 * ms, stage: .processing, awaitingBody: false, draining: false, writePending: true, configuration: config), .keep)
        var e = ConnectionDeadlines(now: 0)
        e.outputBlocked(now: 1000 * ms)
        e.sent(10_239, now: 11_000 * ms, configuration: config)
        XCTAssertEqual(e.verdict(now: 11_001 * ms, stage: .reading, awaitingBody: false, draining: false, writePending: true, configuration: config), .writeStalled,
                       "a window judged when its bytes arrived stays judged")
    }

    func testASlowWindowJudgedOnTheLastWriteIsForgiven() {
        var d = ConnectionDeadlines(now: 0)
        d.outputBlocked(now: 1000 * ms)
        d.sent(100, now: 11_000 * ms, configuration: config)   // under the rate, and the output is done
        d.outputDrained()
        XCTAssertEqual(d.verdict(now: 11_050 * ms, stage: .reading, awaitingBody: false, draining: false, writePending: false, configuration: config), .keep,
                       "a reset now would discard the end of the response already in the kernel")
    }

    func testNoWindowRunsWhileNothingWaitsOrWhenTurnedOff() {
        var d = ConnectionDeadlines(now: 0)
        d.outputBlocked(now: 1000 * ms)
        d.outputDrained()
        XCTAssertEqual(d.verdict(now: 50_000 * ms, stage: .processing, awaitingBody: false, draining: false, writePending: false, configuration: config), .keep)
        var off = config
        off.minSendBytesPerSecond = 0
        var e = ConnectionDeadlines(now: 0)
        e.outputBlocked(now: 1000 * ms)
        XCTAssertEqual(e.verdict(now: 20_000 * ms, stage: .processing, awaitingBody: false, draining: false, writePending: true, configuration: off), .keep)
    }
}
