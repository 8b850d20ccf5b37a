/// One upstream origin (an instance's address) and how to talk to it: a plain value. Durations in
/// nanoseconds. Its connection pools belong to the `Upstream` that has it as an instance.
public struct UpstreamOrigin: Sendable, Equatable {
    public let host: String
    public let port: Int
    public let address: SocketAddress
    public var pool: ConnectionPoolStateMachine.Configuration
    public var connectTimeout: UInt64
    public var responseTimeout: UInt64
    public var limits: HTTPParserLimits
    /// Whether a connection may carry more than one request. `false` (`pool.reuse`) for an upstream not
    /// trusted to frame its responses: each request goes on a fresh connection with `Connection: close`,
    /// so bytes it sends late can never be read as another request's answer.
    public var reuseConnections: Bool
    /// Large response bodies from this origin count against this budget while they are received.
    public var responseBudget: MemoryBudget?
    /// `host:port`, the value of `Host` sent upstream.
    public let authority: String

    /// The default of `limits.maxResponseBytes`: 16 MiB.
    public static let defaultMaxResponseBytes = 16 * 1024 * 1024

    public init(host: String, port: Int, pool: ConnectionPoolStateMachine.Configuration = .init(),
                connectTimeout: UInt64 = 2_000_000_000, responseTimeout: UInt64 = 30_000_000_000,
                maxResponseBytes: Int = UpstreamOrigin.defaultMaxResponseBytes, reuseConnections: Bool = true) throws {
        self.host = host
        self.port = port
        self.address = try SocketAddress(host: host, port: port)
        self.pool = pool
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = maxResponseBytes
        limits.maxHeaderBytes = 64 * 1024
        self.limits = limits
        self.reuseConnections = reuseConnections
        self.authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    public static func == (a: UpstreamOrigin, b: UpstreamOrigin) -> Bool { a.authority == b.authority }
}
