/// One gateway process: configuration ▶ frozen route table ▶ server on a loop group.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let group: EventLoopGroup
    public let server: HTTPServer
    public let readiness = Readiness()
    public let validation: ResponseValidation
    /// One `Upstream` per configured service; shut down after the listeners.
    public let upstreams: UpstreamRegistry
    /// The gateway's metrics, nil when the admin listener is off (`admin.enabled: false`).
    public let metrics: GatewayMetrics?
    /// The admin listener (`GET /metrics`), on its own address; nil when off.
    public let adminServer: HTTPServer?
    /// The shared Redis client when `redis` is configured (one per gateway, a pool per loop), for the
    /// stores; nil: the embedded stores. Made at start (its host resolved then) without connecting;
    /// shut down after the listeners and the upstreams, before the loops.
    public let redis: RedisClient?
    /// The partner API keys in Redis (`auth.apiKeys` with a `redis` section): polled from `start()`
    /// until the stop; nil with the key file or without API keys.
    public let redisAPIKeys: APIKeyRedisStore?
    /// One JWK Set client per provider with `jwksUrl`: fetching from `start()` until the stop.
    public let jwksClients: [JWKSClient]

    /// Builds the metrics and the admin listener (unless `admin.enabled` is false), the upstreams (one
    /// per service; `upstreamObservers` and the metrics hear every call's outcome), the route table
    /// (every route's pipeline, compiled once, calling through the upstreams) and the server. Nothing
    /// listens yet. `stages` run first on every route, before the route's own (for embedding and tests).
    /// `client` labels the request metrics (`web`, `mobile`, `partner`).
    public init(configuration: GatewayConfiguration, group: EventLoopGroup, stages: [any RequestStage] = [],
                client: String = "gateway", upstreamObservers: [any UpstreamObserver] = []) throws {
        self.configuration = configuration
        self.group = group
        validation = ResponseValidation(mode: configuration.responseValidation)
        var metrics: GatewayMetrics? = nil
        // Filled once the upstreams exist (after the admin listener is made).
        let poolCache = PoolStatisticsCacheSlot()
        if configuration.admin.enabled {
            guard let adminPort = configuration.admin.effectivePort(publicPort: configuration.server.port) else {
                throw ConfigurationError(issues: [ConfigurationIssue(file: configuration.directory, path: "$.admin.port",
                                                                     reason: "the default (listen port + 1000) is past 65535: set admin.port")])
            }
            if adminPort != 0 && adminPort == configuration.server.port {
                throw ConfigurationError(issues: [ConfigurationIssue(file: configuration.directory, path: "$.admin.port",
                                                                     reason: "the admin listener cannot share the public port \(adminPort) (--port / --admin-port)")])
            }
            let gatewayMetrics = GatewayMetrics(client: client, loopShards: group.loops.count)
            let logging = group.logging
            gatewayMetrics.setLogLinesDroppedSource { UInt64(logging.droppedLines) }
            metrics = gatewayMetrics
            var admin = ServerConfiguration()
            admin.host = configuration.admin.host
            admin.port = adminPort
            admin.name = configuration.server.name
            admin.accessLog = false
            admin.maxConnections = 64
            admin.drainTimeout = min(configuration.server.drainTimeout, 2_000_000_000)
            adminServer = HTTPServer(configuration: admin, group: group, responder: AdminResponder(metrics: gatewayMetrics, refresh: { done in
                if let cache = poolCache.cache { cache.refresh(done) } else { done() }
            }))
        } else {
            adminServer = nil
        }
        self.metrics = metrics
        var observers = upstreamObservers
        if let metrics { observers.append(UpstreamMetricsObserver(metrics: metrics, services: configuration.services)) }
        upstreams = try UpstreamRegistry(configuration: configuration, group: group, observers: observers)
        let redis = try configuration.redis.map { try RedisClient(configuration: $0, group: group) }
        self.redis = redis
        // Sessions and the login throttle in Redis (`auth.sessions` with a `redis` section): every
        // instance sees every session, rotation and lockout.
        var configuration = configuration
        if let redis, var sessions = configuration.auth.sessions, let prefix = sessions.redisKeyPrefix {
            sessions.store = RedisSessionStore(redis: redis, prefix: prefix + "sess:", limits: sessions.storeLimits)
            sessions.throttle = RedisLoginThrottle(redis: redis, prefix: prefix + "login:", accountPolicy: sessions.accountLockout,
                                                   clientPolicy: sessions.clientLockout)
            configuration.auth.sessions = sessions
        }
        if let redis, let settings = configuration.auth.apiKeys?.redisSettings {
            redisAPIKeys = APIKeyRedisStore(redis: redis, settings: settings, clock: group.loops[0].clock.source)
        } else {
            redisAPIKeys = nil
        }
        if let metrics {
            let cache = PoolStatisticsCache(registry: upstreams)
            poolCache.cache = cache
            metrics.setPoolStatisticsSource { cache.statistics }
        }
        jwksClients = try configuration.auth.providers.compactMap { provider in
            try provider.jwks.map { try JWKSClient(provider: provider, endpoint: $0, group: group) }
        }
        let router = try Self.buildRouter(configuration, upstreams: upstreams, validation: validation, stages: stages, metrics: metrics,
                                          authCaches: AuthCaches(events: SecurityEvents(metrics: metrics?.registry, forwarding: configuration.forwarding),
                                                                 redisAPIKeys: redisAPIKeys, jwksClients: jwksClients))
        if let sessions = configuration.auth.sessions, sessions.issuer.isEphemeral {
            group.logging.application.notice("session tokens are signed with a key generated at start: they do not survive a restart and are not shared between instances (set auth.sessions.signingKeyFile)",
                                             [.string("event", "auth.ephemeral_signing_key")])
        }
        let front = GatewayFront(router: router.router, readiness: readiness,
                                 underscoresInHeaders: configuration.forwarding.underscoresInHeaders,
                                 hasBodyLimits: router.hasBodyLimits, metrics: metrics)
        self.front = front
        var bodyLimit: (@Sendable (HTTPRequest) -> Int?)? = nil
        if router.hasBodyLimits { bodyLimit = { head in front.bodyLimit(for: head) } }
        server = HTTPServer(configuration: configuration.server, group: group, responder: front, bodyLimit: bodyLimit, metrics: metrics)
    }

    /// The front every request goes through.
    public let front: GatewayFront

    /// Every route with its compiled pipeline; proxy routes and composite calls go through their
    /// service's upstream (handlers never pick instances themselves).
    static func buildRouter(_ configuration: GatewayConfiguration, upstreams: UpstreamRegistry, validation: ResponseValidation,
                            stages common: [any RequestStage], metrics: GatewayMetrics? = nil,
                            authCaches: AuthCaches = AuthCaches()) throws -> (router: Router<GatewayFront.Route>, hasBodyLimits: Bool) {
        var services: [String: Upstream] = [:]
        for upstream in upstreams.upstreams { services[upstream.name] = upstream }
        var router = Router<GatewayFront.Route>()
        var hasBodyLimits = false
        // One set of verified-token caches for the whole gateway (`authCaches`): a token verified on one
        // route is a cache hit on every other route of the same provider (on the same loop).
        // Every route's policy and the defaults': the identity headers any of them sets are removed on all
        // the others (the defaults' too: turning `auth` off on a route does not make its headers the client's).
        let policies = [configuration.defaultPolicy] + configuration.routes.map { configuration.policy(of: $0) }
            + configuration.endpoints.map { configuration.policy(of: $0) }
        // `auth.sessions`: the gateway's own logins, one service per gateway (its liveness caches are per loop).
        var sessions: SessionService? = nil
        if let settings = configuration.auth.sessions {
            guard let identity = upstreams[settings.identityService] else {
                throw ConfigurationError(issues: [ConfigurationIssue(file: configuration.directory, path: "$.auth.sessions.identity.service", reason: "unknown service")])
            }
            sessions = SessionService(configuration: settings, identity: identity, events: authCaches.events)
        }
        // `builtIn`: a session endpoint, which reads the session cookies itself (and forwards nothing).
        func route(_ name: String, _ policy: RoutePolicy, _ responder: any Responder, builtIn: Bool = false) -> GatewayFront.Route {
            if let limit = policy.maxBodyBytes, limit < configuration.server.limits.maxBodyBytes { hasBodyLimits = true }
            let identityHeaders = IdentityHeadersStage.names(toRemoveFor: policy, among: policies)
            let stages = common + PipelineCompiler.stages(for: policy, authCaches: authCaches, identityHeaders: identityHeaders,
                                                          sessions: builtIn ? nil : sessions)
            return GatewayFront.Route(name: name, policy: policy, pipeline: Pipeline(stages: stages, responder: responder),
                                      metrics: metrics?.route(name))
        }
        if let sessions {
            let kinds: [(SessionRoutes.Entry, SessionEndpoint.Kind)] = [(SessionRoutes.login, .login), (SessionRoutes.refresh, .refresh),
                (SessionRoutes.logout, .logout), (SessionRoutes.list, .list), (SessionRoutes.revoke, .revoke), (SessionRoutes.jwks, .jwks)]
            for (entry, kind) in kinds {
                // Bodies only where one is read (login, refresh and logout in bearer mode), and small.
                let policy = RoutePolicy(maxBodyBytes: entry.method == "POST" ? sessions.configuration.maxLoginBodyBytes : 0)
                try router.add(method: entry.method, template: entry.path, value: route(entry.name, policy, SessionEndpoint(kind, service: sessions), builtIn: true))
            }
            // Any other method on a built-in path is 405 with `Allow`, counted as unmatched: it must not
            // fall through to a catch-all route (a `GET /auth/login` sent to a legacy service).
            var methodsByPath: [String: [String]] = [:]
            for (entry, _) in kinds { methodsByPath[entry.path, default: []].append(entry.method) }
            for (path, methods) in methodsByPath.sorted(by: { $0.key < $1.key }) {
                try router.add(method: nil, template: path,
                               value: route("unmatched", RoutePolicy(), MethodNotAllowedResponder(allowed: methods), builtIn: true))
            }
        }
        for r in configuration.routes {
            guard let service = upstreams[r.proxy.service] else {
                throw ConfigurationError(issues: [ConfigurationIssue(file: configuration.directory, path: "routes.\(r.name)", reason: "unknown service")])
            }
            let handler = ProxyHandler(service: service, configuration: r.proxy, via: configuration.server.name,
                                       forwarding: configuration.forwarding)
            try router.add(method: r.method, template: r.path, value: route(r.name, configuration.policy(of: r), handler))
        }
        for endpoint in configuration.endpoints {
            var handler = CompositeHandler(endpoint: endpoint, services: services, validation: validation)
            handler.metrics = metrics?.endpoint(endpoint.name, calls: endpoint.calls.map(\.name))
            try router.add(method: endpoint.method, template: endpoint.path, value: route(endpoint.name, configuration.policy(of: endpoint), handler))
        }
        return (router, hasBodyLimits)
    }

    /// The gateway's own parts as lifecycle services, in start order (the caller adds the loops before
    /// them): the public listener last, so it is the first to stop and drains while everything it calls
    /// still runs. Its stop fails when requests had to be cut at the drain deadline.
    /// The admin listener starts before the public one and stops after it, so metrics can be scraped
    /// while the public listener drains.
    public var services: [any LifecycleService] {
        var services: [any LifecycleService] = []
        if let redis {
            // First in, so it stops after everything that may still send commands (the listeners drain
            // first), and before the loops it runs on.
            let logger = group.logging.application
            services.append(ServiceHooks("redis", start: { Self.probe(redis, logger: logger) }, stop: { [redisAPIKeys] in
                redisAPIKeys?.stop()
                redis.shutdown()
            }))
        }
        services.append(ServiceHooks("upstreams", stop: { [upstreams] in upstreams.shutdown() }))
        if !jwksClients.isEmpty {
            // Started with the listener (`start()`); stopped once it has drained.
            services.append(ServiceHooks("jwks", stop: { [jwksClients] in for client in jwksClients { client.stop() } }))
        }
        if let adminServer {
            services.append(ServiceHooks("admin-server", start: { _ = try adminServer.start() }, stop: {
                let cut = adminServer.shutdown()
                if cut > 0 { throw ServiceGroup.StopFailure(service: "admin-server", reason: "\(cut) connection(s) cut at the drain deadline") }
            }))
        }
        services.append(ServiceHooks("http-server", start: { [self] in _ = try start() }, stop: { [self] in
            let cut = drain()
            if cut > 0 { throw ServiceGroup.StopFailure(service: "http-server", reason: "\(cut) connection(s) cut at the drain deadline") }
        }))
        return services
    }

    /// Starts the JWK Set clients (their first fetch at once: a token that arrives before it ends
    /// waits for it), the API key poller (waiting up to a second for its first answer, so keys work from
    /// the first request when Redis is up) and listening; returns the port.
    @discardableResult
    public func start() throws -> Int {
        for client in jwksClients { client.start() }
        redisAPIKeys?.start(waitForFirst: 1_000_000_000)
        return try server.start()
    }

    /// Graceful shutdown: `/readyz` turns 503; during the readiness grace (if any) requests are still
    /// served, each on a connection that then closes; then no new connections, and in-flight requests
    /// finish within the drain timeout. Blocks the caller (not a loop thread). Returns how many
    /// connections were cut at the deadline.
    @discardableResult
    public func shutdown() -> Int {
        let cut = drain()
        for client in jwksClients { client.stop() }
        upstreams.shutdown()
        redisAPIKeys?.stop()
        redis?.shutdown()
        return cut
    }

    /// Says in the log whether Redis answers, without holding up the start: a Redis that is down when
    /// the gateway starts is the stores' business (they fail closed and recover with it), not a reason
    /// to refuse to serve the routes that do not need it.
    static func probe(_ redis: RedisClient, logger: Logger) {
        let endpoint = redis.configuration.endpoint.description
        Task {
            do {
                try await redis.send(["PING"])
                logger.info("redis reachable", [.string("redis", endpoint)])
            } catch {
                logger.warning("redis unreachable at start; the stores that need it fail closed until it answers",
                               [.string("redis", endpoint), .string("error", "\(error)")])
            }
        }
    }

    /// The listener's part of `shutdown`: readiness grace, then the drain. The upstreams stay up.
    @discardableResult
    public func drain() -> Int {
        readiness.markDraining()
        let grace = configuration.server.readinessGrace
        if grace > 0 {
            server.closeConnectionsAfterResponses()
            Syscall.sleep(nanoseconds: grace)
        }
        return server.shutdown()
    }
}
