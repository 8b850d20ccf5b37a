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

    public init(service: ServiceInstances, configuration: ProxyConfiguration, via: String) {
        self.service = service
        self.configuration = configuration
        self.via = via
    }

    /// Hop-by-hop fields (RFC 9110 §7.6.1), never forwarded in either direction.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authorization", "proxy-authenticate",
    ]

    /// Removes hop-by-hop fields and those the `Connection` field names.
    static func stripHopByHop(_ headers: inout HTTPHeaders) {
        let named = Set(headers.tokens("connection"))
        headers.removeAll { field in
            let lower = field.name.lowercased()
            return hopByHop.contains(lower) || named.contains(lower)
        }
    }

    public func handle(_ request: HTTPRequest, context: RequestContext) async throws -> HTTPResponse {
        let origin = service.pick()
        var headers = request.headers
        Self.stripHopByHop(&headers)
        let clientHost = request.headers["host"]
        if let prior = headers["x-forwarded-for"] {
            headers.set("X-Forwarded-For", prior + ", " + context.clientAddress)
        } else {
            headers.add("X-Forwarded-For", context.clientAddress)
        }
        headers.set("X-Forwarded-Proto", "http")
        if let clientHost { headers.set("X-Forwarded-Host", clientHost) }
        let priorVia = headers.values("via")
        headers.set("Via", (priorVia + ["1.\(request.versionMinor) \(via)"]).joined(separator: ", "))
        headers.set("X-Request-ID", context.requestID)
        if !configuration.preserveHost || clientHost == nil { headers.set("Host", origin.authority) }

        let upstreamRequest = UpstreamRequest(method: request.method, target: upstreamTarget(request, context: context),
                                              headers: headers, body: request.body)
        context.upstream = origin.authority
        var response: HTTPResponse
        do {
            response = try await HTTPClient.execute(upstreamRequest, to: origin, on: context.loop, timeout: configuration.timeout)
        } catch {
            throw HTTPError(status: error.status, code: "upstream_\(error.kind.rawValue)",
                            detail: "service '\(service.name)' (\(origin.authority)): \(error.detail)")
        }
        Self.stripHopByHop(&response.headers)
        let upstreamVia = response.headers.values("via")
        response.headers.set("Via", (upstreamVia + ["1.1 \(via)"]).joined(separator: ", "))
        return response
    }

    func upstreamTarget(_ request: HTTPRequest, context: RequestContext) -> String {
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
