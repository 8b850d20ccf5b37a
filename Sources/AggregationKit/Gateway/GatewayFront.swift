import Synchronization

/// The gateway's front: built-in answers, then one route lookup, then that route's compiled pipeline.
///
///     request ─▶ front (absolute-form → origin-form, `*`, /healthz, /readyz, CONNECT, TRACE)
///             ─▶ router (once: 404, 405 with Allow, or the route) ─▶ route's pipeline ─▶ responder
///
/// The server talks to it as to any `Responder`: nothing decides how a request is served by testing
/// types. Everything up to the pipeline runs synchronously on the loop.
public final class GatewayFront: Responder {
    /// A routed destination: its name (for logs and metrics), its effective policy, its pipeline.
    /// A class: a route lookup hands it out per request, and a copy of a struct this size is a retain and a
    /// release of each of its fields.
    public final class Route: Sendable {
        public let name: String
        public let policy: RoutePolicy
        /// `policy`, recorded on each request by reference.
        let sharedPolicy: SharedRoutePolicy
        public let pipeline: Pipeline
        /// Where the route's requests are counted (nil: metrics off).
        public let metrics: RouteMetrics?

        public init(name: String, policy: RoutePolicy = RoutePolicy(), pipeline: Pipeline, metrics: RouteMetrics? = nil) {
            self.name = name
            self.policy = policy
            sharedPolicy = SharedRoutePolicy(policy)
            self.pipeline = pipeline
            self.metrics = metrics
        }
    }

    let router: Router<Route>
    let readiness: Readiness
    /// See `ForwardingPolicy.underscoresInHeaders`; such fields are removed before any stage sees them.
    let underscoresInHeaders: Bool
    /// Whether any route limits its body below the server's limit (only then is a head looked up early).
    let hasBodyLimits: Bool
    /// The built-in answers' own route metrics (`healthz`, `readyz`), so probes do not count as 404s.
    let healthzMetrics: RouteMetrics?
    let readyzMetrics: RouteMetrics?

    public init(router: Router<Route>, readiness: Readiness, underscoresInHeaders: Bool = false, hasBodyLimits: Bool = false,
                metrics: GatewayMetrics? = nil) {
        self.router = router
        self.readiness = readiness
        self.underscoresInHeaders = underscoresInHeaders
        self.hasBodyLimits = hasBodyLimits
        healthzMetrics = metrics?.route("healthz")
        readyzMetrics = metrics?.route("readyz")
    }

    public func respond(to request: consuming HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        // Copied only when it must change: a copy of a request is a retain and a release of each of its buffers.
        let absoluteOrAsterisk = request.target.utf8.first != UInt8(ascii: "/")
        let dropUnderscores = !underscoresInHeaders && Self.hasUnderscoreField(request.headers)
        guard absoluteOrAsterisk || dropUnderscores else { return route(request, context: context, completion: completion) }
        var request = request
        if absoluteOrAsterisk {
            if let originForm = Self.originForm(ofAbsoluteForm: request.target) {
                // The authority a client names is never passed on (an upstream that honours it would go
                // where the client says): the request continues as origin-form, routed and rewritten as any other.
                request.target = originForm
            } else if request.target == "*" {
                // Asterisk-form (RFC 9112 §3.2.4) asks about the server as a whole, not any resource: the
                // gateway answers `OPTIONS *` itself and refuses `*` for other methods (`M-SEARCH`, an SSDP
                // method). It is never routed or forwarded: it has no path to check, and `*` would reach an
                // upstream as is.
                context.route = "asterisk"
                guard request.method == "OPTIONS" else {
                    return fail(HTTPError(status: 400, code: "invalid_target", detail: "'*' is a request target only for OPTIONS"), context, completion)
                }
                return completion(HTTPResponse(status: 200), nil)
            }
        }
        if dropUnderscores {
            // Not visible to any stage or responder (composite `header.*` included).
            request.headers.keepFieldsInPlace { headers, i in !headers.nameContains(UInt8(ascii: "_"), at: i) }
        }
        route(request, context: context, completion: completion)
    }

    /// Whether a field name has a `_` (see `underscoresInHeaders`).
    private static func hasUnderscoreField(_ headers: HTTPHeaders) -> Bool {
        (0..<headers.count).contains { headers.nameContains(UInt8(ascii: "_"), at: $0) }
    }

