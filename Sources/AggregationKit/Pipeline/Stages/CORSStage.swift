/// `policy.cors`: the CORS protocol of the Fetch standard, answered by the gateway.
///
///     OPTIONS + Origin + Access-Control-Request-Method   (a preflight)
///       origin, method and every requested header allowed ─▶ 204 with the Access-Control-Allow-* fields
///       anything not allowed                               ─▶ 403 problem, no CORS field at all
///     any other request                                    ─▶ passes; on the way back its response gets
///       Access-Control-Allow-Origin (+ -Credentials, -Expose-Headers) when the origin is allowed, and
///       `Vary: Origin` in every case (a cache must not hand one origin's answer to another)
///
/// A disallowed origin's actual request is not refused: the browser enforces CORS by withholding the
/// response from the page, and refusing would break requests that are not from a browser at all.
/// Access-Control-* fields already on a response (an upstream's) are removed first: on a route with
/// `cors` the gateway's answer is the only one, so a service cannot widen it.
///
/// Origins are matched on bytes, ASCII case-insensitively; the echoed `Access-Control-Allow-Origin` is
/// the request's own `Origin`, copied byte for byte. Everything else is built once, here.
public struct CORSStage: RequestStage {
    public var name: String { "cors" }
    /// `processResponse` touches `Access-Control-*` and `Vary` only.
    public var leavesHopFieldsAlone: Bool { true }

    enum Rule: Sendable {
        case exact([UInt8])
        /// `prefix` (scheme and `://`), one DNS label, `suffix` (`.example.com[:port]`).
        case subdomain(prefix: [UInt8], suffix: [UInt8])
    }

    let rules: [Rule]
    /// The exact origins of `rules`, lower-cased, as the names of fields: checked per request with no
    /// array to retain per rule.
    let exactOrigins: HTTPHeaders
    /// The other rules (`*.example.com`).
    let subdomainRules: [Rule]
    let anyOrigin: Bool
    let credentials: Bool
    let allowMethods: [String]
    /// Lower-cased.
    let allowHeaders: [String]
    let anyHeader: Bool
    let allowMethodsValue: String
    let allowHeadersValue: String?
    let exposeHeadersValue: String?
    let maxAgeValue: String?

    /// The methods a preflight may ask for when `allowMethods` is not set and the route has no
    /// `methods`: the Fetch standard's CORS-safelisted methods.
    static let defaultMethods = ["GET", "HEAD", "POST"]

    /// `routeMethods`: the policy's `methods`, the default of `allowMethods`.
    public init(policy: CORSPolicy, routeMethods: [String]? = nil) {
        var rules: [Rule] = []
        for rule in policy.allowOrigins {
            switch rule {
            case .any: break
            case .exact(let origin): rules.append(.exact(Array(origin.lowercased().utf8)))
            case .subdomain(let prefix, let suffix): rules.append(.subdomain(prefix: Array(prefix.lowercased().utf8), suffix: Array(suffix.lowercased().utf8)))
            }
        }
        self.rules = rules
        var exact = HTTPHeaders()
        var subdomains: [Rule] = []
        for rule in rules {
            switch rule {
            case .exact(let origin): origin.withUnsafeBytes { exact.add(name: $0, value: UnsafeRawBufferPointer(start: nil, count: 0)) }
            case .subdomain: subdomains.append(rule)
            }
        }
        exactOrigins = exact
        subdomainRules = subdomains
        anyOrigin = policy.allowsAnyOrigin
        credentials = policy.allowCredentials
        var methods = policy.allowMethods ?? routeMethods ?? Self.defaultMethods
        if methods.contains("GET") && !methods.contains("HEAD") { methods.append("HEAD") }
        allowMethods = methods
        allowMethodsValue = methods.joined(separator: ", ")
        anyHeader = policy.allowsAnyHeader
        allowHeaders = policy.allowHeaders.filter { $0 != "*" }.map { $0.lowercased() }
        allowHeadersValue = anyHeader || policy.allowHeaders.isEmpty ? nil : policy.allowHeaders.joined(separator: ", ")
        exposeHeadersValue = policy.exposeHeaders.isEmpty ? nil : policy.exposeHeaders.joined(separator: ", ")
        maxAgeValue = policy.maxAgeSeconds.map(String.init)
    }

