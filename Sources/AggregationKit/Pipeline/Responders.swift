/// A pass-through route answers on the loop with no task: the upstream call completes through callbacks.
extension ProxyHandler: Responder {
    public func respond(to request: consuming HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        start(request, context: context, completion: completion)
    }
}

/// A composite endpoint answers on the loop with no task either: its calls complete through callbacks
/// and the run (`CompositeHandler.Execution`) is cancelled, calls and all, when the client goes away.
extension CompositeHandler: Responder {
    public func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        Execution(handler: self, request: request, context: context, completion: completion).start()
    }
}

/// A plain `HTTPHandler` (demo services, test stubs) as a responder: each request in a task on its loop.
public struct HandlerResponder: Responder {
    let handler: any HTTPHandler
    public init(_ handler: any HTTPHandler) { self.handler = handler }
    public func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        let handler = self.handler
        context.runTask(completion: completion) { try await handler.handle(request, context: context) }
    }
}

/// Answers every request with 405 and `Allow` (the methods a built-in path takes), so that the other
/// methods on it never fall through to a catch-all route.
struct MethodNotAllowedResponder: Responder {
    let allowed: [String]
    func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        let error = GatewayFront.methodNotAllowed(request.method, allowed: allowed)
        completion(error.response(requestID: context.requestID), error.logText)
    }
}
