/// A route's compiled request pipeline: its stages in order, then the responder that answers.
///
///     request ─▶ stage 1 ─▶ stage 2 ─▶ … ─▶ responder (proxy call, composite task, built-in)
///     response ◀─ stage 1 ◀─ stage 2 ◀─ … ◀─┘        (each stage that let the request pass sees it)
///
/// Every stage first decides synchronously on the loop thread: continue, answer now, or suspend. Only a
/// stage that suspends (it must wait for I/O: a Redis call, a key fetch) makes the request take a Swift
/// task, and only from that stage on; a proxy route behind synchronous stages is answered with no task at
/// all. Built once at start, immutable, shared by every loop.

/// What a stage decides about a request, on the loop thread.
public enum StageDecision {
    /// Pass the (possibly modified) request to the next stage.
    case proceed
    /// Answer now with this response; later stages and the responder do not run.
    case respond(HTTPResponse)
    /// Refuse with this problem; later stages and the responder do not run.
    case fail(HTTPError)
    /// The stage must wait for I/O: the request continues in a task through `processAsync`.
    case suspend
}

/// One step of a route's pipeline. Stages are immutable values shared by every loop; per-request state
/// goes in `RequestContext` (its typed `storage`).
public protocol RequestStage: Sendable {
    /// A short stable name, for logs and for the pipeline's description.
    var name: String { get }
    /// Decides synchronously on the loop thread. Must not block.
    func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision
    /// Called only after `process` returned `.suspend`, in a task on the request's loop. Returns nil to
    /// continue with the next stage, or the response that answers the request. A thrown `HTTPError` is
    /// the client's problem document.
    func processAsync(_ request: inout HTTPRequest, context: RequestContext) async throws -> HTTPResponse?
    /// Every response to a request this stage let pass (from the responder, a later stage or an error)
    /// comes back through here, in reverse stage order, on the loop thread.
    func processResponse(_ response: inout HTTPResponse, request: HTTPRequest, context: RequestContext)
    /// Whether `processResponse` neither reads nor edits a response's hop-by-hop fields or `Via`. When
    /// every stage of a proxy route says so, the proxy leaves its own edits of those fields (drop the
    /// hop-by-hop ones, append our `Via` hop) to the serializer, as on a route with no stage, instead of
    /// editing the fields before the stages see them (`ProxyHandler.passBack`). A stage must opt in: the
    /// default is `false`, the safe answer for a stage that does not know.
    var leavesHopFieldsAlone: Bool { get }
}

extension RequestStage {
    public func processAsync(_ request: inout HTTPRequest, context: RequestContext) async throws -> HTTPResponse? { nil }
    public func processResponse(_ response: inout HTTPResponse, request: HTTPRequest, context: RequestContext) {}
    public var leavesHopFieldsAlone: Bool { false }
}

/// Called exactly once with the response and, when the request failed, the log's full account of why
/// (addresses, system errors: never shown to the client). Always on the request's loop thread.
/// The response is handed over (`consuming`), so the stages that see it on its way back edit its fields in
/// place rather than copy the buffers they share with the caller first.
public typealias ResponseCompletion = (consuming HTTPResponse, _ errorDetail: String?) -> Void

/// What answers a request at the end of a pipeline: a proxy route (an upstream call on the loop), a
/// composite endpoint (a task), a built-in endpoint. Called on the loop thread; may call `completion`
/// before returning.
public protocol Responder: Sendable {
    /// The request is handed over (`consuming`): a responder that passes it on unshared lets the stages
    /// edit its buffers in place.
    func respond(to request: consuming HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion)
    /// Told once per pipeline it is put in, at start, with that pipeline's stages (before any request):
    /// a responder may answer more cheaply when what those stages read of its responses allows it (the
    /// proxy: `RequestStage.leavesHopFieldsAlone`).
    func compiled(behind stages: [any RequestStage])
}

extension Responder {
    public func compiled(behind stages: [any RequestStage]) {}
}

/// A route's stages and responder, compiled once.
public final class Pipeline: Sendable {
    public let stages: [any RequestStage]
    public let responder: any Responder
    /// The stages again, each in a box of its concrete type, called through the box's class method.
    /// Called through `stages[i]`, the existential is copied out of the array first (a retain of every
    /// buffer of a stage held inline, of the box of a larger one, both through the value witnesses) and
    /// destroyed after the call, twice per stage and request; the box calls its stage in place.
    private let boxes: [AnyStageBox]

    public init(stages: [any RequestStage], responder: any Responder) {
        self.stages = stages
        self.responder = responder
        boxes = stages.map { Self.box($0) }
        responder.compiled(behind: stages)
    }

    private static func box<S: RequestStage>(_ stage: S) -> AnyStageBox { StageBox(stage) }

    /// Stage `i`'s box, not retained for the call: the pipeline holds its boxes for its whole life, and
    /// it is alive while it runs them (a retain and a release per stage and direction otherwise).
    @inline(__always) private func box(_ i: Int) -> Unowned {
        Unowned(reference: Unmanaged.passUnretained(boxes[i]))
    }

