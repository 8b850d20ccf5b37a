/// A composite endpoint compiled from its contract file: immutable, shared by every request.
///
/// Contract file (`contracts/<client>/endpoints/*.json`):
///
/// ```json
/// { "name": "dashboard", "method": "GET", "path": "/api/web/dashboard/{userId}",
///   "policy": { "auth": null, "rateLimit": null },
///   "deadlineMs": 2000, "partialMeta": true, "etag": false,
///   "calls": {
///     "user":   { "service": "users", "path": "/users/{path.userId}", "timeoutMs": 800,
///                 "statusMap": { "404": 404 }, "passHeaders": ["Cache-Control"] },
///     "orders": { "service": "orders", "path": "/orders", "query": { "userId": "{path.userId}", "limit": "5" },
///                 "required": false, "fallback": { "orders": [] } },
///     "products": { "service": "catalog", "path": "/products", "query": { "ids": "{$}" },
///                   "batch": { "in": "orders.orders[*].items[*].productId", "size": 20, "resultPath": "products" } } },
///   "response": { "user": { "$select": "user", "$pick": ["id", "name"] }, "orders": "$orders.orders" },
///   "schema": { "type": "object", "required": ["user"] } }
/// ```
public struct CompiledEndpoint: Sendable {
    public let name: String
    public let method: String?
    public let path: String
    public let file: String
    public let calls: [CompiledCall]
    /// Indices of the calls each call waits for.
    public let dependencies: [[Int]]
    public let deadline: UInt64
    public let partialMeta: Bool
    public let etag: Bool
    public let response: ResponseTemplate
    public let schema: JSONSchema?
    /// The contract's `policy`: the sections it sets or turns off; see `GatewayConfiguration.effectivePolicy(endpoint:)`.
    public var policyOverride = RoutePolicy.Override()
    /// Whether a call or the response reads `claims.*`: only such endpoints take the identity's claims
    /// into their scope, and only with `policy.auth` (else a configuration error: there would be none).
    public var usesClaims = false

    /// Every path the endpoint's calls and response read (targets, headers, bodies, expansions, response).
    public var sourcePaths: [SourcePath] {
        var out = response.paths().map(\.0)
        for call in calls {
            for case .source(let p) in call.target.placeholders { out.append(p) }
            for (_, t) in call.headers { out += t.paths }
            if let body = call.body { out += body.paths().map(\.0) }
            switch call.expansion {
            case .single: break
            case .forEach(let source, _, _), .batch(let source, _, _, _, _): out.append(source)
            }
        }
        return out
    }
}

public struct CompiledCall: Sendable {
    public enum Expansion: Sendable {
        case single
        /// One call per element of the array at `source` (at most `max`), `concurrency` at a time, results in order.
        case forEach(source: SourcePath, max: Int, concurrency: Int)
        /// The elements at `source` (deduplicated, at most `max`) in chunks of `size`; each chunk is `$` in the
        /// templates; the arrays at `resultPath` of the chunk responses are concatenated.
        case batch(source: SourcePath, size: Int, max: Int, concurrency: Int, resultPath: SourcePath?)
    }

    public let name: String
    public let service: String
    public let method: String
    /// `path` and the `query` object, compiled into one target template (values encoded for where they land).
    public let target: TargetTemplate
    public let headers: [(String, StringTemplate)]
    public let body: ResponseTemplate?
    public let timeout: UInt64?
    public let required: Bool
    public let fallback: JSONValue
    public let successStatus: Set<Int>
    public let statusMap: [Int: Int]
    public let passHeaders: [String]
    public let expansion: Expansion
    /// `"emptyBody": "null"`: an empty success body is taken as `null`. By default (`"error"`) it fails the
    /// call, since an empty body is not JSON; a response that by HTTP has no content (204, 205, 304, or an
    /// answer to HEAD) is `null` either way.
    public let emptyBodyIsNull: Bool
}

/// Compiles endpoint contracts, collecting every problem with its file and JSON path.
struct EndpointCompiler {
    let services: Set<String>
    let reader: ConfigReader
    /// `limits.maxBodyBytes`: the bound of `policy.maxBodyBytes`.
    var maxBodyBytes = HTTPParserLimits().maxBodyBytes
    /// gateway.json's `auth`: the providers and roles the contract's `policy.auth` refers to.
    var auth = AuthConfiguration()

    static let endpointKeys = ["$schema", "name", "description", "method", "path", "policy", "deadlineMs", "partialMeta", "etag", "calls", "response", "schema"]
    static let callKeys = ["service", "method", "path", "query", "headers", "body", "timeoutMs", "required", "fallback", "successStatus",
                           "statusMap", "passHeaders", "dependsOn", "forEach", "batch", "responseSchema", "description", "emptyBody"]

