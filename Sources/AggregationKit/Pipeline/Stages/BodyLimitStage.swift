/// `policy.maxBodyBytes`: a request whose body is larger than the route accepts gets 413
/// `body_too_large`. The server refuses earlier, before reading the body, when `Content-Length` says
/// so (using `RoutePolicy.maxBodyBytes`); this stage covers the rest (chunked bodies) once the body,
/// already bounded by `limits.maxBodyBytes`, is in.
public struct BodyLimitStage: RequestStage {
    public var name: String { "maxBodyBytes" }
    /// No `processResponse`.
    public var leavesHopFieldsAlone: Bool { true }
    let maxBodyBytes: Int

    public init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    public func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        // A head dispatched before its body was read counts with the size it declared.
        guard max(request.body.count, context.declaredBodyBytes ?? 0) > maxBodyBytes else { return .proceed }
        return .fail(Self.error(limit: maxBodyBytes))
    }

    /// The 413 of a route's body limit (also for the server's check before the body is read).
    public static func error(limit: Int) -> HTTPError {
        HTTPError(status: 413, code: "body_too_large", detail: "the request body is larger than this route accepts (\(limit) bytes)")
    }
}
