/// Reading `policy` objects (`defaults.policy` and `routes[].policy` of gateway.json, an endpoint
/// contract's `policy`), with the strictness of the rest of the configuration: unknown keys, wrong
/// types and out-of-range values are issues with their JSON path.
///
/// ```json
/// "policy": {
///   "methods": ["GET", "POST"], "maxBodyBytes": 65536, "timeoutMs": 3000,
///   "cors": { "allowOrigins": ["https://app.example.com", "https://*.example.com"],
///             "allowMethods": ["GET", "POST"], "allowHeaders": ["Content-Type", "Authorization"],
///             "exposeHeaders": ["X-Request-Id"], "allowCredentials": true, "maxAgeSeconds": 600 },
///   "headers": { "request":  { "set": { "X-User-Id": "{path.id}" }, "remove": ["Cookie"] },
///                "response": { "add": { "X-Request-Id": "{requestId}" }, "remove": ["Server"] } },
///   "auth": { "provider": "main", "require": { "scopes": ["orders:read"] }, "claimsToHeaders": { "sub": "X-User-Id" } },
///   "rateLimit": null, "cache": null
/// }
/// ```
enum PolicyConfiguration {
    static let keys = ["auth", "rateLimit", "cache", "cors", "headers", "timeoutMs", "maxBodyBytes", "methods"]
    /// Sections later issues fill; today only their "off" form, `null`, is accepted.
    static let notYetAvailable = ["rateLimit", "cache"]
    static let corsKeys = ["allowOrigins", "allowMethods", "allowHeaders", "exposeHeaders", "allowCredentials", "maxAgeSeconds"]
    static let maxTimeoutMs = 600_000
    static let maxAgeLimit = 86_400

    /// Fields the gateway itself owns (framing, routing, hop-by-hop): a policy may not add, set or
    /// remove them, since that would let configuration desynchronize the framing or the connection.
    /// (A stage's `leavesHopFieldsAlone` relies on the hop-by-hop names being here.)
    static let reservedHeaders: Set<String> = Set(HopByHop.names.map(\.description) + ["host", "content-length"])

    /// The override a `policy` value states. nil/absent: inherit everything; `null`: every section off.
    /// `auth`: the providers and roles `policy.auth` refers to (the top-level `auth` section).
    static func read(_ value: JSONValue?, _ path: String, maxBodyBytes: Int, auth: AuthConfiguration = AuthConfiguration(),
                     reader r: ConfigReader) -> RoutePolicy.Override {
        var override = RoutePolicy.Override()
        guard let value else { return override }
        if value.isNull {
            override.methods = .off
            override.maxBodyBytes = .off
            override.timeout = .off
            override.cors = .off
            override.headers = .off
            override.auth = .off
            override.apiKey = .off
            return override
        }
        guard let o = r.object(value, path, allowed: keys) else { return override }
        for key in notYetAvailable {
            if let v = o[key], !v.isNull {
                r.issue("\(path).\(key)", "not available yet: only null (off) is accepted until the gateway implements \(key)")
            }
        }
        override.timeout = setting(o, "timeoutMs") {
            r.int(o, "timeoutMs", path, range: 1...maxTimeoutMs).map { UInt64($0) * 1_000_000 }
        }
        override.maxBodyBytes = setting(o, "maxBodyBytes") {
            r.int(o, "maxBodyBytes", path, range: 0...maxBodyBytes)
        }
        override.methods = setting(o, "methods") { methods(o, "methods", path, reader: r) }
        override.cors = setting(o, "cors") { cors(o["cors"], "\(path).cors", reader: r) }
        override.headers = setting(o, "headers") { headers(o["headers"], "\(path).headers", reader: r) }
        if let value = o["auth"], value.objectValue?["apiKey"] != nil {
            override.apiKey = setting(o, "auth") { AuthConfigurationReader.apiKeyPolicy(value, "\(path).auth", auth: auth, reader: r) }
            override.auth = .off
        } else {
            override.auth = setting(o, "auth") { AuthConfigurationReader.policy(o["auth"], "\(path).auth", auth: auth, reader: r) }
            if case .value = override.auth { override.apiKey = .off }
            if case .off = override.auth { override.apiKey = .off }
        }
        return override
    }

