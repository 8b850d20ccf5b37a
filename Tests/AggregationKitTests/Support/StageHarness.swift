import XCTest
@testable import AggregationKit

/// Runs pipeline stages on a real event loop with a fake responder, without sockets: what the responder
/// received, what the client would get, and what the stages left in the context.
final class StageHarness {
    let group: EventLoopGroup

    /// `clock`: what the loop (and so every stage) decides with; a `ManualClock` to drive time by hand.
    init(clock: any GatewayClock = SystemClock(), logging: LogStreams = .standard) throws {
        LogBuffer.enabled = false
        group = try EventLoopGroup(threads: 1, clock: clock, logging: logging)
    }

    func close() { group.shutdown() }

    struct Outcome: Sendable {
        var response: HTTPResponse
        /// The request as the responder received it; nil when a stage answered first.
        var forwarded: HTTPRequest?
        var errorDetail: String?
        var deadline: UInt64?
        /// The loop's clock when the pipeline ran.
        var now: UInt64
        /// Whether the completion ran before `Pipeline.run` returned (no task was taken).
        var answeredSynchronously: Bool
        /// Who the stages said the client is.
        var identity: Identity
    }

    /// Answers synchronously with `reply` and remembers the request it got. Used on the loop only.
    final class RecordingResponder: Responder, @unchecked Sendable {
        let reply: HTTPResponse
        var received: HTTPRequest?
        init(_ reply: HTTPResponse) { self.reply = reply }
        func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
            received = request
            completion(reply, nil)
        }
    }

    func run(_ stages: [any RequestStage], _ request: HTTPRequest, parameters: [(name: String, value: String)] = [],
             requestID: String = "req-1", deadline: UInt64? = nil, reply: HTTPResponse = HTTPResponse(status: 200)) -> Outcome {
        let loop = group.loops[0]
        return loop.execute(sync: { () -> Outcome in
            let context = RequestContext(requestID: requestID, loop: loop, clientAddress: "127.0.0.1", startNanos: loop.now)
            context.pathParameters = parameters
            context.deadline = deadline
            let responder = RecordingResponder(reply)
            var answer: (HTTPResponse, String?)? = nil
            Pipeline(stages: stages, responder: responder).run(request, context: context) { response, detail in answer = (response, detail) }
            let synchronous = answer != nil
            return Outcome(response: answer?.0 ?? HTTPResponse(status: 0), forwarded: responder.received, errorDetail: answer?.1,
                           deadline: context.deadline, now: loop.now, answeredSynchronously: synchronous, identity: context.identity)
        })
    }
}

/// A stage that marks the request and the response with its name, to see the order stages run in.
struct TraceStage: RequestStage {
    let name: String
    func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        request.headers.add("X-Trace", name)
        return .proceed
    }
    func processResponse(_ response: inout HTTPResponse, request: HTTPRequest, context: RequestContext) {
        response.headers.add("X-Trace", name)
    }
}

func makeRequest(_ method: String = "GET", _ target: String = "/", _ headers: [(String, String)] = [], body: String = "") -> HTTPRequest {
    HTTPRequest(method: method, target: target, headers: HTTPHeaders([("Host", "gw")] + headers), body: Array(body.utf8))
}

extension HTTPResponse {
    /// The `code` of a problem document (`type` is `urn:bff-gateway:problem:<code>`).
    var problemCode: String? {
        guard let type = json?["type"]?.stringValue, type.hasPrefix("urn:bff-gateway:problem:") else { return nil }
        return String(type.dropFirst("urn:bff-gateway:problem:".count))
    }

    /// Names of the `Access-Control-*` fields, lower-cased.
    var accessControlFields: [String] {
        headers.map { $0.name.lowercased() }.filter { $0.hasPrefix("access-control-") }
    }
}
