import Synchronization

/// One provider's JWK Set fetched over HTTP (`jwksUrl`), for one gateway: the current verifier of the
/// fetched keys (swapped whole when a fetch succeeds), the fetches themselves through our own upstream
/// client, and when to make them (`JWKSRefreshSchedule`).
///
///     start() ─▶ refresher task: scheduled fetch when due (first at once, then every refreshInterval;
///                a failure retried after minimumInterval)
///     AuthStage, kid unknown ─▶ refreshForUnknownKeyID(): a fetch to wait for (started, or the one
///                running), or nil when the last fetch is too recent (refused at once)
///     fetch ─▶ GET target (timeout, body cap, one at a time) ─▶ 200 + a valid JWK Set with usable keys
///           ─▶ new verifier; anything else (5xx, timeout, garbage, too large, no usable key)
///           ─▶ the last good set stays, logged
///
/// Keys from the set obey the provider's rules like static ones (`JWTProvider.usableKeys`): public
/// only, RSA ≥ 2048 bits, each bound to one algorithm the provider accepts, at most 64.
/// Thread safety: any thread; `stop()`: any thread but a loop's.
public final class JWKSClient: Sendable {
    public let provider: JWTProvider
    public let endpoint: JWKSEndpoint
    let upstream: Upstream
    let loops: [EventLoop]
    let clock: any GatewayClock
    let logger: Logger

    private struct State {
        var schedule: JWKSRefreshSchedule
        var verifier: JWSVerifier
        /// The fetch running now (what a token with an unknown kid waits for).
        var fetch: Task<Void, Never>?
        var refresher: Task<Void, Never>?
        var stopped = false
    }
    private let state: Mutex<State>
    /// Fetches made (for tests and logs).
    private let fetchCount = Atomic<Int>(0)

    public init(provider: JWTProvider, endpoint: JWKSEndpoint, group: EventLoopGroup) throws {
        self.provider = provider
        self.endpoint = endpoint
        var pool = ConnectionPoolStateMachine.Configuration()
        pool.maxConnections = 1
        let origin = try UpstreamOrigin(host: endpoint.host, port: endpoint.port, pool: pool, connectTimeout: endpoint.timeout,
                                        responseTimeout: endpoint.timeout, maxResponseBytes: endpoint.maximumBytes, reuseConnections: false)
        upstream = Upstream(name: "jwks-\(provider.name)", instances: [UpstreamInstance(index: 0, origin: origin)], group: group)
        loops = group.loops
        clock = group.loops[0].clock.source
        logger = group.logging.application
        state = Mutex(State(schedule: JWKSRefreshSchedule(refreshInterval: endpoint.refreshInterval, minimumInterval: endpoint.minimumInterval),
                            verifier: JWSVerifier(keys: [], maximumTokenBytes: provider.verifier.maximumTokenBytes)))
    }

    /// The verifier of the last good set (no keys before the first good fetch).
    public var verifier: JWSVerifier { state.withLock { $0.verifier } }

    /// Fetches started so far.
    public var fetches: Int { fetchCount.load(ordering: .relaxed) }

    /// A token's kid is unknown: the fetch to wait for before retrying it once, or nil when it must be
    /// refused now (a fetch started less than `minimumInterval` ago, or the client is stopped).
    public func refreshForUnknownKeyID() -> Task<Void, Never>? {
        let now = clock.monotonicNanoseconds()
        return state.withLock { s -> Task<Void, Never>? in
            guard !s.stopped else { return nil }
            switch s.schedule.unknownKeyID(now: now) {
            case .refuse: return nil
            case .join: return s.fetch
            case .fetch:
                let task = Task { await self.performFetch() }
                s.fetch = task
                return task
            }
        }
    }

    /// Starts the refresher (the first fetch at once). Idempotent.
    public func start() {
        state.withLock { s in
            guard s.refresher == nil, !s.stopped else { return }
            s.refresher = Task { await self.refreshOnSchedule() }
        }
    }

    /// Stops the refresher and any fetch, and closes the client's connections. Idempotent.
    public func stop() {
        let tasks = state.withLock { s -> [Task<Void, Never>] in
            s.stopped = true
            defer { s.refresher = nil; s.fetch = nil }
            return [s.refresher, s.fetch].compactMap { $0 }
        }
        for task in tasks { task.cancel() }
        upstream.shutdown()
    }

    private func refreshOnSchedule() async {
        while !Task.isCancelled {
            let now = clock.monotonicNanoseconds()
            let (fetch, next) = state.withLock { s -> (Task<Void, Never>?, UInt64) in
                guard !s.stopped else { return (nil, 0) }
                if s.schedule.scheduledFetchDue(now: now) {
                    let task = Task { await self.performFetch() }
                    s.fetch = task
                    return (task, s.schedule.nextScheduledFetch)
                }
                return (s.fetch, s.schedule.nextScheduledFetch)
            }
            if let fetch { await fetch.value }
            let after = clock.monotonicNanoseconds()
            // Wake at the next due time, but at least every second (time is the injected clock's, and a
            // fetch on demand may have moved the schedule), and never in a tight loop.
            let wait = next > after ? min(next - after, 1_000_000_000) : 50_000_000
            try? await Task.sleep(nanoseconds: max(wait, 10_000_000))
        }
    }

    /// One fetch; ends the schedule's fetch either way.
    private func performFetch() async {
        fetchCount.add(1, ordering: .relaxed)
        var keys: [JWSKey]? = nil
        var failure = ""
        let loop = loops.first(where: { $0.inEventLoop }) ?? loops[0]
        let request = UpstreamRequest(method: "GET", target: endpoint.target,
                                      headers: HTTPHeaders([("Accept", "application/jwk-set+json, application/json")]))
        do {
            let (response, _) = try await upstream.execute(request, on: loop, timeout: endpoint.timeout)
            if response.status != 200 {
                failure = "the key set URL answered \(response.status)"
            } else if response.body.count > endpoint.maximumBytes {
                failure = "the key set is larger than \(endpoint.maximumBytes) bytes"
            } else {
                do { keys = try provider.usableKeys(fromSet: response.body) } catch { failure = error.detail }
            }
        } catch {
            failure = "\(error)"
        }
        let succeeded = keys != nil
        let count = keys?.count ?? 0
        state.withLock { s in
            if let keys { s.verifier = JWSVerifier(keys: keys, maximumTokenBytes: provider.verifier.maximumTokenBytes) }
            s.schedule.fetchEnded(succeeded: succeeded)
            s.fetch = nil
        }
        if succeeded {
            logger.info("jwks fetched", [.string("provider", provider.name), .int("keys", count)])
        } else {
            logger.warning("jwks fetch failed; the last good key set stays", [.string("provider", provider.name), .string("error", failure)])
        }
    }
}
