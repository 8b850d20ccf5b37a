/// Picks the instance for the next call of an upstream. One balancer object per upstream and loop, so it
/// keeps its state (round-robin position, counters) without locks; it only picks: health checks, circuit
/// breakers and outlier detection will feed `BalancerInput.Instance.isEligible`, and `Upstream` keeps
/// `inFlight`. Loop thread only.
///
/// Round robin is the first implementation; least-request (`inFlight`, power of two choices) and hashing
/// (`hashKey`) fit the same input.
public protocol Balancer: AnyObject {
    /// The index (into `input.instances`) of the instance for the next call, or nil when none is eligible.
    func pick(for input: BalancerInput) -> Int?
}

/// What a balancer sees when it picks, on one loop.
public struct BalancerInput {
    /// One instance as a balancer sees it.
    public struct Instance: Sendable, Equatable {
        /// Its configured weight (≥ 1).
        public var weight: Int
        /// Calls to it in progress on this loop (for least-request).
        public var inFlight: Int = 0
        /// Whether it may be picked (health checks and circuit breakers will clear it; always true now).
        public var isEligible: Bool = true

        public init(weight: Int, inFlight: Int = 0, isEligible: Bool = true) {
            self.weight = weight
            self.inFlight = inFlight
            self.isEligible = isEligible
        }
    }

    /// Per instance, in configuration order.
    public var instances: [Instance]
    /// A key for hashing balancers (a client address, a header's hash); nil when the call has none.
    public var hashKey: UInt64?

    public init(instances: [Instance], hashKey: UInt64? = nil) {
        self.instances = instances
        self.hashKey = hashKey
    }
}

/// Which balancer a service uses (`services.<name>.balancer`).
public enum BalancerKind: String, Sendable, CaseIterable {
    /// Smooth weighted round robin, as nginx does it (`SmoothWeightedRoundRobin`).
    case roundRobin

    /// A fresh balancer for one loop.
    func makeBalancer(instanceCount: Int) -> any Balancer {
        switch self {
        case .roundRobin: return SmoothWeightedRoundRobin(instanceCount: instanceCount)
        }
    }
}