    /// A box reference that calls without retaining (see `box(_:)`).
    private struct Unowned {
        let reference: Unmanaged<AnyStageBox>
        @inline(__always) func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
            reference._withUnsafeGuaranteedRef { $0.process(&request, context: context) }
        }
        @inline(__always) func processResponse(_ response: inout HTTPResponse, request: HTTPRequest, context: RequestContext) {
            reference._withUnsafeGuaranteedRef { $0.processResponse(&response, request: request, context: context) }
        }
    }

    /// The stage names in order (for logs and tests).
    public var stageNames: [String] { stages.map(\.name) }

    /// Runs `request` through the stages and the responder. Loop thread only; `completion` runs once, on
    /// the loop, possibly before this returns.
    public func run(_ request: consuming HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        // No stage: straight to the responder, without the copy of the request that `inout` stages need.
        if stages.isEmpty {
            if context.declaredBodyBytes != nil {
                return finish(Self.unreadBody.response(requestID: context.requestID), error: Self.unreadBody.logText, passed: 0, request, context, completion)
            }
            return responder.respond(to: request, context: context, completion: completion)
        }
        runStages(from: 0, request, context: context, completion: completion)
    }

    /// Runs stages from `first` on, synchronously until one suspends.
    private func runStages(from first: Int, _ request: consuming HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        var i = first
        while i < boxes.count {
            switch box(i).process(&request, context: context) {
            case .proceed:
                i += 1
            case .respond(let response):
                return finish(response, error: nil, passed: i, request, context, completion)
            case .fail(let error):
                return finish(error.response(requestID: context.requestID), error: error.logText, passed: i, request, context, completion)
            case .suspend:
                let suspended = i
                let snapshot = request
                context.runTask(completion: { [self] response, error in
                    // Errors thrown by the async part come back here; stages before it see the response.
                    finish(response, error: error, passed: suspended, snapshot, context, completion)
                }) { [self] () async throws -> HTTPResponse? in
                    var request = snapshot
                    if let answer = try await boxes[suspended].processAsync(&request, context: context) { return answer }
                    // The rest runs on, synchronously, from inside the task (the task is on the loop).
                    runStages(from: suspended + 1, request, context: context, completion: completion)
                    return nil
                }
                return
            }
        }
        let passed = boxes.count
        if context.declaredBodyBytes != nil {
            // A head whose body was never read is not forwarded, whatever the stages decided.
            return finish(Self.unreadBody.response(requestID: context.requestID), error: Self.unreadBody.logText, passed: passed, request, context, completion)
        }
        // The way back through the stages is kept in the request's context (allocated anyway), and the
        // responder's completion captures only the context: no object or closure context to allocate.
        // (The stages need the request on the way back: the responder gets a copy of it.)
        context.returnPath = ReturnPath(pipeline: self, passed: passed, request: copy request, completion: completion)
        responder.respond(to: request, context: context) { [context] response, error in
            guard let back = context.returnPath.take() else { return }
            back.pipeline.finish(response, error: error, passed: back.passed, back.request, context, back.completion)
        }
    }

    /// The answer to a head dispatched without its body that no stage refused (cannot happen with a route
    /// body-limit stage in place; a guard, never a forward of a request without its body).
    static let unreadBody = HTTPError(status: 413, code: "body_too_large", detail: "the request body is larger than this route accepts")

    /// Sends `response` back through stages `0..<passed` in reverse, then to the connection.
    func finish(_ response: consuming HTTPResponse, error: String?, passed: Int, _ request: HTTPRequest,
                        _ context: RequestContext, _ completion: ResponseCompletion) {
        var response = consume response
        var i = passed
        while i > 0 {
            i -= 1
            box(i).processResponse(&response, request: request, context: context)
        }
        completion(consume response, error)
    }
}

/// What a response needs on its way back through the stages that let its request pass (kept in the
/// request's context while the responder works: `RequestContext.returnPath`).
struct ReturnPath {
    let pipeline: Pipeline
    let passed: Int
    let request: HTTPRequest
    let completion: ResponseCompletion
}

/// A stage behind a class method (see `Pipeline.boxes`).
private class AnyStageBox: @unchecked Sendable {
    func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision { fatalError("abstract") }
    func processAsync(_ request: inout HTTPRequest, context: RequestContext) async throws -> HTTPResponse? { fatalError("abstract") }
    func processResponse(_ response: inout HTTPResponse, request: HTTPRequest, context: RequestContext) { fatalError("abstract") }
}

/// Immutable after init; the stage is `Sendable`.
private final class StageBox<S: RequestStage>: AnyStageBox, @unchecked Sendable {
    let stage: S
    init(_ stage: S) { self.stage = stage }
    override func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        stage.process(&request, context: context)
    }
    override func processAsync(_ request: inout HTTPRequest, context: RequestContext) async throws -> HTTPResponse? {
        try await stage.processAsync(&request, context: context)
    }
    override func processResponse(_ response: inout HTTPResponse, request: HTTPRequest, context: RequestContext) {
        stage.processResponse(&response, request: request, context: context)
    }
}
