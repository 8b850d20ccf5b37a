import Foundation
import Synchronization
import XCTest
@testable import AggregationKit

// Red-team findings against the issue 6 fixes: each test here FAILS on the branch it was written on
// (redteam, = main after the hard-client / hard-proxy / hard-json merges) and describes what an outside
// auditor would still get through. Fixing the product code should make them pass unchanged.

// MARK: - Response templates over downstream data

final class RedTeamTemplateTests: XCTestCase {
    /// Also-close, `$omit` with a dotted path: the fix made duplicate keys collapse, but a dotted path still
    /// stops at the first array. `$omit: ["cards.number"]` on a user whose `cards` is an array leaves every
    /// card number in the answer, while the same `$omit` on a top-level array reaches each element. A
    /// deny-list that silently does nothing for arrays is a leak waiting for a downstream to change shape.
    func testOmitWithADottedPathReachesIntoArrays() throws {
        let scope = EvaluationScope(pathParameters: [:], query: [:], headers: HTTPHeaders(), results: [
            "user": try JSONParser.parse(#"{"id":7,"cards":[{"number":"4111111111111111","last4":"1111"},{"number":"5500000000000004","last4":"0004"}],"profile":{"ssn":"078-05-1120"}}"#),
        ])
        let template = try ResponseTemplate.compile(try JSONParser.parse(#"{"$select":"user","$omit":["cards.number","profile.ssn"]}"#))
        let out = JSONSerializer.string(try template.evaluate(scope))
        XCTAssertFalse(out.contains("4111111111111111"), out)
        XCTAssertFalse(out.contains("5500000000000004"), out)
        XCTAssertFalse(out.contains("078-05-1120"), out)
    }

    /// Also-close, quadratic work on downstream-sized data: `$groupBy` looks each key up in a list of
    /// groups (`groups.firstIndex`), and `$merge` inserts each member of the second object with
    /// `JSONObject`'s linear subscript. A downstream answering 30 000 distinct keys (about 400 KB, far below
    /// `limits.maxResponseBytes`) keeps a thread of the gateway busy for seconds (a debug build: groupBy
    /// 20 000 items 6 s, merge of two 20 000-key objects 17 s); 16 MiB makes it minutes. The parser and
    /// `$omit`, which use a hash index, take milliseconds on the same data.
    func testGroupByAndMergeStayLinearOnLargeDownstreamData() throws {
        let n = 30_000
        let items = "[" + (0..<n).map { "{\"k\":\($0)}" }.joined(separator: ",") + "]"
        let object = "{" + (0..<n).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
        let scope = EvaluationScope(results: ["a": try JSONParser.parse(items), "o": try JSONParser.parse(object), "p": try JSONParser.parse(object)])
        for text in [#"{"$select":"a","$groupBy":"k"}"#, #"{"$merge":["$o","$p"],"$collision":"last"}"#] {
            let template = try ResponseTemplate.compile(try JSONParser.parse(text))
            let done = DispatchSemaphore(value: 0)
            // On its own thread, so a quadratic run fails the test after the deadline instead of holding it.
            Thread { _ = try? template.evaluate(scope); done.signal() }.start()
            // Linear work takes well under a second even on a loaded machine; quadratic takes about 15 s (groupBy)
            // and 40 s (merge) here.
            XCTAssertEqual(done.wait(timeout: .now() + 8), .success, "\(text) on \(n) downstream items/keys took longer than 8 s")
        }
    }
}
