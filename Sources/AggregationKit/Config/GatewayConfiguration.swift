import FoundationEssentials

/// The gateway's configuration (`contracts/<client>/gateway.json`), loaded and validated once at start.
///
/// ```json
/// {
///   "listen":   { "host": "127.0.0.1", "port": 8080 },
///   "threads":  0,
///   "limits":   { "maxRequestLineBytes": 8192, "maxHeaderBytes": 16384, "maxHeaderCount": 100,
///                 "maxBodyBytes": 1048576, "maxConnections": 16384, "maxResponseBytes": 16777216 },
///   "timeouts": { "headerMs": 10000, "bodyMs": 30000, "idleMs": 60000, "writeMs": 30000, "drainMs": 10000 },
///   "accessLog": true,                  // or {"path": "/var/log/bff/access.log", "enabled": true}
///   "services": { "users": { "instances": ["127.0.0.1:9101", {"address": "127.0.0.1:9102", "weight": 3, "zone": "eu-1"}],
///                            "balancer": "roundRobin", "connectTimeoutMs": 2000, "responseTimeoutMs": 10000,
///                            "pool": { "maxConnections": 64, "maxIdle": 32, "idleTimeoutMs": 60000, "maxWaiters": 256,
///                                      "reuse": true } } },
///   "routes":   [ { "name": "user", "method": "GET", "path": "/api/web/users/{id}",
///                   "proxy": { "service": "users", "path": "/users/{id}" } } ]
/// }
/// ```
public struct GatewayConfiguration: Sendable {
    public var server = ServerConfiguration()
    /// Loop threads; nil = one per core.
    public var threads: Int?
    public var services: [ServiceConfiguration] = []
    public var routes: [RouteConfiguration] = []
    /// The folder it was loaded from.
    public var directory: String = ""
    /// Whether the file set `listen.port` (if not, each executable uses its own default port).
    public var portConfigured = false
    /// Composite endpoints from `endpoints/*.json`, compiled.
    public var endpoints: [CompiledEndpoint] = []
    /// Whether composite responses are checked against their schema at run time (`off`, `log`, `enforce`).
    public var responseValidation: ResponseValidation.Mode = .log
    /// Trusted proxies and header-name rules for what is passed on.
    public var forwarding = ForwardingPolicy()
    /// `accessLog.path`: the file the access log is appended to (opened by the command at start); nil:
    /// standard output. Only meaningful while `server.accessLog` is on.
    public var accessLogPath: String?
    /// `defaults.policy`: every route's and endpoint's policy unless they override a section.
    public var defaultPolicy = RoutePolicy()
    /// The admin listener (`/metrics`).
    public var admin = AdminConfiguration()
    /// `auth`: bearer-token providers and roles, for `policy.auth`.
    public var auth = AuthConfiguration()
    /// `redis`: the shared Redis the stores use; nil = none (the embedded in-memory and file stores).
    public var redis: RedisClient.Configuration?

    public init() {}

    public func service(named name: String) -> ServiceConfiguration? { services.first { $0.name == name } }
}

/// One instance of a service: `"host:port"`, or `{"address": "host:port", "weight": 1…1000, "zone": "eu-1"}`.
public struct InstanceConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Its relative share of the calls (default 1).
    public var weight: Int
    /// Where it runs, for zone-aware balancing later (letters, digits, `.`, `_`, `-`; at most 64).
    public var zone: String?

    public init(host: String, port: Int, weight: Int = 1, zone: String? = nil) {
        self.host = host
        self.port = port
        self.weight = weight
        self.zone = zone
    }

    /// Weights are 1…1000: enough for any ratio a person writes down, small enough that a sum over many
    /// instances cannot overflow the balancer's counters.
    public static let weightRange = 1...1000
}

public struct ServiceConfiguration: Sendable {
    public var name: String
    /// Each instance, in configuration order.
    public var instances: [InstanceConfiguration]
    /// How an instance is picked for each call (`balancer`, default `roundRobin`).
    public var balancer: BalancerKind = .roundRobin
    public var pool: ConnectionPoolStateMachine.Configuration
    public var connectTimeout: UInt64
    public var responseTimeout: UInt64
    /// Which built-in demo service stands in for this one under `--demo` (default: the service's name).
    public var demo: String?
    /// `limits.maxResponseBytes`: the largest response body accepted from an instance (502 past it).
    public var maxResponseBytes: Int = UpstreamOrigin.defaultMaxResponseBytes
    /// `pool.reuse`: whether a connection carries more than one request (see `UpstreamOrigin.reuseConnections`).
    public var reuseConnections: Bool = true

