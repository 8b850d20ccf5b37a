import FoundationEssentials
import Synchronization

/// Runs a client's contract test cases (`contracts/<client>/tests/*.json`) through the real gateway over
/// HTTP, with stub downstreams on loopback, and reports each difference by JSON path.
///
/// A case:
/// ```json
/// { "name": "dashboard: happy path",
///   "request": { "method": "GET", "path": "/api/web/dashboard/7", "headers": { "Accept": "application/json" } },
///   "stubs": { "users": [ { "method": "GET", "path": "/users/7", "status": 200, "body": { "id": 7 }, "delayMs": 0,
///                           "headers": { "Cache-Control": "max-age=60" } } ] },
///   "expect": { "status": 200, "headers": { "X-Partial-Response": null }, "body": { ... }, "schemaOnly": false } }
/// ```
/// `identity` (claims) sends a bearer token with those claims, signed by a key made for the run (see
/// `ContractTestRunner+Identity.swift`); `identityProvider` names the provider when there are several.
/// A stub matches on method (default GET) and path (the query is ignored unless `query` is given); a
/// request no stub matches gets 404. A header expected as `null` must be absent. Without `body` (or with
/// `schemaOnly`), only the endpoint's schema is checked; with it, the body must equal it exactly and also
/// satisfy the schema. `bodySubset` instead checks only the members it lists (for problem documents,
/// whose `requestId` varies).
public enum ContractTestRunner {
    struct Stub: Sendable {
        let method: String
        let path: String
        let query: String?
        let status: Int
        let body: [UInt8]
        let delayMs: Int
        let headers: [(String, String)]
    }

    struct Case: Sendable {
        let file: String
        let name: String
        let method: String
        let path: String
        let headers: [(String, String)]
        let body: [UInt8]
        /// The claims of the token to send (nil: no token), and the provider that verifies it.
        let identity: JSONObject?
        let identityProvider: String?
        let stubs: [String: [Stub]]
        let status: Int?
        let expectedHeaders: [(String, String?)]
        let expectedBody: JSONValue?
        let subset: Bool
    }

    /// The stubs of the case being run, read by every stub server.
    final class StubTable: Sendable {
        let current = Mutex<[String: [Stub]]>([:])
    }

    public struct Summary: Sendable {
        public let passed: Int
        public let failed: Int
        public let report: String
    }

