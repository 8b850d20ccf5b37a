import Synchronization

/// The instances of one service, picked in turn (static list; load balancing comes later).
public final class ServiceInstances: Sendable {
    public let name: String
    public let origins: [UpstreamOrigin]
    private let counter = Atomic<Int>(0)

    public init(name: String, origins: [UpstreamOrigin]) {
        precondition(!origins.isEmpty)
        self.name = name
        self.origins = origins
    }

    public func pick() -> UpstreamOrigin {
        origins.count == 1 ? origins[0] : origins[counter.add(1, ordering: .relaxed).oldValue % origins.count]
    }
}

/// A pass-through route: forwards the request to a service and passes its answer back (RFC 9110 §7.6).
public struct ProxyHandler: HTTPHandler {
    let service: ServiceInstances
    let configuration: ProxyConfiguration
    let via: String
    /// `Via` entries for this hop, made once: `1.1 name` and `1.0 name`.
    private let viaHop11: String
    private let viaHop10: String

    public init(service: ServiceInstances, configuration: ProxyConfiguration, via: String) {
        self.service = service
        self.configuration = configuration
        self.via = via
        viaHop11 = "1.1 " + via
        viaHop10 = "1.0 " + via
    }

    /// Hop-by-hop fields (RFC 9110 §7.6.1), never forwarded in either direction.
    static let hopByHop: [String] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authorization", "proxy-authenticate",
    ]

    /// Whether field `i` of `headers` is hop-by-hop, or named by the `Connection` field.
    @inline(__always) static func isHopByHop(_ headers: HTTPHeaders, _ i: Int, connectionTokens: [String]) -> Bool {
        let length = headers.nameLength(at: i)
        for h in hopByHop where length == h.utf8.count && headers.nameEquals(at: i, h) { return true }
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
        for i in 0..<headers.count where headers.nameLength(at: i) == 10 && headers.nameEquals(at: i, "connection") {
            if found != nil { return headers.tokens("connection") }
            found = i
        }
        guard let i = found else { return [] }
        if headers.valueEquals(at: i, ignoringCase: "keep-alive") || headers.valueEquals(at: i, ignoringCase: "close") { return [] }
        return headers.tokens("connection")
    }

    /// The fast path: the same work as `handle`, answered through `completion` on the loop, with no task.
    func start(_ request: HTTPRequest, context: RequestContext, completion: @escaping (HTTPResponse) -> Void) {
        let (upstreamRequest, origin) = prepare(request, context: context)
        let requestID = context.requestID
        HTTPClient.start(upstreamRequest, to: origin, on: context.loop, timeout: configuration.timeout) { result in
            switch result {
            case .success(let response): completion(self.passBack(response))
            case .failure(let error): completion(self.problem(error, origin).response(requestID: requestID))
            }
        }
    }

    public func handle(_ request: HTTPRequest, context: RequestContext) async throws -> HTTPResponse {
        let (upstreamRequest, origin) = prepare(request, context: context)
        do {
            return passBack(try await HTTPClient.execute(upstreamRequest, to: origin, on: context.loop, timeout: configuration.timeout))
        } catch {
            throw problem(error, origin)
        }
    }

    /// Picks an instance and builds the request for it.
    private func prepare(_ request: HTTPRequest, context: RequestContext) -> (UpstreamRequest, UpstreamOrigin) {
        let origin = service.pick()
        context.upstream = origin.authority
        let upstream = UpstreamRequest(method: request.method, target: upstreamTarget(request, context: context),
                                       headers: forwardedHeaders(request, context: context, origin: origin), body: request.body)
        return (upstream, origin)
    }

    /// The client's problem document for an upstream failure: 502, 503 or 504 with a stable code.
    private func problem(_ error: UpstreamError, _ origin: UpstreamOrigin) -> HTTPError {
        HTTPError(status: error.status, code: "upstream_\(error.kind.rawValue)",
                  detail: "service '\(service.name)' (\(origin.authority)): \(error.detail)")
    }

    /// The upstream response as the client gets it: hop-by-hop fields out, our `Via` appended, and no
    /// reason phrase of the upstream's (the status line is the gateway's own).
    func passBack(_ upstream: HTTPResponse) -> HTTPResponse {
        var response = upstream
        response.reason = nil
        var via: String? = nil
        let named = Self.connectionNamedFields(response.headers)
        let snapshot = response.headers
        response.headers.keepFields { i in
            if snapshot.nameLength(at: i) == 3 && snapshot.nameEquals(at: i, "via") {
                let v = snapshot.value(at: i)
                via = via.map { $0 + ", " + v } ?? v
                return false
            }
            return !Self.isHopByHop(snapshot, i, connectionTokens: named)
        }
        response.headers.add("Via", via.map { $0 + ", " + viaHop11 } ?? viaHop11)
        return response
    }

    /// The request's fields for upstream, in one pass over bytes: hop-by-hop fields dropped, forwarding
    /// fields (the de-facto `X-Forwarded-*`, and `Via`) extended, `Host` and `X-Request-ID` set.
    func forwardedHeaders(_ request: HTTPRequest, context: RequestContext, origin: UpstreamOrigin) -> HTTPHeaders {
        let headers = request.headers
        let named = Self.connectionNamedFields(headers)
        var out = HTTPHeaders()
        out.fieldList.reserveCapacity(headers.count + 6)
        out.storage.reserveCapacity(headers.storage.count + 256)
        var forwardedFor: String? = nil
        var via: String? = nil
        var clientHost: String? = nil
        for i in 0..<headers.count {
            switch headers.nameLength(at: i) {
            case 4 where headers.nameEquals(at: i, "host"):
                clientHost = headers.value(at: i)
                continue
            case 3 where headers.nameEquals(at: i, "via"):
                let v = headers.value(at: i)
                via = via.map { $0 + ", " + v } ?? v
                continue
            case 15 where headers.nameEquals(at: i, "x-forwarded-for"):
                let v = headers.value(at: i)
                forwardedFor = forwardedFor.map { $0 + ", " + v } ?? v
                continue
            case 17 where headers.nameEquals(at: i, "x-forwarded-proto"), 16 where headers.nameEquals(at: i, "x-forwarded-host"),
                 12 where headers.nameEquals(at: i, "x-request-id"):
                continue
            case 6 where headers.nameEquals(at: i, "expect"):
                // The gateway answered `100-continue` itself and has the whole body: nothing to expect upstream.
                continue
            default:
                if Self.isHopByHop(headers, i, connectionTokens: named) { continue }
            }
            out.append(fieldAt: i, of: headers)
        }
        out.add("X-Forwarded-For", forwardedFor.map { $0 + ", " + context.clientAddress } ?? context.clientAddress)
        out.add("X-Forwarded-Proto", "http")
        if let clientHost { out.add("X-Forwarded-Host", clientHost) }
        let hop = request.versionMinor == 1 ? viaHop11 : viaHop10
        out.add("Via", via.map { $0 + ", " + hop } ?? hop)
        out.add("X-Request-ID", context.requestID)
        out.add("Host", configuration.preserveHost ? (clientHost ?? origin.authority) : origin.authority)
        return out
    }

    func upstreamTarget(_ request: HTTPRequest, context: RequestContext) -> String {
        if configuration.path == nil && configuration.stripPrefix == nil && request.target.utf8.first == UInt8(ascii: "/") {
            return request.target
        }
        let query = request.query.map { "?" + $0 } ?? ""
        if let template = configuration.path {
            var out = ""
            var rest = Substring(template)
            while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                out += rest[..<open]
                let name = String(rest[rest.index(after: open)..<close])
                if name == "*" {
                    out += wildcardRest(request, context: context)
                } else {
                    out += context.pathParameter(name) ?? ""
                }
                rest = rest[rest.index(after: close)...]
            }
            out += rest
            if let q = request.query { out += (out.contains("?") ? "&" : "?") + q }
            return out
        }
        var path = request.path
        if let strip = configuration.stripPrefix, path.hasPrefix(strip) {
            path = path.dropFirst(strip.count)
            if !path.hasPrefix("/") { path = "/" + path }
        }
        if request.target.first != "/" {
            // absolute-form: forward origin-form.
            return String(path.isEmpty ? "/" : path) + query
        }
        return String(path) + query
    }

    /// The part of the path a `/*` route matched.
    private func wildcardRest(_ request: HTTPRequest, context: RequestContext) -> String {
        guard let template = context.route.flatMap({ _ in context.matchedTemplate }), template.hasSuffix("/*") else { return "" }
        let fixed = template.dropLast(2).split(separator: "/").count
        let segments = request.path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        return segments.dropFirst(fixed).joined(separator: "/")
    }
}
