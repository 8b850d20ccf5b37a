import Synchronization

/// The front handler: built-in endpoints, then the frozen route table.
public struct GatewayHandler: HTTPHandler {
    public struct Route: Sendable {
        public let name: String
        public let handler: any HTTPHandler
        /// Set for pass-through routes, which can be answered without a task.
        let proxy: ProxyHandler?

        public init(name: String, handler: any HTTPHandler) {
            self.name = name
            self.handler = handler
            self.proxy = handler as? ProxyHandler
        }
    }

    let router: Router<Route>
    let readiness: Readiness
    /// See `ForwardingPolicy.underscoresInHeaders`; proxy routes drop such names as they forward.
    let underscoresInHeaders: Bool

    public init(router: Router<Route>, readiness: Readiness, underscoresInHeaders: Bool = false) {
        self.router = router
        self.readiness = readiness
        self.underscoresInHeaders = underscoresInHeaders
    }

    /// Answers a proxy route without a Swift task: routing and the upstream call run on the loop and the
    /// response comes back through `completion`. Returns false (nothing done) for anything else, which
    /// then takes the ordinary async path.
    func handleFast(_ request: HTTPRequest, context: RequestContext, completion: @escaping (HTTPResponse, String?) -> Void) -> Bool {
        let path = request.path
        // Dot segments, `%2F`, `\` and fragments were refused by the request parser.
        guard request.target.utf8.first == UInt8(ascii: "/"), path != "/healthz", path != "/readyz",
              request.method != "TRACE" else { return false }
        guard case .matched(let match) = router.lookup(method: request.method, path: path),
              let proxy = match.value.proxy else { return false }
        context.route = match.value.name
        context.matchedTemplate = match.template
        context.pathParameters = match.parameters
        proxy.start(request, context: context, completion: completion)
        return true
    }

    public func handle(_ request: HTTPRequest, context: RequestContext) async throws -> HTTPResponse {
        var request = request
        if let originForm = Self.originForm(ofAbsoluteForm: request.target) {
            // The authority a client names is never passed on (an upstream that honours it would go where
            // the client says): the request continues as origin-form, routed and rewritten as any other.
            request.target = originForm
        }
        if request.target == "*" {
            // Asterisk-form (RFC 9112 §3.2.4) asks about the server as a whole, not any resource: the gateway
            // answers `OPTIONS *` itself and refuses `*` for other methods (`M-SEARCH`, an SSDP method). It
            // is never routed or forwarded: it has no path to check, and `*` would reach an upstream as is.
            context.route = "asterisk"
            guard request.method == "OPTIONS" else {
                throw HTTPError(status: 400, code: "invalid_target", detail: "'*' is a request target only for OPTIONS")
            }
            return HTTPResponse(status: 200)
        }
        if !underscoresInHeaders {
            // Not visible to any handler (composite `header.*` included).
            let headers = request.headers
            if (0..<headers.count).contains(where: { headers.nameContains(UInt8(ascii: "_"), at: $0) }) {
                request.headers.keepFields { !headers.nameContains(UInt8(ascii: "_"), at: $0) }
            }
        }
        let path = request.path
        if path == "/healthz" {
            context.route = "healthz"
            return HTTPResponse(status: 200, contentType: "application/json", body: "{\"status\":\"ok\"}")
        }
        if path == "/readyz" {
            context.route = "readyz"
            return readiness.isReady
                ? HTTPResponse(status: 200, contentType: "application/json", body: "{\"status\":\"ready\"}")
                : HTTPResponse(status: 503, contentType: "application/json", body: "{\"status\":\"draining\"}")
        }
        if request.method == "CONNECT" {
            throw HTTPError(status: 501, code: "connect_not_supported", detail: "the gateway does not open tunnels")
        }
        if request.method == "TRACE" {
            // Never reflected to a service (cross-site tracing); as nginx does.
            throw HTTPError(status: 405, code: "method_not_allowed", detail: "TRACE is not allowed")
        }
        // Origin-form only from here: absolute-form was rewritten, `*` answered, CONNECT refused.
        switch router.lookup(method: request.method, path: request.path) {
        case .matched(let match):
            context.route = match.value.name
            context.matchedTemplate = match.template
            context.pathParameters = match.parameters
            return try await match.value.handler.handle(request, context: context)
        case .methodNotAllowed(let allowed):
            var allow = allowed.filter { $0 != "*" }
            if allow.contains("GET") && !allow.contains("HEAD") { allow.append("HEAD") }
            throw HTTPError(status: 405, code: "method_not_allowed", detail: "\(request.method) is not allowed here",
                            headers: HTTPHeaders([("Allow", allow.joined(separator: ", "))]))
        case .notFound:
            throw HTTPError.notFound()
        }
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