    /// Loads and runs every case of `directory`. Throws `ConfigurationError` for invalid configuration
    /// or test files.
    public static func run(directory: String) async throws -> Summary {
        var config = try GatewayConfiguration.load(directory: directory)
        let cases = try loadCases(directory: directory, services: Set(config.services.map(\.name)),
                                  providers: config.auth.providers.map(\.name) + (config.auth.apiKeys != nil ? [apiKeyProviderName] : []))
        let issuers = try substituteThrowawayKeys(in: &config)
        let keyStore = try substituteThrowawayKeyStore(in: &config)
        defer { if let keyStore { try? FileManager.default.removeItem(atPath: keyStore.directory) } }
        // Every API-key case's key is in the store before the gateway reads it (its loops look at the
        // file on an interval, so a key added between two requests could be missed).
        var apiKeys: [Int: (String, String)] = [:]
        if let keyStore {
            let now = Int64(Date().timeIntervalSince1970)
            for (i, c) in cases.enumerated() where c.identityProvider == apiKeyProviderName {
                if let identity = c.identity { apiKeys[i] = try apiKeyCredentials(for: identity, store: keyStore.store, now: now) }
            }
        }
        let table = StubTable()
        // The report is the output: the stubs and the gateway log nothing.
        let stubGroup = try EventLoopGroup(threads: 1, logging: .disabled)
        var stubServers: [HTTPServer] = []
        for i in config.services.indices {
            let name = config.services[i].name
            var sc = ServerConfiguration()
            sc.port = 0
            sc.accessLog = false
            let server = HTTPServer(configuration: sc, group: stubGroup, handler: ClosureHandler { request, _ in
                let stubs = table.current.withLock { $0[name] ?? [] }
                let query = request.query.map(String.init)
                guard let stub = stubs.first(where: { $0.method == request.method && $0.path == request.path && ($0.query == nil || $0.query == query) }) else {
                    return HTTPResponse(status: 404, contentType: "application/json", body: "{\"error\":\"no stub for \(request.method) \(request.target) on \(name)\"}")
                }
                if stub.delayMs > 0 { try? await Task.sleep(nanoseconds: UInt64(stub.delayMs) * 1_000_000) }
                var response = HTTPResponse(status: stub.status, headers: HTTPHeaders([("Content-Type", "application/json")]), body: stub.body)
                for (k, v) in stub.headers { response.headers.set(k, v) }
                return response
            })
            let port = try server.start()
            stubServers.append(server)
            config.services[i].instances = [InstanceConfiguration(host: "127.0.0.1", port: port)]
        }
        config.server.port = 0
        config.server.host = "127.0.0.1"
        config.server.accessLog = false
        let group = try EventLoopGroup(threads: 1, logging: .disabled)
        let gateway = try Gateway(configuration: config, group: group)
        let port = try gateway.start()
        let origin = try UpstreamOrigin(host: "127.0.0.1", port: port, pool: .init(maxConnections: 4, maxIdle: 4, idleTimeout: 60_000_000_000, maxWaiters: 64),
                                        connectTimeout: 2_000_000_000, responseTimeout: 30_000_000_000)
        let clientLoop = try EventLoopGroup(threads: 1, logging: .disabled)
        let client = Upstream(name: "gateway", instances: [UpstreamInstance(index: 0, origin: origin)], group: clientLoop)
        defer {
            gateway.shutdown()
            group.shutdown()
            for s in stubServers { s.shutdown() }
            stubGroup.shutdown()
            client.shutdown()
            clientLoop.shutdown()
        }

        var report = "contract tests: \(directory) (\(cases.count) case\(cases.count == 1 ? "" : "s"))\n"
        var passed = 0, failed = 0
        for (index, c) in cases.enumerated() {
            table.current.withLock { $0 = c.stubs }
            var headers = HTTPHeaders(c.headers)
            if !headers.contains("host") { headers.add("Host", "contract-test") }
            let started = MonotonicClock.now()
            var problems: [String] = []
            do {
                if let identity = c.identity, let name = c.identityProvider ?? config.auth.providers.first?.name {
                    let now = Int64(Date().timeIntervalSince1970)
                    if name == apiKeyProviderName, let (field, key) = apiKeys[index] {
                        headers.add(field, key)
                    } else if let sessions = config.auth.sessions, name == AccessTokenIssuer.providerName {
                        let credentials = try sessionCredentials(for: identity, sessions: sessions, now: now)
                        try await sessions.store.create(credentials.session, token: credentials.refreshToken, now: now)
                        for (name, value) in credentials.fields { headers.add(name, value) }
                    } else if let issuer = issuers[name] {
                        headers.add("Authorization", "Bearer " + (try token(for: identity, issuer: issuer, now: now)))
                    }
                }
                let response = try await client.execute(UpstreamRequest(method: c.method, target: c.path, headers: headers, body: c.body),
                                                        on: clientLoop.loops[0]).response
                problems = check(c, response, config: config)
            } catch {
                problems = ["request failed: \(error)"]
            }
            let ms = (MonotonicClock.now() - started) / 1_000_000
            if problems.isEmpty {
                passed += 1
                report += "  ✔ \(c.name) (\(ms) ms)\n"
            } else {
                failed += 1
                report += "  ✘ \(c.name) (\(c.file))\n" + problems.map { "      \($0)\n" }.joined()
            }
        }
        report += "\(passed) passed, \(failed) failed\n"
        return Summary(passed: passed, failed: failed, report: report)
    }

