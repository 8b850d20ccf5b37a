/// What travels with one request through its pipeline: set by the server and the router, read and
/// annotated by stages and the responder (route, upstream, error detail for the access log). Confined to
/// the request's loop thread (not `Sendable`), including the task the request may take.
public final class RequestContext {
    /// The request's ID (`X-Request-ID`): made into a String when first read (see `RequestID`).
    public var requestID: String {
        if let text = requestIDText { return text }
        let text = id.string
        requestIDText = text
        return text
    }
    /// The ID as the serializers write it, without making a String.
    let id: RequestID
    @exclusivity(unchecked) private var requestIDText: String?
    /// The loop the connection lives on; upstream connections for this request are taken from its pools.
    public let loop: EventLoop
    public let clientAddress: String
    /// Monotonic ns when the request was complete.
    public let startNanos: UInt64
    /// What the router found, in one stored value: the front sets it with one write (`matched`), where
    /// five properties of a public class cost five dynamic exclusivity checks per request.
    private struct Routing {
        var pathParameters: [(name: String, value: String)] = []
        var route: String?
        var matchedTemplate: String?
        var routeMetrics: RouteMetrics?
        var policy: SharedRoutePolicy?
    }
    // `@exclusivity(unchecked)` here and below: see docs/dev-notes/exclusivity.md (no access to these
    // properties may span a call that can reach back into this object; each such access is audited).
    @exclusivity(unchecked) private var routing = Routing()

    /// Path parameters captured by the router (`{id}` → value), in template order.
    public var pathParameters: [(name: String, value: String)] {
        get { routing.pathParameters }
        set { routing.pathParameters = newValue }
    }
    /// The name of the matched route, for the log and metrics.
    public var route: String? {
        get { routing.route }
        set { routing.route = newValue }
    }
    /// The template of the matched route.
    public var matchedTemplate: String? {
        get { routing.matchedTemplate }
        set { routing.matchedTemplate = newValue }
    }
    /// Where the request is counted when it is answered (set with the route; nil: built-ins and 404s
    /// count under the gateway's `unmatched` route, or nothing when metrics are off).
    public var routeMetrics: RouteMetrics? {
        get { routing.routeMetrics }
        set { routing.routeMetrics = newValue }
    }
    /// The matched route's effective policy (defaults overridden by the route's own).
    public var policy: RoutePolicy? {
        get { routing.policy?.policy }
        set { routing.policy = newValue.map(SharedRoutePolicy.init) }
    }

    /// Records the matched route: its name, template, captured parameters, policy and metrics.
    public func matched(route: String, template: String, parameters: [(name: String, value: String)], policy: RoutePolicy,
                        metrics: RouteMetrics?) {
        matched(route: route, template: template, parameters: parameters, policy: SharedRoutePolicy(policy), metrics: metrics)
    }

    /// Records the matched route, its policy by reference (the router's routes keep theirs in a
    /// `SharedRoutePolicy`): one retain per request, where a copy of the policy retains every section.
    public func matched(route: String, template: String, parameters: [(name: String, value: String)], policy: SharedRoutePolicy,
                        metrics: RouteMetrics?) {
        routing = Routing(pathParameters: parameters, route: route, matchedTemplate: template, routeMetrics: metrics, policy: policy)
    }
    /// Monotonic ns by which the request must be answered (`policy.timeoutMs`), or nil for the
    /// responder's own timeouts.
    @exclusivity(unchecked) public var deadline: UInt64?
    /// Who the client is: empty until an auth stage fills it.
    public var identity = Identity()
    /// Per-request values of stages, by key type.
    public var storage = StageStorage()
    /// The upstream instance that answered, for the log.
    @exclusivity(unchecked) public var upstream: String?
    /// Why the request failed, in full (addresses, system errors), for the access log only.
    @exclusivity(unchecked) public var errorDetail: String?
    /// The body size the request's head declared when it is dispatched before its body is read (a route's
    /// body limit refuses it from the head): such a request must never reach a responder.
    @exclusivity(unchecked) public var declaredBodyBytes: Int?
    /// Stops the request's outstanding work (its task, its upstream calls) when the client goes away.
    /// Set by whatever the request is waiting on; cleared when it completes.
    @exclusivity(unchecked) public var cancellation: (() -> Void)?
    /// The upstream call a task-free proxy request waits on, cancelled with it (no closure to allocate).
    @exclusivity(unchecked) public var pendingCall: UpstreamCall?
    /// While the responder works: the pipeline's way back through the stages (see `Pipeline.run`).
    @exclusivity(unchecked) var returnPath: ReturnPath?
    /// The client went away before the answer (logged as 499).
    @exclusivity(unchecked) public private(set) var isCancelled = false

