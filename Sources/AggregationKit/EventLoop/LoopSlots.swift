/// One slot per loop for state that each loop keeps for itself (an upstream's pools and balancer). A loop
/// reads and writes only the slot of its own index, so the slots need no lock; the storage never grows
/// (at most `EventLoopGroup.maxLoops` loops).
final class LoopSlots<Value: AnyObject>: @unchecked Sendable {
    private let slots = UnsafeMutablePointer<Value?>.allocate(capacity: EventLoopGroup.maxLoops)

    init() { slots.initialize(repeating: nil, count: EventLoopGroup.maxLoops) }
    deinit {
        slots.deinitialize(count: EventLoopGroup.maxLoops)
        slots.deallocate()
    }

    /// `loop`'s value, made by `make` on first use. Loop thread only.
    @inline(__always) func value(on loop: EventLoop, make: () -> Value) -> Value {
        if let v = slots[loop.index] { return v }
        let v = make()
        slots[loop.index] = v
        return v
    }

    /// `loop`'s value if it has one. Loop thread only.
    func existingValue(on loop: EventLoop) -> Value? { slots[loop.index] }
}
