import XCTest
@testable import AggregationKit

/// Each synchronous stage, run through `Pipeline.run` with a fake responder on a real loop (no sockets).
final class StageTests: XCTestCase {
    var harness: StageHarness!

    override func setUpWithError() throws { harness = try StageHarness() }
    override func tearDown() { harness.close() }

    // MARK: methods

    func testMethodsStageRefusesOtherMethodsWith405AndAllow() {
        let stage = MethodsStage(methods: ["GET", "POST"])
        let ok = harness.run([stage], makeRequest("POST"))
        XCTAssertEqual(ok.response.status, 200)
        XCTAssertNotNil(ok.forwarded)

        let head = harness.run([stage], makeRequest("HEAD"))
        XCTAssertEqual(head.response.status, 200, "HEAD goes with GET")

        let refused = harness.run([stage], makeRequest("DELETE"))
        XCTAssertEqual(refused.response.status, 405)
        XCTAssertNil(refused.forwarded, "the responder must not run")
        XCTAssertEqual(refused.response.problemCode, "method_not_allowed")
        XCTAssertEqual(refused.response.headers["Content-Type"], "application/problem+json")
        XCTAssertEqual(refused.response.headers["Allow"], "GET, POST, HEAD")

        XCTAssertEqual(harness.run([stage], makeRequest("get")).response.status, 405, "methods are case-sensitive")
        XCTAssertEqual(harness.run([MethodsStage(methods: ["POST"])], makeRequest("HEAD")).response.status, 405, "HEAD only with GET")
    }

    // MARK: maxBodyBytes

    func testBodyLimitStageAnswers413PastTheLimit() {
        let stage = BodyLimitStage(maxBodyBytes: 10)
        XCTAssertEqual(harness.run([stage], makeRequest("POST", body: "0123456789")).response.status, 200)
        let over = harness.run([stage], makeRequest("POST", body: "0123456789A"))
        XCTAssertEqual(over.response.status, 413)
        XCTAssertEqual(over.response.problemCode, "body_too_large")
        XCTAssertNil(over.forwarded)
        XCTAssertEqual(harness.run([BodyLimitStage(maxBodyBytes: 0)], makeRequest("GET")).response.status, 200, "an empty body fits a zero limit")
        XCTAssertEqual(harness.run([BodyLimitStage(maxBodyBytes: 0)], makeRequest("POST", body: "x")).response.status, 413)
    }

    // MARK: timeout

    func testTimeoutStageSetsTheDeadlineFromTheLoopClock() {
        let outcome = harness.run([TimeoutStage(timeout: 2_000_000_000)], makeRequest())
        let deadline = try! XCTUnwrap(outcome.deadline)
        XCTAssertEqual(deadline, outcome.now + 2_000_000_000)
        XCTAssertEqual(outcome.response.status, 200)
    }

    func testTimeoutStageKeepsAnEarlierDeadline() {
        let earlier = harness.run([TimeoutStage(timeout: 60_000_000_000)], makeRequest(), deadline: 5)
        XCTAssertEqual(earlier.deadline, 5)
        let later = harness.run([TimeoutStage(timeout: 1_000_000)], makeRequest(), deadline: UInt64.max)
        XCTAssertEqual(later.deadline, later.now + 1_000_000)
    }

    // MARK: headers

    private func headerPolicy(request: [String: Any] = [:], response: [String: Any] = [:]) throws -> HeaderPolicy {
        func edits(_ spec: [String: Any]) throws -> HeaderPolicy.Edits {
            var e = HeaderPolicy.Edits()
            e.remove = spec["remove"] as? [String] ?? []
            e.set = try (spec["set"] as? [(String, String)] ?? []).map { ($0.0, try HeaderTemplate($0.1)) }
            e.add = try (spec["add"] as? [(String, String)] ?? []).map { ($0.0, try HeaderTemplate($0.1)) }
            return e
        }
        var p = HeaderPolicy()
        p.request = try edits(request)
        p.response = try edits(response)
        return p
    }

