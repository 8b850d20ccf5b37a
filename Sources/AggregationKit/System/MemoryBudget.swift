import Synchronization

/// A process-wide allowance of bytes for large response bodies held in memory: bodies being received
/// from upstreams and responses waiting in user space for a slow client. Small bodies (up to
/// `untrackedBytes`) are not counted: they are bounded by the connection limits already, and counting
/// them would put an atomic operation on every request.
///
/// Twelve slow readers of a 16 MiB response held 12 × 16 MiB before; with a budget, the next large
/// response that does not fit fails fast (503) instead of growing the process. Thread-safe.
public final class MemoryBudget: Sendable {
    /// Bodies up to this size are never counted.
    public static let untrackedBytes = 64 * 1024

    public let limit: Int
    private let used = Atomic<Int>(0)

    public init(limit: Int) { self.limit = limit }

    /// Bytes reserved now.
    public var inUse: Int { used.load(ordering: .relaxed) }

    /// Reserves `bytes` if they fit; returns whether they did.
    public func tryReserve(_ bytes: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while true {
            guard current + bytes <= limit else { return false }
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    public func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        used.subtract(bytes, ordering: .relaxed)
    }
}