    static func check(_ c: Case, _ response: HTTPResponse, config: GatewayConfiguration) -> [String] {
        var problems: [String] = []
        if let status = c.status, status != response.status {
            problems.append("status: expected \(status), got \(response.status)")
        }
        for (name, expected) in c.expectedHeaders {
            let actual = response.headers[name]
            if actual != expected {
                problems.append("header \(name): expected \(expected.map(JSONText.quoted) ?? "none"), got \(actual.map(JSONText.quoted) ?? "none")")
            }
        }
        let body: JSONValue?
        if response.body.isEmpty {
            body = nil
        } else {
            do { body = try JSONParser.parse(response.body) } catch {
                problems.append("body is not JSON: \(error)")
                return problems
            }
        }
        if let expected = c.expectedBody {
            problems += diff(expected, body ?? .null, at: "$", allowExtra: c.subset)
        }
        // The endpoint's schema, for successful composite responses.
        if (200..<300).contains(response.status), let body,
           let endpoint = config.endpoints.first(where: { endpointMatches($0, method: c.method, path: c.path) }), let schema = endpoint.schema {
            problems += schema.validate(body).map { "schema: \($0)" }
        }
        return problems
    }

    static func endpointMatches(_ e: CompiledEndpoint, method: String, path: String) -> Bool {
        var router = Router<Int>()
        guard (try? router.add(method: e.method, template: e.path, value: 0)) != nil else { return false }
        let p = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        if case .matched = router.lookup(method: method, path: Substring(p)) { return true }
        return false
    }

    /// Every difference between two JSON values, by JSON path.
    public static func diff(_ expected: JSONValue, _ actual: JSONValue, at path: String, allowExtra: Bool = false) -> [String] {
        switch (expected, actual) {
        case (.object(let e), .object(let a)):
            var out: [String] = []
            for entry in e.entries {
                if let av = a[entry.key] { out += diff(entry.value, av, at: "\(path).\(entry.key)", allowExtra: allowExtra) } else { out.append("\(path).\(entry.key): missing (expected \(JSONSchema.short(entry.value)))") }
            }
            for entry in a.entries where e[entry.key] == nil && !allowExtra {
                out.append("\(path).\(entry.key): unexpected (got \(JSONSchema.short(entry.value)))")
            }
            return out
        case (.array(let e), .array(let a)):
            var out: [String] = []
            if e.count != a.count { out.append("\(path): expected \(e.count) elements, got \(a.count)") }
            for i in 0..<min(e.count, a.count) { out += diff(e[i], a[i], at: "\(path)[\(i)]", allowExtra: allowExtra) }
            return out
        default:
            if expected == actual { return [] }
            if expected.typeName != actual.typeName { return ["\(path): expected \(expected.typeName) \(JSONSchema.short(expected)), got \(actual.typeName) \(JSONSchema.short(actual))"] }
            return ["\(path): expected \(JSONSchema.short(expected)), got \(JSONSchema.short(actual))"]
        }
    }

