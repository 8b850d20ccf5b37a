import Synchronization

/// One configured service: its instances, the balancer that picks among them, the connection pools it
/// owns (one per instance and loop), and the observers that hear how every call went. Built once at
/// start, lives as long as the gateway, shut down on stop. Proxy routes and composite calls both call
/// through it; neither picks instances nor talks to connections.
///
///     start/execute ─▶ loop's state (balancer, in-flight counts, pools) ─▶ balancer picks instance i
///        ─▶ instance i's pool on this loop ─▶ connection ─▶ response or error
///        ─▶ outcome report to every observer (on the loop, synchronously) ─▶ caller's completion
///
/// Everything a call touches is per loop (`LoopSlots`): no locks, and no allocation per call beyond the
/// call object itself. `start` and the loop state: the calling loop's thread; `shutdown()`: any thread
/// but a loop's.
public final class Upstream: Sendable {
    /// The service's name (`services.<name>`).
    public let name: String
    /// Its position in the `UpstreamRegistry` (0 when built alone): observers can index tables by it.
    public let index: Int
    /// In configuration order; `instances[i].index == i`.
    public let instances: [UpstreamInstance]
    public let balancer: BalancerKind
    /// The service's response timeout (ns), used when a call names none.
    public let responseTimeout: UInt64
    let observers: [any UpstreamObserver]
    /// The loops that may call it (whose state `shutdown` visits).
    let loops: [EventLoop]
    private let states = LoopSlots<LoopState>()
    private let isShutDown = Atomic<Bool>(false)

    /// `instances` must not be empty and must share one response timeout (they are one service's).
    /// `group`: the loops that will call it. `observers` hear every call's outcome (see `UpstreamObserver`).
    public init(name: String, index: Int = 0, instances: [UpstreamInstance], balancer: BalancerKind = .roundRobin,
                group: EventLoopGroup, observers: [any UpstreamObserver] = []) {
        precondition(!instances.isEmpty, "a service has at least one instance")
        precondition(instances.indices.allSatisfy { instances[$0].index == $0 }, "instances[i].index must be i")
        self.name = name
        self.index = index
        self.instances = instances
        self.balancer = balancer
        self.responseTimeout = instances[0].origin.responseTimeout
        self.loops = group.loops
        self.observers = observers
    }

    /// The upstream of a configured service; large response bodies from it count against `responseBudget`.
    public convenience init(configuration service: ServiceConfiguration, index: Int = 0, group: EventLoopGroup,
                            responseBudget: MemoryBudget? = nil, observers: [any UpstreamObserver] = []) throws {
        let origins = try service.origins(budget: responseBudget)
        let instances = origins.indices.map {
            UpstreamInstance(index: $0, origin: origins[$0], weight: service.instances[$0].weight, zone: service.instances[$0].zone)
        }
        self.init(name: service.name, index: index, instances: instances, balancer: service.balancer, group: group, observers: observers)
    }

    // MARK: Calls

    /// Sends `request` to an instance the balancer picks, with no Swift task: for the proxy's fast path.
    /// Call on `loop`'s thread; `completion` runs there, once (possibly before this returns, e.g. when the
    /// pool refuses at once), with the result and the instance the call went to (nil if none was picked).
    /// The observers have heard the outcome by then. `timeout`: the response timeout (ns), nil for the
    /// service's. `Host` is set to the instance's `host:port` unless the request has one.
    ///
    /// Returns the call, to `cancel()` it when the client goes away.
    @discardableResult
    public func start(_ request: consuming UpstreamRequest, on loop: EventLoop, timeout: UInt64? = nil,
                      completion: @escaping (consuming Result<HTTPResponse, UpstreamError>, UpstreamInstance?) -> Void) -> UpstreamCall {
        start(request, on: loop, timeout: timeout) { $0.completion = completion }
    }

    /// `start` for a proxy route: the call tells `handler.finished` (see `UpstreamCall.proxy`).
    func start(_ request: consuming UpstreamRequest, on loop: EventLoop, timeout: UInt64?, proxy handler: ProxyHandler,
               context: RequestContext, completion: @escaping ResponseCompletion) -> UpstreamCall {
        start(request, on: loop, timeout: timeout) { $0.proxy = (handler, context, completion) }
    }

    /// A call made on `loop`'s thread, told how it reports (`reporting`) before it starts.
    @inline(__always)
    private func start(_ request: consuming UpstreamRequest, on loop: EventLoop, timeout: UInt64?,
                       reporting: (UpstreamCall) -> Void) -> UpstreamCall {
        precondition(loop.inEventLoop, "Upstream.start must be called on the loop's thread")
        let call = UpstreamCall(upstream: self, request: consume request, loop: loop, timeout: timeout)
        reporting(call)
        call.start()
        return call
    }

