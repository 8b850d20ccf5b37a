/// One gateway process: configuration ▶ frozen route table ▶ server on a loop group.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let group: EventLoopGroup
    public let server: HTTPServer
    public let readiness = Readiness()
    public let validation: ResponseValidation
    /// One `Upstream` per configured service; shut down last (`shutdown()`).
    public let upstreams: UpstreamRegistry

    /// Builds the upstreams (one per service; `upstreamObservers` hear every call's outcome), the route
    /// table (every proxy route and composite endpoint with its upstreams) and the server. Nothing listens yet.
    public init(configuration: GatewayConfiguration, group: EventLoopGroup, middleware: [any Middleware] = [],
                upstreamObservers: [any UpstreamObserver] = []) throws {
        self.configuration = configuration
        self.group = group
        validation = ResponseValidation(mode: configuration.responseValidation)
        upstreams = try UpstreamRegistry(configuration: configuration, group: group, observers: upstreamObservers)
        let router = try Self.buildRouter(configuration, upstreams: upstreams, validation: validation)
        let front = middleware.chained(to: GatewayHandler(router: router, readiness: readiness,
                                                                  underscoresInHeaders: configuration.forwarding.underscoresInHeaders))
        server = HTTPServer(configuration: configuration.server, group: group, handler: front)
    }

    /// Every route with the upstream of its service: handlers never pick instances themselves.
    static func buildRouter(_ configuration: GatewayConfiguration, upstreams: UpstreamRegistry,
                            validation: ResponseValidation) throws -> Router<GatewayHandler.Route> {
        var services: [String: Upstream] = [:]
        for upstream in upstreams.upstreams { services[upstream.name] = upstream }
        var router = Router<GatewayHandler.Route>()
        for route in configuration.routes {
            guard let service = upstreams[route.proxy.service] else {
                throw ConfigurationError(issues: [ConfigurationIssue(file: configuration.directory, path: "routes.\(route.name)", reason: "unknown service")])
            }
            let handler = ProxyHandler(service: service, configuration: route.proxy, via: configuration.server.name,
                                       forwarding: configuration.forwarding)
            try router.add(method: route.method, template: route.path, value: GatewayHandler.Route(name: route.name, handler: handler))
        }
        for endpoint in configuration.endpoints {
            let handler = CompositeHandler(endpoint: endpoint, services: services, validation: validation)
            try router.add(method: endpoint.method, template: endpoint.path, value: GatewayHandler.Route(name: endpoint.name, handler: handler))
        }
        return router
    }

    /// Starts listening; returns the port.
    @discardableResult
    public func start() throws -> Int { try server.start() }

    /// Graceful shutdown: `/readyz` turns 503; during the readiness grace (if any) requests are still
    /// served, each on a connection that then closes; then no new connections, and in-flight requests
    /// finish within the drain timeout. Blocks the caller (not a loop thread). Returns how many
    /// connections were cut at the deadline.
    @discardableResult
    public func shutdown() -> Int {
        readiness.markDraining()
        let grace = configuration.server.readinessGrace
        if grace > 0 {
            server.closeConnectionsAfterResponses()
            Syscall.sleep(nanoseconds: grace)
        }
        let cut = server.shutdown()
        upstreams.shutdown()
        return cut
    }
}
