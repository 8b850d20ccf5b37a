/// Why an upstream call failed. A struct with stable codes (metric labels), mapped to a status in one place.
public struct UpstreamError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case connectFailed = "connect_failed"
        case connectTimeout = "connect_timeout"
        case responseTimeout = "response_timeout"
        case poolExhausted = "pool_exhausted"
        case poolWaitTimeout = "pool_wait_timeout"
        case invalidResponse = "invalid_response"
        /// The response (its body) is larger than `limits.maxResponseBytes`.
        case responseTooLarge = "response_too_large"
        /// The process-wide budget for large response bodies is spent (`limits.maxBufferedResponseBytes`).
        case memoryBudgetExhausted = "memory_budget_exhausted"
        case connectionClosed = "connection_closed"
        case cancelled = "cancelled"
    }
    public let kind: Kind
    public let detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public static func == (a: UpstreamError, b: UpstreamError) -> Bool { a.kind == b.kind }
    public var description: String { "\(kind.rawValue): \(detail)" }

    /// The status a client sees: 503 when we refused to queue, 504 on a timeout, 502 otherwise.
    public var status: Int {
        switch kind {
        case .poolExhausted, .memoryBudgetExhausted: return 503
        case .connectTimeout, .responseTimeout, .poolWaitTimeout: return 504
        default: return 502
        }
    }

    public var isTimeout: Bool { status == 504 }
}

/// One upstream origin and how to talk to it. Durations in nanoseconds.
public struct UpstreamOrigin: Sendable, Hashable {
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
    /// This origin's pool on each loop (each loop touches only its own slot).
    let pools = PoolSlots()

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
    public func hash(into hasher: inout Hasher) { hasher.combine(authority) }
}

/// A request to send upstream.
public struct UpstreamRequest: Sendable {
    public var method: String
    public var target: String
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public init(method: String, target: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }

    var isIdempotent: Bool { ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"].contains(method) }
}
