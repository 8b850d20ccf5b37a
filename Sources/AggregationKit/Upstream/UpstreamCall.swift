/// One call through an `Upstream`, from the pick to the outcome report: the only object a call allocates
/// (it is the pool's waiter and the connection's exchange, so neither needs a closure). Loop thread only,
/// apart from being handed to the loop.
///
/// A reused keep-alive connection that the instance closed before answering is retried once on a fresh
/// connection to the same instance, for idempotent methods; the retry is part of the same call (one
/// outcome).
public final class UpstreamCall: UpstreamPoolWaiter, UpstreamExchange, @unchecked Sendable {
    let upstream: Upstream
    let request: UpstreamRequest
    let loop: EventLoop
    let timeout: UInt64?
    /// The result, and the instance the call went to (nil if none was picked).
    typealias Reply = (Result<HTTPResponse, UpstreamError>, UpstreamInstance?)
    // `@exclusivity(unchecked)` here and below: see docs/dev-notes/exclusivity.md (no access to these
    // properties may span a call that can reach back into this object; each such access is audited).
    /// Unsafe (not checked): resumed exactly once by `complete`, which clears it; the checked variant
    /// costs an allocation per call.
    @exclusivity(unchecked) var continuation: UnsafeContinuation<Reply, Never>?
    /// Used instead of `continuation` on the fast path.
    /// The result is handed over (`consuming`): a response moves on unshared, so its fields are edited in place.
    @exclusivity(unchecked) var completion: ((consuming Result<HTTPResponse, UpstreamError>, UpstreamInstance?) -> Void)?
    /// Used instead of `completion` by a proxy route: the handler, the request's context and its
    /// completion, told through `ProxyHandler.finished` (no closure context to allocate per request).
    @exclusivity(unchecked) var proxy: (handler: ProxyHandler, context: RequestContext, completion: ResponseCompletion)?
    /// Run once when the call completes, before the caller hears of it (e.g. to cancel a deadline timer).
    @exclusivity(unchecked) public var onFinish: (() -> Void)?
    @exclusivity(unchecked) private var state: Upstream.LoopState?
    @exclusivity(unchecked) private var instance: Int?
    @exclusivity(unchecked) private var pool: UpstreamPool?
    @exclusivity(unchecked) private var waitToken: Int?
    @exclusivity(unchecked) private var connection: UpstreamConnection?
    @exclusivity(unchecked) private var startedAt: UInt64 = 0
    @exclusivity(unchecked) private var reused = false
    @exclusivity(unchecked) private var retried = false
    @exclusivity(unchecked) private var started = false
    /// Why the call was given up (`cancel`, `expire`), nil while it runs on.
    @exclusivity(unchecked) private var abortError: UpstreamError?
    private var cancelled: Bool { abortError != nil }
    @exclusivity(unchecked) private var done = false

    init(upstream: Upstream, request: consuming UpstreamRequest, loop: EventLoop, timeout: UInt64?) {
        self.upstream = upstream
        self.request = request
        self.loop = loop
        self.timeout = timeout
    }

    func start() {
        started = true
        startedAt = loop.now
        if let abortError { return complete(.failure(abortError)) }
        let state = upstream.state(on: loop)
        self.state = state
        if state.isShutDown {
            return complete(.failure(UpstreamError(.shutDown, "service '\(upstream.name)' is shut down")))
        }
        guard let index = state.pick() else {
            return complete(.failure(UpstreamError(.noAvailableInstance, "no instance of service '\(upstream.name)' is available")))
        }
        instance = index
        pool = state.pool(index)
        lease()
    }

    private func lease() {
        waitToken = pool!.lease(self)
    }

    func connectionLeased(_ connection: UpstreamConnection) {
        waitToken = nil
        if let abortError {
            pool!.release(connection, reusable: true)
            return complete(.failure(abortError))
        }
        self.connection = connection
        reused = connection.requestsServed > 0
        connection.send(request, timeout: timeout ?? upstream.instances[instance!].origin.responseTimeout, exchange: self)
    }

    func leaseFailed(_ error: UpstreamError) {
        waitToken = nil
        complete(.failure(error))
    }

    func exchangeFinished(_ result: consuming Result<HTTPResponse, UpstreamError>, reusable: Bool) {
        if let connection {
            self.connection = nil
            pool!.release(connection, reusable: reusable)
        }
        if case .failure(let e) = result, e.kind == .connectionClosed, reused, !retried, request.isIdempotent, !cancelled {
            // The instance closed an idle keep-alive connection as we used it: try once more.
            retried = true
            return lease()
        }
        complete(consume result)
    }

    /// Whether the call has completed (possibly before `start` returned). Loop thread only.
    public var isFinished: Bool { done }

    /// Gives up the call: a wait for a connection ends, a request in progress is aborted (its connection
    /// closed, never returned to the pool half-used). The caller hears `cancelled`. Loop thread only.
    public func cancel() {
        abort(UpstreamError(.cancelled, "the request was cancelled"))
    }

    /// The request's own time limit (`policy.timeoutMs`) passed, in whatever phase the call is (waiting
    /// for a connection, connecting, waiting for the answer): given up like `cancel`, and the caller hears
    /// a response timeout (504). Loop thread only.
    public func expire() {
        abort(UpstreamError(.responseTimeout, "the route's time limit passed before the answer"))
    }

    private func abort(_ error: UpstreamError) {
        guard abortError == nil, !done else { return }
        abortError = error
        guard started else { return }
        if let token = waitToken {
            pool!.cancelWait(token)
            waitToken = nil
            complete(.failure(error))
        } else if let connection {
            connection.fail(error)
        }
    }

    private func complete(_ result: consuming Result<HTTPResponse, UpstreamError>) {
        guard !done else { return }
        done = true
        if let finish = onFinish {
            onFinish = nil
            finish()
        }
        var result = consume result
        let picked = instance.map { upstream.instances[$0] }
        if let i = instance { state!.finished(i) }
        // Taken apart and put back, never copied: a copy of a response (through `Result`'s generic value
        // witnesses) is a retain and a release of each of its buffers and Strings.
        var status: Int? = nil, kind: UpstreamError.Kind? = nil
        switch consume result {
        case .success(let response):
            status = response.status
            result = .success(response)
        case .failure(var error):
            if let picked { error.authority = picked.authority }
            kind = error.kind
            result = .failure(error)
        }
        if !upstream.observers.isEmpty {
            let outcomeResult = status.map { UpstreamOutcome.Result(status: $0) } ?? UpstreamOutcome.Result(kind ?? .cancelled)
            let outcome = UpstreamOutcome(instance: instance, authority: picked?.authority, result: outcomeResult,
                                          status: status, error: kind, latencyNanoseconds: loop.now &- startedAt)
            for observer in upstream.observers { observer.callCompleted(outcome, upstream: upstream, loop: loop) }
        }
        if let c = continuation {
            continuation = nil
            c.resume(returning: (consume result, picked))
        } else if let finish = completion {
            completion = nil
            finish(consume result, picked)
        } else if let (handler, context, done) = proxy {
            proxy = nil
            handler.finished(consume result, instance: picked, context: context, completion: done)
        }
    }
}