    public func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        guard request.method == "OPTIONS", let methodIndex = request.headers.firstIndex(of: "access-control-request-method"),
              request.headers.firstIndex(of: "origin") != nil else { return .proceed }
        return preflight(request.headers, methodIndex: methodIndex)
    }

    /// The answer to a preflight (Fetch §3.2.3 "CORS-preflight fetch", from the server's side).
    func preflight(_ headers: HTTPHeaders, methodIndex: Int) -> StageDecision {
        guard let originIndex = headers.onlyIndex(of: "origin"), allows(originAt: originIndex, in: headers) else {
            return .fail(HTTPError(status: 403, code: "cors_origin_not_allowed", detail: "this origin may not call this route"))
        }
        let method = headers.value(at: methodIndex)
        guard allowMethods.contains(method) else {
            return .fail(HTTPError(status: 403, code: "cors_method_not_allowed", detail: "cross-origin \(method) is not allowed on this route"))
        }
        let requested = headers.tokens("access-control-request-headers")
        if !anyHeader {
            for name in requested where !allowHeaders.contains(name) {
                return .fail(HTTPError(status: 403, code: "cors_header_not_allowed", detail: "the request header '\(name)' is not allowed cross-origin on this route"))
            }
        }
        var out = HTTPHeaders()
        if anyOrigin {
            out.add("Access-Control-Allow-Origin", "*")
        } else {
            out.add("Access-Control-Allow-Origin", valueOfFieldAt: originIndex, in: headers)
        }
        if credentials { out.add("Access-Control-Allow-Credentials", "true") }
        out.add("Access-Control-Allow-Methods", allowMethodsValue)
        if let allowHeadersValue {
            out.add("Access-Control-Allow-Headers", allowHeadersValue)
        } else if anyHeader && !requested.isEmpty {
            // Echoed rather than `*`, which a browser reads literally on a credentialed request.
            out.add("Access-Control-Allow-Headers", requested.joined(separator: ", "))
        }
        if let maxAgeValue { out.add("Access-Control-Max-Age", maxAgeValue) }
        out.add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
        return .respond(HTTPResponse(status: 204, headers: out))
    }

    public func processResponse(_ response: inout HTTPResponse, request: HTTPRequest, context: RequestContext) {
        Self.removeAccessControlFields(&response.headers)
        if anyOrigin {
            // The same answer for every origin (and for none: a cached copy serves them all), so no Vary.
            response.headers.add("Access-Control-Allow-Origin", "*")
            if let exposeHeadersValue { response.headers.add("Access-Control-Expose-Headers", exposeHeadersValue) }
            return
        }
        Self.addVaryOrigin(&response.headers)
        guard let i = request.headers.onlyIndex(of: "origin" as StaticString), allows(originAt: i, in: request.headers) else { return }
        response.headers.add("Access-Control-Allow-Origin" as StaticString, valueOfFieldAt: i, in: request.headers)
        if credentials { response.headers.add("Access-Control-Allow-Credentials" as StaticString, "true" as StaticString) }
        if let exposeHeadersValue { response.headers.add("Access-Control-Expose-Headers", exposeHeadersValue) }
    }

    /// Whether the `Origin` value at field `i` is allowed. `null` (opaque origins: sandboxed frames,
    /// `file:`, some redirects) matches no rule but `*`.
    func allows(originAt i: Int, in headers: HTTPHeaders) -> Bool {
        if anyOrigin { return true }
        return headers.withValueBytes(at: i) { origin in
            for j in 0..<exactOrigins.count where exactOrigins.nameEquals(at: j, origin) { return true }
            for rule in subdomainRules where Self.matches(origin, rule) { return true }
            return false
        }
    }

    static func matches(_ origin: UnsafeBufferPointer<UInt8>, _ rule: Rule) -> Bool {
        switch rule {
        case .exact(let expected):
            return expected.withUnsafeBufferPointer { String.asciiFold(origin, $0) }
        case .subdomain(let prefix, let suffix):
            let labelEnd = origin.count - suffix.count
            guard labelEnd > prefix.count else { return false }
            let prefixMatches = prefix.withUnsafeBufferPointer { String.asciiFold(UnsafeBufferPointer(rebasing: origin[0..<prefix.count]), $0) }
            let suffixMatches = suffix.withUnsafeBufferPointer { String.asciiFold(UnsafeBufferPointer(rebasing: origin[labelEnd...]), $0) }
            guard prefixMatches && suffixMatches else { return false }
            // One label: letters, digits and hyphens only (no dot, so never two labels; no '@', '/', ':').
            for b in origin[prefix.count..<labelEnd] {
                let lower = b | 0x20
                guard (lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-") else { return false }
            }
            return true
        }
    }

    /// Removes every `Access-Control-*` field; allocates only when there is one.
    static func removeAccessControlFields(_ headers: inout HTTPHeaders) {
        headers.keepFieldsInPlace { !$0.nameHasPrefix(at: $1, "access-control-") }
    }

    /// Adds `Origin` to the response's `Vary`: appended to an existing `Vary` field (one field, as
    /// most caches expect), or as a new one; nothing when `Vary` already has `Origin` or `*`.
    static func addVaryOrigin(_ headers: inout HTTPHeaders) {
        var last: Int? = nil
        for i in 0..<headers.count where headers.nameIs(at: i, "vary") {
            if headers.valueHasToken(at: i, "origin") || headers.valueHasToken(at: i, "*") { return }
            last = i
        }
        if let last {
            let existing = headers.value(at: last)
            headers.replaceValue(at: last, with: existing.isEmpty ? "Origin" : existing + ", Origin")
        } else {
            headers.add("Vary" as StaticString, "Origin" as StaticString)
        }
    }
}
