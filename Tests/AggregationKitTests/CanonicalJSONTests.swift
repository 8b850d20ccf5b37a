import Foundation
import XCTest
@testable import AggregationKit

/// `CanonicalJSON`: the scanner accepts a document exactly when the parser accepts it and re-serializing the
/// parsed value gives the document's bytes back (within the scanner's own limits, past which it leaves the
/// document to the parser); `follow` finds what `SourcePath.follow` finds, as bytes.
final class CanonicalJSONTests: XCTestCase {
    /// The parser's verdict, as the scanner must see it: the trimmed value's bytes when the document is
    /// canonical, nil when it is not JSON or not written as the serializer writes it.
    static func reference(_ bytes: [UInt8]) -> (value: JSONValue, canonical: Bool)? {
        guard let value = try? JSONParser.parse(bytes) else { return nil }
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        let trimmed = Array(bytes.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
        return (value, JSONSerializer.serialize(value) == trimmed)
    }

    /// Whether the scanner's limits (nesting; keys of open objects and two words per open object) leave
    /// `value` to the parser.
    static func withinLimits(_ value: JSONValue, depth: Int = 0, openKeys: Int = 0) -> Bool {
        switch value {
        case .array(let items):
            return depth + 1 <= CanonicalJSON.maxDepth && items.allSatisfy { withinLimits($0, depth: depth + 1, openKeys: openKeys) }
        case .object(let o):
            guard depth + 1 <= CanonicalJSON.maxDepth, o.count == 0 || openKeys + 2 + o.count <= CanonicalJSON.maxOpenKeys else { return false }
            // A member's value is scanned while this object's keys up to and including its own are open.
            return o.entries.enumerated().allSatisfy { withinLimits($1.value, depth: depth + 1, openKeys: openKeys + 2 + $0 + 1) }
        default:
            return true
        }
    }

    /// Checks one document both ways; returns whether the scanner took it.
    @discardableResult
    static func check(_ bytes: [UInt8], _ name: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let text = CanonicalJSON.canonical(bytes)
        let expected = reference(bytes)
        if let text {
            guard let expected else {
                XCTFail("\(name()): the scanner took a document the parser refuses", file: file, line: line)
                return true
            }
            XCTAssertTrue(expected.canonical, "\(name()): the scanner took a document the serializer writes differently", file: file, line: line)
            XCTAssertEqual(Array(bytes[text.range]), JSONSerializer.serialize(expected.value), name(), file: file, line: line)
            return true
        }
        if let expected, expected.canonical, withinLimits(expected.value) {
            XCTFail("\(name()): a canonical document within the limits was not taken", file: file, line: line)
        }
        return false
    }

    private func suiteFiles(_ folder: String) throws -> [(String, [UInt8])] {
        let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/json-test-suite/\(folder)")
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map { name in
            (name, Array(try Data(contentsOf: dir.appendingPathComponent(name))))
        }
    }

    func testJSONTestSuiteVerdictsAgreeWithTheParser() throws {
        var taken = 0, total = 0
        for folder in ["test_parsing", "test_transform"] {
            for (name, bytes) in try suiteFiles(folder) {
                total += 1
                if Self.check(bytes, name) { taken += 1 }
                XCTAssertNil(name.hasPrefix("n_") ? CanonicalJSON.canonical(bytes) : nil, "\(name): must be refused")
            }
        }
        XCTAssertGreaterThan(total, 300)
        XCTAssertGreaterThan(taken, 40, "the suite's compact documents are taken")
    }

    func testDemoAndBenchPayloadsAreTakenWhole() throws {
        var documents: [[UInt8]] = []
        for id in 1...20 {
            documents.append(JSONSerializer.serialize(DemoUsers.user(id)))
            documents.append(JSONSerializer.serialize(DemoCatalog.product(id)))
            documents.append(JSONSerializer.serialize(DemoOrders.order(id, user: id)))
        }
        let root = ShippedContracts.root
        for name in ["user", "orders", "recs"] {
            documents.append(Array(try Data(contentsOf: root.appendingPathComponent("bench/payloads-harness/\(name)"))))
        }
        for (i, d) in documents.enumerated() {
            let text = try XCTUnwrap(CanonicalJSON.canonical(d), "document \(i)")
            XCTAssertEqual(text.range, 0..<d.count)
            Self.check(d, "document \(i)")
            Self.check(d + Array("\n".utf8), "document \(i) with a final newline")
            Self.check(Array(" \t".utf8) + d, "document \(i) after whitespace")
        }
    }

    func testSpellingsTheSerializerDoesNotWriteAreRefused() {
        for text in [#"{"a":1 }"#, #"{"a": 1}"#, #"[1, 2]"#, #"{"a":1,"a":2}"#, #"{"b":{"a":1,"c":2,"a":3}}"#, #""\/""#, #""\u0041""#,
                     #""\b""#, #""\f""#, #""\u000A""#, #""\u001F""#, #""\u00e9""#, #""\ud83d\ude00""#, "\u{FEFF}1", "{\"a\":1}x", ""] {
            XCTAssertNil(CanonicalJSON.canonical(Array(text.utf8)), text)
            Self.check(Array(text.utf8), text)
        }
        for text in [#""\n\r\t\"\\\u0000\u001f\u0008\u000c""#, #"{"":1,"é":[],"😀":{}}"#, "-0.0e+5", "[[[]]]", #"{"a":{"a":{"a":1}}}"#] {
            XCTAssertNotNil(CanonicalJSON.canonical(Array(text.utf8)), text)
            Self.check(Array(text.utf8), text)
        }
    }

    func testLimitsLeaveDocumentsToTheParser() {
        let deep = String(repeating: "[", count: CanonicalJSON.maxDepth + 1) + String(repeating: "]", count: CanonicalJSON.maxDepth + 1)
        XCTAssertNil(CanonicalJSON.canonical(Array(deep.utf8)))
        XCTAssertNotNil(try? JSONParser.parse(Array(deep.utf8)), "the parser still reads it")
        let deepest = String(repeating: #"{"a":["#, count: CanonicalJSON.maxDepth / 2) + String(repeating: "]}", count: CanonicalJSON.maxDepth / 2)
        XCTAssertNotNil(CanonicalJSON.canonical(Array(deepest.utf8)), "as deep as the scanner goes")
        XCTAssertNil(CanonicalJSON.canonical(Array(("[" + deepest + "]").utf8)))
        let keys = (0..<(CanonicalJSON.maxOpenKeys - 1)).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        XCTAssertNil(CanonicalJSON.canonical(Array("{\(keys)}".utf8)))
        let fewer = (0..<(CanonicalJSON.maxOpenKeys - 2)).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        XCTAssertNotNil(CanonicalJSON.canonical(Array("{\(fewer)}".utf8)))
    }

    /// Random documents written in many spellings (whitespace, escapes, repeated keys, number forms), some
    /// mutated byte-wise into invalid ones: the scanner agrees with parse + serialize on every one.
    func testRandomDocumentsAgreeWithParseAndSerialize() {
        var rng = SplitMix(seed: 0x5EED_C0DE)
        var taken = 0, valid = 0
        for n in 0..<6000 {
            var bytes = Array(RandomJSON.text(&rng, depth: 0, rarity: [4, 12, 40, 100][n % 4]).utf8)
            if rng.below(8) == 0 { RandomJSON.mutate(&bytes, &rng) }
            if (try? JSONParser.parse(bytes)) != nil { valid += 1 }
            if Self.check(bytes, "random document \(n): \(String(decoding: bytes, as: UTF8.self))") { taken += 1 }
        }
        XCTAssertGreaterThan(taken, 1000)
        XCTAssertGreaterThan(valid - taken, 1000, "many valid documents are not canonical")
    }

    /// `follow` finds the bytes of what `SourcePath.follow` finds, for keys that are there and not,
    /// indices in and out of range (negative too), steps into scalars.
    func testFollowAgreesWithSourcePath() {
        var rng = SplitMix(seed: 42)
        var checked = 0
        for _ in 0..<3000 {
            let bytes = Array(RandomJSON.text(&rng, depth: 0, canonical: true).utf8)
            guard let text = CanonicalJSON.canonical(bytes), let value = try? JSONParser.parse(bytes) else { continue }
            for _ in 0..<4 {
                var steps: [SourcePath.Step] = []
                var at: JSONValue? = value
                for _ in 0..<rng.below(4) {
                    let step: SourcePath.Step
                    switch at {
                    case .object(let o)? where o.count > 0 && rng.below(4) != 0:
                        step = .key(o.entries[rng.below(o.count)].key)
                    case .array(let a)? where a.count > 0 && rng.below(4) != 0:
                        step = .index(rng.below(2) == 0 ? rng.below(a.count) : -1 - rng.below(a.count))
                    default:
                        step = [.key("nope"), .key(RandomJSON.keys[rng.below(RandomJSON.keys.count)]), .index(rng.below(5) - 7), .index(rng.below(9))][rng.below(4)]
                    }
                    steps.append(step)
                    at = at.flatMap { SourcePath(root: .current, steps: [step], text: "$").follow($0) }
                }
                let expected = SourcePath(root: .current, steps: steps, text: "$").follow(value).map { JSONSerializer.serialize($0) }
                let found = text.follow(steps.map { CanonicalJSON.Step($0)! }).map { Array(bytes[$0]) }
                XCTAssertEqual(found, expected, "\(steps) in \(String(decoding: bytes, as: UTF8.self))")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 5000)
    }

    /// A top-level member asked for is found by the scan exactly where `follow` finds it (absent, not an
    /// object, present anywhere among the members, with nested values before and in it).
    func testMemberFoundByTheScanIsWhereFollowFindsIt() {
        var rng = SplitMix(seed: 4242)
        var found = 0
        for n in 0..<4000 {
            let bytes = Array(RandomJSON.text(&rng, depth: 0, canonical: n % 5 != 0, rarity: 40).utf8)
            var key = RandomJSON.keys[rng.below(RandomJSON.keys.count)]
            if rng.below(4) != 0, case .object(let o)? = try? JSONParser.parse(bytes), o.count > 0 { key = o.entries[rng.below(o.count)].key }
            let encoded = JSONSerializer.serialize(.string(key))
            let plain = CanonicalJSON.canonical(bytes)
            let asked = CanonicalJSON.canonical(bytes, member: encoded)
            XCTAssertEqual(asked?.range, plain?.range, "asking for a member changes no verdict")
            guard let plain, let asked else { continue }
            XCTAssertNil(plain.member)
            XCTAssertEqual(asked.member, plain.follow([.key(encoded)]), "\(key) in \(String(decoding: bytes, as: UTF8.self))")
            if asked.member != nil { found += 1 }
        }
        XCTAssertGreaterThan(found, 200)
    }
}

extension RandomJSON {
    /// Documents that are canonical but for one spelling (or a repeated key), where that spelling sits in
    /// the parts a template places: `$doc`, `$doc.id`, `$doc[0]`, `$doc[-1]`, `$doc.a.b`.
    static let nearlyCanonical: [String] = {
        let spellings = [#""\/""#, #""\u0041""#, #""\b""#, #""\f""#, #""\u000A""#, #""\u001F""#, #""\u00e9""#, #""\ud83d\ude00""#, #"1 "#, #" 1"#]
        var out: [String] = []
        for s in spellings {
            out += ["{\"id\":\(s),\"x\":1}", "[\(s),2]", "[1,\(s)]", "{\"a\":{\"b\":\(s)},\"id\":2}", "{\"id\":1,\"a\":[\(s)]}"]
        }
        out += [#"{"id":1,"id":2}"#, #"{"a":{"b":1,"b":2},"id":3}"#, #"[{"k":1,"k":1}]"#, #"{"id":{"x":1,"y":2,"x":3}}"#, #"{"x":1,"id":2,"x":1}"#]
        return out
    }()
}

/// A small deterministic generator (tests must not depend on the run).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// JSON text written the many ways JSON allows, so the canonical one is one case among many.
enum RandomJSON {
    static let keys = ["id", "name", "a", "b", "c", "items", "price", "é", "😀", "", "k\"q", "x/y", "tab\t", "nul\u{0}", "über", "a b", "A", "id2", "qty", "sku", "{k}", "[i]"]
    static let strings = ["", "plain", "with \"quotes\"", "back\\slash", "slash/", "new\nline", "cr\r", "tab\t", "bell\u{7}", "bs\u{8}", "ff\u{C}",
                          "unit\u{1F}", "del\u{7F}", "é", "한국어", "😀 emoji", "mixed é\n😀\"", "long string that is long enough to be scanned in words", "br{ack]et[s}, \"quoted\" {[", "\\]\\}\\"]
    static let numbers = ["0", "-0", "1", "-12", "1.5", "0.25", "1e10", "1E+2", "-0.0e-1", "123456789012345678901234567890", "3.14159", "2e-7"]

    /// `canonical`: as the serializer writes it; else one spelling in `rarity` (about) is another one, and
    /// keys may repeat.
    static func text(_ rng: inout SplitMix, depth: Int, canonical: Bool = false, rarity: Int = 12) -> String {
        func ws() -> String { canonical || rng.below(rarity * 2) != 0 ? "" : [" ", "\n", "\t", "\r\n", "  "][rng.below(5)] }
        switch depth < 4 ? rng.below(7) : 2 + rng.below(5) {
        case 0:
            var members: [String] = []
            var used: Set<String> = []
            for _ in 0..<rng.below(6) {
                let key = keys[rng.below(keys.count)]
                if canonical && !used.insert(key).inserted { continue }
                members.append(ws() + string(key, &rng, canonical: canonical, rarity: rarity) + ws() + ":" + ws() + text(&rng, depth: depth + 1, canonical: canonical, rarity: rarity) + ws())
            }
            return "{" + members.joined(separator: ",") + ws() + "}"
        case 1:
            let items = (0..<rng.below(6)).map { _ in ws() + text(&rng, depth: depth + 1, canonical: canonical, rarity: rarity) + ws() }
            return "[" + items.joined(separator: ",") + ws() + "]"
        case 2, 3: return string(strings[rng.below(strings.count)], &rng, canonical: canonical, rarity: rarity)
        case 4, 5: return numbers[rng.below(numbers.count)]
        default: return ["true", "false", "null"][rng.below(3)]
        }
    }

    /// A string literal: each character as the serializer writes it, or (sometimes) another valid spelling.
    static func string(_ s: String, _ rng: inout SplitMix, canonical: Bool, rarity: Int = 12) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            let other = !canonical && rng.below(rarity) == 0
            switch scalar {
            case "\"": out += other ? "\\u0022" : "\\\""
            case "\\": out += other ? "\\u005C" : "\\\\"
            case "\n": out += other ? "\\u000a" : "\\n"
            case "\r": out += other ? "\\u000D" : "\\r"
            case "\t": out += other ? "\\u0009" : "\\t"
            case "/": out += other ? "\\/" : "/"
            case "\u{8}": out += other ? "\\b" : "\\u0008"
            case "\u{C}": out += other ? "\\f" : "\\u000c"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                let padded = String(repeating: "0", count: 4 - hex.count) + hex
                out += "\\u" + (other ? padded.uppercased() : padded)
            case _ where other && scalar.value < 0x10000:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            case _ where other:
                let v = scalar.value - 0x10000
                out += "\\u" + String(0xD800 + (v >> 10), radix: 16) + "\\u" + String(0xDC00 + (v & 0x3FF), radix: 16)
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// One to three byte edits, mostly into invalid text.
    static func mutate(_ bytes: inout [UInt8], _ rng: inout SplitMix) {
        let interesting: [UInt8] = Array(#""\{}[],: 0-e.unt/A"#.utf8) + [0x80, 0xC3, 0xE2, 0xED, 0xF0, 0xF4, 0xFF, 0x00, 0x1F, 0x7F]
        for _ in 0...rng.below(3) {
            guard !bytes.isEmpty else { bytes.append(interesting[rng.below(interesting.count)]); continue }
            let i = rng.below(bytes.count)
            switch rng.below(3) {
            case 0: bytes[i] = interesting[rng.below(interesting.count)]
            case 1: bytes.insert(interesting[rng.below(interesting.count)], at: i)
            default: bytes.remove(at: i)
            }
        }
    }
}
