#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The one source of time for everything that decides with it: a loop's `now` (connection deadlines,
/// pool idle expiry, upstream timeouts), composite deadlines, and later limiters, breakers and token
/// expiry. Injected (`EventLoopGroup(threads:clock:)`), so tests drive time by hand with a `ManualClock`
/// instead of sleeping. Any thread.
public protocol GatewayClock: Sendable {
    /// Nanoseconds since an arbitrary fixed point; never goes backwards. For deadlines, timeouts and
    /// durations: never compare it across processes.
    func monotonicNanoseconds() -> UInt64
    /// Nanoseconds since 1970-01-01T00:00:00Z. For what other machines read or wrote: the `Date` header,
    /// log times, token expiry. It may jump (NTP, an operator): never measure a duration with it.
    func wallClockNanoseconds() -> Int64
}

/// The kernel's clocks (`CLOCK_MONOTONIC`, `CLOCK_REALTIME`; vDSO calls, no syscall).
public struct SystemClock: GatewayClock {
    public init() {}

    @inline(__always) public func monotonicNanoseconds() -> UInt64 { Syscall.monotonicNanoseconds() }

    public func wallClockNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// A clock that moves only when told to: for tests of anything that decides with time. Both readings
/// advance together. Any thread.
///
/// It starts an hour after its monotonic zero (code uses 0 for "not set") and at 2026-01-01T00:00:00Z.
public final class ManualClock: GatewayClock {
    private let monotonic: Atomic<UInt64>
    private let wall: Atomic<Int64>

    public init(monotonicNanoseconds: UInt64 = 3_600_000_000_000, wallClockNanoseconds: Int64 = 1_767_225_600_000_000_000) {
        monotonic = Atomic(monotonicNanoseconds)
        wall = Atomic(wallClockNanoseconds)
    }

    public func monotonicNanoseconds() -> UInt64 { monotonic.load(ordering: .acquiring) }
    public func wallClockNanoseconds() -> Int64 { wall.load(ordering: .acquiring) }

    /// Moves both readings forward. A loop driven by this clock sees the new time at its next iteration
    /// (within 50 ms, or at once if woken).
    public func advance(by nanoseconds: UInt64) {
        monotonic.add(nanoseconds, ordering: .acquiringAndReleasing)
        wall.add(Int64(nanoseconds), ordering: .acquiringAndReleasing)
    }

    /// Sets the wall reading only (a clock step), leaving the monotonic one alone.
    public func setWallClock(nanoseconds: Int64) {
        wall.store(nanoseconds, ordering: .releasing)
    }
}
