import Synchronization

/// How live composite responses are checked against their schema.
public final class ResponseValidation: Sendable {
    public enum Mode: String, Sendable { case off, log, enforce }
    public let mode: Mode
    private let count = Atomic<Int>(0)
    public init(mode: Mode) { self.mode = mode }
    /// Responses that violated their schema since start.
    public var violations: Int { count.load(ordering: .relaxed) }
    func recordViolation() { count.add(1, ordering: .relaxed) }
}

/// Runs a compiled endpoint: its calls as a DAG (independent calls concurrently, each dependent call as
/// soon as its inputs are there), under one deadline, then reshapes the results. The run is driven on the
/// request's loop by the calls' completions (`CompositeHandler.Execution`): no task or continuation.
///
///     request ─▶ scope (path, query, headers) ─▶ ready calls start ─▶ each result unblocks dependents
///        ─▶ all done (or: required failure / deadline ⇒ cancel the rest, problem document)
///        ─▶ response template ─▶ _meta / X-Partial-Response ─▶ schema check ─▶ ETag ─▶ bytes
public struct CompositeHandler: Sendable {
    let endpoint: CompiledEndpoint
    /// The upstream of each call, in `endpoint.calls` order (looked up once here, not per request).
    let upstreams: [Upstream]
    let validation: ResponseValidation
    /// How the body is written when some results are placed as they are (nil: from the tree, as always).
    /// Not with a schema check: that reads the whole tree.
    let bodyPlan: ResponseBodyPlan?
    /// Whether a path reads `query.*`: the request's query is parsed only then.
    let readsQuery: Bool
    /// Failed calls, partial responses and contract violations of this endpoint (nil: metrics off).
    public var metrics: EndpointMetrics?

    /// `services` must hold every service the endpoint's calls name (the configuration checked that).
    public init(endpoint: CompiledEndpoint, services: [String: Upstream], validation: ResponseValidation) {
        self.endpoint = endpoint
        upstreams = endpoint.calls.map { call in
            guard let upstream = services[call.service] else { preconditionFailure("endpoint '\(endpoint.name)': unknown service '\(call.service)'") }
            return upstream
        }
        self.validation = validation
        bodyPlan = endpoint.schema != nil && validation.mode != .off ? nil : ResponseBodyPlan(endpoint)
        readsQuery = endpoint.sourcePaths.contains { if case .query = $0.root { return true }; return false }
    }

    /// Whether call `i`'s body is kept as canonical text rather than parsed (see `ResponseBodyPlan`).
    func keepsText(_ i: Int) -> Bool { bodyPlan?.textCalls[i] ?? false }

    /// Why a call failed, twice: `reason` is shown to the client (what went wrong, in words of the
    /// contract: a status, a stable error code), `internalReason` is logged (addresses, errno text, parser
    /// offsets). Downstream content appears in neither.
    struct CallFailure: Error, Sendable {
        let status: Int?
        let upstream: UpstreamError?
        let reason: String
        var internalReason: String? = nil
        var isTimeout: Bool { upstream?.isTimeout ?? false }
    }

    enum Outcome: Sendable {
        case success(JSONValue, HTTPHeaders)
        /// A body kept as text (`keepsText`): canonical, so it is the value's serialization.
        case text(CanonicalJSON, HTTPHeaders)
        case failure(CallFailure)
    }

    /// The response once every call has an outcome: the template over the results, `_meta` and
    /// `X-Partial-Response` for failed optional calls, the schema check, the body, passed headers, the ETag.
    /// `failed` in contract order; `texts[i]`: call i's body kept as text, if it was (then its result is not in
    /// `scope`). Loop thread.
    func response(to request: HTTPRequest, context: RequestContext, scope: EvaluationScope, texts: [CanonicalJSON?] = [], failed: [String],
                  passedByCall: [Int: HTTPHeaders]) throws -> HTTPResponse {
        let partial = !failed.isEmpty
        let body: [UInt8]
        if let bodyPlan, !(partial && endpoint.partialMeta) {
            do {
                body = try bodyPlan.render(scope, texts: texts)
            } catch {
                throw Self.mergeFailed(error)
            }
            if partial { countPartialResponse(context.loop) }
        } else {
            body = try treeBody(context: context, scope: scope, texts: texts, failed: failed)
        }
        return responseWith(body, to: request, partial: partial, passedByCall: passedByCall)
    }

    private static func mergeFailed(_ error: ResponseTemplate.EvaluationError) -> HTTPError {
        // The reason names keys that came from downstream data: logged, not shown.
        HTTPError(status: 502, code: "response_merge_failed", detail: "the response could not be built",
                  internalDetail: "the response could not be built: \(error.reason)")
    }

    private func countPartialResponse(_ loop: EventLoop) {
        if let metrics { loop.inEventLoop ? metrics.partialResponse(shard: loop.index) : metrics.partialResponse() }
    }

