/// `policy.methods`: a method not in the list gets 405 with `Allow`. HEAD is allowed wherever GET is
/// (RFC 9110 §9.3.2). A CORS preflight (`OPTIONS`) never gets here on a route with `cors`: the CORS
/// stage runs first and answers it.
public struct MethodsStage: RequestStage {
    public var name: String { "methods" }
    /// No `processResponse`.
    public var leavesHopFieldsAlone: Bool { true }
    /// The accepted methods, HEAD added when GET is there.
    let allowed: [String]
    /// The `Allow` field of the 405, built once.
    let allowHeaders: HTTPHeaders

    public init(methods: [String]) {
        var allowed = methods
        if allowed.contains("GET") && !allowed.contains("HEAD") { allowed.append("HEAD") }
        self.allowed = allowed
        allowHeaders = HTTPHeaders([("Allow", allowed.joined(separator: ", "))])
    }

    public func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        // Methods are case-sensitive tokens (RFC 9110 §9.1): `get` is not GET.
        for method in allowed where method == request.method { return .proceed }
        return .fail(HTTPError(status: 405, code: "method_not_allowed", detail: "\(request.method) is not allowed here", headers: allowHeaders))
    }
}
