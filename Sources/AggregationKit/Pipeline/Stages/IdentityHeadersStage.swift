/// Removes, from a client's request, the identity headers that some route of the gateway fills from a
/// verified token (`auth.claimsToHeaders`, request `headers` templates with `{claims.…}`) and that this
/// route does not set itself (`defaults.policy` included).
///
/// A service behind the gateway trusts those headers (`X-User-Id`) because the gateway sets them. A
/// route without `auth` (`"auth": null` on a public path), or with another `claimsToHeaders`, would
/// otherwise pass a client's own `X-User-Id: admin` to the same service. Not in `policy`: it is added by
/// the compiler whenever the gateway has identity headers the route would not replace.
public struct IdentityHeadersStage: RequestStage {
    public var name: String { "identityHeaders" }
    /// No `processResponse`.
    public var leavesHopFieldsAlone: Bool { true }
    let removal: HeadersStage.Edits

    /// `names`: the header names to remove (any case).
    public init(removing names: [String]) {
        var edits = HeaderPolicy.Edits()
        edits.remove = names
        removal = HeadersStage.Edits(edits)
    }

    public func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        removal.apply(to: &request.headers, context: context)  // removals only: the context is not read
        return .proceed
    }

    /// The lower-cased names a route must remove: the gateway's identity headers (`policies`: every
    /// route's effective policy) that `policy` does not itself remove or replace.
    public static func names(toRemoveFor policy: RoutePolicy, among policies: [RoutePolicy]) -> [String] {
        var identity: [String] = []
        for p in policies {
            for name in identityNames(of: p) where !identity.contains(name) { identity.append(name) }
        }
        var own: [String] = []
        if let auth = policy.auth { own += auth.claimsToHeaders.map { $0.header.lowercased() } }
        if let headers = policy.headers { own += headers.request.set.map { $0.name.lowercased() } + headers.request.remove.map { $0.lowercased() } }
        return identity.filter { !own.contains($0) }
    }

    /// The headers `policy` fills from the token, lower-cased.
    static func identityNames(of policy: RoutePolicy) -> [String] {
        var names: [String] = []
        if let auth = policy.auth { names += auth.claimsToHeaders.map { $0.header.lowercased() } }
        if let headers = policy.headers {
            names += (headers.request.set + headers.request.add).filter { $0.value.usesClaims }.map { $0.name.lowercased() }
        }
        return names
    }
}
