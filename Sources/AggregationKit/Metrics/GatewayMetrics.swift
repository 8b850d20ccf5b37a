import Synchronization

/// The gateway's own metric families, and handles to record with from the hot path.
///
/// Made once at start with the number of event loops; routes, upstreams and endpoints get their handles
/// when they are compiled (`route(_:)`, `upstream(service:instances:)`, `endpoint(_:calls:)`), and record
/// with the loop's index as the shard. What the gateway does not count itself (pool sizes, dropped log
/// lines) is read at scrape through the sources set with `setPoolStatisticsSource` and
/// `setLogLinesDroppedSource`.
///
/// | family | type | labels |
/// | --- | --- | --- |
/// | `bff_requests_total` | counter | client, route, method, status (class: `2xx`) |
/// | `bff_request_duration_seconds` | histogram | client, route |
/// | `bff_requests_in_flight` | gauge | |
/// | `bff_client_connections_open` | gauge | |
/// | `bff_request_parse_rejections_total` | counter | problem (the parser's stable codes, else `other`) |
/// | `bff_upstream_requests_total` | counter | service, instance, outcome |
/// | `bff_upstream_request_duration_seconds` | histogram | service, instance |
/// | `bff_upstream_pool_connections_open`, `…_idle` | gauge | service |
/// | `bff_upstream_pool_waiters` | gauge | service |
/// | `bff_composite_call_failures_total` | counter | endpoint, call |
/// | `bff_composite_partial_responses_total` | counter | endpoint |
/// | `bff_contract_violations_total` | counter | endpoint |
/// | `bff_log_lines_dropped_total` | counter | |
/// | `bff_security_events_total` | counter | event (registered by `SecurityEvents`) |
/// | `bff_metrics_series_dropped_total` | counter | family |
/// | `process_*` | | see `ProcessMetrics` |
public final class GatewayMetrics: Sendable {
    /// Upper bounds of the duration histograms, in seconds: finer than the Prometheus defaults below
    /// 5 ms, where a gateway's own latency lives.
    public static let durationBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// The parse problems counted by code (every code the request parser and the connection's timeouts
    /// produce); any other code counts as `other`.
    static let parseProblemCodes: [String] = {
        let errors: [HTTPParseError] = [
            .bareLF, .bareCR, .obsFold, .headerNameSpace, .invalidHeaderName, .invalidHeaderValue, .missingColon,
            .invalidMethod, .invalidTarget, .invalidRequestLine, .invalidVersion, .unsupportedVersion, .unknownMethod,
            .missingHost, .multipleHost, .invalidHost, .invalidContentLength, .duplicateContentLength,
            .contentLengthAndTransferEncoding, .invalidTransferEncoding, .transferEncodingHTTP10,
            .unsupportedTransferCoding, .invalidChunkSize, .invalidChunkExtension, .chunkLineTooLong,
            .missingChunkCRLF, .unsupportedExpectation, .uriTooLong, .headersTooLarge, .tooManyHeaders,
            .bodyTooLarge, .dataAfterClose, .fragmentInTarget, .dotSegment, .encodedSlash, .invalidUTF8,
        ]
        var codes: [String] = []
        for code in errors.map(\.code) + ["header_timeout", "body_timeout"] where !codes.contains(code) { codes.append(code) }
        return codes
    }()

    public let client: String
    public let registry: MetricsRegistry

    /// Requests being handled (parsed, not yet answered): `add(1, shard:)` when a request is handed to
    /// its pipeline, `add(-1, shard:)` when its response is complete, on the same loop.
    public let requestsInFlight: GaugeSeries
    /// Client connections open: `add(1, shard:)` on accept, `add(-1, shard:)` on close, on the same loop.
    public let clientConnectionsOpen: GaugeSeries
    /// Requests that match no route (404/405) and the built-in endpoints, under route `unmatched`.
    public let unmatched: RouteMetrics

    private let requests: CounterFamily
    private let requestDuration: HistogramFamily
    private let upstreamCalls: CounterFamily
    private let upstreamDuration: HistogramFamily
    private let compositeCallFailures: CounterFamily
    private let partialResponses: CounterFamily
    private let contractViolations: CounterFamily
    private let parseRejections: [String: CounterSeries]
    private let otherParseRejection: CounterSeries
    private let gauges: GaugeFamily

    /// The scrape-time sources, shared with the callback families' closures.
    private final class Sources: Sendable {
        struct State {
            var pools: (@Sendable () -> [UpstreamPoolStatistics])?
            var logLinesDropped: (@Sendable () -> UInt64)?
        }
        let state = Mutex(State())
        var pools: [UpstreamPoolStatistics] { state.withLock { $0.pools }?() ?? [] }
        var logLinesDropped: UInt64 { state.withLock { $0.logLinesDropped }?() ?? 0 }
    }
    private let sources = Sources()

