import Foundation
import XCTest
@testable import AggregationKit

/// `ResponseBodyPlan`: which calls keep their bodies as text, and a body written from the plan is byte for
/// byte the one the tree gives (`evaluate` + `serialize`), whether each result is text, parsed, a fallback
/// or missing. The same over sockets, gateway against gateway: `CompositeTextPathTests`.
final class ResponseBodyPlanTests: XCTestCase {
    private func endpoint(_ calls: String, _ response: String) throws -> CompiledEndpoint {
        let text = #"{"name": "t", "method": "GET", "path": "/t/{id}", "calls": {\#(calls)}, "response": \#(response)}"#
        switch GatewayConfiguration.compileEndpoint(Array(text.utf8), file: "e.json", services: ["s"]) {
        case .success(let e): return e
        case .failure(let e): throw TestError(e.issues.map(\.description).joined(separator: "; "))
        }
    }

    private let threeCalls = #""a": {"service": "s", "path": "/a"}, "b": {"service": "s", "path": "/b"}, "c": {"service": "s", "path": "/c"}"#

    private func textCalls(_ response: String) throws -> [String] { try textCalls(nil, response) }

    private func textCalls(_ calls: String?, _ response: String) throws -> [String] {
        let e = try endpoint(calls ?? threeCalls, response)
        guard let plan = ResponseBodyPlan(e) else { return [] }
        return e.calls.indices.filter { plan.textCalls[$0] }.map { e.calls[$0].name }
    }

