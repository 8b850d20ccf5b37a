/// The upstream HTTP/1.1 client. Connections belong to the loop of the request that uses them, so a
/// handler running on its connection's loop talks to upstream without leaving that thread.
public enum HTTPClient {
    /// Sends `request` to `origin` using `loop`'s pool. A reused keep-alive connection that the origin
    /// closed before answering is retried once on a fresh one, for idempotent methods.
    public static func execute(_ request: UpstreamRequest, to origin: UpstreamOrigin, on loop: EventLoop,
                               timeout: UInt64? = nil) async throws(UpstreamError) -> HTTPResponse {
        let call = PendingCall(request: request, origin: origin, loop: loop, timeout: timeout ?? origin.responseTimeout)
        let result: Result<HTTPResponse, UpstreamError> = await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Result<HTTPResponse, UpstreamError>, Never>) in
                call.continuation = continuation
                if loop.inEventLoop {
                    call.start()
                } else {
                    loop.execute { call.start() }
                }
            }
        } onCancel: {
            loop.execute { call.cancel() }
        }
        return try result.get()
    }

    /// The same call with a completion instead of a task: for the proxy's fast path, which answers a
    /// request without creating a Swift task. Call on `loop`'s thread; `completion` runs there, once
    /// (possibly before this returns, e.g. when the pool refuses at once).
    static func start(_ request: UpstreamRequest, to origin: UpstreamOrigin, on loop: EventLoop, timeout: UInt64? = nil,
                      completion: @escaping (Result<HTTPResponse, UpstreamError>) -> Void) {
        precondition(loop.inEventLoop)
        let call = PendingCall(request: request, origin: origin, loop: loop, timeout: timeout ?? origin.responseTimeout)
        call.completion = completion
        call.start()
    }
}

/// One upstream call in progress. Loop thread only, apart from being handed to the loop.
private final class PendingCall: @unchecked Sendable {
    let request: UpstreamRequest
    let origin: UpstreamOrigin
    let loop: EventLoop
    let timeout: UInt64
    // Unsafe (not checked): resumed exactly once by `complete`, which clears it; the checked variant costs an allocation per call.
    var continuation: UnsafeContinuation<Result<HTTPResponse, UpstreamError>, Never>?
    /// Used instead of `continuation` on the fast path (loop thread only).
    var completion: ((Result<HTTPResponse, UpstreamError>) -> Void)?
    private var waitToken: Int?
    private var connection: UpstreamConnection?
    private var retried = false
    private var started = false
    private var cancelled = false

    init(request: UpstreamRequest, origin: UpstreamOrigin, loop: EventLoop, timeout: UInt64) {
        self.request = request
        self.origin = origin
        self.loop = loop
        self.timeout = timeout
    }

    private var pool: UpstreamPool { origin.pools.pool(for: origin, on: loop) }

    func start() {
        started = true
        if cancelled { return complete(.failure(UpstreamError(.cancelled, "the request was cancelled"))) }
        waitToken = pool.lease { [self] connection, error in
            waitToken = nil
            if let error { return complete(.failure(error)) }
            send(on: connection!)
        }
    }

    private func send(on connection: UpstreamConnection) {
        if cancelled {
            pool.release(connection, reusable: true)
            return complete(.failure(UpstreamError(.cancelled, "the request was cancelled")))
        }
        self.connection = connection
        let reused = connection.requestsServed > 0
        var headers = request.headers
        if !headers.contains("host") { headers.add("Host", origin.authority) }
        // `pool.reuse: false`: the connection carries this request only, and the upstream is told so.
        if !origin.reuseConnections { headers.set("Connection", "close") }
        let pool = self.pool
        connection.send(request, headers: headers, timeout: timeout) { [self] result, reusable in
            self.connection = nil
            pool.release(connection, reusable: reusable)
            if case .failure(let e) = result, e.kind == .connectionClosed, reused, !retried, request.isIdempotent, !cancelled {
                // The origin closed an idle keep-alive connection as we used it: try once more.
                retried = true
                return start()
            }
            complete(result)
        }
    }

    func cancel() {
        cancelled = true
        guard started else { return }
        if let token = waitToken {
            pool.cancelWait(token)
            waitToken = nil
            complete(.failure(UpstreamError(.cancelled, "the request was cancelled")))
        } else if let connection {
            // Abort: the connection is closed, never returned to the pool half-used.
            connection.fail(UpstreamError(.cancelled, "the request was cancelled"))
        }
    }

    private func complete(_ result: Result<HTTPResponse, UpstreamError>) {
        if let c = continuation {
            continuation = nil
            c.resume(returning: result)
        } else if let done = completion {
            completion = nil
            done(result)
        }
    }
}
