import Synchronization

// Series handles: what the hot path holds. Each is a few words (a raw pointer to the series' cells and
// the numbers needed to find a shard's cell), resolved once from a family when a route is compiled, so
// recording is a pointer bump: no dictionary lookup, no lock, no allocation, no reference counting.
//
// Threading rule for every handle: `…(shard:)` methods are called only by the thread that owns `shard`
// (the event loop with that index); the methods without `shard:` work from any thread (an atomic add on
// the shared shard) and are for code that does not run on a loop. A handle is valid while its registry
// lives.

/// One series of a counter: a monotonically increasing 64-bit count.
public struct CounterSeries: @unchecked Sendable {
    let cells: UnsafeMutablePointer<Atomic<UInt64>>
    let stride: Int
    let loopShards: Int

    init(_ storage: ShardedCells) {
        cells = storage.base
        stride = storage.stride
        loopShards = storage.loopShards
    }

    init(cells: UnsafeMutablePointer<Atomic<UInt64>>, stride: Int, loopShards: Int) {
        self.cells = cells
        self.stride = stride
        self.loopShards = loopShards
    }

    /// Adds one, on the calling loop's shard. Loop thread `shard` only.
    @inline(__always)
    public func increment(shard: Int) { add(1, shard: shard) }

    /// Adds `amount`, on the calling loop's shard. Loop thread `shard` only.
    @inline(__always)
    public func add(_ amount: UInt64, shard: Int) {
        checkLoopShard(shard, loopShards)
        bumpOwnedCell(cells + shard &* stride, by: amount)
    }

    /// Adds `amount` from any thread (an atomic add on the shared shard).
    public func add(_ amount: UInt64 = 1) {
        (cells + loopShards &* stride).pointee.wrappingAdd(amount, ordering: .relaxed)
    }

    /// The current total over every shard (what a scrape shows).
    public var value: UInt64 {
        var total: UInt64 = 0
        for shard in 0...loopShards { total &+= cells[shard &* stride].load(ordering: .relaxed) }
        return total
    }
}

/// One series of a gauge that the gateway sets or moves: a signed 64-bit value per shard, summed when
/// scraped. Moving it up and down on the same shard (a request in flight on its loop) keeps each shard's
/// part meaningful; `set` on a shard replaces only that shard's part.
public struct GaugeSeries: @unchecked Sendable {
    let cells: UnsafeMutablePointer<Atomic<UInt64>>
    let stride: Int
    let loopShards: Int

    init(_ storage: ShardedCells) {
        cells = storage.base
        stride = storage.stride
        loopShards = storage.loopShards
    }

    /// Adds `delta` (negative to lower it) on the calling loop's shard. Loop thread `shard` only.
    @inline(__always)
    public func add(_ delta: Int64, shard: Int) {
        checkLoopShard(shard, loopShards)
        bumpOwnedCell(cells + shard &* stride, by: UInt64(bitPattern: delta))
    }

    /// Sets the calling loop's part of the gauge. Loop thread `shard` only.
    @inline(__always)
    public func set(_ value: Int64, shard: Int) {
        checkLoopShard(shard, loopShards)
        (cells + shard &* stride).pointee.store(UInt64(bitPattern: value), ordering: .relaxed)
    }

    /// Adds `delta` from any thread (an atomic add on the shared shard).
    public func add(_ delta: Int64) {
        (cells + loopShards &* stride).pointee.wrappingAdd(UInt64(bitPattern: delta), ordering: .relaxed)
    }

    /// The sum of every shard's part (what a scrape shows).
    public var value: Int64 {
        var total: UInt64 = 0
        for shard in 0...loopShards { total &+= cells[shard &* stride].load(ordering: .relaxed) }
        return Int64(bitPattern: total)
    }
}

/// One series of a histogram with fixed buckets. Observations are unsigned integers in the family's
/// recording unit (nanoseconds for the gateway's durations), compared with the bucket bounds converted to
/// that unit once, at registration; the exposition shows them in the base unit (seconds).
///
/// A shard's cells: one non-cumulative count per bucket, one for values above the last bound, then the
/// sum. The exposition accumulates the buckets and takes `_count` from the `+Inf` bucket, so a scrape that
/// races a recording still shows `_count` equal to `+Inf` and buckets that never decrease.
public struct HistogramSeries: @unchecked Sendable {
    let cells: UnsafeMutablePointer<Atomic<UInt64>>
    let stride: Int
    let loopShards: Int
    /// Upper bounds in the recording unit, ascending; owned by the family.
    let bounds: UnsafePointer<UInt64>
    let boundCount: Int

    init(_ storage: ShardedCells, bounds: UnsafePointer<UInt64>, boundCount: Int) {
        self.init(cells: storage.base, stride: storage.stride, loopShards: storage.loopShards, bounds: bounds, boundCount: boundCount)
    }

    init(cells: UnsafeMutablePointer<Atomic<UInt64>>, stride: Int, loopShards: Int, bounds: UnsafePointer<UInt64>, boundCount: Int) {
        self.cells = cells
        self.stride = stride
        self.loopShards = loopShards
        self.bounds = bounds
        self.boundCount = boundCount
    }

    /// The cell of the first bucket whose bound is ≥ `value` (`le` is inclusive), or the overflow cell.
    @inline(__always)
    func bucket(of value: UInt64) -> Int {
        var i = 0
        while i < boundCount && value > bounds[i] { i &+= 1 }
        return i
    }

    /// Records one observation of `value` (in the recording unit) on the calling loop's shard. Loop thread
    /// `shard` only.
    @inline(__always)
    public func observe(_ value: UInt64, shard: Int) {
        checkLoopShard(shard, loopShards)
        let own = cells + shard &* stride
        bumpOwnedCell(own + bucket(of: value), by: 1)
        bumpOwnedCell(own + (boundCount &+ 1), by: value)
    }

    /// Records one observation from any thread (atomic adds on the shared shard).
    public func observe(_ value: UInt64) {
        let shared = cells + loopShards &* stride
        shared[bucket(of: value)].wrappingAdd(1, ordering: .relaxed)
        shared[boundCount + 1].wrappingAdd(value, ordering: .relaxed)
    }

    /// The number of observations so far (over every shard).
    public var count: UInt64 {
        var total: UInt64 = 0
        for shard in 0...loopShards {
            for b in 0...boundCount { total &+= cells[shard &* stride + b].load(ordering: .relaxed) }
        }
        return total
    }

    /// The sum of the observations so far, in the recording unit.
    public var sum: UInt64 {
        var total: UInt64 = 0
        for shard in 0...loopShards { total &+= cells[shard &* stride + boundCount + 1].load(ordering: .relaxed) }
        return total
    }
}