    /// The instances as origins; large response bodies read from them count against `budget`.
    public func origins(budget: MemoryBudget? = nil) throws -> [UpstreamOrigin] {
        try instances.map {
            var origin = try UpstreamOrigin(host: $0.host, port: $0.port, pool: pool, connectTimeout: connectTimeout, responseTimeout: responseTimeout,
                                            maxResponseBytes: maxResponseBytes, reuseConnections: reuseConnections)
            origin.responseBudget = budget
            return origin
        }
    }
}

public struct RouteConfiguration: Sendable {
    public var name: String
    /// nil = any method.
    public var method: String?
    public var path: String
    public var proxy: ProxyConfiguration
    /// `policy`: the sections this route sets or turns off; see `GatewayConfiguration.effectivePolicy(route:)`.
    public var policyOverride = RoutePolicy.Override()
}

public struct ProxyConfiguration: Sendable {
    public var service: String
    /// A target template for upstream, filled from the route's parameters (`/users/{id}`); for a `*` route,
    /// `{*}` stands for the rest of the path. nil = forward the request's path unchanged. Compiled once here.
    public var target: TargetTemplate?
    /// The text of `target`.
    public var path: String? { target?.text }
    /// Removed from the front of the path before forwarding (when `path` is not set).
    public var stripPrefix: String?
    /// Send the client's `Host` upstream instead of the instance's `host:port`.
    public var preserveHost: Bool = false
    /// Per-route response timeout (ns); nil = the service's.
    public var timeout: UInt64?
}

extension GatewayConfiguration {
    public static let fileName = "gateway.json"