    func testHeadersStageEditsTheRequestWithTemplates() throws {
        let policy = try headerPolicy(request: [
            "remove": ["cookie", "X-Drop"],
            "set": [("X-User", "user-{path.id}"), ("X-Client", "web")],
            "add": [("X-Request-Id", "{requestId}"), ("X-Braces", "{{literal}}")],
        ])
        let outcome = harness.run([HeadersStage(policy: policy)],
                                  makeRequest("GET", "/u/a%20b", [("Cookie", "s=1"), ("X-Client", "forged"), ("x-client", "again"), ("X-Keep", "k"), ("x-drop", "d")]),
                                  parameters: [("id", "a%20b")], requestID: "rid-7")
        let sent = try XCTUnwrap(outcome.forwarded).headers
        XCTAssertNil(sent["Cookie"])
        XCTAssertNil(sent["X-Drop"])
        XCTAssertEqual(sent.values("X-Client"), ["web"], "set replaces every field of the name")
        XCTAssertEqual(sent["X-User"], "user-a b", "path parameters are percent-decoded")
        XCTAssertEqual(sent["X-Request-Id"], "rid-7")
        XCTAssertEqual(sent["X-Braces"], "{literal}")
        XCTAssertEqual(sent["X-Keep"], "k")
        XCTAssertEqual(sent["Host"], "gw")
    }

    func testHeadersStageEditsTheResponse() throws {
        let policy = try headerPolicy(response: [
            "remove": ["Server"],
            "set": [("Cache-Control", "no-store")],
            "add": [("X-Request-Id", "{requestId}"), ("X-Item", "{path.id}")],
        ])
        let reply = HTTPResponse(status: 200, headers: HTTPHeaders([("Server", "upstream/1.0"), ("Cache-Control", "max-age=60"), ("X-Up", "1")]))
        let outcome = harness.run([HeadersStage(policy: policy)], makeRequest(), parameters: [("id", "42")], requestID: "rid-9", reply: reply)
        let h = outcome.response.headers
        XCTAssertNil(h["Server"])
        XCTAssertEqual(h.values("Cache-Control"), ["no-store"])
        XCTAssertEqual(h["X-Request-Id"], "rid-9")
        XCTAssertEqual(h["X-Item"], "42")
        XCTAssertEqual(h["X-Up"], "1")
        XCTAssertNil(outcome.forwarded?.headers["X-Request-Id"], "response edits do not touch the request")
    }

    /// `%0D%0A` in a path parameter would split a header field: the request is refused before anything
    /// is sent, whether the template is for the request or for the response.
    func testHeadersStageRefusesControlBytesFromPathParameters() throws {
        let requestSide = HeadersStage(policy: try headerPolicy(request: ["set": [("X-User", "{path.id}")]]))
        let responseSide = HeadersStage(policy: try headerPolicy(response: ["add": [("X-Item", "{path.id}")]]))
        for raw in ["a%0D%0AX-Admin:%201", "a%0a", "%00", "x%7F", "tab%09", "%0d"] {
            for stage in [requestSide, responseSide] {
                let outcome = harness.run([stage], makeRequest(), parameters: [("id", raw)])
                XCTAssertEqual(outcome.response.status, 400, raw)
                XCTAssertEqual(outcome.response.problemCode, "invalid_header_value", raw)
                XCTAssertNil(outcome.forwarded, "nothing reaches the responder for \(raw)")
                XCTAssertNil(outcome.response.headers["X-Item"])
            }
        }
        // Escapes that are not control bytes, and '%' not followed by two hex digits, are fine.
        let fine = harness.run([requestSide], makeRequest(), parameters: [("id", "%41%zz%2F%C3%A9")])
        XCTAssertEqual(fine.forwarded?.headers["X-User"], "A%zz/é")
    }

    func testHeaderTemplateRejectsBadTemplatesAtCompileTime() {
        XCTAssertThrowsError(try HeaderTemplate("{query.x}"))
        XCTAssertThrowsError(try HeaderTemplate("{path.}"))
        XCTAssertThrowsError(try HeaderTemplate("a{path.id"))
        XCTAssertThrowsError(try HeaderTemplate("a}"))
        XCTAssertThrowsError(try HeaderTemplate("a\r\nb"))
        XCTAssertThrowsError(try HeaderTemplate("a\u{0}"))
        XCTAssertEqual(try HeaderTemplate("v-{path.a}-{path.b}").parameterNames, ["a", "b"])
        XCTAssertEqual(try HeaderTemplate("plain").constant, "plain", "a literal value needs no work per request")
    }

    // MARK: compiler and ordering

