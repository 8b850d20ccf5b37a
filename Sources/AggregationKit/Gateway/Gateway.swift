/// One gateway process: configuration ▶ frozen route table ▶ server on a loop group.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let group: EventLoopGroup
    public let server: HTTPServer
    public let readiness = Readiness()
    public let validation: ResponseValidation

    /// Builds the route table (every route's pipeline, compiled once) and the server. Nothing listens
    /// yet. `stages` run first on every route, before the route's own (for embedding and tests).
    public init(configuration: GatewayConfiguration, group: EventLoopGroup, stages: [any RequestStage] = []) throws {
        self.configuration = configuration
        self.group = group
        validation = ResponseValidation(mode: configuration.responseValidation)
        let router = try Self.buildRouter(configuration, validation: validation, stages: stages)
        let front = GatewayFront(router: router.router, readiness: readiness,
                                 underscoresInHeaders: configuration.forwarding.underscoresInHeaders,
                                 hasBodyLimits: router.hasBodyLimits)
        self.front = front
        var bodyLimit: (@Sendable (HTTPRequest) -> Int?)? = nil
        if router.hasBodyLimits { bodyLimit = { head in front.bodyLimit(for: head) } }
        server = HTTPServer(configuration: configuration.server, group: group, responder: front, bodyLimit: bodyLimit)
    }

    /// The front every request goes through.
    public let front: GatewayFront

    static func buildRouter(_ configuration: GatewayConfiguration, validation: ResponseValidation,
                            stages common: [any RequestStage]) throws -> (router: Router<GatewayFront.Route>, hasBodyLimits: Bool) {
        var services: [String: ServiceInstances] = [:]
        for service in configuration.services {
            services[service.name] = ServiceInstances(name: service.name, origins: try service.origins(budget: configuration.server.responseBudget))
        }
        var router = Router<GatewayFront.Route>()
        var hasBodyLimits = false
        func route(_ name: String, _ policy: RoutePolicy, _ responder: any Responder) -> GatewayFront.Route {
            if let limit = policy.maxBodyBytes, limit < configuration.server.limits.maxBodyBytes { hasBodyLimits = true }
            return GatewayFront.Route(name: name, policy: policy, pipeline: Pipeline(stages: common + PipelineCompiler.stages(for: policy), responder: responder))
        }
        for r in configuration.routes {
            guard let service = services[r.proxy.service] else {
                throw ConfigurationError(issues: [ConfigurationIssue(file: configuration.directory, path: "routes.\(r.name)", reason: "unknown service")])
            }
            let handler = ProxyHandler(service: service, configuration: r.proxy, via: configuration.server.name,
                                       forwarding: configuration.forwarding)
            try router.add(method: r.method, template: r.path, value: route(r.name, configuration.policy(of: r), handler))
        }
        for endpoint in configuration.endpoints {
            let handler = CompositeHandler(endpoint: endpoint, services: services, validation: validation)
            try router.add(method: endpoint.method, template: endpoint.path, value: route(endpoint.name, configuration.policy(of: endpoint), handler))
        }
        return (router, hasBodyLimits)
    }

    /// The gateway's own parts as lifecycle services, in start order (the caller adds the loops before
    /// them): the public listener last, so it is the first to stop and drains while everything it calls
    /// still runs. Its stop fails when requests had to be cut at the drain deadline.
    public var services: [any LifecycleService] {
        [ServiceHooks("http-server", start: { [self] in _ = try start() }, stop: { [self] in
            let cut = shutdown()
            if cut > 0 { throw ServiceGroup.StopFailure(service: "http-server", reason: "\(cut) connection(s) cut at the drain deadline") }
        })]
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
        return server.shutdown()
    }
}
