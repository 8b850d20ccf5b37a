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

    public init(router: Router<Route>, readiness: Readiness) {
        self.router = router
        self.readiness = readiness
    }

    /// Answers a proxy route without a Swift task: routing and the upstream call run on the loop and the
    /// response comes back through `completion`. Returns false (nothing done) for anything else, which
    /// then takes the ordinary async path.
    func handleFast(_ request: HTTPRequest, context: RequestContext, completion: @escaping (HTTPResponse) -> Void) -> Bool {
        let path = request.path
        guard request.target.utf8.first == UInt8(ascii: "/"), path != "/healthz", path != "/readyz", !Self.hasDotSegment(path),
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
        if Self.hasDotSegment(path) {
            throw HTTPError(status: 400, code: "dot_segment", detail: "the path contains '.' or '..' segments")
        }
        let routingPath: Substring
        if request.target.first == "/" {
            routingPath = path
        } else if let slash = Self.absoluteFormPathStart(request.target) {
            // absolute-form: route on its path.
            routingPath = request.target[slash...].prefix { $0 != "?" && $0 != "#" }
        } else {
            routingPath = "/"
        }
        switch router.lookup(method: request.method, path: routingPath) {
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

    /// Where the path of an absolute-form target (`http://host/path`) starts.
    static func absoluteFormPathStart(_ target: String) -> String.Index? {
        let utf8 = target.utf8
        guard let colon = utf8.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let afterScheme = target[colon...]
        guard afterScheme.hasPrefix("://") else { return nil }
        return target[target.index(colon, offsetBy: 3)...].firstIndex(of: "/")
    }

    /// `.` or `..` segments, literal or percent-encoded: refused rather than forwarded for an upstream to resolve.
    static func hasDotSegment(_ path: Substring) -> Bool {
        guard path.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "%") }) else { return false }
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            let s = segment.lowercased()
            if s == "." || s == ".." || s == "%2e" || s == "%2e%2e" || s == ".%2e" || s == "%2e." { return true }
        }
        return false
    }
}

/// Whether `/readyz` says ready: false once draining starts.
public final class Readiness: Sendable {
    private let ready = Atomic<Bool>(true)
    public init() {}
    public var isReady: Bool { ready.load(ordering: .acquiring) }
    public func markDraining() { ready.store(false, ordering: .releasing) }
}