    func testCompilerBuildsNoStageForAnEmptyPolicy() {
        XCTAssertTrue(PipelineCompiler.stages(for: RoutePolicy()).isEmpty)
        var onlyEmptyHeaders = RoutePolicy()
        onlyEmptyHeaders.headers = HeaderPolicy()
        XCTAssertTrue(PipelineCompiler.stages(for: onlyEmptyHeaders).isEmpty, "a headers section with no edits costs nothing")
    }

    func testCompilerOrdersStages() throws {
        var policy = RoutePolicy()
        policy.headers = try headerPolicy(request: ["set": [("X-A", "1")]])
        policy.maxBodyBytes = 10
        policy.methods = ["GET"]
        policy.cors = CORSPolicy(allowOrigins: [.exact("https://app.example.com")])
        policy.timeout = 1_000_000_000
        XCTAssertEqual(PipelineCompiler.stages(for: policy).map(\.name), ["timeout", "cors", "methods", "maxBodyBytes", "headers"])

        var some = RoutePolicy()
        some.maxBodyBytes = 1
        some.methods = ["POST"]
        XCTAssertEqual(PipelineCompiler.stages(for: some).map(\.name), ["methods", "maxBodyBytes"])
    }

    /// Stages run in order on the way in and in reverse on the way out; a stage that answers is not
    /// passed again, and the stages before it see its answer.
    func testPipelineOrderAndResponsePass() {
        let stages: [any RequestStage] = [TraceStage(name: "a"), TraceStage(name: "b"), MethodsStage(methods: ["GET"]), TraceStage(name: "c")]
        let passed = harness.run(stages, makeRequest("GET"))
        XCTAssertEqual(passed.forwarded?.headers.values("X-Trace"), ["a", "b", "c"])
        XCTAssertEqual(passed.response.headers.values("X-Trace"), ["c", "b", "a"])
        XCTAssertTrue(passed.answeredSynchronously, "synchronous stages and responder: no task")

        let refused = harness.run(stages, makeRequest("PUT"))
        XCTAssertEqual(refused.response.status, 405)
        XCTAssertEqual(refused.response.headers.values("X-Trace"), ["b", "a"])
        XCTAssertTrue(refused.answeredSynchronously)
    }

    /// The compiled stages of a full policy answer on the loop, before `run` returns.
    func testCompiledPolicyRunsWithoutATask() throws {
        var policy = RoutePolicy()
        policy.headers = try headerPolicy(request: ["set": [("X-A", "{path.id}")]], response: ["add": [("X-B", "{requestId}")]])
        policy.methods = ["GET"]
        policy.cors = CORSPolicy(allowOrigins: [.exact("https://app.example.com")])
        policy.timeout = 1_000_000_000
        policy.maxBodyBytes = 100
        let outcome = harness.run(PipelineCompiler.stages(for: policy), makeRequest("GET", "/x/1", [("Origin", "https://app.example.com")]),
                                  parameters: [("id", "1")])
        XCTAssertTrue(outcome.answeredSynchronously)
        XCTAssertEqual(outcome.forwarded?.headers["X-A"], "1")
        XCTAssertEqual(outcome.response.headers["X-B"], "req-1")
        XCTAssertEqual(outcome.response.headers["Access-Control-Allow-Origin"], "https://app.example.com")
        XCTAssertNotNil(outcome.deadline)
    }

    /// CORS runs before methods: a preflight for a route whose `methods` leave out OPTIONS is answered,
    /// and a 405 carries the CORS fields, so the page can read the problem.
    func testCORSBeforeMethods() {
        var policy = RoutePolicy()
        policy.methods = ["GET"]
        policy.cors = CORSPolicy(allowOrigins: [.exact("https://app.example.com")], allowMethods: ["GET", "DELETE"])
        let stages = PipelineCompiler.stages(for: policy)
        let preflight = harness.run(stages, makeRequest("OPTIONS", "/x", [("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "GET")]))
        XCTAssertEqual(preflight.response.status, 204)
        let refused = harness.run(stages, makeRequest("DELETE", "/x", [("Origin", "https://app.example.com")]))
        XCTAssertEqual(refused.response.status, 405)
        XCTAssertEqual(refused.response.headers["Access-Control-Allow-Origin"], "https://app.example.com")
        XCTAssertEqual(refused.response.headers["Vary"], "Origin")
        let plainOptions = harness.run(stages, makeRequest("OPTIONS", "/x", [("Origin", "https://app.example.com")]))
        XCTAssertEqual(plainOptions.response.status, 405, "an OPTIONS that is not a preflight is an ordinary request")
    }
}