    /// The body from the tree: the template evaluated, `_meta` added, the schema checked, serialized. Results
    /// kept as text are parsed first (a partial response with `_meta`: rare).
    private func treeBody(context: RequestContext, scope: EvaluationScope, texts: [CanonicalJSON?], failed: [String]) throws -> [UInt8] {
        let loop = context.loop
        var scope = scope
        for (i, text) in texts.enumerated() {
            guard let text else { continue }
            do {
                scope.results[endpoint.calls[i].name] = try text.parsed()
            } catch {
                // Cannot happen (the scanner accepts only what the parser accepts); if it did, the call failed.
                throw Self.problem(for: endpoint.calls[i], CallFailure(status: nil, upstream: nil, reason: "the downstream body is not valid JSON",
                                                                      internalReason: "the downstream body is not valid JSON (\(error))"))
            }
        }
        var value: JSONValue
        do {
            value = try endpoint.response.evaluate(scope)
        } catch {
            throw Self.mergeFailed(error)
        }
        let partial = !failed.isEmpty
        if partial { countPartialResponse(loop) }
        if partial && endpoint.partialMeta, case .object(var o) = value {
            o["_meta"] = .object(JSONObject([(key: "failed", value: .array(failed.map(JSONValue.string)))]))
            value = .object(o)
        }
        if let schema = endpoint.schema, validation.mode != .off {
            let violations = schema.validate(value, limit: 5)
            if !violations.isEmpty {
                validation.recordViolation()
                if let metrics { loop.inEventLoop ? metrics.contractViolation(shard: loop.index) : metrics.contractViolation() }
                context.loop.logger.with(requestID: context.requestID)
                    .warning("response schema violation", [.string("endpoint", endpoint.name),
                                                           .string("violations", violations.map(\.description).joined(separator: "; "))])
                if validation.mode == .enforce {
                    // Violation messages quote values and property names from downstream data: only the keyword is shown.
                    throw HTTPError(status: 502, code: "response_schema_violation",
                                    detail: "the composed response does not satisfy the contract (\(violations[0].keyword))",
                                    internalDetail: "the composed response does not satisfy the contract: \(violations.map(\.description).joined(separator: "; "))")
                }
            }
        }
        return JSONSerializer.serialize(value)
    }

    /// The response around a body: passed headers, Content-Type, X-Partial-Response, the ETag (and a 304).
    private func responseWith(_ body: [UInt8], to request: HTTPRequest, partial: Bool, passedByCall: [Int: HTTPHeaders]) -> HTTPResponse {
        let calls = endpoint.calls
        var headers = HTTPHeaders()
        for i in calls.indices {  // contract order: the first call that has a passed header wins
            guard let h = passedByCall[i] else { continue }
            for name in calls[i].passHeaders { if let v = h[name], !headers.contains(name) { headers.add(name, v) } }
        }
        headers.add("Content-Type", "application/json")
        if partial { headers.add("X-Partial-Response", "true") }
        if endpoint.etag {
            let tag = "\"" + Digest.hex(Array(Digest.sha256(body).prefix(16))) + "\""
            headers.add("ETag", tag)
            if let inm = request.headers["if-none-match"], Self.matches(inm, tag) {
                return HTTPResponse(status: 304, headers: headers)
            }
        }
        return HTTPResponse(status: 200, headers: headers, body: body)
    }

    /// `If-None-Match` (RFC 9110 §13.1.2): `*` or a list of entity tags, compared weakly.
    static func matches(_ header: String, _ tag: String) -> Bool {
        if header.trimmingHTTPWhitespace() == "*" { return true }
        return header.split(separator: ",").contains { candidate in
            var c = candidate.trimmingHTTPWhitespace()
            if c.hasPrefix("W/") { c = String(c.dropFirst(2)) }
            return c == tag
        }
    }

    static func problem(for call: CompiledCall, _ failure: CallFailure) -> HTTPError {
        let status = failure.status.flatMap { call.statusMap[$0] } ?? (failure.isTimeout ? 504 : 502)
        let code = failure.isTimeout ? "downstream_timeout" : (failure.status != nil && call.statusMap[failure.status!] != nil ? "downstream_status" : "downstream_call_failed")
        let what = "required call '\(call.name)' (service '\(call.service)') failed: "
        return HTTPError(status: status, code: code, detail: what + failure.reason, extensions: [("call", call.name)],
                         internalDetail: what + (failure.internalReason ?? failure.reason))
    }

    // MARK: One call

    /// What a call will send: one request, several (forEach, batch), a failure to build it (the call
    /// fails), or a refusal of the client's request (its input cannot make a target: 400).
    enum Plan: Sendable {
        case requests([UpstreamRequest])
        case failed(String)
        case refused(HTTPError)
    }

