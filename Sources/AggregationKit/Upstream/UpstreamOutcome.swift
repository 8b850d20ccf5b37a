/// How one call through an `Upstream` went: reported to its observers after every call, whatever the
/// result, before the caller gets its answer. Metrics count it now; health checks and circuit breakers
/// will judge instances by it.
public struct UpstreamOutcome: Sendable, Equatable {
    /// The kind of result, a bounded set (a metric label: `label`).
    public enum Result: Int, Sendable, CaseIterable {
        /// A response below 500.
        case success
        /// A 5xx response.
        case serverError
        /// No connection: refused, reset or failed while connecting, or the instance spoke before any request.
        case connectFailure
        /// No connection or no answer in time (connect timeout, response timeout, or no pooled connection
        /// became free in time).
        case timeout
        /// An answer that is not a usable HTTP/1.1 response: invalid, cut off (the instance closed the
        /// connection before it was complete), or larger than the gateway accepts.
        case protocolError
        /// The caller gave up (its client went away) before the answer.
        case cancelled
        /// The gateway refused the call itself, before reaching the instance: the pool's wait queue was
        /// full, the memory budget for large responses was spent, no instance was eligible, or the
        /// upstream was shut down. Not the instance's fault: breakers must not count it against it.
        case rejected

        /// `success`, `server_error`, `connect_failure`, `timeout`, `protocol_error`, `cancelled`, `rejected`.
        public var label: String {
            switch self {
            case .success: return "success"
            case .serverError: return "server_error"
            case .connectFailure: return "connect_failure"
            case .timeout: return "timeout"
            case .protocolError: return "protocol_error"
            case .cancelled: return "cancelled"
            case .rejected: return "rejected"
            }
        }

        /// The result of a call that ended with `result`.
        public init(_ result: Swift.Result<HTTPResponse, UpstreamError>) {
            switch result {
            case .success(let response): self.init(status: response.status)
            case .failure(let error): self.init(error.kind)
            }
        }

        /// The result of a call answered with `status`.
        public init(status: Int) {
            self = status >= 500 ? .serverError : .success
        }

        /// The result of a call that failed with `kind`.
        public init(_ kind: UpstreamError.Kind) {
            switch kind {
            case .connectFailed: self = .connectFailure
            case .connectTimeout, .responseTimeout, .poolWaitTimeout: self = .timeout
            case .invalidResponse, .responseTooLarge, .connectionClosed: self = .protocolError
            case .cancelled: self = .cancelled
            case .poolExhausted, .memoryBudgetExhausted, .noAvailableInstance, .shutDown: self = .rejected
            }
        }
    }

    /// The instance the call went to (`Upstream.instances[instance]`); nil when none was picked (no
    /// eligible instance, or the upstream was shut down).
    public let instance: Int?
    /// Its `host:port`; nil with `instance`.
    public let authority: String?
    public let result: Result
    /// The response's status; nil when there was no response.
    public let status: Int?
    /// Why it failed, in detail (also a bounded set); nil for a response.
    public let error: UpstreamError.Kind?
    /// From the call's start to its end on the loop's clock (`EventLoop.now`, so the resolution is one
    /// loop iteration), including any wait for a connection and the one retry on a fresh connection.
    public let latencyNanoseconds: UInt64

    public init(instance: Int?, authority: String?, result: Result, status: Int?, error: UpstreamError.Kind?, latencyNanoseconds: UInt64) {
        self.instance = instance
        self.authority = authority
        self.result = result
        self.status = status
        self.error = error
        self.latencyNanoseconds = latencyNanoseconds
    }
}

/// Receives an `Upstream`'s outcome reports. Registered when the upstream is built and fixed after.
///
/// Called synchronously on the loop thread that made the call, after every call and before its caller
/// hears of it: it must be quick and must not block. It may keep state per loop (indexed by
/// `loop.index`) without a lock; anything shared between loops needs atomics.
/// Class-bound: an observer is one reference, so walking the list per call is a retain each, not a copy
/// through the value witnesses of whatever type conforms.
public protocol UpstreamObserver: AnyObject, Sendable {
    func callCompleted(_ outcome: UpstreamOutcome, upstream: Upstream, loop: EventLoop)
}
