import Synchronization
/// A pass-through route: forwards the request to a service and passes its answer back (RFC 9110 §7.6).
/// A class, so the call's completion closure captures one reference rather than copy every field.
public final class ProxyHandler: Sendable {
    /// The service it forwards to: the upstream picks the instance and reports how each call went.
    let service: Upstream
    let configuration: ProxyConfiguration
    let via: String
    let forwarding: ForwardingPolicy
    /// Whether every stage of every pipeline this handler answers in leaves a response's hop-by-hop
    /// fields and `Via` alone (see `compiled(behind:)` and `RequestStage.leavesHopFieldsAlone`; true of a
    /// pipeline with no stage): then nothing between `passBack` and the serializer depends on those
    /// fields, and the serializer makes `passBack`'s edits. Set at start, read per request.
    private let serializerPassesBack = Atomic<Bool>(false)
    private let toldOfPipelines = Atomic<Bool>(false)

    public func compiled(behind stages: [any RequestStage]) {
        let first = !toldOfPipelines.exchange(true, ordering: .relaxed)
        let allLeaveHopFields = stages.allSatisfy(\.leavesHopFieldsAlone)
        serializerPassesBack.store(allLeaveHopFields && (first || serializerPassesBack.load(ordering: .relaxed)), ordering: .relaxed)
    }

    /// `Via` entries for this hop, made once: `1.1 name` and `1.0 name`.
    private let viaHop11: String
    private let viaHop10: String

    public init(service: Upstream, configuration: ProxyConfiguration, via: String, forwarding: ForwardingPolicy = ForwardingPolicy()) {
        self.service = service
        self.configuration = configuration
        self.via = via
        self.forwarding = forwarding
        viaHop11 = "1.1 " + via
        viaHop10 = "1.0 " + via
    }

    /// Whether field `i` of `headers` is hop-by-hop (`HopByHop`), or named by the `Connection` field.
    @inline(__always) static func isHopByHop(_ headers: HTTPHeaders, _ i: Int, connectionTokens: [String]) -> Bool {
        if HopByHop.isNamed(headers, i) { return true }
        for t in connectionTokens where headers.nameEquals(at: i, t) { return true }
        return false
    }

    /// Removes hop-by-hop fields and those the `Connection` field names.
    static func stripHopByHop(_ headers: inout HTTPHeaders) {
        let named = connectionNamedFields(headers)
        let snapshot = headers
        headers.keepFields { !isHopByHop(snapshot, $0, connectionTokens: named) }
    }

    /// The field names a `Connection` header lists, other than the usual `keep-alive`/`close` (fast path).
    static func connectionNamedFields(_ headers: HTTPHeaders) -> [String] {
        var found: Int? = nil
        for i in 0..<headers.count where headers.nameLength(at: i) == 10 && headers.nameIs(at: i, "connection") {
            if found != nil { return headers.tokens("connection") }
            found = i
        }
        guard let i = found else { return [] }
        if headers.valueEquals(at: i, ignoringCase: "keep-alive") || headers.valueEquals(at: i, ignoringCase: "close") { return [] }
        return headers.tokens("connection")
    }

    /// Forwards the request and answers through `completion` on the loop, with no task.
    /// The completion gets the response and, for a failure, the log's account of it.
    /// The request is handed over (`consuming`): its method, fields and body move into the upstream
    /// request rather than being retained for it and released with it.
    func start(_ request: consuming HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        // Thrown rather than returned in a `Result`: a `Result` of the request is copied and destroyed
        // through generic witnesses (a retain and a release of each of its buffers and Strings).
        let upstreamRequest: UpstreamRequest
        do {
            upstreamRequest = try prepare(consume request, context: context)
        } catch {
            return completion(error.response(requestID: context.requestID), error.logText)
        }
        let timeout: UInt64
        switch callTimeout(context) {
        case .success(let t): timeout = t
        case .failure(let error): return completion(error.response(requestID: context.requestID), error.logText)
        }
        let call = service.start(consume upstreamRequest, on: context.loop, timeout: timeout, proxy: self, context: context,
                                 completion: completion)
        // Cancelled (its connection closed, not pooled) if the client goes away first.
        if !call.isFinished {
            context.pendingCall = call
            if let deadline = context.deadline {
                // The route's time limit bounds every phase of the call, the wait for a connection and the
                // connect included (the response timeout above only bounds the wait for the answer).
                let timer = context.loop.schedule(at: deadline) { call.expire() }
                call.onFinish = { timer.cancel() }
            }
        }
    }

