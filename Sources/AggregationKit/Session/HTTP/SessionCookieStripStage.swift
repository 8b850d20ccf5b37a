/// Cookie mode: removes the gateway's session cookies from requests on routes that do not use the
/// session (public routes, other providers, API keys), so no service behind the gateway ever receives a
/// browser's refresh or access token. No allocation when the request has none of them.
public struct SessionCookieStripStage: RequestStage {
    public var name: String { "sessionCookies" }
    /// No `processResponse`.
    public var leavesHopFieldsAlone: Bool { true }
    public init() {}
    public func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        SessionCookies.strip(&request.headers)
        return .proceed
    }
}
