/// What travels with one request through middleware and handlers. Confined to the request's task
/// (not `Sendable`): handlers read it and annotate it (route, upstream) for the access log.
public final class RequestContext {
    public let requestID: String
    /// The loop the connection lives on; upstream connections for this request are taken from its pools.
    public let loop: EventLoop
    public let clientAddress: String
    /// Monotonic ns when the request was complete.
    public let startNanos: UInt64
    /// Path parameters captured by the router (`{id}` → value), in template order.
    public var pathParameters: [(name: String, value: String)] = []
    /// The name of the matched route, for the log.
    public var route: String?
    /// The template of the matched route.
    public var matchedTemplate: String?
    /// The upstream instance that answered, for the log.
    public var upstream: String?
    /// Why the request failed, in full (addresses, system errors), for the access log only.
    public var errorDetail: String?

    public init(requestID: String, loop: EventLoop, clientAddress: String, startNanos: UInt64) {
        self.requestID = requestID
        self.loop = loop
        self.clientAddress = clientAddress
        self.startNanos = startNanos
    }

    public func pathParameter(_ name: String) -> String? {
        pathParameters.first { $0.name == name }?.value
    }
}

/// Anything that answers a request: a proxy route, a composite endpoint, a built-in endpoint.
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest, context: RequestContext) async throws -> HTTPResponse
}

/// One link of the middleware chain. The chain is built once at start-up.
public protocol Middleware: Sendable {
    func handle(_ request: HTTPRequest, context: RequestContext, next: any HTTPHandler) async throws -> HTTPResponse
}

/// A handler made from a closure.
public struct ClosureHandler: HTTPHandler {
    let body: @Sendable (HTTPRequest, RequestContext) async throws -> HTTPResponse
    public init(_ body: @escaping @Sendable (HTTPRequest, RequestContext) async throws -> HTTPResponse) { self.body = body }
    public func handle(_ request: HTTPRequest, context: RequestContext) async throws -> HTTPResponse {
        try await body(request, context)
    }
}

/// `middleware` in front of `next`.
struct MiddlewareHandler: HTTPHandler {
    let middleware: any Middleware
    let next: any HTTPHandler
    func handle(_ request: HTTPRequest, context: RequestContext) async throws -> HTTPResponse {
        try await middleware.handle(request, context: context, next: next)
    }
}

extension Array where Element == any Middleware {
    /// The chain `self[0] ▶ self[1] ▶ … ▶ handler`, built once.
    public func chained(to handler: any HTTPHandler) -> any HTTPHandler {
        reversed().reduce(handler) { next, middleware in MiddlewareHandler(middleware: middleware, next: next) }
    }
}
