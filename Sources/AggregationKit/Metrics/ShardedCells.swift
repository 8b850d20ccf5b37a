import Synchronization

/// The memory of one series: `cellsPerShard` 64-bit cells for every shard, summed when scraped.
///
///     shard 0: [c0 c1 … pad to 64 bytes]   written by loop 0's thread only
///     shard 1: [c0 c1 … pad to 64 bytes]   written by loop 1's thread only
///     …
///     shard n: [c0 c1 … pad to 64 bytes]   the shared shard: any thread, atomic read-modify-write
///
/// A loop shard has a single writer, so recording is a relaxed load and a relaxed store of the writer's
/// own cell (a plain `inc` on x86-64: no lock prefix, no fence) and the scrape reads every cell with a
/// relaxed atomic load. Each shard's cells start on their own cache line, so two loops counting the same
/// series never share a line. The shared shard is for threads that are not loops (a task on the global
/// executor, a helper thread); it is written with atomic adds only, so its writers may race safely.
///
/// Cells are allocated once, when the series is created, and freed with the registry: a series handle is
/// a raw pointer (no reference counting on the recording path) and must not outlive its registry.
final class ShardedCells: @unchecked Sendable {
    /// One cache line of cells.
    static let lineCells = 8

    let base: UnsafeMutablePointer<Atomic<UInt64>>
    /// Cells from one shard's first cell to the next shard's.
    let stride: Int
    let cellsPerShard: Int
    /// Loop shards; the shared shard is the one after them.
    let loopShards: Int

    init(cellsPerShard: Int, loopShards: Int) {
        precondition(cellsPerShard > 0 && loopShards > 0)
        self.cellsPerShard = cellsPerShard
        self.loopShards = loopShards
        stride = Self.stride(cellsPerShard: cellsPerShard)
        let count = stride * (loopShards + 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<UInt64>.stride, alignment: 64)
        base = raw.bindMemory(to: Atomic<UInt64>.self, capacity: count)
        for i in 0..<count { (base + i).initialize(to: Atomic(0)) }
    }

    /// The cells from one shard to the next: whole cache lines.
    static func stride(cellsPerShard: Int) -> Int {
        (cellsPerShard + lineCells - 1) / lineCells * lineCells
    }

    deinit {
        base.deinitialize(count: stride * (loopShards + 1))
        UnsafeMutableRawPointer(base).deallocate()
    }

    /// The wrapping sum of `cell` over every shard (loops and shared), read with relaxed loads.
    func sum(cell: Int) -> UInt64 {
        var total: UInt64 = 0
        for shard in 0...loopShards {
            total &+= base[shard * stride + cell].load(ordering: .relaxed)
        }
        return total
    }
}

/// The single-writer update of a loop shard's cell: relaxed load and store, no read-modify-write.
@inline(__always)
func bumpOwnedCell(_ cell: UnsafeMutablePointer<Atomic<UInt64>>, by amount: UInt64) {
    cell.pointee.store(cell.pointee.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
}

/// Traps when `shard` is not a loop shard: a wrong index would write another thread's cell (or outside the
/// series). One unsigned comparison, predicted taken.
@inline(__always)
func checkLoopShard(_ shard: Int, _ loopShards: Int) {
    precondition(UInt(bitPattern: shard) < UInt(bitPattern: loopShards),
                 "metrics shard out of range: pass the event loop's index, or use the shared-shard method off the loops")
}