    /// The call's answer, on the loop (see `Upstream.start(_:on:timeout:proxy:context:completion:)`).
    func finished(_ result: consuming Result<HTTPResponse, UpstreamError>, instance: UpstreamInstance?, context: RequestContext,
                  completion: ResponseCompletion) {
        context.pendingCall = nil
        context.upstream = instance?.authority
        // Consumed: the response reaches `passBack` and the route's stages unshared, edited in place.
        switch consume result {
        case .success(var response):
            passBack(&response)
            // `consume`: without it the value is retained for the call and the local destroyed after it.
            completion(consume response, nil)
        case .failure(let error):
            let problem = problem(error)
            completion(problem.response(requestID: context.requestID), problem.logText)
        }
    }

    /// The call's response timeout: the route's (or the service's), cut to what is left of the request's
    /// deadline (`policy.timeoutMs`); a 504 when nothing is left.
    func callTimeout(_ context: RequestContext) -> Result<UInt64, HTTPError> {
        let own = configuration.timeout ?? service.responseTimeout
        guard let deadline = context.deadline else { return .success(own) }
        let now = context.loop.now
        guard deadline > now else {
            return .failure(HTTPError(status: 504, code: "request_timeout", detail: "the route's time limit passed before service '\(service.name)' was called"))
        }
        return .success(min(own, deadline - now))
    }

    /// The target a `target` template or `stripPrefix` makes of the client's; a 400 when it cannot be made.
    private func rewrittenTarget(_ request: HTTPRequest, context: RequestContext) throws(HTTPError) -> String {
        switch upstreamTarget(request, context: context) {
        case .success(let t): return t
        case .failure(let failure) where failure.reason == .repeatedQueryParameter:
            throw HTTPError(status: 400, code: "invalid_query", detail: "the query cannot be forwarded: \(failure)")
        case .failure(let failure):
            throw HTTPError(status: 400, code: "invalid_path", detail: "the path cannot be forwarded: \(failure)")
        }
    }

    /// Builds the request for upstream (the upstream picks the instance and sets `Host` for it, unless
    /// `preserveHost` passes the client's).
    private func prepare(_ request: consuming HTTPRequest, context: RequestContext) throws(HTTPError) -> UpstreamRequest {
        let target: String
        // No rewrite configured (the usual pass-through): the client's target as it is, with no `Result`
        // to copy out of.
        if configuration.target == nil && configuration.stripPrefix == nil {
            target = request.target
        } else {
            target = try rewrittenTarget(request, context: context)
        }
        // Always origin-form, never `//host/…` (a network-path reference to many URL parsers) nor `*`. The
        // request parser refuses empty segments and the gateway answers `*` itself; this is the last guard.
        let utf8 = target.utf8
        guard utf8.first == UInt8(ascii: "/"), utf8.dropFirst().first != UInt8(ascii: "/") else {
            throw HTTPError(status: 400, code: "invalid_path", detail: "the path cannot be forwarded: it does not start with a single '/'")
        }
        // The usual case (no forwarding fields from a trusted proxy, at most 64 fields): the client's fields
        // go upstream as they are, with a plan of which to skip and what follows them, written straight into
        // the upstream connection's output (`UpstreamRequest.forwarding`). Otherwise the fields are built.
        if let plan = forwardingPlan(request, context: context) {
            return UpstreamRequest(request, target: target, forwarding: plan)
        }
        return UpstreamRequest(method: request.method, target: target, headers: forwardedHeaders(request, context: context),
                               body: request.body)
    }

