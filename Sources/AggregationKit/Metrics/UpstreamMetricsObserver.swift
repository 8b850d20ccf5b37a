import Synchronization

/// Feeds every upstream call's outcome report into `bff_upstream_requests_total` and
/// `bff_upstream_request_duration_seconds`: one handle per service, resolved at start, recorded on the
/// loop that made the call (its own shard, no lock).
final class UpstreamMetricsObserver: UpstreamObserver {
    /// By service name; built once.
    let handles: [String: UpstreamMetrics]
    /// The same handles in service order: an upstream's `index` is its position in the registry, which
    /// builds them in this order, so a call finds its handle without hashing the service's name (checked
    /// by name: an upstream built elsewhere falls back to the dictionary).
    let handlesInOrder: [(name: String, handle: UpstreamMetrics)]

    init(metrics: GatewayMetrics, services: [ServiceConfiguration]) {
        var handles: [String: UpstreamMetrics] = [:]
        var inOrder: [(name: String, handle: UpstreamMetrics)] = []
        for service in services {
            // As `UpstreamOrigin.authority` writes them (an IPv6 address in brackets), like the access log.
            let handle = metrics.upstream(service: service.name, instances: service.instances.map {
                $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)"
            })
            handles[service.name] = handle
            inOrder.append((service.name, handle))
        }
        self.handles = handles
        handlesInOrder = inOrder
    }

    private func handle(for upstream: Upstream) -> UpstreamMetrics? {
        let i = upstream.index
        if i >= 0 && i < handlesInOrder.count && handlesInOrder[i].name == upstream.name { return handlesInOrder[i].handle }
        return handles[upstream.name]
    }

    func callCompleted(_ outcome: UpstreamOutcome, upstream: Upstream, loop: EventLoop) {
        guard let handle = handle(for: upstream) else { return }
        let result: UpstreamCallOutcome
        switch outcome.result {
        case .success: result = .success
        case .serverError: result = .serverError
        case .connectFailure: result = .connectFailure
        case .timeout: result = .timeout
        case .protocolError: result = .protocolError
        case .cancelled: result = .cancelled
        case .rejected: result = .rejected
        }
        // No instance (refused before one was picked) counts as instance `other`.
        handle.record(instance: outcome.instance ?? -1, outcome: result, durationNanos: outcome.latencyNanoseconds, shard: loop.index)
    }
}

/// The pools' sizes as the last scrape collected them. A scrape refreshes it first by visiting every
/// loop in turn with `execute` (never a blocking wait: the scrape runs on a shared thread pool), then
/// renders from it.
final class PoolStatisticsCache: Sendable {
    private let latest = Mutex<[UpstreamPoolStatistics]>([])
    let registry: UpstreamRegistry

    init(registry: UpstreamRegistry) { self.registry = registry }

    var statistics: [UpstreamPoolStatistics] { latest.withLock { $0 } }

    /// Visits every loop (each reports its own pools, on its own thread), stores the sums, then calls
    /// `done` (on the last loop's thread). A loop that has stopped never runs its part: the scrape would
    /// wait, so a stopped group is skipped by `UpstreamRegistry`'s callers (the admin listener stops first).
    func refresh(_ done: @escaping @Sendable () -> Void) {
        let upstreams = registry.upstreams
        let loops = upstreams.first?.loops ?? []
        @Sendable func visit(_ i: Int, _ totals: [UpstreamPoolStatistics]) {
            guard i < loops.count else {
                self.latest.withLock { $0 = totals }
                return done()
            }
            let loop = loops[i]
            loop.execute {
                var next = totals
                for (u, upstream) in upstreams.enumerated() {
                    for c in upstream.poolCounts(on: loop) {
                        next[u].open += c.open
                        next[u].idle += c.idle
                        next[u].waiters += c.waiters
                    }
                }
                visit(i + 1, next)
            }
        }
        visit(0, upstreams.map { UpstreamPoolStatistics(service: $0.name, open: 0, idle: 0, waiters: 0) })
    }
}

/// Where the admin listener finds the pool statistics cache, which exists only once the upstreams do.
final class PoolStatisticsCacheSlot: Sendable {
    private let slot = Mutex<PoolStatisticsCache?>(nil)
    var cache: PoolStatisticsCache? {
        get { slot.withLock { $0 } }
        set { slot.withLock { $0 = newValue } }
    }
}