    func compile(_ root: JSONValue) -> CompiledEndpoint? {
        let r = reader
        let issuesBefore = r.issues.count
        guard let o = r.object(root, "$", allowed: Self.endpointKeys) else {
            if r.issues.count == issuesBefore { r.issue("$", "an endpoint must be an object") }
            return nil
        }
        let name = r.string(o, "name", "$", required: true) ?? "?"
        var method = r.string(o, "method", "$")
        if method == "*" { method = nil }
        if let m = method, m.isEmpty || m.uppercased() != m || !m.utf8.allSatisfy(ByteClass.isToken) { r.issue("$.method", "'\(m)' is not an upper-case method token") }
        let path = r.string(o, "path", "$", required: true) ?? "/"
        var routeParameters: Set<String> = []
        do {
            var probe = Router<Int>()
            try probe.add(method: method, template: path, value: 0)
            routeParameters = Set(GatewayConfiguration.templateParameters(path))
        } catch {
            r.issue("$.path", "\(error)")
        }
        let policy = PolicyConfiguration.read(o["policy"], "$.policy", maxBodyBytes: maxBodyBytes, auth: auth, reader: r)
        for (at, reason) in PolicyConfiguration.conflicts(policy.applied(to: RoutePolicy()), override: policy, method: method, template: path,
                                                          parameters: routeParameters, at: "$.policy") {
            r.issue(at, reason)
        }
        let deadline = UInt64(r.int(o, "deadlineMs", "$", range: 1...600_000) ?? 5000) * 1_000_000
        let partialMeta = r.bool(o, "partialMeta", "$") ?? false
        let etag = r.bool(o, "etag", "$") ?? false

        // Calls, in file order.
        var calls: [CompiledCall] = []
        var references: [[String]] = []
        var responseSchemas: [String: JSONSchema] = [:]
        let callObject = r.object(o["calls"], "$.calls", allowed: o["calls"]?.objectValue?.keys ?? [])
        if o["calls"] == nil { r.issue("$.calls", "required") }
        let callNames = callObject?.keys ?? []
        for (callName, value) in callObject?.entries ?? [] {
            let p = "$.calls.\(callName)"
            guard callName.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }), !["path", "query", "header", "claims"].contains(callName) else {
                r.issue(p, "a call name may contain letters, digits, '_' and '-', and may not be path, query, header or claims")
                continue
            }
            if let (call, refs, schema) = compileCall(callName, value, path: p, routeParameters: routeParameters, callNames: callNames) {
                calls.append(call)
                references.append(refs)
                if let schema { responseSchemas[callName] = schema }
            }
        }
        // Dependencies and cycles.
        let index = Dictionary(uniqueKeysWithValues: calls.enumerated().map { ($1.name, $0) })
        let dependencies = references.map { refs in Array(Set(refs.compactMap { index[$0] })).sorted() }
        if let cycle = Self.findCycle(dependencies) {
            r.issue("$.calls", "dependency cycle: \(cycle.map { calls[$0].name }.joined(separator: " → "))")
        }

        // Response template and schema.
        var response = ResponseTemplate.constant(.null)
        if let t = o["response"] {
            do {
                response = try ResponseTemplate.compile(t)
                for (p, inElement) in response.paths() {
                    if let problem = checkPath(p, inElement: inElement, routeParameters: routeParameters, callNames: Set(callNames), selfName: nil) {
                        r.issue("$.response", problem)
                    } else if case .call(let c) = p.root, let schema = responseSchemas[c], let why = schema.impossibility(of: p.steps[...]) {
                        r.issue("$.response", "'\(p.text)' can never exist: \(why)")
                    }
                }
            } catch {
                r.issue(error.path, error.reason)
            }
        } else {
            r.issue("$.response", "required")
        }
        var schema: JSONSchema? = nil
        if let s = o["schema"] {
            do { schema = try JSONSchema(s) } catch { r.issue("$.schema" + error.path.dropFirst(), error.reason) }
        }
        guard r.issues.count == issuesBefore else { return nil }
        var endpoint = CompiledEndpoint(name: name, method: method, path: path, file: r.file, calls: calls, dependencies: dependencies,
                                        deadline: deadline, partialMeta: partialMeta, etag: etag, response: response, schema: schema,
                                        policyOverride: policy)
        endpoint.usesClaims = endpoint.sourcePaths.contains { if case .claim = $0.root { return true }; return false }
        return endpoint
    }

    private func compileCall(_ name: String, _ value: JSONValue, path p: String, routeParameters: Set<String>, callNames: [String])
        -> (CompiledCall, [String], JSONSchema?)? {
        let r = reader
        guard let c = r.object(value, p, allowed: Self.callKeys) else { return nil }
        let service = r.string(c, "service", p, required: true) ?? ""
        if !service.isEmpty && !services.contains(service) {
            r.issue("\(p).service", "unknown service '\(service)' (defined: \(services.sorted().joined(separator: ", ")))")
        }
        let method = r.string(c, "method", p) ?? "GET"
        if method.isEmpty || method.uppercased() != method || !method.utf8.allSatisfy(ByteClass.isToken) { r.issue("\(p).method", "'\(method)' is not an upper-case method token") }
        var refs: [String] = []
        let names = Set(callNames)
        func template(_ text: String, at tp: String, element: Bool) -> StringTemplate? {
            do {
                let t = try StringTemplate(text)
                for sp in t.paths {
                    if let problem = checkPath(sp, inElement: element, routeParameters: routeParameters, callNames: names, selfName: name) {
                        r.issue(tp, problem)
                    }
                    if case .call(let other) = sp.root, other != name { refs.append(other) }
                }
                return t
            } catch {
                r.issue(tp, error.description)
                return nil
            }
        }
        // Expansion first: it decides whether `$` may appear in the templates.
        var expansion = CompiledCall.Expansion.single
        let forEach = r.object(c["forEach"], "\(p).forEach", allowed: ["in", "max", "concurrency"])
        let batch = r.object(c["batch"], "\(p).batch", allowed: ["in", "size", "max", "concurrency", "resultPath"])
        if forEach != nil && batch != nil { r.issue(p, "forEach and batch cannot both be set") }
        func source(_ o: JSONObject?, _ at: String) -> SourcePath? {
            guard let text = r.string(o, "in", at, required: true) else { return nil }
            do {
                let sp = try SourcePath(ResponseTemplate.pathText(text))
                if let problem = checkPath(sp, inElement: false, routeParameters: routeParameters, callNames: names, selfName: name) { r.issue("\(at).in", problem) }
                if case .call(let other) = sp.root, other != name { refs.append(other) }
                return sp
            } catch {
                r.issue("\(at).in", error.description)
                return nil
            }
        }
        if let forEach, let sp = source(forEach, "\(p).forEach") {
            expansion = .forEach(source: sp, max: r.int(forEach, "max", "\(p).forEach", range: 1...1000) ?? 50,
                                 concurrency: r.int(forEach, "concurrency", "\(p).forEach", range: 1...64) ?? 8)
        }
        if let batch, let sp = source(batch, "\(p).batch") {
            var resultPath: SourcePath? = nil
            if let rp = r.string(batch, "resultPath", "\(p).batch") {
                do { resultPath = try SourcePath("$." + rp) } catch { r.issue("\(p).batch.resultPath", error.description) }
            }
            expansion = .batch(source: sp, size: r.int(batch, "size", "\(p).batch", range: 1...1000) ?? 50,
                               max: r.int(batch, "max", "\(p).batch", range: 1...100_000) ?? 500,
                               concurrency: r.int(batch, "concurrency", "\(p).batch", range: 1...64) ?? 4, resultPath: resultPath)
        }
        let element: Bool = { if case .single = expansion { return false }; return true }()
        // The target: each part compiled alone first, so a problem is reported where it is.
        func targetPart(_ path: String, _ query: [(String, String)], at tp: String) -> Bool {
            do {
                let t = try TargetTemplate.call(path, query: query)
                for case .source(let sp) in t.placeholders {
                    if let problem = checkPath(sp, inElement: element, routeParameters: routeParameters, callNames: names, selfName: name) {
                        r.issue(tp, problem)
                    }
                    if case .call(let other) = sp.root, other != name { refs.append(other) }
                }
                return true
            } catch {
                r.issue(tp, error.reason)
                return false
            }
        }
        let pathText = r.string(c, "path", p, required: true)
        var targetValid = pathText.map { targetPart($0, [], at: "\(p).path") } ?? false
        var queryTexts: [(String, String)] = []
        for (k, v) in r.object(c["query"], "\(p).query", allowed: c["query"]?.objectValue?.keys ?? [])?.entries ?? [] {
            guard case .string(let s) = v else { r.issue("\(p).query.\(k)", "must be a string template"); continue }
            if targetPart("/", [(k, s)], at: "\(p).query.\(k)") { queryTexts.append((k, s)) } else { targetValid = false }
        }
        let target = targetValid ? pathText.flatMap { try? TargetTemplate.call($0, query: queryTexts) } : nil
        var headers: [(String, StringTemplate)] = []
        for (k, v) in r.object(c["headers"], "\(p).headers", allowed: c["headers"]?.objectValue?.keys ?? [])?.entries ?? [] {
            guard case .string(let s) = v else { r.issue("\(p).headers.\(k)", "must be a string template"); continue }
            if !k.utf8.allSatisfy(ByteClass.isToken) { r.issue("\(p).headers.\(k)", "not a valid header name") }
            if let t = template(s, at: "\(p).headers.\(k)", element: element) { headers.append((k, t)) }
        }
        var body: ResponseTemplate? = nil
        if let b = c["body"] {
            do {
                body = try ResponseTemplate.compile(b, path: "\(p).body")
                for (sp, inElement) in body!.paths(inElement: element) {
                    if let problem = checkPath(sp, inElement: inElement, routeParameters: routeParameters, callNames: names, selfName: name) { r.issue("\(p).body", problem) }
                    if case .call(let other) = sp.root, other != name { refs.append(other) }
                }
            } catch {
                r.issue(error.path, error.reason)
            }
        }
        for (i, d) in (r.array(c, "dependsOn", p) ?? []).enumerated() {
            guard case .string(let other) = d, names.contains(other), other != name else {
                r.issue("\(p).dependsOn[\(i)]", "unknown call \(JSONSerializer.string(d))")
                continue
            }
            refs.append(other)
        }
        let timeout = r.int(c, "timeoutMs", p, range: 1...600_000).map { UInt64($0) * 1_000_000 }
        let required = r.bool(c, "required", p) ?? true
        if required && c["fallback"] != nil { r.issue("\(p).fallback", "a required call never uses its fallback; set \"required\": false") }
        var success: Set<Int> = Set(200...299)
        if let list = r.array(c, "successStatus", p) {
            success = []
            for (i, v) in list.enumerated() {
                guard let code = v.numberValue?.intValue, (100...599).contains(code) else { r.issue("\(p).successStatus[\(i)]", "not a status code"); continue }
                success.insert(code)
            }
        }
        var statusMap: [Int: Int] = [:]
        for (k, v) in r.object(c["statusMap"], "\(p).statusMap", allowed: c["statusMap"]?.objectValue?.keys ?? [])?.entries ?? [] {
            guard let from = Int(k), (100...599).contains(from) else { r.issue("\(p).statusMap.\(k)", "keys are downstream status codes"); continue }
            guard let to = v.numberValue?.intValue, (400...599).contains(to) else { r.issue("\(p).statusMap.\(k)", "values are client status codes 400...599"); continue }
            statusMap[from] = to
        }
        let passHeaders = (r.array(c, "passHeaders", p) ?? []).compactMap(\.stringValue)
        let emptyBody = r.string(c, "emptyBody", p) ?? "error"
        if emptyBody != "error" && emptyBody != "null" { r.issue("\(p).emptyBody", "'\(emptyBody)' is not error or null") }
        var responseSchema: JSONSchema? = nil
        if let rs = c["responseSchema"] {
            do { responseSchema = try JSONSchema(rs) } catch { r.issue("\(p).responseSchema" + error.path.dropFirst(), error.reason) }
        }
        guard let target else { return nil }
        let call = CompiledCall(name: name, service: service, method: method, target: target, headers: headers, body: body,
                                timeout: timeout, required: required, fallback: c["fallback"] ?? .null, successStatus: success,
                                statusMap: statusMap, passHeaders: passHeaders, expansion: expansion,
                                emptyBodyIsNull: emptyBody == "null")
        return (call, refs, responseSchema)
    }

    /// Why a path can never be resolved in this endpoint (nil if it can).
    func checkPath(_ p: SourcePath, inElement: Bool, routeParameters: Set<String>, callNames: Set<String>, selfName: String?) -> String? {
        switch p.root {
        case .pathParameter(let n):
            return routeParameters.contains(n) ? nil : "'\(p.text)': the route has no path parameter '\(n)' (it has: \(routeParameters.sorted().joined(separator: ", ")))"
        case .query, .header, .claim:
            return nil
        case .current:
            return inElement ? nil : "'\(p.text)': '$' (the current element) exists only inside $map, forEach or batch"
        case .call(let c):
            if c == selfName { return "'\(p.text)': a call cannot use its own result" }
            return callNames.contains(c) ? nil : "'\(p.text)': unknown call '\(c)' (calls: \(callNames.sorted().joined(separator: ", ")))"
        }
    }

    /// A cycle in the dependency graph, as call indices, or nil.
    static func findCycle(_ dependencies: [[Int]]) -> [Int]? {
        var state = [Int](repeating: 0, count: dependencies.count)  // 0 new, 1 on stack, 2 done
        var stack: [Int] = []
        func visit(_ n: Int) -> [Int]? {
            state[n] = 1
            stack.append(n)
            for d in dependencies[n] {
                if state[d] == 1, let start = stack.firstIndex(of: d) { return Array(stack[start...]) + [d] }
                if state[d] == 0, let c = visit(d) { return c }
            }
            stack.removeLast()
            state[n] = 2
            return nil
        }
        for n in dependencies.indices where state[n] == 0 {
            if let c = visit(n) { return c }
        }
        return nil
    }
}
