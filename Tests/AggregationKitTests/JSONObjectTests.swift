import Foundation
import Synchronization
import XCTest
@testable import AggregationKit

/// `JSONObject` keeps a key index once it is larger than `indexThreshold`: the edits must give exactly what
/// the plain member list gives, on either side of the threshold, and large objects must stay linear.
final class JSONObjectTests: XCTestCase {
    /// A fixed-seed generator (SplitMix64): the same edits on every run.
    private struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Random edits on an object and on a plain list of members edited by linear scans, compared after each
    /// edit: order, values and every lookup, while the size crosses the index threshold up and down. The key
    /// pool holds "é" in NFC and NFD, which are different keys (code points), though Swift's `==` says equal.
    func testEditsMatchAPlainMemberListAcrossTheIndexThreshold() {
        var keys = (0..<40).map { "k\($0)" }
        keys += ["\u{E9}", "e\u{301}"]
        var random = SeededGenerator(state: 42)
        var object = JSONObject()
        var model: [(key: String, value: JSONValue)] = []
        func position(_ key: String) -> Int? { model.firstIndex { $0.key.utf8.elementsEqual(key.utf8) } }
        var sizes: Set<Int> = []
        for step in 0..<8_000 {
            let key = keys.randomElement(using: &random)!
            let value = JSONValue.number(JSONNumber(step))
            // Grow more than shrink in the first half, the other way round in the second: both directions cross 16.
            let growing = step % 2_000 < 1_000
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<(growing ? 6 : 3):
                object[key] = value
                if let i = position(key) { model[i].value = value } else { model.append((key, value)) }
            case 6, 3..<6:
                object.removeValue(forKey: key)
                if let i = position(key) { model.remove(at: i) }
            case 7:
                object[key] = nil
                if let i = position(key) { model.remove(at: i) }
            default:
                let newKey = keys.randomElement(using: &random)!
                object.renameKey(key, to: newKey)
                if var i = position(key), !key.utf8.elementsEqual(newKey.utf8) {
                    if let j = position(newKey) { model.remove(at: j); if j < i { i -= 1 } }
                    model[i].key = newKey
                }
            }
            XCTAssertEqual(object.keys.map { Array($0.utf8) }, model.map { Array($0.key.utf8) }, "step \(step)")
            XCTAssertEqual(object.entries.map(\.value), model.map(\.value), "step \(step)")
            for k in keys { XCTAssertEqual(object[k], position(k).map { model[$0].value }, "step \(step), key \(k)") }
            if object.count != model.count { return }
            sizes.insert(object.count)
        }
        XCTAssertTrue(sizes.contains(JSONObject.indexThreshold + 8) && sizes.contains(JSONObject.indexThreshold - 4), "\(sizes.sorted())")
    }

    func testLargeObjectsCollapseDuplicatesAndCompareIgnoringOrder() throws {
        let members = (0..<40).map { "\"k\($0)\":\($0)" }
        let object = try XCTUnwrap(JSONParser.parse("{" + (members + [#""k3":"last""#, #""k39":null"#]).joined(separator: ",") + "}").objectValue)
        XCTAssertEqual(object.count, 40)
        XCTAssertEqual(object.keys, (0..<40).map { "k\($0)" })
        XCTAssertEqual(object["k3"], .string("last"))
        XCTAssertEqual(object["k39"], .null)
        XCTAssertNil(object["k40"])
        let reversed = try JSONParser.parse("{" + members.reversed().joined(separator: ",") + "}")
        XCTAssertEqual(try JSONParser.parse("{" + members.joined(separator: ",") + "}"), reversed)
        XCTAssertEqual(try JSONParser.parse("{" + members.joined(separator: ",") + "}").hashValue, reversed.hashValue)
        XCTAssertNotEqual(object, reversed.objectValue)
    }

    /// Work on large downstream objects stays linear: equality of two 30 000-key objects in different orders,
    /// `$omit`, `$rename` and `$pick` on one, a deep merge, a `$map` that `$lookup`s each element in a large
    /// array (a join), and the schema check.
    /// Linear work takes well under a second even in a debug build on a loaded machine; quadratic work
    /// takes minutes. The work runs on its own thread so a regression fails after the deadline.
    func testLargeObjectsStayLinear() throws {
        let n = 30_000
        let members = (0..<n).map { "\"k\($0)\":{\"v\":\($0)}" }
        let forward = try JSONParser.parse("{" + members.joined(separator: ",") + "}")
        let backward = try JSONParser.parse("{" + members.reversed().joined(separator: ",") + "}")
        let array = try JSONParser.parse("[" + (0..<n).map { "{\"id\":\($0)}" }.joined(separator: ",") + "]")
        let scope = EvaluationScope(results: ["f": forward, "b": backward, "a": array])
        let templates = [
            #"{"$select":"f","$omit":["k0","k1.v","k29999"],"$rename":{"k2":"renamed","k3":"k4"}}"#,
            #"{"$select":"f","$pick":["k5","k29998"]}"#,
            #"{"$merge":["$f","$b"],"$collision":"deep"}"#,
            // A join: each of n items looks itself up among n candidates.
            #"{"$select":"a","$map":{"$lookup":"a","$on":"$.id","$key":"id"},"$limit":3}"#,
            #"{"$select":"a","$map":{"$lookup":"a","$on":"$.id","$key":"id"}}"#,
        ].map { try! ResponseTemplate.compile(JSONParser.parse($0)) }
        let schema = try JSONSchema(JSONParser.parse(#"{"type":"object","required":["k0","k29999"],"additionalProperties":{"type":"object"}}"#))
        let outcome = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        Thread {
            var seen: [String] = []
            seen.append("equal: \(forward == backward)")
            for template in templates { seen.append(JSONSerializer.string((try? template.evaluate(scope)) ?? .null)) }
            seen.append("violations: \(schema.validate(forward).count)")
            outcome.withLock { $0 = seen }
            done.signal()
        }.start()
        XCTAssertEqual(done.wait(timeout: .now() + 8), .success, "work on \(n)-key objects took longer than 8 s")
        let seen = outcome.withLock { $0 }
        guard seen.count == 7 else { return }
        XCTAssertEqual(seen[0], "equal: true")
        XCTAssertTrue(seen[1].hasPrefix(#"{"k1":{},"renamed":{"v":2},"k4":{"v":3},"k5":{"v":5}"#), seen[1])
        XCTAssertEqual(seen[2], #"{"k5":{"v":5},"k29998":{"v":29998}}"#)
        XCTAssertTrue(seen[3].hasPrefix(#"{"k0":{"v":0},"k1":{"v":1},"#), seen[3])
        XCTAssertEqual(seen[4], #"[{"id":0},{"id":1},{"id":2}]"#)
        XCTAssertEqual(seen[5], JSONSerializer.string(array), "each element finds itself")
        XCTAssertEqual(seen[6], "violations: 0")
    }
}
