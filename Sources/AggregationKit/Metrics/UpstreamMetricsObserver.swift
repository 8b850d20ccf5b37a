/// Feeds every upstream call's outcome report into `bff_upstream_requests_total` and
/// `bff_upstream_request_duration_seconds`: one handle per service, resolved at start, recorded on the
/// loop that made the call (its own shard, no lock).
struct UpstreamMetricsObserver: UpstreamObserver {
    /// By service name; built once.
    let handles: [String: UpstreamMetrics]

    init(metrics: GatewayMetrics, services: [ServiceConfiguration]) {
        var handles: [String: UpstreamMetrics] = [:]
        for service in services {
            handles[service.name] = metrics.upstream(service: service.name, instances: service.instances.map { "\($0.host):\($0.port)" })
        }
        self.handles = handles
    }

    func callCompleted(_ outcome: UpstreamOutcome, upstream: Upstream, loop: EventLoop) {
        guard let handle = handles[upstream.name] else { return }
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

extension UpstreamRegistry {
    /// Each service's pool connections (open, idle) and waiters, summed over the loops. Called at scrape
    /// time from the admin listener's thread; a loop that has stopped is skipped.
    func poolStatistics() -> [UpstreamPoolStatistics] {
        upstreams.map { upstream in
            var total = UpstreamPoolStatistics(service: upstream.name, open: 0, idle: 0, waiters: 0)
            for loop in upstream.loops {
                let counts: [Upstream.PoolCounts]?
                if loop.inEventLoop {
                    counts = upstream.poolCounts(on: loop)
                } else {
                    counts = loop.tryExecute(sync: { upstream.poolCounts(on: loop) })
                }
                for c in counts ?? [] {
                    total.open += c.open
                    total.idle += c.idle
                    total.waiters += c.waiters
                }
            }
            return total
        }
    }
}