    /// Loads `<directory>/gateway.json` and the composite endpoints in `<directory>/endpoints/*.json`.
    /// Throws `ConfigurationError` listing every problem of every file.
    /// `environment` answers environment variables (`BFF_REDIS_URL`); the process's by default.
    public static func load(directory: String,
                            environment: (String) -> String? = RedisConfigurationReader.processEnvironment) throws(ConfigurationError) -> GatewayConfiguration {
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let path = base + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(issues: [ConfigurationIssue(file: path, path: "$", reason: "cannot read the file (missing or unreadable)")])
        }
        var config = try parse(Array(data), file: path, directory: directory, environment: environment)
        let folder = base + "/endpoints"
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        var issues: [ConfigurationIssue] = []
        for name in files {
            let file = folder + "/" + name
            guard let bytes = FileManager.default.contents(atPath: file) else {
                issues.append(ConfigurationIssue(file: file, path: "$", reason: "cannot read the file"))
                continue
            }
            switch compileEndpoint(Array(bytes), file: file, services: Set(config.services.map(\.name)), maxBodyBytes: config.server.limits.maxBodyBytes,
                                   auth: config.auth) {
            case .success(let endpoint):
                // The endpoint's own sections were checked when it was compiled; here, what it inherits.
                for (at, reason) in PolicyConfiguration.conflicts(config.effectivePolicy(endpoint: endpoint), override: endpoint.policyOverride, method: endpoint.method,
                                                                  template: endpoint.path, parameters: Set(templateParameters(endpoint.path)), at: "$.policy") {
                    issues.append(ConfigurationIssue(file: file, path: at, reason: reason))
                }
                if let reason = config.claimsConflict(endpoint) { issues.append(ConfigurationIssue(file: file, path: "$.policy", reason: reason)) }
                config.endpoints.append(endpoint)
            case .failure(let e): issues += e.issues
            }
        }
        issues += routeConflicts(config)
        guard issues.isEmpty else { throw ConfigurationError(issues: issues) }
        return config
    }

    /// Compiles one endpoint contract.
    /// `maxBodyBytes`: `limits.maxBodyBytes` of gateway.json, the bound of the endpoint's `policy.maxBodyBytes`.
    /// `auth`: gateway.json's `auth` section, which the endpoint's `policy.auth` refers to.
    public static func compileEndpoint(_ bytes: [UInt8], file: String, services: Set<String>,
                                       maxBodyBytes: Int = HTTPParserLimits().maxBodyBytes,
                                       auth: AuthConfiguration = AuthConfiguration()) -> Result<CompiledEndpoint, ConfigurationError> {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes, duplicateKeys: .reject)
        } catch {
            let (line, column) = ConfigReader.lineAndColumn(bytes, offset: error.offset)
            return .failure(ConfigurationError(issues: [ConfigurationIssue(file: file, path: "$", reason: "invalid JSON at line \(line), column \(column): \(error.reason)")]))
        }
        let reader = ConfigReader(file: file)
        guard let endpoint = EndpointCompiler(services: services, reader: reader, maxBodyBytes: maxBodyBytes, auth: auth).compile(root) else {
            return .failure(ConfigurationError(issues: reader.issues))
        }
        return .success(endpoint)
    }

    /// Composite endpoints and proxy routes share one route table: a clash is an error.
    /// The route names the gateway's own answers use in the access log and in metrics.
    static let reservedRouteNames: Set<String> = Set(["healthz", "readyz", "unmatched", "asterisk"]).union(SessionRoutes.names)

    static func routeConflicts(_ config: GatewayConfiguration) -> [ConfigurationIssue] {
        var router = Router<String>()
        var issues: [ConfigurationIssue] = []
        if config.auth.sessions != nil {
            for builtIn in SessionRoutes.all { try? router.add(method: builtIn.method, template: builtIn.path, value: builtIn.name) }
        }
        for route in config.routes { try? router.add(method: route.method, template: route.path, value: route.name) }
        var names = Set(config.routes.map(\.name))
        for endpoint in config.endpoints {
            if reservedRouteNames.contains(endpoint.name) {
                issues.append(ConfigurationIssue(file: endpoint.file, path: "$.name", reason: "'\(endpoint.name)' is the name of a built-in answer (logs and metrics would mix them up)"))
            }
            if !names.insert(endpoint.name).inserted {
                issues.append(ConfigurationIssue(file: endpoint.file, path: "$.name", reason: "name '\(endpoint.name)' is already used by another route or endpoint"))
            }
            do {
                try router.add(method: endpoint.method, template: endpoint.path, value: endpoint.name)
            } catch {
                issues.append(ConfigurationIssue(file: endpoint.file, path: "$.path", reason: "\(error)"))
            }
        }
        return issues
    }

    /// `accessLog`: `true` / `false`, or `{"path": "/var/log/bff/access.log", "enabled": true}` (both keys
    /// optional; `enabled` defaults to true, no `path` means standard output). The path must be absolute:
    /// a relative one would depend on the directory the process happens to start in.
    static func parseAccessLog(_ value: JSONValue?, into config: inout GatewayConfiguration, _ r: ConfigReader) {
        guard let value else { return }
        if case .bool(let on) = value {
            config.server.accessLog = on
            return
        }
        guard case .object = value else {
            return r.issue("$.accessLog", "expected true, false or an object such as {\"path\": \"/var/log/bff/access.log\"}, found \(value.typeName)")
        }
        let o = r.object(value, "$.accessLog", allowed: ["path", "enabled"])
        config.server.accessLog = r.bool(o, "enabled", "$.accessLog") ?? true
        guard let path = r.string(o, "path", "$.accessLog") else { return }
        if path.isEmpty || path.utf8.contains(0) || !path.hasPrefix("/") {
            r.issue("$.accessLog.path", "expected an absolute file path, found '\(path)'")
        } else if path.hasSuffix("/") {
            r.issue("$.accessLog.path", "'\(path)' names a directory, not a file")
        } else {
            config.accessLogPath = path
        }
    }

    /// `environment` answers environment variables (`BFF_REDIS_URL`); the process's by default.
    public static func parse(_ bytes: [UInt8], file: String, directory: String = ".",
                             environment: (String) -> String? = RedisConfigurationReader.processEnvironment) throws(ConfigurationError) -> GatewayConfiguration {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes, duplicateKeys: .reject)
        } catch {
            let (line, column) = ConfigReader.lineAndColumn(bytes, offset: error.offset)
            throw ConfigurationError(issues: [ConfigurationIssue(file: file, path: "$", reason: "invalid JSON at line \(line), column \(column): \(error.reason)")])
        }
        let r = ConfigReader(file: file)
        var config = GatewayConfiguration()
        config.directory = directory
        let top = r.object(root, "$", allowed: ["$schema", "name", "listen", "threads", "limits", "timeouts", "accessLog", "services", "routes", "responseValidation",
                                                     "allowEncodedSlashes", "underscoresInHeaders", "trustedProxies",
                                                     "ignoreClientAbort", "defaults", "admin", "auth", "redis"])
        if let mode = r.string(top, "responseValidation", "$") {
            if let m = ResponseValidation.Mode(rawValue: mode) { config.responseValidation = m } else { r.issue("$.responseValidation", "'\(mode)' is not off, log or enforce") }
        }
        if top == nil && r.issues.isEmpty { r.issue("$", "expected an object") }
        if let name = r.string(top, "name", "$") { config.server.name = name }
        let listen = r.object(top?["listen"], "$.listen", allowed: ["host", "port"])
        if let host = r.string(listen, "host", "$.listen") { config.server.host = host }
        if let port = r.int(listen, "port", "$.listen", range: 0...65535) {
            config.server.port = port
            config.portConfigured = true
        }
        let admin = r.object(top?["admin"], "$.admin", allowed: ["enabled", "host", "port"])
        if let enabled = r.bool(admin, "enabled", "$.admin") { config.admin.enabled = enabled }
        if let host = r.string(admin, "host", "$.admin") { config.admin.host = host }
        if let port = r.int(admin, "port", "$.admin", range: 0...65535) {
            config.admin.port = port
            if port != 0 && config.portConfigured && port == config.server.port { r.issue("$.admin.port", "must differ from listen.port") }
        }
        if let t = r.int(top, "threads", "$", range: 0...256), t > 0 { config.threads = t }
        parseAccessLog(top?["accessLog"], into: &config, r)
        if let allow = r.bool(top, "allowEncodedSlashes", "$") { config.server.limits.allowEncodedSlashes = allow }
        if let allow = r.bool(top, "underscoresInHeaders", "$") { config.forwarding.underscoresInHeaders = allow }
        if let ignore = r.bool(top, "ignoreClientAbort", "$") { config.server.ignoreClientAbort = ignore }
        for (i, item) in (r.array(top, "trustedProxies", "$") ?? []).enumerated() {
            guard case .string(let text) = item else { r.issue("$.trustedProxies[\(i)]", "expected a CIDR string such as \"10.0.0.0/8\", found \(item.typeName)"); continue }
            do { config.forwarding.trustedProxies.append(try IPNetwork(text)) } catch { r.issue("$.trustedProxies[\(i)]", error.description) }
        }

        let limits = r.object(top?["limits"], "$.limits", allowed: ["maxRequestLineBytes", "maxHeaderBytes", "maxHeaderCount", "maxBodyBytes", "maxConnections", "maxResponseBytes",
                                                                       "maxBufferedResponseBytes", "minSendBytesPerSecond", "sendRateWindowMs"])
        if let v = r.int(limits, "maxRequestLineBytes", "$.limits", range: 64...1_048_576) { config.server.limits.maxRequestLineBytes = v }
        if let v = r.int(limits, "maxHeaderBytes", "$.limits", range: 256...1_048_576) { config.server.limits.maxHeaderBytes = v }
        if let v = r.int(limits, "maxHeaderCount", "$.limits", range: 1...10_000) { config.server.limits.maxHeaderCount = v }
        if let v = r.int(limits, "maxBodyBytes", "$.limits", range: 0...1_073_741_824) { config.server.limits.maxBodyBytes = v }
        if let v = r.int(limits, "maxConnections", "$.limits", range: 1...1_000_000) { config.server.maxConnections = v }
        if let v = r.int(limits, "maxBufferedResponseBytes", "$.limits", range: 1_048_576...68_719_476_736) { config.server.responseBudget = MemoryBudget(limit: v) }
        if let v = r.int(limits, "minSendBytesPerSecond", "$.limits", range: 0...1_073_741_824) { config.server.minSendBytesPerSecond = v }
        if let v = r.int(limits, "sendRateWindowMs", "$.limits", range: 100...3_600_000) { config.server.sendRateWindow = UInt64(v) * 1_000_000 }
        let maxResponseBytes = r.int(limits, "maxResponseBytes", "$.limits", range: 1024...1_073_741_824) ?? UpstreamOrigin.defaultMaxResponseBytes
        if config.server.limits.maxRequestLineBytes > config.server.limits.maxHeaderBytes {
            r.issue("$.limits.maxRequestLineBytes", "must not exceed maxHeaderBytes (\(config.server.limits.maxHeaderBytes))")
        }

        config.redis = RedisConfigurationReader.read(top?["redis"], environment: environment, reader: r)
        config.auth = AuthConfigurationReader.read(top?["auth"], directory: directory, redisConfigured: top?["redis"] != nil, reader: r)
        let defaults = r.object(top?["defaults"], "$.defaults", allowed: ["policy"])
        config.defaultPolicy = PolicyConfiguration.read(defaults?["policy"], "$.defaults.policy", maxBodyBytes: config.server.limits.maxBodyBytes,
                                                        auth: config.auth, reader: r)
            .applied(to: RoutePolicy())

        let timeouts = r.object(top?["timeouts"], "$.timeouts", allowed: ["headerMs", "bodyMs", "idleMs", "writeMs", "drainMs", "readinessGraceMs"])
        let ms: (String) -> UInt64? = { key in r.int(timeouts, key, "$.timeouts", range: 1...86_400_000).map { UInt64($0) * 1_000_000 } }
        if let v = ms("headerMs") { config.server.headerTimeout = v }
        if let v = ms("bodyMs") { config.server.bodyTimeout = v }
        if let v = ms("idleMs") { config.server.idleTimeout = v }
        if let v = ms("writeMs") { config.server.writeTimeout = v }
        if let v = ms("drainMs") { config.server.drainTimeout = v }
        if let v = r.int(timeouts, "readinessGraceMs", "$.timeouts", range: 0...3_600_000) { config.server.readinessGrace = UInt64(v) * 1_000_000 }

        if let services = r.object(top?["services"], "$.services", allowed: top?["services"]?.objectValue?.keys ?? []) {
            for (name, value) in services.entries {
                let p = "$.services.\(name)"
                guard let s = r.object(value, p, allowed: ["instances", "balancer", "connectTimeoutMs", "responseTimeoutMs", "pool", "demo"]) else { continue }
                var instances: [InstanceConfiguration] = []
                if let list = r.array(s, "instances", p, required: true) {
                    if list.isEmpty { r.issue("\(p).instances", "at least one instance is required") }
                    for (i, item) in list.enumerated() {
                        guard let instance = parseInstance(item, "\(p).instances[\(i)]", r) else { continue }
                        if instances.contains(where: { $0.host == instance.host && $0.port == instance.port }) {
                            r.issue("\(p).instances[\(i)]", "'\(instance.host):\(instance.port)' is listed twice (give one entry a weight instead)")
                            continue
                        }
                        instances.append(instance)
                    }
                }
                var balancer = BalancerKind.roundRobin
                if let b = r.string(s, "balancer", p) {
                    if let kind = BalancerKind(rawValue: b) {
                        balancer = kind
                    } else if ["leastRequest", "random", "hash", "consistentHash", "ringHash", "maglev"].contains(b) {
                        r.issue("\(p).balancer", "'\(b)' is not available yet (available: \(BalancerKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                    } else {
                        r.issue("\(p).balancer", "unknown balancer '\(b)' (available: \(BalancerKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                }
                var pool = ConnectionPoolStateMachine.Configuration()
                let po = r.object(s["pool"], "\(p).pool", allowed: ["maxConnections", "maxIdle", "idleTimeoutMs", "maxWaiters", "reuse"])
                if let v = r.int(po, "maxConnections", "\(p).pool", range: 1...100_000) { pool.maxConnections = v }
                if let v = r.int(po, "maxIdle", "\(p).pool", range: 0...100_000) { pool.maxIdle = v }
                if let v = r.int(po, "idleTimeoutMs", "\(p).pool", range: 1...86_400_000) { pool.idleTimeout = UInt64(v) * 1_000_000 }
                if let v = r.int(po, "maxWaiters", "\(p).pool", range: 0...1_000_000) { pool.maxWaiters = v }
                let reuse = r.bool(po, "reuse", "\(p).pool") ?? true
                let connect = r.int(s, "connectTimeoutMs", p, range: 1...600_000).map { UInt64($0) * 1_000_000 } ?? 2_000_000_000
                let response = r.int(s, "responseTimeoutMs", p, range: 1...3_600_000).map { UInt64($0) * 1_000_000 } ?? 30_000_000_000
                let demo = r.string(s, "demo", p)
                config.services.append(ServiceConfiguration(name: name, instances: instances, balancer: balancer, pool: pool, connectTimeout: connect,
                                                            responseTimeout: response, demo: demo, maxResponseBytes: maxResponseBytes, reuseConnections: reuse))
            }
        }

        if let sessions = config.auth.sessions, !sessions.identityService.isEmpty, config.service(named: sessions.identityService) == nil {
            r.issue("$.auth.sessions.identity.service",
                    "unknown service '\(sessions.identityService)' (defined: \(config.services.map(\.name).joined(separator: ", ")))")
        }
        var router = Router<Int>()
        // The session routes come first: a configured route on one of their paths is the one reported.
        if config.auth.sessions != nil {
            for builtIn in SessionRoutes.all { try? router.add(method: builtIn.method, template: builtIn.path, value: -1) }
        }
        var names: Set<String> = []
        for (i, value) in (r.array(top, "routes", "$") ?? []).enumerated() {
            let p = "$.routes[\(i)]"
            guard let o = r.object(value, p, allowed: ["name", "method", "path", "proxy", "policy"]) else { continue }
            let name = r.string(o, "name", p) ?? "route\(i)"
            if !names.insert(name).inserted { r.issue("\(p).name", "duplicate route name '\(name)'") }
            if Self.reservedRouteNames.contains(name) { r.issue("\(p).name", "'\(name)' is the name of a built-in answer (logs and metrics would mix them up)") }
            var method = r.string(o, "method", p)
            if let m = method {
                if m == "*" || m == "ANY" { method = nil } else if m.isEmpty || !m.utf8.allSatisfy({ ByteClass.isToken($0) }) || m.uppercased() != m {
                    r.issue("\(p).method", "'\(m)' is not an upper-case method token")
                }
            }
            guard let path = r.string(o, "path", p, required: true) else { continue }
            var parameterNames: [String] = []
            do {
                try router.add(method: method, template: path, value: i)
                parameterNames = templateParameters(path)
            } catch {
                r.issue("\(p).path", "\(error)")
            }
            guard let px = r.object(o["proxy"], "\(p).proxy", allowed: ["service", "path", "stripPrefix", "preserveHost", "timeoutMs"]) else {
                if o["proxy"] == nil { r.issue("\(p).proxy", "required") }
                continue
            }
            let service = r.string(px, "service", "\(p).proxy", required: true) ?? ""
            if !service.isEmpty && config.service(named: service) == nil {
                r.issue("\(p).proxy.service", "unknown service '\(service)' (defined: \(config.services.map(\.name).joined(separator: ", ")))")
            }
            var proxy = ProxyConfiguration(service: service)
            if let rewrite = r.string(px, "path", "\(p).proxy") {
                if !rewrite.hasPrefix("/") { r.issue("\(p).proxy.path", "must start with '/'") }
                do {
                    let target = try TargetTemplate.proxy(rewrite)
                    for used in target.placeholders {
                        switch used {
                        case .routeParameter(let name) where !parameterNames.contains(name):
                            r.issue("\(p).proxy.path", "uses {\(used)}, which the route path '\(path)' does not capture")
                        case .rest where !path.hasSuffix("/*"):
                            r.issue("\(p).proxy.path", "uses {\(used)}, which the route path '\(path)' does not capture")
                        default: break
                        }
                    }
                    proxy.target = target
                } catch {
                    if rewrite.hasPrefix("/") { r.issue("\(p).proxy.path", error.reason) }
                }
            }
            if let strip = r.string(px, "stripPrefix", "\(p).proxy") {
                if !strip.hasPrefix("/") { r.issue("\(p).proxy.stripPrefix", "must start with '/'") }
                proxy.stripPrefix = strip
            }
            proxy.preserveHost = r.bool(px, "preserveHost", "\(p).proxy") ?? false
            proxy.timeout = r.int(px, "timeoutMs", "\(p).proxy", range: 1...3_600_000).map { UInt64($0) * 1_000_000 }
            var route = RouteConfiguration(name: name, method: method, path: path, proxy: proxy)
            route.policyOverride = PolicyConfiguration.read(o["policy"], "\(p).policy", maxBodyBytes: config.server.limits.maxBodyBytes,
                                                            auth: config.auth, reader: r)
            for (at, reason) in PolicyConfiguration.conflicts(config.effectivePolicy(route: route), override: route.policyOverride, method: method,
                                                              template: path, parameters: Set(parameterNames), at: "\(p).policy") {
                r.issue(at, reason)
            }
            config.routes.append(route)
        }
        guard r.issues.isEmpty else { throw ConfigurationError(issues: r.issues) }
        return config
    }

    struct Reason: Error { let text: String }

    /// A proxy route's policy: `defaults.policy` with the route's own sections in place of the defaults'.
    public func effectivePolicy(route: RouteConfiguration) -> RoutePolicy {
        route.policyOverride.applied(to: defaultPolicy)
    }

    /// Why `endpoint` cannot read `claims.*` (nil if it can): its effective policy has no auth (neither a
    /// bearer token nor an API key), so every claim would be null — a contract mistake, like a header
    /// template using claims on an open route, and never something to discover from a 200 with holes.
    public func claimsConflict(_ endpoint: CompiledEndpoint) -> String? {
        guard endpoint.usesClaims else { return nil }
        let policy = effectivePolicy(endpoint: endpoint)
        guard policy.auth == nil && policy.apiKey == nil else { return nil }
        let used = endpoint.sourcePaths.filter { if case .claim = $0.root { return true }; return false }.map { "'\($0.text)'" }
        return "the endpoint reads \(Array(Set(used)).sorted().joined(separator: ", ")) but has no auth (policy.auth here or in defaults.policy): there would be no claims"
    }

    /// A composite endpoint's policy: `defaults.policy` with the contract's own sections in place of the defaults'.
    public func effectivePolicy(endpoint: CompiledEndpoint) -> RoutePolicy {
        endpoint.policyOverride.applied(to: defaultPolicy)
    }

    /// One entry of `instances`: `"host:port"` or `{"address": "host:port", "weight": …, "zone": …}`.
    static func parseInstance(_ item: JSONValue, _ path: String, _ r: ConfigReader) -> InstanceConfiguration? {
        switch item {
        case .string(let text):
            switch parseInstance(text) {
            case .success(let hp): return InstanceConfiguration(host: hp.host, port: hp.port)
            case .failure(let reason): r.issue(path, reason.text); return nil
            }
        case .object:
            guard let o = r.object(item, path, allowed: ["address", "weight", "zone"]) else { return nil }
            let before = r.issues.count
            var instance: InstanceConfiguration? = nil
            if let text = r.string(o, "address", path, required: true) {
                switch parseInstance(text) {
                case .success(let hp): instance = InstanceConfiguration(host: hp.host, port: hp.port)
                case .failure(let reason): r.issue("\(path).address", reason.text)
                }
            }
            let weight = r.int(o, "weight", path, range: InstanceConfiguration.weightRange) ?? 1
            let zone = r.string(o, "zone", path)
            if let zone, !isZoneName(zone) {
                r.issue("\(path).zone", "'\(zone)' is not a zone name (1 to 64 letters, digits, '.', '_' or '-')")
            }
            guard var result = instance, r.issues.count == before else { return nil }
            result.weight = weight
            result.zone = zone
            return result
        default:
            r.issue(path, "expected \"host:port\" or {\"address\": \"host:port\", \"weight\": 1, \"zone\": \"…\"}, found \(item.typeName)")
            return nil
        }
    }

    /// A zone name becomes a metric label and a log field: a short token, nothing else.
    static func isZoneName(_ text: String) -> Bool {
        let utf8 = text.utf8
        return (1...64).contains(utf8.count) && utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
        }
    }

    /// `host:port`, `[v6]:port`, optionally with `http://`.
    static func parseInstance(_ text: String) -> Result<(host: String, port: Int), Reason> {
        var t = Substring(text)
        if t.hasPrefix("https://") { return .failure(Reason(text: "https upstreams are not supported yet")) }
        if t.hasPrefix("http://") { t = t.dropFirst(7) }
        if t.hasSuffix("/") { t = t.dropLast() }
        guard let colon = t.lastIndex(of: ":"), let port = Int(t[t.index(after: colon)...]), (1...65535).contains(port) else {
            return .failure(Reason(text: "'\(text)' is not host:port with a port in 1...65535"))
        }
        var host = t[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty, !host.contains("/") else { return .failure(Reason(text: "'\(text)' has no valid host")) }
        return .success((String(host), port))
    }

    /// Parameter names used in a template, `*` for a `{*}`.
    static func templateParameters(_ template: String) -> [String] {
        var names: [String] = []
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            names.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }
}
