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

    @inline(__always) static func isHopByHop(_ name: String, connectionTokens: [String]) -> Bool {
        for h in hopByHop where name.utf8.count == h.utf8.count && name.asciiCaseInsensitiveEquals(h) { return true }
        for t in connectionTokens where name.asciiCaseInsensitiveEquals(t) { return true }
        return false
    }

    /// Removes hop-by-hop fields and those the `Connection` field names.
    static func stripHopByHop(_ headers: inout HTTPHeaders) {
        let named = connectionNamedFields(headers)
        headers.removeAll { isHopByHop($0.name, connectionTokens: named) }
    }

    /// The field names a `Connection` header lists, other than the usual `keep-alive`/`close` (fast path).
    static func connectionNamedFields(_ headers: HTTPHeaders) -> [String] {
        guard let value = headers["connection"] else { return [] }
        if headers.count(of: "connection") == 1 && (value.asciiCaseInsensitiveEquals("keep-alive") || value.asciiCaseInsensitiveEquals("close")) {
            return []
        }
        return headers.tokens("connection")
    }

    public func handle(_ request: HTTPRequest, context: RequestContext) async throws -> HTTPResponse {
        let origin = service.pick()
        let upstreamRequest = UpstreamRequest(method: request.method, target: upstreamTarget(request, context: context),
                                              headers: forwardedHeaders(request, context: context, origin: origin), body: request.body)
        context.upstream = origin.authority
        var response: HTTPResponse
        do {
            response = try await HTTPClient.execute(upstreamRequest, to: origin, on: context.loop, timeout: configuration.timeout)
        } catch {
            throw HTTPError(status: error.status, code: "upstream_\(error.kind.rawValue)",
                            detail: "service '\(service.name)' (\(origin.authority)): \(error.detail)")
        }
        var via: String? = nil
        let named = Self.connectionNamedFields(response.headers)
        response.headers.removeAll { field in
            if field.name.utf8.count == 3 && field.name.asciiCaseInsensitiveEquals("via") {
                via = via.map { $0 + ", " + field.value } ?? field.value
                return true
            }
            return Self.isHopByHop(field.name, connectionTokens: named)
        }
        response.headers.add("Via", via.map { $0 + ", " + viaHop11 } ?? viaHop11)
        return response
    }

    /// The request's fields for upstream, in one pass: hop-by-hop fields dropped, forwarding fields
    /// (RFC 7239's de-facto `X-Forwarded-*`, and `Via`) extended, `Host` and `X-Request-ID` set.
    func forwardedHeaders(_ request: HTTPRequest, context: RequestContext, origin: UpstreamOrigin) -> HTTPHeaders {
        let named = Self.connectionNamedFields(request.headers)
        var out = HTTPHeaders()
        out.fields.reserveCapacity(request.headers.count + 6)
        var forwardedFor: String? = nil
        var via: String? = nil
        var clientHost: String? = nil
        for field in request.headers {
            let name = field.name
            switch name.utf8.count {
            case 4 where name.asciiCaseInsensitiveEquals("host"):
                clientHost = field.value
                continue
            case 3 where name.asciiCaseInsensitiveEquals("via"):
                via = via.map { $0 + ", " + field.value } ?? field.value
                continue
            case 15 where name.asciiCaseInsensitiveEquals("x-forwarded-for"):
                forwardedFor = forwardedFor.map { $0 + ", " + field.value } ?? field.value
                continue
            case 17 where name.asciiCaseInsensitiveEquals("x-forwarded-proto"), 16 where name.asciiCaseInsensitiveEquals("x-forwarded-host"),
                 12 where name.asciiCaseInsensitiveEquals("x-request-id"):
                continue
            case 6 where name.asciiCaseInsensitiveEquals("expect"):
                // The gateway answered `100-continue` itself and has the whole body: nothing to expect upstream.
                continue
            default:
                if Self.isHopByHop(name, connectionTokens: named) { continue }
            }
            out.fields.append(field)
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