    /// What `forwardedHeaders` would build, as a plan over the client's own fields, when no field needs
    /// more than dropping or keeping: nil for a request with forwarding fields from a trusted proxy (ours
    /// are merged with theirs) or with more than 64 fields. The bytes on the wire are the same either way
    /// (`ProxyForwardingPlanTests` compares them).
    func forwardingPlan(_ request: HTTPRequest, context: RequestContext) -> UpstreamRequest.ForwardingPlan? {
        let headers = request.headers
        guard headers.count <= 64 else { return nil }
        var skip: UInt64 = headers.count == 64 ? ~0 : (1 << UInt64(headers.count)) - 1
        let seen = readClientFields(headers) { kept in skip &= ~(1 << UInt64(kept)) }
        let client = context.clientAddress
        if (seen.sawForwarding || seen.forwardedFor != nil) && forwarding.trusts(client) { return nil }
        let hop = request.versionMinor == 1 ? viaHop11 : viaHop10
        return UpstreamRequest.ForwardingPlan(skip: skip, forwardedFor: client, hostField: seen.host,
                                              via: seen.via.map { $0 + ", " + hop } ?? hop, requestID: context.id,
                                              preserveHost: configuration.preserveHost)
    }

    /// The client's problem document for an upstream failure: 502, 503 or 504 with a stable code. The
    /// client learns which service failed and how, never its address or the system's error text; those go
    /// to the log (`internalDetail`).
    private func problem(_ error: UpstreamError) -> HTTPError {
        HTTPError(status: error.status, code: "upstream_\(error.kind.rawValue)",
                  detail: "service '\(service.name)' \(Self.clientPhrase(error.kind))",
                  internalDetail: "service '\(service.name)' (\(error.authority ?? "no instance")): \(error.detail)")
    }

    /// What a client may be told about an upstream failure.
    static func clientPhrase(_ kind: UpstreamError.Kind) -> String {
        switch kind {
        case .connectFailed: return "could not be reached"
        case .connectTimeout: return "did not accept a connection in time"
        case .responseTimeout: return "did not answer in time"
        case .poolExhausted: return "has no free connection"
        case .poolWaitTimeout: return "had no free connection in time"
        case .invalidResponse: return "sent an invalid response"
        case .responseTooLarge: return "sent a response larger than the gateway accepts"
        case .memoryBudgetExhausted: return "sent a large response while the gateway's memory budget for them is spent; try again later"
        case .connectionClosed: return "closed the connection before answering"
        case .cancelled: return "was not called: the request was cancelled"
        case .noAvailableInstance: return "has no available instance"
        case .shutDown: return "is shutting down"
        }
    }

    /// The upstream response as the client gets it: hop-by-hop fields out, our `Via` appended, and no
    /// reason phrase of the upstream's (the status line is the gateway's own).
    /// Edits the fields in place (`keepFieldsInPlace`): the parser left room for `Via`, so a response
    /// whose buffers are not shared gets no new allocation here.
    func passBack(_ upstream: consuming HTTPResponse) -> HTTPResponse {
        var response = consume upstream
        passBack(&response)
        return response
    }

    /// `passBack` in place: edited where it lies, so no copy of the response is made on the way (a copy is
    /// a retain and a release of each of its buffers and Strings).
    func passBack(_ response: inout HTTPResponse) {
        // No stage will read or edit the fields these edits touch: the serializer makes them as it writes
        // the fields (`HTTPResponse.viaHop`), unless the upstream's `Connection` names fields to drop (rare).
        if serializerPassesBack.load(ordering: .relaxed) && Self.connectionNamedFields(response.headers).isEmpty {
            response.reason = nil
            response.viaHop = viaHop11
            return
        }
        editForClient(&response)
    }

    /// `passBack`'s edits made on the fields: hop-by-hop fields out, our `Via` appended.
    func editedForClient(_ upstream: consuming HTTPResponse) -> HTTPResponse {
        var response = consume upstream
        editForClient(&response)
        return response
    }

    private func editForClient(_ response: inout HTTPResponse) {
        response.reason = nil
        var via: String? = nil
        let named = Self.connectionNamedFields(response.headers)
        response.headers.keepFieldsInPlace { headers, i in
            if headers.nameLength(at: i) == 3 && headers.nameIs(at: i, "via") {
                let v = headers.value(at: i)
                via = via.map { $0 + ", " + v } ?? v
                return false
            }
            return !Self.isHopByHop(headers, i, connectionTokens: named)
        }
        response.headers.add("Via", value: via.map { $0 + ", " + viaHop11 } ?? viaHop11)
    }