    public convenience init(requestID: String, loop: EventLoop, clientAddress: String, startNanos: UInt64) {
        self.init(id: RequestID(requestID), loop: loop, clientAddress: clientAddress, startNanos: startNanos)
    }

    init(id: RequestID, loop: EventLoop, clientAddress: String, startNanos: UInt64) {
        self.id = id
        self.loop = loop
        self.clientAddress = clientAddress
        self.startNanos = startNanos
    }

    public func pathParameter(_ name: String) -> String? {
        pathParameters.first { $0.name == name }?.value
    }

    /// Cancels the request's outstanding work, once. Loop thread only.
    public func cancel() {
        guard !isCancelled else { return }
        isCancelled = true
        let handler = cancellation
        cancellation = nil
        handler?()
        let call = pendingCall
        pendingCall = nil
        call?.cancel()
    }

    /// Runs `body` in a task on this request's loop and reports its answer through `completion` on the
    /// loop. A nil answer means `body` arranged for `completion` to be called some other way. Thrown
    /// errors become problem documents (`HTTPError`) or a 500. The task is cancelled with the request.
    public func runTask(completion: @escaping ResponseCompletion, _ body: @escaping () async throws -> HTTPResponse?) {
        let loop = self.loop
        let requestID = self.requestID
        nonisolated(unsafe) let completion = completion
        nonisolated(unsafe) let body = body
        nonisolated(unsafe) let context = self
        loop.requestTasksStarted &+= 1
        let task = Task(executorPreference: loop) {
            var response: HTTPResponse
            var detail: String? = nil
            do {
                guard let answer = try await body() else { return }
                response = answer
            } catch let error as HTTPError {
                detail = error.logText
                response = error.response(requestID: requestID)
            } catch is CancellationError {
                detail = "cancelled: the client went away"
                response = HTTPError(status: 499, code: "client_closed_request", detail: "the client closed the connection").response(requestID: requestID)
            } catch {
                detail = "internal_error: \(error)"
                response = HTTPError(status: 500, code: "internal_error", detail: "the gateway failed to handle the request").response(requestID: requestID)
            }
            let finished = response, finishedDetail = detail
            if loop.inEventLoop {
                context.cancellation = nil
                completion(finished, finishedDetail)
            } else {
                loop.execute {
                    context.cancellation = nil
                    completion(finished, finishedDetail)
                }
            }
        }
        cancellation = { task.cancel() }
    }
}

/// Who made the request, as established by an auth stage (the identity issue fills it).
public struct Identity: Sendable {
    /// The authenticated subject (`sub`, an API key's partner id), nil when anonymous.
    public var principal: String?
    /// The verified token's claims.
    public var claims: JSONObject = JSONObject()
    public var scopes: Set<String> = []
    public var roles: Set<String> = []
    public init() {}
    public var isAuthenticated: Bool { principal != nil }
}

/// A key for a stage's value in `StageStorage`.
public protocol StageStorageKey {
    associatedtype Value
}

/// Small typed storage for stages: values keyed by a key type. Allocates nothing until first used.
public struct StageStorage {
    private var values: [ObjectIdentifier: Any]?
    public init() {}
    public subscript<Key: StageStorageKey>(_ key: Key.Type) -> Key.Value? {
        get { values?[ObjectIdentifier(key)] as? Key.Value }
        set {
            if values == nil { values = [:] }
            values![ObjectIdentifier(key)] = newValue
        }
    }
}

/// Anything that answers a request: a proxy route, a composite endpoint, a built-in endpoint.
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest, context: RequestContext) async throws -> HTTPResponse
}

/// A handler made from a closure.
public struct ClosureHandler: HTTPHandler {
    let body: @Sendable (HTTPRequest, RequestContext) async throws -> HTTPResponse
    public init(_ body: @escaping @Sendable (HTTPRequest, RequestContext) async throws -> HTTPResponse) { self.body = body }
    public func handle(_ request: HTTPRequest, context: RequestContext) async throws -> HTTPResponse {
        try await body(request, context)
    }
}

/// A route's effective policy behind one immutable reference, made once per route (see
/// `RequestContext.matched(route:template:parameters:policy:metrics:)`).
public final class SharedRoutePolicy: Sendable {
    public let policy: RoutePolicy
    public init(_ policy: RoutePolicy) { self.policy = policy }
}
