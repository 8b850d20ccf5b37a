/// What the admin listener answers: `GET /metrics` (and `HEAD`) with the Prometheus exposition, 405 for
/// other methods there, 404 for every other path. None of the public routes, and none of the public
/// listener's built-ins, are reachable here, and `/metrics` is not reachable on the public listener.
///
/// The exposition is rendered off the loop (a detached task: it sorts every series and reads `/proc`),
/// and the answer is handed back on the connection's loop.
public struct AdminResponder: Responder {
    let metrics: GatewayMetrics
    /// Brings values the gateway does not count itself (pool sizes, read on each loop) up to date before
    /// a scrape renders them; calls its argument when done.
    let refresh: (@Sendable (@escaping @Sendable () -> Void) -> Void)?

    public init(metrics: GatewayMetrics, refresh: (@Sendable (@escaping @Sendable () -> Void) -> Void)? = nil) {
        self.metrics = metrics
        self.refresh = refresh
    }

    public func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        guard request.path == "/metrics" else {
            return completion(HTTPError.notFound("the admin listener serves only /metrics").response(requestID: context.requestID), nil)
        }
        guard request.method == "GET" || request.method == "HEAD" else {
            let error = HTTPError(status: 405, code: "method_not_allowed", detail: "\(request.method) is not allowed here",
                                  headers: HTTPHeaders([("Allow", "GET, HEAD")]))
            return completion(error.response(requestID: context.requestID), nil)
        }
        let metrics = self.metrics
        let loop = context.loop
        // Called on the loop only (hopped back below); the task just carries it.
        nonisolated(unsafe) let completion = completion
        let render: @Sendable () -> Void = {
            Task.detached {
                let response = metrics.scrapeResponse()
                loop.execute { completion(response, nil) }
            }
        }
        if let refresh { refresh(render) } else { render() }
    }
}