    /// What the client's fields say that the forwarding fields are made from, in one pass: the `Host`
    /// field, its `Via` and `X-Forwarded-For` values (joined), whether it sent other forwarding fields; and
    /// `keep` is called with each field that goes upstream as it is (not hop-by-hop or named by
    /// `Connection`, not a forwarding field, not `X-Request-ID` or `Expect`, no `_` in its name unless
    /// allowed). The one reading of the fields that both `forwardedHeaders` and `forwardingPlan` use.
    private func readClientFields(_ headers: HTTPHeaders, keep: (Int) -> Void)
        -> (host: Int?, via: String?, forwardedFor: String?, sawForwarding: Bool) {
        let named = Self.connectionNamedFields(headers)
        let underscores = forwarding.underscoresInHeaders
        var host: Int? = nil, via: String? = nil, forwardedFor: String? = nil, sawForwarding = false
        for i in 0..<headers.count {
            switch headers.nameLength(at: i) {
            case 4 where headers.nameIs(at: i, "host"):
                host = i
            case 3 where headers.nameIs(at: i, "via"):
                let v = headers.value(at: i)
                via = via.map { $0 + ", " + v } ?? v
            case 15 where headers.nameIs(at: i, "x-forwarded-for"):
                let v = headers.value(at: i)
                forwardedFor = forwardedFor.map { $0 + ", " + v } ?? v
            case 9 where headers.nameIs(at: i, "forwarded") || headers.nameIs(at: i, "x-real-ip"):
                sawForwarding = true
            case 12 where headers.nameIs(at: i, "x-request-id"):
                break
            case 6 where headers.nameIs(at: i, "expect"):
                // The gateway answered `100-continue` itself and has the whole body: nothing to expect upstream.
                break
            default:
                if Self.isXForwarded(headers, i) { sawForwarding = true; break }
                if Self.isHopByHop(headers, i, connectionTokens: named) { break }
                if !underscores && headers.nameContains(UInt8(ascii: "_"), at: i) { break }
                keep(i)
            }
        }
        return (host, via, forwardedFor, sawForwarding)
    }

    /// The request's fields for upstream, in one pass over bytes: hop-by-hop fields and names with `_`
    /// dropped, forwarding fields (the de-facto `X-Forwarded-*`, `Forwarded`, `X-Real-IP`, and `Via`) set
    /// from what the gateway saw, and `X-Request-ID` set. `Host` is the client's with `preserveHost`, and
    /// otherwise left to the upstream, which sets the picked instance's `host:port`.
    ///
    /// A client's own forwarding fields are believed only when it is a trusted proxy: then
    /// `X-Forwarded-For` and `Forwarded` get our hop appended, and its other `X-Forwarded-*` fields and
    /// `X-Real-IP` pass. From anyone else every field named `X-Forwarded-*` (`-Port`, `-Prefix`, `-Ssl`,
    /// `-Scheme`, `-Server`, …: frameworks build absolute URLs and pick the scheme from them), `Forwarded`
    /// and `X-Real-IP` is dropped, and ours are set. The address is only parsed when the client sent such
    /// a field.
    func forwardedHeaders(_ request: HTTPRequest, context: RequestContext) -> HTTPHeaders {
        let headers = request.headers
        let named = Self.connectionNamedFields(headers)
        let underscores = forwarding.underscoresInHeaders
        var out = HTTPHeaders()
        out.fieldList.reserveCapacity(headers.count + 6)
        out.storage.reserveCapacity(headers.storage.count + 256)
        let seen = readClientFields(headers) { out.append(fieldAt: $0, of: headers) }
        let forwardedFor = seen.forwardedFor, via = seen.via, sawForwarding = seen.sawForwarding
        let clientHost = seen.host.map { headers.value(at: $0) }
        let client = context.clientAddress
        let trusted = (sawForwarding || forwardedFor != nil) && forwarding.trusts(client)
        out.add("X-Forwarded-For", value: trusted ? forwardedFor.map { $0 + ", " + client } ?? client : client)
        var sawProto = false, sawHost = false
        if trusted {
            var forwarded: String? = nil
            for i in 0..<headers.count {
                switch headers.nameLength(at: i) {
                case 9 where headers.nameIs(at: i, "forwarded"):
                    let v = headers.value(at: i)
                    forwarded = forwarded.map { $0 + ", " + v } ?? v
                case 9 where headers.nameIs(at: i, "x-real-ip"):
                    out.append(fieldAt: i, of: headers)
                case 15 where headers.nameIs(at: i, "x-forwarded-for"):
                    break  // merged above
                default:
                    guard Self.isXForwarded(headers, i), !Self.isHopByHop(headers, i, connectionTokens: named),
                          underscores || !headers.nameContains(UInt8(ascii: "_"), at: i) else { break }
                    if headers.nameLength(at: i) == 17 && headers.nameIs(at: i, "x-forwarded-proto") { sawProto = true }
                    if headers.nameLength(at: i) == 16 && headers.nameIs(at: i, "x-forwarded-host") { sawHost = true }
                    out.append(fieldAt: i, of: headers)
                }
            }
            if let forwarded {
                // RFC 7239 §6: an IPv6 node is quoted and bracketed.
                let node = client.contains(":") ? "\"[" + client + "]\"" : client
                out.add("Forwarded", value: forwarded + ", for=" + node + ";proto=http")
            }
        }
        if !sawProto { out.add("X-Forwarded-Proto", value: "http") }
        if !sawHost, let clientHost { out.add("X-Forwarded-Host", value: clientHost) }
        let hop = request.versionMinor == 1 ? viaHop11 : viaHop10
        out.add("Via", value: via.map { $0 + ", " + hop } ?? hop)
        out.add("X-Request-ID", value: context.requestID)
        if configuration.preserveHost, let clientHost { out.add("Host", value: clientHost) }
        return out
    }

