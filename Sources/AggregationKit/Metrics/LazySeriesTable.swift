import Synchronization

/// A fixed table of series handles of one family, indexed by small integers (method × status class,
/// instance × outcome), each resolved on its first use and then read with one acquiring load.
///
/// Creating every combination up front would fill the exposition with zeros (ten methods × five status
/// classes per route) and spend the family's series limit; creating on use from the hot path needs the
/// family's lock, but only once per slot for the life of the process. Two loops resolving the same slot
/// at once both get the same series (the family's lookup is under its lock) and store the same pointer.
final class LazySeriesTable: @unchecked Sendable {
    let core: MetricFamilyCore
    let count: Int
    /// Per slot, the address of the series' cells, or 0 before first use.
    private let slots: UnsafeMutablePointer<Atomic<UInt>>
    /// The label values of a slot, called once per slot, under no lock of ours.
    private let labels: @Sendable (Int) -> [String]

    init(core: MetricFamilyCore, count: Int, labels: @escaping @Sendable (Int) -> [String]) {
        self.core = core
        self.count = count
        self.labels = labels
        slots = .allocate(capacity: count)
        for i in 0..<count { (slots + i).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    /// The cells of `slot`'s series (which stay allocated as long as the family).
    @inline(__always)
    func cells(_ slot: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        precondition(UInt(bitPattern: slot) < UInt(bitPattern: count))
        let bits = slots[slot].load(ordering: .acquiring)
        if bits != 0 { return UnsafeMutablePointer(bitPattern: bits).unsafelyUnwrapped }
        return resolve(slot)
    }

    @inline(never)
    private func resolve(_ slot: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        let base = core.cells(for: labels(slot)).base
        slots[slot].store(UInt(bitPattern: base), ordering: .releasing)
        return base
    }
}