    /// Absent: inherit; `null`: off; otherwise what `read` makes of it (inherit when it was invalid:
    /// the issue is recorded and the configuration refused anyway).
    private static func setting<T>(_ o: JSONObject, _ key: String, _ read: () -> T?) -> RoutePolicy.Override.Setting<T> {
        guard let v = o[key] else { return .inherit }
        if v.isNull { return .off }
        return read().map { .value($0) } ?? .inherit
    }

    /// An upper-case method token list: not empty, no repeats.
    static func methods(_ o: JSONObject, _ key: String, _ path: String, reader r: ConfigReader) -> [String]? {
        guard let list = r.array(o, key, path) else { return nil }
        let p = "\(path).\(key)"
        if list.isEmpty { r.issue(p, "at least one method is required (null turns the check off)") ; return nil }
        var methods: [String] = []
        var valid = true
        for (i, item) in list.enumerated() {
            guard let m = item.stringValue else { r.issue("\(p)[\(i)]", "expected a method string, found \(item.typeName)"); valid = false; continue }
            if m.isEmpty || m.uppercased() != m || !m.utf8.allSatisfy(ByteClass.isToken) {
                r.issue("\(p)[\(i)]", "'\(m)' is not an upper-case method token"); valid = false; continue
            }
            if methods.contains(m) { r.issue("\(p)[\(i)]", "'\(m)' is listed twice"); valid = false; continue }
            methods.append(m)
        }
        return valid ? methods : nil
    }

    /// Header names: tokens, case-insensitively unique.
    static func headerNames(_ o: JSONObject, _ key: String, _ path: String, allowStar: Bool, reader r: ConfigReader) -> [String]? {
        guard let list = r.array(o, key, path) else { return nil }
        var names: [String] = []
        for (i, item) in list.enumerated() {
            let p = "\(path).\(key)[\(i)]"
            guard let name = item.stringValue else { r.issue(p, "expected a header name, found \(item.typeName)"); continue }
            if name == "*" && allowStar {
                if list.count > 1 { r.issue(p, "'*' allows every header: list nothing else") }
            } else if name.isEmpty || !name.utf8.allSatisfy(ByteClass.isToken) {
                r.issue(p, "'\(name)' is not a valid header name"); continue
            }
            if names.contains(where: { $0.asciiCaseInsensitiveEquals(name) }) { r.issue(p, "'\(name)' is listed twice"); continue }
            names.append(name)
        }
        return names
    }

    static func cors(_ value: JSONValue?, _ path: String, reader r: ConfigReader) -> CORSPolicy? {
        let before = r.issues.count
        guard let o = r.object(value, path, allowed: corsKeys) else { return nil }
        var origins: [CORSPolicy.OriginRule] = []
        if let list = r.array(o, "allowOrigins", path, required: true) {
            if list.isEmpty { r.issue("\(path).allowOrigins", "at least one origin is required") }
            for (i, item) in list.enumerated() {
                guard let text = item.stringValue else { r.issue("\(path).allowOrigins[\(i)]", "expected an origin string, found \(item.typeName)"); continue }
                switch originRule(text) {
                case .success(let rule):
                    if origins.contains(rule) { r.issue("\(path).allowOrigins[\(i)]", "'\(text)' is listed twice") } else { origins.append(rule) }
                case .failure(let reason): r.issue("\(path).allowOrigins[\(i)]", reason.text)
                }
            }
            if list.contains(.string("*")) && list.count > 1 { r.issue("\(path).allowOrigins", "'*' allows every origin: list nothing else") }
        }
        let allowMethods = o["allowMethods"] == nil ? nil : methods(o, "allowMethods", path, reader: r)
        let allowHeaders = headerNames(o, "allowHeaders", path, allowStar: true, reader: r) ?? []
        let exposeHeaders = headerNames(o, "exposeHeaders", path, allowStar: false, reader: r) ?? []
        let credentials = r.bool(o, "allowCredentials", path) ?? false
        let maxAge = r.int(o, "maxAgeSeconds", path, range: 0...maxAgeLimit)
        if credentials && origins.contains(.any) {
            r.issue("\(path).allowCredentials", "true with allowOrigins '*' would let every site make credentialed calls: list the origins")
        }
        if credentials && allowHeaders.contains("*") {
            r.issue("\(path).allowHeaders", "'*' is not allowed with allowCredentials true: list the headers")
        }
        guard r.issues.count == before else { return nil }
        return CORSPolicy(allowOrigins: origins, allowMethods: allowMethods, allowHeaders: allowHeaders, exposeHeaders: exposeHeaders,
                          allowCredentials: credentials, maxAgeSeconds: maxAge)
    }

