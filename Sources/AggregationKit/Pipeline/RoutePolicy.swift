/// A route's effective policy: `defaults.policy` of `gateway.json`, overridden per proxy route
/// (`routes[].policy`) and per composite endpoint (the contract's `policy`). Each section is nil when
/// not set (or set to `null`, the "off" form). Compiled into the route's stages once, at start, by
/// `PipelineCompiler`; a policy with every section nil compiles to no stage at all.
public struct RoutePolicy: Sendable {
    /// `methods`: the methods the route accepts (405 with `Allow` for others; HEAD goes with GET).
    public var methods: [String]?
    /// `maxBodyBytes`: a request body larger than this gets 413 (before it is read, when
    /// `Content-Length` says so).
    public var maxBodyBytes: Int?
    /// `timeoutMs`: the request's deadline, in nanoseconds once compiled.
    public var timeout: UInt64?
    /// `cors`: cross-origin rules; preflights are answered by the gateway.
    public var cors: CORSPolicy?
    /// `headers`: request and response header edits.
    public var headers: HeaderPolicy?
    /// `auth`: the bearer token the route requires and what it must grant.
    public var auth: AuthPolicy?
    /// `auth` with `"apiKey": true`: the partner API key the route requires (never set with `auth`).
    public var apiKey: APIKeyPolicy?

    public init(methods: [String]? = nil, maxBodyBytes: Int? = nil, timeout: UInt64? = nil, cors: CORSPolicy? = nil, headers: HeaderPolicy? = nil,
                auth: AuthPolicy? = nil, apiKey: APIKeyPolicy? = nil) {
        self.methods = methods
        self.maxBodyBytes = maxBodyBytes
        self.timeout = timeout
        self.cors = cors
        self.headers = headers
        self.auth = auth
        self.apiKey = apiKey
    }

    /// Whether no section is set (the route compiles to no stage).
    public var isEmpty: Bool { methods == nil && maxBodyBytes == nil && timeout == nil && cors == nil && headers == nil && auth == nil && apiKey == nil }

    /// A `policy` object as written on a route or an endpoint: per section, inherit the default (key
    /// absent), turn it off (`null`), or replace it (a value). Sections are replaced whole, never merged
    /// key by key: a route's `headers` replaces the defaults' `headers`.
    public struct Override: Sendable {
        public enum Setting<Value: Sendable>: Sendable {
            case inherit
            case off
            case value(Value)

            func applied(to base: Value?) -> Value? {
                switch self {
                case .inherit: return base
                case .off: return nil
                case .value(let v): return v
                }
            }
        }

        public var methods: Setting<[String]> = .inherit
        public var maxBodyBytes: Setting<Int> = .inherit
        public var timeout: Setting<UInt64> = .inherit
        public var cors: Setting<CORSPolicy> = .inherit
        public var headers: Setting<HeaderPolicy> = .inherit
        public var auth: Setting<AuthPolicy> = .inherit
        /// Set together with `auth` (they are one section, `policy.auth`): one is `.off` when the other is set.
        public var apiKey: Setting<APIKeyPolicy> = .inherit

        public init() {}

        /// `base` with this override's sections applied.
        public func applied(to base: RoutePolicy) -> RoutePolicy {
            RoutePolicy(methods: methods.applied(to: base.methods), maxBodyBytes: maxBodyBytes.applied(to: base.maxBodyBytes),
                        timeout: timeout.applied(to: base.timeout), cors: cors.applied(to: base.cors), headers: headers.applied(to: base.headers),
                        auth: auth.applied(to: base.auth), apiKey: apiKey.applied(to: base.apiKey))
        }
    }
}

/// The `cors` section: which browser origins may call the route, and what they may send and read
/// (the Fetch standard's CORS protocol). Validated at load; compiled into a `CORSStage`.
public struct CORSPolicy: Sendable {
    /// One entry of `allowOrigins`.
    public enum OriginRule: Sendable, Equatable {
        /// `*`: any origin (never with credentials). Answered with `Access-Control-Allow-Origin: *`.
        case any
        /// `https://app.example.com` (lower-cased; default ports omitted, as browsers send them).
        case exact(String)
        /// `https://*.example.com`: exactly one DNS label in place of `*` (`a.example.com`, not
        /// `a.b.example.com`, not `example.com`). `prefix` is `https://`, `suffix` `.example.com[:port]`.
        case subdomain(prefix: String, suffix: String)
    }

    public var allowOrigins: [OriginRule]
    /// `allowMethods`: methods a preflight may ask for; nil = the policy's `methods`, else GET, HEAD, POST.
    public var allowMethods: [String]?
    /// `allowHeaders`: request headers a preflight may ask for (case-insensitive); `["*"]` = any (not
    /// with credentials).
    public var allowHeaders: [String]
    /// `exposeHeaders`: response headers the page's script may read beyond the safelisted ones.
    public var exposeHeaders: [String]
    /// `allowCredentials`: cookies and HTTP auth may be sent; the origin is echoed (never `*`).
    public var allowCredentials: Bool
    /// `maxAgeSeconds`: how long a browser may cache a preflight answer; nil = not sent (browser default, 5 s).
    public var maxAgeSeconds: Int?

    public init(allowOrigins: [OriginRule], allowMethods: [String]? = nil, allowHeaders: [String] = [], exposeHeaders: [String] = [],
                allowCredentials: Bool = false, maxAgeSeconds: Int? = nil) {
        self.allowOrigins = allowOrigins
        self.allowMethods = allowMethods
        self.allowHeaders = allowHeaders
        self.exposeHeaders = exposeHeaders
        self.allowCredentials = allowCredentials
        self.maxAgeSeconds = maxAgeSeconds
    }

    /// Whether any origin is allowed (`*`).
    public var allowsAnyOrigin: Bool { allowOrigins.contains(.any) }
    /// Whether `allowHeaders` is `*`.
    public var allowsAnyHeader: Bool { allowHeaders.contains("*") }
}

/// The `headers` section: edits of the request (before the responder) and of the response (on its way
/// back), each applied as remove, then set (replace every field of that name), then add (append).
public struct HeaderPolicy: Sendable {
    public struct Edits: Sendable {
        public var remove: [String] = []
        public var set: [(name: String, value: HeaderTemplate)] = []
        public var add: [(name: String, value: HeaderTemplate)] = []
        public init() {}
        public var isEmpty: Bool { remove.isEmpty && set.isEmpty && add.isEmpty }
    }

    public var request = Edits()
    public var response = Edits()
    public init() {}

    /// Path parameter names used by any template.
    public var parameterNames: Set<String> {
        var names: Set<String> = []
        for edits in [request, response] {
            for (_, t) in edits.set + edits.add { names.formUnion(t.parameterNames) }
        }
        return names
    }

    /// Whether any template uses `{claims.…}` (which needs `auth` on the route).
    public var usesClaims: Bool {
        [request, response].contains { edits in (edits.set + edits.add).contains { $0.value.usesClaims } }
    }
}
