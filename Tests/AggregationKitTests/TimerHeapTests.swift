import XCTest
import Synchronization
import CLinuxIO
#if canImport(Glibc)
import Glibc
#endif
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

/// From the review: an event of a batch whose descriptor was closed, and its number reused by a new
/// registration, earlier in the same batch must not reach the new handler.
final class LoopStaleEventTests: XCTestCase {
    final class Recorder: EventLoopHandler, @unchecked Sendable {
        let onEvent: (Recorder) -> Void
        var calls = 0
        init(_ onEvent: @escaping (Recorder) -> Void = { _ in }) { self.onEvent = onEvent }
        func handleEvents(_ events: UInt32) { calls += 1; onEvent(self) }
        func tick(now: UInt64) {}
    }

    func testAnEventForAClosedDescriptorDoesNotReachItsNumbersNextOwner() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        func pair() -> (Int32, Int32) {
            var fds: [Int32] = [0, 0]
            precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
            return (fds[0], fds[1])
        }
        let (x, xPeer) = pair()
        let (y, yPeer) = pair()
        defer { close(xPeer); close(yPeer) }
        let outcome = Mutex<(reused: Bool, newCalls: Int, done: Bool)>((false, -1, false))
        nonisolated(unsafe) var newcomer: Recorder? = nil
        nonisolated(unsafe) var newcomerPeer: Int32 = -1
        nonisolated(unsafe) var newcomerFD: Int32 = -1
        let yHandler = Recorder()
        let xHandler = Recorder { _ in
            // Y's event is later in this batch: close Y and give its number to a new socket.
            loop.deregisterAndClose(y, yHandler)
            let (z, zPeer) = pair()
            newcomerPeer = zPeer
            newcomerFD = z
            let recorder = Recorder()
            newcomer = recorder
            try? loop.register(z, recorder, events: EPOLLIN.rawValue)
            outcome.withLock { $0.reused = z == y }
        }
        loop.post {
            try? loop.register(x, xHandler, events: EPOLLIN.rawValue, edgeTriggered: true)
            try? loop.register(y, yHandler, events: EPOLLIN.rawValue, edgeTriggered: true)
            var byte: UInt8 = 1
            _ = write(xPeer, &byte, 1)
            _ = write(yPeer, &byte, 1)
        }
        loop.settle()
        loop.settle()
        loop.post { outcome.withLock { $0.newCalls = newcomer?.calls ?? -1; $0.done = true } }
        XCTAssertTrue(eventually { outcome.withLock { $0.done } })
        let result = outcome.withLock { $0 }
        XCTAssertTrue(result.reused, "the new socket took the closed one's number (else the test shows nothing)")
        XCTAssertEqual(result.newCalls, 0, "the stale event reached the new handler")
        XCTAssertEqual(yHandler.calls, 0)
        let cleaned = Mutex(false)
        loop.post {
            if let n = newcomer { loop.deregisterAndClose(newcomerFD, n) }
            loop.deregisterAndClose(x, xHandler)
            cleaned.withLock { $0 = true }
        }
        XCTAssertTrue(eventually { cleaned.withLock { $0 } })
        close(newcomerPeer)
    }
}