    /// The built-in answers and the route lookup, for an origin-form request (absolute-form rewritten,
    /// `*` answered).
    private func route(_ request: consuming HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        let path = request.path
        if path.utf8.count == 8, path == "/healthz" {
            context.route = "healthz"
            context.routeMetrics = healthzMetrics
            return completion(HTTPResponse(status: 200, contentType: "application/json", body: "{\"status\":\"ok\"}"), nil)
        }
        if path.utf8.count == 7, path == "/readyz" {
            context.route = "readyz"
            context.routeMetrics = readyzMetrics
            return completion(readiness.isReady
                ? HTTPResponse(status: 200, contentType: "application/json", body: "{\"status\":\"ready\"}")
                : HTTPResponse(status: 503, contentType: "application/json", body: "{\"status\":\"draining\"}"), nil)
        }
        if request.method.isExactly("CONNECT") {
            return fail(HTTPError(status: 501, code: "connect_not_supported", detail: "the gateway does not open tunnels"), context, completion)
        }
        if request.method.isExactly("TRACE") {
            // Never reflected to a service (cross-site tracing); as nginx does.
            return fail(HTTPError(status: 405, code: "method_not_allowed", detail: "TRACE is not allowed"), context, completion)
        }
        // Origin-form only from here: absolute-form was rewritten, `*` answered, CONNECT refused.
        switch router.lookup(method: request.method, path: path) {
        case .matched(let match):
            let route = match.value
            context.matched(route: route.name, template: match.template, parameters: match.parameters, policy: route.sharedPolicy,
                            metrics: route.metrics)
            route.pipeline.run(request, context: context, completion: completion)
        case .methodNotAllowed(let allowed):
            // A CORS preflight for a route of one method (`OPTIONS` asking about `GET`) goes to that route,
            // whose CORS stage answers it; without a CORS policy it stays a 405.
            if request.method.isExactly("OPTIONS"), request.headers.contains("origin"),
               let asked = request.headers["access-control-request-method"],
               case .matched(let match) = router.lookup(method: asked, path: path), match.value.policy.cors != nil {
                let route = match.value
                context.matched(route: route.name, template: match.template, parameters: match.parameters, policy: route.sharedPolicy,
                                metrics: route.metrics)
                return route.pipeline.run(request, context: context, completion: completion)
            }
            fail(Self.methodNotAllowed(request.method, allowed: allowed), context, completion)
        case .notFound:
            fail(HTTPError.notFound(), context, completion)
        }
    }

    /// The route's own body limit, when it is lower than the server's and the request's head is known:
    /// the server then answers 413 before reading a body that `Content-Length` says is too large.
    /// An absolute-form target is looked up by its origin form, as `respond` routes it.
    func bodyLimit(for head: HTTPRequest) -> Int? {
        guard hasBodyLimits else { return nil }
        let path: Substring
        if head.target.utf8.first == UInt8(ascii: "/") {
            path = head.path
        } else if let originForm = Self.originForm(ofAbsoluteForm: head.target) {
            path = HTTPRequest(method: head.method, target: originForm).path
        } else {
            return nil
        }
        guard case .matched(let match) = router.lookup(method: head.method, path: path) else { return nil }
        return match.value.policy.maxBodyBytes
    }

    static func methodNotAllowed(_ method: String, allowed: [String]) -> HTTPError {
        var allow = allowed.filter { $0 != "*" }
        if allow.contains("GET") && !allow.contains("HEAD") { allow.append("HEAD") }
        return HTTPError(status: 405, code: "method_not_allowed", detail: "\(method) is not allowed here",
                         headers: HTTPHeaders([("Allow", allow.joined(separator: ", "))]))
    }

    private func fail(_ error: HTTPError, _ context: RequestContext, _ completion: ResponseCompletion) {
        completion(error.response(requestID: context.requestID), error.logText)
    }

    /// `/path?query` of an absolute-form target (`http://host/path?query`; `/` when it has no path), or
    /// nil for any other form.
    static func originForm(ofAbsoluteForm target: String) -> String? {
        let utf8 = target.utf8
        guard utf8.first != UInt8(ascii: "/"), let colon = utf8.firstIndex(of: UInt8(ascii: ":")),
              target[colon...].hasPrefix("://") else { return nil }
        let authority = target.utf8.index(colon, offsetBy: 3)
        guard let end = utf8[authority...].firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }) else { return "/" }
        return utf8[end] == UInt8(ascii: "/") ? String(target[end...]) : "/" + target[end...]
    }
}

/// Whether `/readyz` says ready: false once draining starts.
public final class Readiness: Sendable {
    private let ready = Atomic<Bool>(true)
    public init() {}
    public var isReady: Bool { ready.load(ordering: .acquiring) }
    public func markDraining() { ready.store(false, ordering: .releasing) }
}