    static func plan(_ call: CompiledCall, scope: EvaluationScope, requestID: String) -> Plan {
        enum Built { case request(UpstreamRequest), stop(Plan) }
        func build(_ s: EvaluationScope) -> Built {
            // Every value is encoded for where it lands; a value that makes a `.`, `..` or empty segment is
            // refused: the client's fault (400) if the client supplied it, else the call fails.
            let target: String
            switch call.target.render({ placeholder in
                guard case .source(let p) = placeholder, let v = s.resolve(p) else { return nil }
                return TargetTemplate.value(v)
            }) {
            case .success(let t): target = t
            case .failure(let failure):
                if failure.reason == .missing { return .stop(.failed("a value its request needs is missing")) }
                if case .source(let p) = failure.placeholder, p.isClientInput {
                    return .stop(.refused(HTTPError(status: 400, code: "invalid_call_parameter", detail: "call '\(call.name)': \(failure)",
                                                       extensions: [("call", call.name)])))
                }
                return .stop(.failed(failure.description))
            }
            var headers = HTTPHeaders([("Accept", "application/json")])
            for (name, t) in call.headers {
                // A value with control bytes (CR, LF: header injection from a downstream's data) is left out.
                if let v = t.render(s), v.utf8.allSatisfy(ByteClass.isFieldValue) { headers.set(name, v) }
            }
            headers.set("X-Request-ID", requestID)
            var body: [UInt8] = []
            if let b = call.body, let v = try? b.evaluate(s) {
                body = JSONSerializer.serialize(v)
                headers.set("Content-Type", "application/json")
            }
            return .request(UpstreamRequest(method: call.method, target: target, headers: headers, body: body))
        }
        switch call.expansion {
        case .single:
            switch build(scope) {
            case .request(let r): return .requests([r])
            case .stop(let plan): return plan
            }
        case .forEach(let source, let max, _):
            guard case .array(let items)? = scope.resolve(source) ?? .array([]) else { return .failed("'\(source.text)' is not an array") }
            var out: [UpstreamRequest] = []
            var s = scope
            for item in items.prefix(max) {
                s.current = item
                switch build(s) {
                case .request(let r): out.append(r)
                case .stop(let plan): return plan
                }
            }
            return .requests(out)
        case .batch(let source, let size, let max, _, _):
            guard case .array(let items)? = scope.resolve(source) ?? .array([]) else { return .failed("'\(source.text)' is not an array") }
            // Exact equality (ids beyond 2^53 stay apart), hashed: linear in the number of items.
            var unique: [JSONValue] = []
            var seen: Set<JSONValue> = []
            for item in items where seen.insert(item).inserted {
                unique.append(item)
                if unique.count == max { break }
            }
            var out: [UpstreamRequest] = []
            var s = scope
            var start = 0
            while start < unique.count {
                s.current = .array(Array(unique[start..<min(unique.count, start + size)]))
                switch build(s) {
                case .request(let r): out.append(r)
                case .stop(let plan): return plan
                }
                start += size
            }
            return .requests(out)
        }
    }

    /// What one request of a call came to: a parsed JSON body, or why not.
    /// `keepText`: a canonical body is kept as text, not parsed (`keepsText`); `member`: the top-level key
    /// the scan finds the value of (`ResponseBodyPlan.memberKeys`).
    static func outcome(of call: CompiledCall, _ request: UpstreamRequest, _ result: Result<HTTPResponse, UpstreamError>, keepText: Bool = false,
                        member: [UInt8]? = nil) -> Outcome {
        let response: HTTPResponse
        switch result {
        case .success(let r): response = r
        case .failure(let error):
            // The error's detail holds the address and the system's error text: for the log only.
            let code = String(error.kind.rawValue.map { $0 == "_" ? " " : $0 })
            return .failure(CallFailure(status: nil, upstream: error, reason: error.isTimeout ? "timed out (\(code))" : code,
                                        internalReason: "\(error.description) (\(request.method) \(error.authority ?? "no instance"))"))
        }
        guard call.successStatus.contains(response.status) else {
            return .failure(CallFailure(status: response.status, upstream: nil, reason: "downstream answered \(response.status)"))
        }
        if response.body.isEmpty {
            // An empty body is not JSON (a truncating proxy or a broken handler sends one with a 200 too):
            // it is `null` only where HTTP says there is no content, or where the contract says so.
            if call.emptyBodyIsNull || response.status == 204 || response.status == 205 || response.status == 304 || call.method == "HEAD" {
                return .success(.null, response.headers)
            }
            return .failure(CallFailure(status: nil, upstream: nil, reason: "the downstream answered \(response.status) with an empty body, which is not JSON"))
        }
        if keepText, let text = CanonicalJSON.canonical(response.body, member: member) { return .text(text, response.headers) }
        do {
            return .success(try JSONParser.parse(response.body), response.headers)
        } catch {
            return .failure(CallFailure(status: nil, upstream: nil, reason: "the downstream body is not valid JSON", internalReason: "the downstream body is not valid JSON (\(error))"))
        }
    }
}
