import XCTest
import Synchronization
@testable import AggregationKit

/// The loop's timer heap without a loop: order, cancellation, and a bound on cancelled entries.
final class TimerHeapTests: XCTestCase {
    /// A request-scoped deadline is nearly always cancelled long before it is due; the heap must not keep
    /// one entry per request for the whole deadline.
    func testCancelledTimersDoNotAccumulate() {
        var heap = TimerHeap()
        var live: [TimerHandle] = []
        for i in 0..<200_000 {
            let handle = heap.insert(deadline: 60_000_000_000 + UInt64(i)) {}
            if i % 100 == 0 { live.append(handle) } else { handle.cancel() }
            XCTAssertLessThanOrEqual(heap.count, max(TimerHeap.minimumCompactionSize, live.count * 2) * 2 + 1)
        }
        XCTAssertLessThan(heap.count, 10_000, "200,000 inserted, 2,000 live")
    }

    func testFiresInDeadlineOrderAndNeverACancelledOne() {
        var heap = TimerHeap()
        var fired: [Int] = []
        var generator = SystemRandomNumberGenerator()
        var expected: [(UInt64, Int)] = []
        for i in 0..<20_000 {
            let deadline = UInt64.random(in: 1...1_000_000, using: &generator)
            let handle = heap.insert(deadline: deadline) { fired.append(i) }
            if i % 3 == 0 { handle.cancel() } else { expected.append((deadline, i)) }
        }
        while let callback = heap.popDue(upTo: 500_000) { callback() }
        while let callback = heap.popDue(upTo: 1_000_000) { callback() }
        // Stable for equal deadlines: insertion order.
        XCTAssertEqual(fired, expected.sorted { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }.map(\.1))
        XCTAssertEqual(heap.count, 0)
    }
}

/// Timers on a running loop.
final class LoopTimerTests: XCTestCase {
    /// A timer's callback may schedule (and cancel) timers: a pool's wait timeout fails a call, and the
    /// composite request it belongs to starts a dependent call that has to wait for a connection. The
    /// heap was being modified while a callback ran, so the second `schedule` was an exclusivity
    /// violation (a trap with the runtime check).
    func testATimerCallbackMaySchedule() throws {
        let clock = ManualClock()
        let group = try EventLoopGroup(threads: 1, clock: clock)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let fired = Mutex<[String]>([])
        loop.post {
            loop.schedule(at: loop.now + 1_000) {
                fired.withLock { $0.append("outer") }
                let doomed = loop.schedule(at: loop.now) { fired.withLock { $0.append("cancelled") } }
                loop.schedule(at: loop.now) { fired.withLock { $0.append("inner, due at once") } }
                loop.schedule(at: loop.now + 5_000) { fired.withLock { $0.append("inner, later") } }
                doomed.cancel()
            }
        }
        loop.settle()
        clock.advance(by: 1_000)
        XCTAssertTrue(eventually { fired.withLock { $0.count == 2 } })
        XCTAssertEqual(fired.withLock { $0 }, ["outer", "inner, due at once"])
        clock.advance(by: 5_000)
        XCTAssertTrue(eventually { fired.withLock { $0.count == 3 } })
        XCTAssertEqual(fired.withLock { $0 }, ["outer", "inner, due at once", "inner, later"])
    }
}