    /// One `allowOrigins` entry: `*`, `scheme://host[:port]`, or `scheme://*.domain[:port]`.
    static func originRule(_ text: String) -> Result<CORSPolicy.OriginRule, GatewayConfiguration.Reason> {
        if text == "*" { return .success(.any) }
        if text == "null" {
            return .failure(.init(text: "the 'null' origin cannot be allowed: sandboxed frames and file: pages of any site send it"))
        }
        let lower = text.lowercased()
        guard let colon = lower.firstIndex(of: ":"), lower[colon...].hasPrefix("://") else {
            return .failure(.init(text: "'\(text)' is not an origin: write scheme://host[:port], e.g. https://app.example.com or https://*.example.com"))
        }
        let scheme = lower[..<colon]
        guard let first = scheme.utf8.first, isLetter(first),
              scheme.utf8.allSatisfy({ isLetter($0) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }) else {
            return .failure(.init(text: "'\(text)' has no valid scheme"))
        }
        var authority = lower[lower.index(colon, offsetBy: 3)...]
        if authority.contains(where: { "/?#@".contains($0) }) {
            return .failure(.init(text: "'\(text)' is not an origin: no path, query or user (a browser's Origin is scheme://host[:port], with no trailing slash)"))
        }
        var port: Substring? = nil
        if let colon = authority.lastIndex(of: ":"), !authority[colon...].contains("]") {
            port = authority[authority.index(after: colon)...]
            authority = authority[..<colon]
        }
        if let port {
            guard let number = Int(port), (1...65535).contains(number), port.first != "0" else {
                return .failure(.init(text: "'\(text)' has an invalid port"))
            }
            if (scheme == "https" && number == 443) || (scheme == "http" && number == 80) {
                return .failure(.init(text: "browsers send '\(text)' without its default port: write '\(scheme)://\(authority)'"))
            }
        }
        var wildcard = false
        var host = authority
        if host.hasPrefix("*.") {
            wildcard = true
            host = host.dropFirst(2)
        }
        let isIPv6 = host.hasPrefix("[") && host.hasSuffix("]") && !wildcard
        let hostValid = !host.isEmpty && (isIPv6
            ? host.dropFirst().dropLast().allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
            : host.utf8.allSatisfy { isLetter($0) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
              && !host.hasPrefix(".") && !host.hasSuffix(".") && !host.contains(".."))
        guard hostValid else {
            if host.contains("*") {
                return .failure(.init(text: "'\(text)': '*' may only stand for the first label, as in https://*.example.com"))
            }
            return .failure(.init(text: "'\(text)' has no valid host"))
        }
        let portSuffix = port.map { ":" + $0 } ?? ""
        if wildcard {
            guard host.contains(".") else {
                return .failure(.init(text: "'\(text)' is too broad: a wildcard needs a domain of at least two labels (https://*.example.com)"))
            }
            return .success(.subdomain(prefix: scheme + "://", suffix: "." + host + portSuffix))
        }
        return .success(.exact(scheme + "://" + host + portSuffix))
    }

    private static func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z") }

    static func headers(_ value: JSONValue?, _ path: String, reader r: ConfigReader) -> HeaderPolicy? {
        let before = r.issues.count
        guard let o = r.object(value, path, allowed: ["request", "response"]) else { return nil }
        var policy = HeaderPolicy()
        if let edits = edits(o["request"], "\(path).request", reader: r) { policy.request = edits }
        if let edits = edits(o["response"], "\(path).response", reader: r) { policy.response = edits }
        return r.issues.count == before ? policy : nil
    }

    static func edits(_ value: JSONValue?, _ path: String, reader r: ConfigReader) -> HeaderPolicy.Edits? {
        guard let o = r.object(value, path, allowed: ["add", "set", "remove"]) else { return nil }
        var edits = HeaderPolicy.Edits()
        func checkName(_ name: String, _ p: String) -> Bool {
            if name.isEmpty || !name.utf8.allSatisfy(ByteClass.isToken) { r.issue(p, "'\(name)' is not a valid header name"); return false }
            if reservedHeaders.contains(name.lowercased()) {
                r.issue(p, "'\(name)' is the gateway's own (framing, routing or hop-by-hop) and cannot be changed by a policy"); return false
            }
            return true
        }
        for (i, item) in (r.array(o, "remove", path) ?? []).enumerated() {
            let p = "\(path).remove[\(i)]"
            guard let name = item.stringValue else { r.issue(p, "expected a header name, found \(item.typeName)"); continue }
            guard checkName(name, p) else { continue }
            if edits.remove.contains(where: { $0.asciiCaseInsensitiveEquals(name) }) { r.issue(p, "'\(name)' is listed twice"); continue }
            edits.remove.append(name)
        }
        for operation in ["set", "add"] {
            guard let fields = r.object(o[operation], "\(path).\(operation)", allowed: o[operation]?.objectValue?.keys ?? []) else { continue }
            var list: [(name: String, value: HeaderTemplate)] = []
            for (name, v) in fields.entries {
                let p = "\(path).\(operation).\(name)"
                guard checkName(name, p) else { continue }
                if list.contains(where: { $0.name.asciiCaseInsensitiveEquals(name) }) { r.issue(p, "'\(name)' is set twice (names are case-insensitive)"); continue }
                guard let text = v.stringValue else { r.issue(p, "expected a string value (a template), found \(v.typeName)"); continue }
                do {
                    list.append((name, try HeaderTemplate(text)))
                } catch {
                    r.issue(p, error.reason)
                }
            }
            if operation == "set" { edits.set = list } else { edits.add = list }
        }
        return edits
    }

    /// Why an effective policy cannot serve a route or endpoint (`method`, the path `template` and its
    /// `parameters`): each as (JSON path, reason). A section the route inherits is reported at `path`
    /// and names `defaults.policy`.
    static func conflicts(_ policy: RoutePolicy, override: RoutePolicy.Override, method: String?, template: String,
                          parameters: Set<String>, at path: String) -> [(String, String)] {
        var found: [(String, String)] = []
        if let headers = policy.headers {
            let inherited: Bool = { if case .inherit = override.headers { return true }; return false }()
            for name in headers.parameterNames.sorted() where !parameters.contains(name) {
                if inherited {
                    found.append((path, "inherits defaults.policy.headers, which uses {path.\(name)}: the path '\(template)' does not capture it (set policy.headers here, or null)"))
                } else {
                    found.append(("\(path).headers", "uses {path.\(name)}, which the path '\(template)' does not capture"))
                }
            }
        }
        if let headers = policy.headers, headers.usesClaims, policy.auth == nil, policy.apiKey == nil {
            let inherited: Bool = { if case .inherit = override.headers { return true }; return false }()
            found.append((inherited ? path : "\(path).headers",
                          "\(inherited ? "inherits defaults.policy.headers, which uses" : "uses") {claims.…} but the route has no auth: there would be no claims"))
        }
        if let auth = policy.auth {
            let inherited: Bool = { if case .inherit = override.auth { return true }; return false }()
            for name in auth.parameterNames.sorted() where !parameters.contains(name) {
                found.append((inherited ? path : "\(path).auth",
                              "\(inherited ? "inherits defaults.policy.auth, whose" : "the") owner check uses the path parameter '\(name)', which the path '\(template)' does not capture"))
            }
        }
        if let methods = policy.methods, let method {
            let accepted = methods.contains(method) || (method == "HEAD" && methods.contains("GET"))
            if !accepted {
                let inherited: Bool = { if case .inherit = override.methods { return true }; return false }()
                found.append((inherited ? path : "\(path).methods",
                              "\(inherited ? "the inherited defaults.policy.methods" : "methods") (\(methods.joined(separator: ", "))) leave out this route's method \(method): every request would get 405"))
            }
        }
        return found
    }
}