    func testCallsPlacedAsTheyAreAndReadNowhereElseKeepText() throws {
        XCTAssertEqual(try textCalls(#"{"user": "$a", "orders": "$b", "recommendations": "$c"}"#), ["a", "b", "c"])
        XCTAssertEqual(try textCalls(#"{"x": "$a.items[0].name", "y": ["$a[-1]", {"z": "$b[\"k.1\"]"}], "c": {"$select": "c", "$limit": 1}}"#), ["a", "b"])
        XCTAssertEqual(try textCalls(#""$a""#), ["a"])
        XCTAssertEqual(try textCalls(#"{"ids": "$a[*].id", "b": "$b", "c": {"$merge": ["$c", {"k": 1}]}}"#), ["b"])
        XCTAssertEqual(try textCalls(#"{"a": "$a", "a2": {"$select": "a", "$pick": ["id"]}}"#), [], "a is also reshaped")
        XCTAssertEqual(try textCalls(#"{"k": 1, "p": "$path.id"}"#), [])
        // A call another call reads (its target, a fan-out over it) is parsed; the fan-out's own result too.
        XCTAssertEqual(try textCalls(#""a": {"service": "s", "path": "/a"}, "b": {"service": "s", "path": "/b/{a.id}"}"#, #"{"a": "$a", "b": "$b"}"#), ["b"])
        XCTAssertEqual(try textCalls(#""a": {"service": "s", "path": "/a"}, "b": {"service": "s", "path": "/b/{$}", "forEach": {"in": "a.ids"}}"#,
                                     #"{"a": "$a", "b": "$b"}"#), [])
        XCTAssertEqual(try textCalls(#""a": {"service": "s", "path": "/a"}, "b": {"service": "s", "path": "/b", "headers": {"X-Id": "{a.id}"}}"#,
                                     #"{"a": "$a", "b": "$b"}"#), ["b"])
        XCTAssertEqual(try textCalls(#""a": {"service": "s", "path": "/a"}, "b": {"service": "s", "path": "/b", "dependsOn": ["a"]}"#,
                                     #"{"a": "$a", "b": "$b"}"#), ["a", "b"], "an order without data is no read")
    }

    /// Random results (canonical or not, parsed, fallback, absent) through many templates: the plan's bytes
    /// are the tree's.
    func testRenderedBodiesAreTheTreesBytes() throws {
        let templates = [
            #"{"user": "$a", "orders": "$b", "recommendations": "$c"}"#,
            #"{"x": "$a.id", "y": "$a.items[0]", "z": "$a.items[-1].name", "w": "$b", "n": [1, "$a.name", {"k": "$b[2]"}, "$b[-2]"], "op": {"$select": "c", "$limit": 2}, "p": "$path.id", "s": "str", "e": {}, "ea": []}"#,
            #""$a""#,
            #""$a.é""#,
            #"{"a": "$a", "m": {"$merge": ["$c", {"k": 1}], "$collision": "last"}, "b": "$b.id"}"#,
            #"{"a": "$a.a", "m": {"$merge": ["$c", "$c"]}, "b": "$b.b"}"#,
            #"{"whole": "$a", "id": "$a.id", "first": "$a[0]", "last": "$a[-1]", "deep": "$a.a.b", "b": "$b.id", "c": "$c[1]"}"#,
            #"{"a": "$a.items", "a2": "$a.items[0].name", "a3": "$a.name", "b": "$b.a.b", "b2": "$b.a", "c": "$c.é"}"#,
        ]
        var rng = SplitMix(seed: 7)
        var compared = 0, texts = 0, members = 0
        for template in templates {
            let e = try endpoint(threeCalls, template)
            let plan = try XCTUnwrap(ResponseBodyPlan(e), template)
            for _ in 0..<400 {
                var scope = EvaluationScope(pathParameters: ["id": "7"])
                var full = scope
                var kept = [CanonicalJSON?](repeating: nil, count: e.calls.count)
                for (i, call) in e.calls.enumerated() {
                    switch rng.below(10) {
                    case 0: continue  // no result (a failed optional call without fallback is null; absent is harsher)
                    case 1:
                        let fallback: JSONValue = .object(JSONObject([(key: "fb", value: .bool(true))]))
                        scope.results[call.name] = fallback
                        full.results[call.name] = fallback
                    default:
                        var bytes = rng.below(6) == 0 ? Array(RandomJSON.nearlyCanonical[rng.below(RandomJSON.nearlyCanonical.count)].utf8)
                            : Array(RandomJSON.text(&rng, depth: 0, canonical: rng.below(2) == 0, rarity: [12, 60][rng.below(2)]).utf8)
                        if rng.below(3) == 0 {  // an object with the members the templates read, in some order, sometimes one missing
                            var members = ["items", "a", "é", "name", "id"].map { key in
                                JSONSerializer.string(.string(key)) + ":" + RandomJSON.text(&rng, depth: 1, canonical: rng.below(4) != 0, rarity: 40)
                            }
                            for k in members.indices.reversed() { members.swapAt(k, rng.below(k + 1)) }
                            if rng.below(4) == 0 { members.removeLast() }
                            bytes = Array(("{" + members.joined(separator: ",") + "}").utf8)
                        }
                        guard let value = try? JSONParser.parse(bytes) else { continue }
                        full.results[call.name] = value
                        if plan.textCalls[i], let text = CanonicalJSON.canonical(bytes, member: plan.memberKeys[i]) {
                            kept[i] = text
                            texts += 1
                            if text.member != nil { members += 1 }
                        } else {
                            scope.results[call.name] = value
                        }
                    }
                }
                let tree: Result<[UInt8], ResponseTemplate.EvaluationError> = Result { () throws(ResponseTemplate.EvaluationError) in
                    JSONSerializer.serialize(try e.response.evaluate(full))
                }
                let rendered: Result<[UInt8], ResponseTemplate.EvaluationError> = Result { () throws(ResponseTemplate.EvaluationError) in
                    try plan.render(scope, texts: kept)
                }
                switch (tree, rendered) {
                case (.success(let x), .success(let y)):
                    XCTAssertEqual(String(decoding: y, as: UTF8.self), String(decoding: x, as: UTF8.self), template)
                case (.failure(let x), .failure(let y)):
                    XCTAssertEqual(y.reason, x.reason, template)
                default:
                    XCTFail("\(template): tree \(tree), plan \(rendered)")
                }
                compared += 1
            }
        }
        XCTAssertEqual(compared, templates.count * 400)
        XCTAssertGreaterThan(members, 500, "members found by the scan")
        XCTAssertGreaterThan(texts, 1000)
    }
}