    /// `providers`: the names of the configured JWT providers (which `identity` cases need).
    static func loadCases(directory: String, services: Set<String>, providers: [String] = []) throws(ConfigurationError) -> [Case] {
        let folder = (directory.hasSuffix("/") ? String(directory.dropLast()) : directory) + "/tests"
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        var cases: [Case] = []
        var issues: [ConfigurationIssue] = []
        for name in files {
            let file = folder + "/" + name
            let r = ConfigReader(file: file)
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            let root: JSONValue
            do { root = try JSONParser.parse(Array(data), duplicateKeys: .reject) } catch {
                issues.append(ConfigurationIssue(file: file, path: "$", reason: error.description))
                continue
            }
            let list: [JSONValue]
            if case .array(let a) = root { list = a } else { list = [root] }
            for (i, item) in list.enumerated() {
                let p = list.count == 1 && root.arrayValue == nil ? "$" : "$[\(i)]"
                guard let o = r.object(item, p, allowed: ["name", "request", "identity", "identityProvider", "stubs", "expect"]) else { continue }
                let caseName = r.string(o, "name", p, required: true) ?? "\(name)#\(i)"
                let req = r.object(o["request"], "\(p).request", allowed: ["method", "path", "headers", "body"])
                if o["request"] == nil { r.issue("\(p).request", "required") }
                let method = r.string(req, "method", "\(p).request") ?? "GET"
                let path = r.string(req, "path", "\(p).request", required: true) ?? "/"
                var headers: [(String, String)] = []
                for (k, v) in r.object(req?["headers"], "\(p).request.headers", allowed: req?["headers"]?.objectValue?.keys ?? [])?.entries ?? [] {
                    if let s = v.stringValue { headers.append((k, s)) } else { r.issue("\(p).request.headers.\(k)", "must be a string") }
                }
                let body = req?["body"].map { JSONSerializer.serialize($0) } ?? []
                let identity = r.object(o["identity"], "\(p).identity", allowed: o["identity"]?.objectValue?.keys ?? [])
                var identityProvider = r.string(o, "identityProvider", p)
                if identity != nil {
                    if providers.isEmpty { r.issue("\(p).identity", "gateway.json configures no JWT provider (auth.jwt.providers), no sessions and no API keys to verify the identity") }
                    else if let name = identityProvider, !providers.contains(name) {
                        r.issue("\(p).identityProvider", "unknown provider '\(name)' (configured: \(providers.joined(separator: ", ")))")
                    } else if identityProvider == nil {
                        if providers.count > 1 { r.issue("\(p).identityProvider", "required: several providers are configured (\(providers.joined(separator: ", ")))") }
                        identityProvider = providers.first
                    }
                    if headers.contains(where: { $0.0.lowercased() == "authorization" || $0.0.lowercased() == "x-api-key" }) {
                        r.issue("\(p).identity", "the request sets Authorization or X-API-Key itself: use identity or the header, not both")
                    }
                } else if o["identityProvider"] != nil {
                    r.issue("\(p).identityProvider", "only with identity")
                }
                var stubs: [String: [Stub]] = [:]
                for (service, value) in r.object(o["stubs"], "\(p).stubs", allowed: Array(services))?.entries ?? [] {
                    guard case .array(let entries) = value else { r.issue("\(p).stubs.\(service)", "must be an array of stubs"); continue }
                    for (j, e) in entries.enumerated() {
                        let sp = "\(p).stubs.\(service)[\(j)]"
                        guard let so = r.object(e, sp, allowed: ["method", "path", "query", "status", "body", "delayMs", "headers"]) else { continue }
                        var sh: [(String, String)] = []
                        for (k, v) in r.object(so["headers"], "\(sp).headers", allowed: so["headers"]?.objectValue?.keys ?? [])?.entries ?? [] {
                            if let s = v.stringValue { sh.append((k, s)) }
                        }
                        stubs[service, default: []].append(Stub(
                            method: r.string(so, "method", sp) ?? "GET", path: r.string(so, "path", sp, required: true) ?? "/",
                            query: r.string(so, "query", sp), status: r.int(so, "status", sp, range: 100...599) ?? 200,
                            body: so["body"].map { JSONSerializer.serialize($0) } ?? [], delayMs: r.int(so, "delayMs", sp, range: 0...60_000) ?? 0, headers: sh))
                    }
                }
                let ex = r.object(o["expect"], "\(p).expect", allowed: ["status", "headers", "body", "bodySubset", "schemaOnly"])
                if ex?["body"] != nil && ex?["bodySubset"] != nil { r.issue("\(p).expect", "body and bodySubset cannot both be set") }
                if o["expect"] == nil { r.issue("\(p).expect", "required") }
                var expectedHeaders: [(String, String?)] = []
                for (k, v) in r.object(ex?["headers"], "\(p).expect.headers", allowed: ex?["headers"]?.objectValue?.keys ?? [])?.entries ?? [] {
                    switch v {
                    case .null: expectedHeaders.append((k, nil))
                    case .string(let s): expectedHeaders.append((k, s))
                    default: r.issue("\(p).expect.headers.\(k)", "must be a string or null")
                    }
                }
                let schemaOnly = r.bool(ex, "schemaOnly", "\(p).expect") ?? false
                cases.append(Case(file: file, name: caseName, method: method, path: path, headers: headers, body: body,
                                  identity: identity, identityProvider: identityProvider, stubs: stubs,
                                  status: r.int(ex, "status", "\(p).expect", range: 100...599), expectedHeaders: expectedHeaders,
                                  expectedBody: schemaOnly ? nil : (ex?["body"] ?? ex?["bodySubset"]), subset: ex?["bodySubset"] != nil))
            }
            issues += r.issues
        }
        guard issues.isEmpty else { throw ConfigurationError(issues: issues) }
        return cases
    }
}