    /// - Parameters:
    ///   - client: the client this gateway serves (`web`, `mobile`, `partner`), a label of the request series.
    ///   - loopShards: the number of event loops.
    ///   - seriesLimit: the per-family cap on distinct label sets.
    public init(client: String, loopShards: Int, seriesLimit: Int = 2000) {
        self.client = client
        let registry = MetricsRegistry(loopShards: loopShards, seriesLimit: seriesLimit,
                                       droppedSeriesName: "bff_metrics_series_dropped_total")
        self.registry = registry
        let sources = self.sources
        do {
            requests = try registry.counter("bff_requests_total", help: "Requests answered, by route, method and status class.",
                                            labels: ["client", "route", "method", "status"])
            requestDuration = try registry.histogram("bff_request_duration_seconds",
                                                     help: "Time from a request's arrival to its response, by route.",
                                                     labels: ["client", "route"], buckets: Self.durationBuckets,
                                                     unitsPerBaseUnit: 1_000_000_000)
            gauges = try registry.gauge("bff_requests_in_flight", help: "Requests received and not yet answered.")
            requestsInFlight = gauges.series()
            clientConnectionsOpen = try registry.gauge("bff_client_connections_open", help: "Client connections open.").series()
            let rejections = try registry.counter("bff_request_parse_rejections_total",
                                                  help: "Requests refused before routing (malformed, too large, too slow), by problem code.",
                                                  labels: ["problem"])
            var byCode: [String: CounterSeries] = [:]
            for code in Self.parseProblemCodes { byCode[code] = rejections.series([code]) }
            parseRejections = byCode
            otherParseRejection = rejections.series([MetricFamilyCore.overflowLabelValue])
            upstreamCalls = try registry.counter("bff_upstream_requests_total",
                                                 help: "Upstream calls finished, by service, instance and outcome.",
                                                 labels: ["service", "instance", "outcome"])
            upstreamDuration = try registry.histogram("bff_upstream_request_duration_seconds",
                                                      help: "Time from an upstream call's start to its response or failure.",
                                                      labels: ["service", "instance"], buckets: Self.durationBuckets,
                                                      unitsPerBaseUnit: 1_000_000_000)
            try registry.gauge("bff_upstream_pool_connections_open", help: "Upstream connections open (leased and idle), by service.",
                               labels: ["service"]) {
                sources.pools.map { MetricSample([$0.service], Double($0.open)) }
            }
            try registry.gauge("bff_upstream_pool_connections_idle", help: "Upstream connections idle in the pool, by service.",
                               labels: ["service"]) {
                sources.pools.map { MetricSample([$0.service], Double($0.idle)) }
            }
            try registry.gauge("bff_upstream_pool_waiters", help: "Requests waiting for an upstream connection, by service.",
                               labels: ["service"]) {
                sources.pools.map { MetricSample([$0.service], Double($0.waiters)) }
            }
            compositeCallFailures = try registry.counter("bff_composite_call_failures_total",
                                                         help: "Downstream calls of composite endpoints that failed, by endpoint and call.",
                                                         labels: ["endpoint", "call"])
            partialResponses = try registry.counter("bff_composite_partial_responses_total",
                                                    help: "Composite responses sent with some optional calls missing, by endpoint.",
                                                    labels: ["endpoint"])
            contractViolations = try registry.counter("bff_contract_violations_total",
                                                      help: "Composite responses that broke the endpoint's contract schema, by endpoint.",
                                                      labels: ["endpoint"])
            try registry.counter("bff_log_lines_dropped_total", help: "Log lines dropped because the log queue was full.") {
                [MetricSample([], Double(sources.logLinesDropped))]
            }
            try ProcessMetrics.register(in: registry)
        } catch {
            preconditionFailure("the gateway's metric families are invalid: \(error)")
        }
        unmatched = RouteMetrics(client: client, route: "unmatched", requests: requests, duration: requestDuration)
    }

    // MARK: Handles (start-up)

    /// The metrics of route `name` (a configured route or endpoint name). Call once per route, when it
    /// is compiled; calling again gives a handle on the same series.
    public func route(_ name: String) -> RouteMetrics {
        RouteMetrics(client: client, route: name, requests: requests, duration: requestDuration)
    }

    /// The metrics of the upstream calls of `service`, whose instances (as `host:port`, in the order the
    /// balancer numbers them) are `instances`.
    public func upstream(service: String, instances: [String]) -> UpstreamMetrics {
        UpstreamMetrics(service: service, instances: instances, calls: upstreamCalls, duration: upstreamDuration)
    }

    /// The metrics of composite endpoint `name`, whose downstream calls (in plan order) are `calls`.
    public func endpoint(_ name: String, calls: [String]) -> EndpointMetrics {
        EndpointMetrics(endpoint: name, calls: calls, failed: compositeCallFailures, partial: partialResponses,
                        violations: contractViolations)
    }

    // MARK: Recording

    /// Counts a request refused before routing, by its problem code (`HTTPParseError.code`, or the
    /// connection's `header_timeout` / `body_timeout`). A dictionary lookup: this is the rejection path,
    /// once per refused connection. Loop thread `shard` only.
    public func parseRejected(code: String, shard: Int) {
        (parseRejections[code] ?? otherParseRejection).increment(shard: shard)
    }

    // MARK: Scrape-time sources

    /// Sets what the pool gauges report at each scrape: one entry per service. Called on the scraping
    /// thread; it must be thread-safe and cheap (the upstream registry's counters, read without waiting).
    public func setPoolStatisticsSource(_ source: @escaping @Sendable () -> [UpstreamPoolStatistics]) {
        sources.state.withLock { $0.pools = source }
    }

    /// Sets where `bff_log_lines_dropped_total` comes from (the logger's own count). Called on the
    /// scraping thread.
    public func setLogLinesDroppedSource(_ source: @escaping @Sendable () -> UInt64) {
        sources.state.withLock { $0.logLinesDropped = source }
    }

    // MARK: Exposition

    /// The scrape response: every family in the text format 0.0.4.
    public func scrapeResponse() -> HTTPResponse {
        HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", MetricsRegistry.contentType)]),
                     body: registry.exposition())
    }
}

/// One service's pool, as the pool gauges report it.
public struct UpstreamPoolStatistics: Sendable, Equatable {
    public var service: String
    /// Connections open, leased or idle.
    public var open: Int
    public var idle: Int
    /// Requests waiting for a connection.
    public var waiters: Int

    public init(service: String, open: Int, idle: Int, waiters: Int) {
        self.service = service
        self.open = open
        self.idle = idle
        self.waiters = waiters
    }
}
