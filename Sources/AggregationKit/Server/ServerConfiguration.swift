/// How the HTTP/1.1 server listens and the limits it enforces. Durations are nanoseconds.
public struct ServerConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var limits = HTTPParserLimits()
    /// From the first byte of a request to the end of its head (slowloris): 408 and close.
    public var headerTimeout: UInt64 = 10_000_000_000
    /// From the end of the head to the end of the body: 408 and close.
    public var bodyTimeout: UInt64 = 30_000_000_000
    /// A keep-alive connection with no request in progress is closed after this.
    public var idleTimeout: UInt64 = 60_000_000_000
    /// A response that makes no write progress for this long: the connection is dropped.
    public var writeTimeout: UInt64 = 30_000_000_000
    /// On SIGTERM, in-flight requests get this long to finish.
    public var drainTimeout: UInt64 = 10_000_000_000
    /// On SIGTERM, before the drain: for this long the listener stays open, `/readyz` answers 503 and
    /// every response closes its connection, so a load balancer's health checks see the instance leave
    /// (0: the drain starts at once and new connections are refused).
    public var readinessGrace: UInt64 = 0
    /// Open connections across all loops; past it the listener stops accepting until one closes.
    public var maxConnections: Int = 16384
    /// Large response bodies held in memory (being received from upstreams, or waiting for slow clients),
    /// process-wide; a large response that does not fit is answered 503 instead.
    public var responseBudget = MemoryBudget(limit: 64 * 1024 * 1024)
    /// While a response waits in user space for the client to read it, the client must take at least this
    /// many bytes per second, averaged over each `sendRateWindow`, or the connection is reset (a trickle
    /// reader would otherwise hold its response, and its share of `responseBudget`, for as long as it
    /// likes). 0 (the default) turns the check off; the write timeout still applies. What is measured is
    /// bytes handed to the kernel, which takes them in bursts as its send buffer (up to 4 MiB) drains: a
    /// window must be long enough for that buffer to drain at the minimum rate, or a client reading a
    /// large response steadily can be cut off.
    public var minSendBytesPerSecond: Int = 0
    public var sendRateWindow: UInt64 = 10_000_000_000
    /// The name in `Via` and in the access log.
    public var name: String = "bff-gateway"
    public var accessLog: Bool = true
    /// Whether a request is answered even when its client closes (or half-closes) its connection first.
    /// Off, as nginx's `proxy_ignore_client_abort`: the request's work is cancelled and logged as 499.
    public var ignoreClientAbort: Bool = false

    public init() {}
}
