import XCTest
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
        heap.fire(upTo: 500_000)
        heap.fire(upTo: 1_000_000)
        // Stable for equal deadlines: insertion order.
        XCTAssertEqual(fired, expected.sorted { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }.map(\.1))
        XCTAssertEqual(heap.count, 0)
    }
}