    /// Whether field `i`'s name starts with `x-forwarded-` (ASCII case-insensitive) and has more after it,
    /// compared in place.
    @inline(__always) static func isXForwarded(_ headers: HTTPHeaders, _ i: Int) -> Bool {
        let f = headers.fieldList[i]
        guard f.nameLength > 12 else { return false }
        let prefix: StaticString = "x-forwarded-"
        return headers.storage.withUnsafeBufferPointer { s in
            let start = Int(f.nameStart)
            for k in 0..<12 {
                var c = s[start + k]
                if c >= 65 && c <= 90 { c |= 0x20 }
                if c != prefix.utf8Start[k] { return false }
            }
            return true
        }
    }

    /// The target sent upstream, always origin-form (the gateway turned an absolute-form request into
    /// origin-form before routing): the route's template filled from its parameters, or the path with
    /// `stripPrefix` removed, or the target unchanged; the client's query follows.
    func upstreamTarget(_ request: HTTPRequest, context: RequestContext) -> Result<String, TargetTemplate.Failure> {
        if let template = configuration.target {
            return template.render(appendingQuery: request.query) { placeholder in
                switch placeholder {
                case .routeParameter(let name): return context.pathParameter(name).map { .raw(Substring($0)) }
                case .rest: return .rawSegments(Self.wildcardRest(request, context: context))
                case .source: return nil
                }
            }
        }
        if let strip = configuration.stripPrefix {
            // Whole segments only: `/api` is not a prefix of `/apiary`.
            let path = request.path
            if path.hasPrefix(strip) {
                let rest = path.dropFirst(strip.count)
                if rest.isEmpty || rest.first == "/" || strip.hasSuffix("/") {
                    let query = request.query.map { "?" + $0 } ?? ""
                    return .success((rest.first == "/" ? String(rest) : "/" + rest) + query)
                }
            }
        }
        return .success(request.target)
    }

    /// The part of the path a `/*` route matched, as it came.
    static func wildcardRest(_ request: HTTPRequest, context: RequestContext) -> Substring {
        guard let template = context.matchedTemplate, template.hasSuffix("/*") else { return "" }
        let fixed = template.dropLast(2).split(separator: "/").count
        var rest = request.path.dropFirst()
        for _ in 0..<fixed {
            guard let slash = rest.firstIndex(of: "/") else { return "" }
            rest = rest[rest.index(after: slash)...]
        }
        return rest
    }
}