    /// The same call from a task: connections are taken from `loop`'s pools and the reply resumes the
    /// task. Cancelling the task cancels the call (its connection is closed, never pooled half-used).
    /// Returns the response and the instance that sent it; a thrown error's `authority` names the
    /// instance that failed.
    public func execute(_ request: UpstreamRequest, on loop: EventLoop,
                        timeout: UInt64? = nil) async throws(UpstreamError) -> (response: HTTPResponse, instance: UpstreamInstance) {
        let call = UpstreamCall(upstream: self, request: request, loop: loop, timeout: timeout)
        let (result, instance) = await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<UpstreamCall.Reply, Never>) in
                call.continuation = continuation
                if loop.inEventLoop {
                    call.start()
                } else {
                    loop.execute { call.start() }
                }
            }
        } onCancel: {
            loop.execute { call.cancel() }
        }
        // A response always comes from an instance.
        return (try result.get(), instance!)
    }

    // MARK: Pools

    /// Connection counts of one instance's pool on one loop.
    public struct PoolCounts: Sendable, Equatable {
        public var open = 0
        public var idle = 0
        public var waiters = 0
        public init(open: Int = 0, idle: Int = 0, waiters: Int = 0) {
            self.open = open
            self.idle = idle
            self.waiters = waiters
        }
    }

    /// Per instance, its pool's counts on `loop` (zeros where it has none yet). Loop thread only (for
    /// metrics: visit each loop).
    public func poolCounts(on loop: EventLoop) -> [PoolCounts] {
        precondition(loop.inEventLoop)
        guard let state = states.existingValue(on: loop) else { return Array(repeating: PoolCounts(), count: instances.count) }
        return state.pools.map { pool in
            pool.map { PoolCounts(open: $0.connectionCount, idle: $0.idleCount, waiters: $0.waiterCount) } ?? PoolCounts()
        }
    }

    /// Shuts the upstream down on every loop: idle connections are closed, waiting calls fail
    /// (`shut_down`, 503), calls in progress finish and then close their connections, and later calls
    /// fail at once. Returns when every loop has done so (a loop that has already stopped is skipped: its
    /// thread is gone). Idempotent. Any thread but one of the loops'.
    public func shutdown() {
        precondition(!loops.contains { $0.inEventLoop }, "Upstream.shutdown() would wait on its own loop")
        isShutDown.store(true, ordering: .sequentiallyConsistent)
        for loop in loops { _ = loop.tryExecute(sync: { self.shutdown(on: loop) }) }
    }

    /// Shuts down this loop's pools. Loop thread only.
    func shutdown(on loop: EventLoop) {
        isShutDown.store(true, ordering: .sequentiallyConsistent)
        states.existingValue(on: loop)?.shutdown()
    }

    // MARK: Per-loop state

    /// The state of `loop`, made on its first call. Loop thread only.
    @inline(__always) func state(on loop: EventLoop) -> LoopState {
        let state = states.value(on: loop) { LoopState(upstream: self, loop: loop, shutDown: isShutDown.load(ordering: .sequentiallyConsistent)) }
        // A loop of another group with the same index would share this slot from another thread.
        precondition(state.loop === loop, "upstream '\(name)' called from a loop of another group")
        return state
    }

    /// An upstream's state on one loop: its balancer, what the balancer sees, and a pool per instance
    /// (opened on first use). Loop thread only.
    final class LoopState {
        unowned let upstream: Upstream
        let loop: EventLoop
        let balancer: any Balancer
        // `@exclusivity(unchecked)` here and below: see docs/dev-notes/exclusivity.md (no access to these
        // properties may span a call that can reach back into this object; each such access is audited).
        @exclusivity(unchecked) var input: BalancerInput
        @exclusivity(unchecked) private(set) var pools: [UpstreamPool?]
        @exclusivity(unchecked) private(set) var isShutDown: Bool

        init(upstream: Upstream, loop: EventLoop, shutDown: Bool) {
            self.upstream = upstream
            self.loop = loop
            balancer = upstream.balancer.makeBalancer(instanceCount: upstream.instances.count)
            input = BalancerInput(instances: upstream.instances.map { BalancerInput.Instance(weight: $0.weight) })
            pools = Array(repeating: nil, count: upstream.instances.count)
            isShutDown = shutDown
        }

        /// The instance for the next call, or nil when none is eligible. Counts it as in flight.
        @inline(__always) func pick() -> Int? {
            let index: Int
            if input.instances.count == 1 {
                guard input.instances[0].isEligible else { return nil }
                index = 0
            } else {
                guard let i = balancer.pick(for: input) else { return nil }
                index = i
            }
            input.instances[index].inFlight += 1
            return index
        }

        /// A call to `instance` ended.
        @inline(__always) func finished(_ instance: Int) {
            input.instances[instance].inFlight -= 1
        }

        /// Instance `i`'s pool on this loop.
        @inline(__always) func pool(_ i: Int) -> UpstreamPool {
            if let pool = pools[i] { return pool }
            let pool = UpstreamPool(origin: upstream.instances[i].origin, loop: loop)
            pools[i] = pool
            loop.addTicker(pool)
            return pool
        }

        func shutdown() {
            isShutDown = true
            for pool in pools { pool?.shutdown() }
        }
    }
}
