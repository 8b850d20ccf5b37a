/// Why an upstream call failed. A struct with stable codes (metric labels), mapped to a status in one place.
public struct UpstreamError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
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
        /// No instance of the service may be called (health checks or breakers excluded them all).
        case noAvailableInstance = "no_available_instance"
        /// The upstream was shut down (the gateway is stopping): no new calls.
        case shutDown = "shut_down"
    }
    public let kind: Kind
    public let detail: String
    /// The instance (`host:port`) the failed call went to; nil when none was picked. Set by `Upstream`.
    public internal(set) var authority: String?

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public static func == (a: UpstreamError, b: UpstreamError) -> Bool { a.kind == b.kind }
    public var description: String { "\(kind.rawValue): \(detail)" }

    /// The status a client sees: 503 when we refused to queue, 504 on a timeout, 502 otherwise.
    public var status: Int {
        switch kind {
        case .poolExhausted, .memoryBudgetExhausted, .noAvailableInstance, .shutDown: return 503
        case .connectTimeout, .responseTimeout, .poolWaitTimeout: return 504
        default: return 502
        }
    }

    public var isTimeout: Bool { status == 504 }
}
