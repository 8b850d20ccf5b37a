/// `policy.timeoutMs`: sets the request's deadline (`context.deadline`, monotonic ns) to now + the
/// timeout, or keeps an earlier one. The responder and later stages answer 504 past it. It runs first,
/// so the deadline also bounds the stages that may suspend (auth, rate limit) later in the pipeline.
public struct TimeoutStage: RequestStage {
    public var name: String { "timeout" }
    /// No `processResponse`.
    public var leavesHopFieldsAlone: Bool { true }
    /// Nanoseconds.
    let timeout: UInt64

    public init(timeout: UInt64) { self.timeout = timeout }

    public func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        let deadline = context.loop.now &+ timeout
        if let earlier = context.deadline, earlier <= deadline { return .proceed }
        context.deadline = deadline
        return .proceed
    }
}
