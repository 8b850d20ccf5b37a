import XCTest
import Synchronization
@testable import AggregationKit

/// The pipeline runner without sockets: stage order, early answers, suspension, the response's way back.
final class PipelineTests: XCTestCase {
    /// Records what it sees in a shared trace; optionally answers, fails or suspends.
    struct Probe: RequestStage {
        enum Mode: Sendable { case pass, answer, fail, suspend, suspendAndAnswer, suspendAndThrow }
        let name: String
        let mode: Mode
        let trace: Trace
        func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
            trace.add("\(name)>")
            request.headers.add("X-Seen", name)
            switch mode {
            case .pass: return .proceed
            case .answer: return .respond(HTTPResponse(status: 204))
            case .fail: return .fail(HTTPError(status: 403, code: "denied", detail: "no", internalDetail: "\(name) said no"))
            case .suspend, .suspendAndAnswer, .suspendAndThrow: return .suspend
            }
        }
        func processAsync(_ request: inout HTTPRequest, context: RequestContext) async throws -> HTTPResponse? {
            await Task.yield()
            trace.add("\(name)~")
            XCTAssertTrue(context.loop.inEventLoop, "the async part runs on the request's loop")
            switch mode {
            case .suspendAndAnswer: return HTTPResponse(status: 202)
            case .suspendAndThrow: throw HTTPError(status: 503, code: "store_down", detail: "later")
            default: return nil
            }
        }
        func processResponse(_ response: inout HTTPResponse, request: HTTPRequest, context: RequestContext) {
            trace.add("<\(name)")
            response.headers.add("X-Back", name)
        }
    }

    final class Trace: Sendable {
        private let items = Mutex<[String]>([])
        func add(_ s: String) { items.withLock { $0.append(s) } }
        var all: [String] { items.withLock { $0 } }
    }

    /// Answers with the stages the request went through.
    struct Echo: Responder {
        let trace: Trace
        func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
            trace.add("responder")
            completion(HTTPResponse(status: 200, contentType: "text/plain", body: request.headers.values("x-seen").joined(separator: ",")), nil)
        }
    }

    private func run(_ modes: [Probe.Mode], declaredBodyBytes: Int? = nil) throws -> (status: Int, body: String, back: [String], trace: [String], error: String?, tasks: UInt64) {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let trace = Trace()
        let pipeline = Pipeline(stages: modes.enumerated().map { Probe(name: "s\($0.offset)", mode: $0.element, trace: trace) }, responder: Echo(trace: trace))
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<(HTTPResponse, String?)?>(nil)
        let tasksBefore = loop.execute(sync: { loop.requestTasksStarted })
        loop.execute {
            let context = RequestContext(requestID: "t", loop: loop, clientAddress: "127.0.0.1", startNanos: loop.now)
            context.declaredBodyBytes = declaredBodyBytes
            pipeline.run(HTTPRequest(method: "GET", target: "/x"), context: context) { response, error in
                XCTAssertTrue(loop.inEventLoop)
                result.withLock { $0 = (response, error) }
                done.signal()
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        let (response, error) = try XCTUnwrap(result.withLock { $0 })
        let tasks = loop.execute(sync: { loop.requestTasksStarted }) - tasksBefore
        return (response.status, String(decoding: response.body, as: UTF8.self), response.headers.values("x-back"), trace.all, error, tasks)
    }

    func testSynchronousStagesRunInOrderAndSeeTheResponseInReverse() throws {
        let r = try run([.pass, .pass, .pass])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body, "s0,s1,s2")
        XCTAssertEqual(r.trace, ["s0>", "s1>", "s2>", "responder", "<s2", "<s1", "<s0"])
        XCTAssertEqual(r.back, ["s2", "s1", "s0"])
        XCTAssertEqual(r.tasks, 0, "no task when every stage decides on the loop")
    }

    /// The router's route keeps its policy in one `SharedRoutePolicy`; a request records it by reference.
    func testTheMatchedRoutesPolicyIsRecordedByReference() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let shared = SharedRoutePolicy(RoutePolicy(methods: ["GET"], timeout: 5))
        let context = RequestContext(requestID: "t", loop: group.loops[0], clientAddress: "127.0.0.1", startNanos: 0)
        XCTAssertNil(context.policy)
        context.matched(route: "r", template: "/a/{id}", parameters: [("id", "7")], policy: shared, metrics: nil)
        XCTAssertEqual(context.policy?.methods, ["GET"])
        XCTAssertEqual(context.policy?.timeout, 5)
        XCTAssertEqual(context.route, "r")
        XCTAssertEqual(context.matchedTemplate, "/a/{id}")
        XCTAssertEqual(context.pathParameter("id"), "7")
        context.policy = RoutePolicy(maxBodyBytes: 10)
        XCTAssertEqual(context.policy?.maxBodyBytes, 10)
        XCTAssertNil(context.policy?.methods)
        XCTAssertEqual(shared.policy.methods, ["GET"], "a request's own policy leaves the route's alone")
        context.matched(route: "v", template: "/v", parameters: [], policy: RoutePolicy(methods: ["POST"]), metrics: nil)
        XCTAssertEqual(context.policy?.methods, ["POST"])
        XCTAssertEqual(context.pathParameters.count, 0)
    }

    /// A head dispatched before its body was read (early 413 path) is never forwarded, whatever the
    /// stages decide: with no stage, and with stages that all let it pass.
    func testAHeadWithoutItsBodyNeverReachesTheResponder() throws {
        for modes in [[], [Probe.Mode.pass], [.pass, .pass]] {
            let r = try run(modes, declaredBodyBytes: 10)
            XCTAssertEqual(r.status, 413, "\(modes)")
            XCTAssertFalse(r.trace.contains("responder"), "\(modes)")
            XCTAssertEqual(r.back.count, modes.count, "the stages that let it pass see the 413")
        }
    }

    func testAnEarlyAnswerSkipsLaterStagesAndTheResponder() throws {
        let r = try run([.pass, .answer, .pass])
        XCTAssertEqual(r.status, 204)
        XCTAssertEqual(r.trace, ["s0>", "s1>", "<s0"])
        XCTAssertEqual(r.tasks, 0)
    }

    func testAFailureIsAProblemWithItsLogDetail() throws {
        let r = try run([.pass, .fail])
        XCTAssertEqual(r.status, 403)
        XCTAssertTrue(r.body.contains("problem:denied"), r.body)
        XCTAssertFalse(r.body.contains("said no"), "the internal detail is not shown")
        XCTAssertEqual(r.error, "denied: s1 said no")
        XCTAssertEqual(r.back, ["s0"])
    }

    func testASuspendingStageTakesOneTaskAndTheRestContinues() throws {
        let r = try run([.pass, .suspend, .pass])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body, "s0,s1,s2")
        XCTAssertEqual(r.trace, ["s0>", "s1>", "s1~", "s2>", "responder", "<s2", "<s1", "<s0"])
        XCTAssertEqual(r.tasks, 1)
    }

    func testASuspendedStageCanAnswerOrThrow() throws {
        let answered = try run([.pass, .suspendAndAnswer, .pass])
        XCTAssertEqual(answered.status, 202)
        XCTAssertEqual(answered.trace, ["s0>", "s1>", "s1~", "<s0"])
        let thrown = try run([.suspendAndThrow, .pass])
        XCTAssertEqual(thrown.status, 503)
        XCTAssertTrue(thrown.body.contains("store_down"))
        XCTAssertEqual(thrown.back, [])
    }
}
