/// Compiles a route's effective policy into its stages, once, at start. Pure.
///
/// The order is fixed:
///
///     timeout ─▶ cors ─▶ methods ─▶ maxBodyBytes ─▶ (identity headers removed) ─▶ auth ─▶ (rateLimit: a later issue) ─▶ headers ─▶ responder
///
/// - `timeout` first, so the deadline bounds every later stage, including those that will suspend
///   (a key fetch, a Redis call).
/// - `cors` before anything that can refuse: it answers preflights itself (a preflight's `OPTIONS` need
///   not be in `methods`), and every refusal after it (405, 413, later 401 and 429) passes back through
///   it and gets `Access-Control-Allow-Origin`, so the page's script can read the problem instead of
///   seeing an opaque network error.
/// - `methods` and `maxBodyBytes`: cheap refusals, before the costlier checks.
/// - the gateway's identity headers the route does not set itself are removed (`IdentityHeadersStage`),
///   on every route, so no route passes a client's `X-User-Id` to a service that trusts it.
/// - `auth` after them (a signature check costs more than a method compare) and before `headers`, so
///   header templates can use `{claims.…}` and the identity is known to everything after it.
/// - `headers` last: request edits are what the responder sends; response edits are the first applied
///   to the responder's answer (and to the refusals of auth and rate limiting).
///
/// A section that is not set gives no stage: a route with no policy has an empty pipeline.
public enum PipelineCompiler {
    /// `authCaches`: the gateway's verified-token caches (one set per gateway, shared by its routes).
    /// `identityHeaders`: the gateway's identity headers this route must remove (see `IdentityHeadersStage`);
    /// removed before `auth`, which sets its own.
    /// `sessions`: the gateway's own sessions (`auth.sessions`), for `session` routes; in cookie mode every
    /// other route removes the session cookies before forwarding.
    public static func stages(for policy: RoutePolicy, authCaches: AuthCaches = AuthCaches(), identityHeaders: [String] = [],
                              sessions: SessionService? = nil) -> [any RequestStage] {
        var stages: [any RequestStage] = []
        if let timeout = policy.timeout { stages.append(TimeoutStage(timeout: timeout)) }
        if let cors = policy.cors { stages.append(CORSStage(policy: cors, routeMethods: policy.methods)) }
        if let methods = policy.methods { stages.append(MethodsStage(methods: methods)) }
        if let limit = policy.maxBodyBytes { stages.append(BodyLimitStage(maxBodyBytes: limit)) }
        if !identityHeaders.isEmpty { stages.append(IdentityHeadersStage(removing: identityHeaders)) }
        let sessionRoute = sessions != nil && policy.auth?.provider === sessions?.issuer.provider
        if let sessions, sessions.isCookieMode, !sessionRoute { stages.append(SessionCookieStripStage()) }
        if let auth = policy.auth { stages.append(AuthStage(policy: auth, caches: authCaches, sessions: sessions)) }
        if let apiKey = policy.apiKey { stages.append(APIKeyStage(policy: apiKey, caches: authCaches)) }
        if let headers = policy.headers, !(headers.request.isEmpty && headers.response.isEmpty) {
            stages.append(HeadersStage(policy: headers))
        }
        return stages
    }
}

extension GatewayConfiguration {
    /// A proxy route's effective policy (the name the gateway's wiring uses).
    func policy(of route: RouteConfiguration) -> RoutePolicy { effectivePolicy(route: route) }
    /// A composite endpoint's effective policy.
    func policy(of endpoint: CompiledEndpoint) -> RoutePolicy { effectivePolicy(endpoint: endpoint) }
}
