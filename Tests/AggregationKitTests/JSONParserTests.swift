import XCTest
import Foundation
@testable import AggregationKit

final class JSONParserTests: XCTestCase {
    private func suiteFiles(_ folder: String) throws -> [(String, [UInt8])] {
        let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/json-test-suite/\(folder)")
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map { name in
            (name, Array(try Data(contentsOf: dir.appendingPathComponent(name))))
        }
    }

    /// JSONTestSuite: every y_ accepted, every n_ rejected (including 100 000 nested arrays, by the depth limit).
    func testJSONTestSuiteMustAcceptAndMustReject() throws {
        let files = try suiteFiles("test_parsing")
        var checked = 0
        for (name, bytes) in files {
            if name.hasPrefix("y_") {
                XCTAssertNoThrow(try JSONParser.parse(bytes), name)
                checked += 1
            } else if name.hasPrefix("n_") {
                XCTAssertThrowsError(try JSONParser.parse(bytes), name)
                checked += 1
            }
        }
        XCTAssertEqual(checked, 95 + 188)
    }

    /// The implementation-defined cases: our verdict on each, pinned so a change shows up in review.
    func testJSONTestSuiteImplementationDefinedVerdicts() throws {
        let accepted: Set<String> = [
            // Numbers are kept as text: any size or precision is accepted and round-trips unchanged.
            "i_number_double_huge_neg_exp.json", "i_number_huge_exp.json", "i_number_neg_int_huge_exp.json",
            "i_number_pos_double_huge_exp.json", "i_number_real_neg_overflow.json", "i_number_real_pos_overflow.json",
            "i_number_real_underflow.json", "i_number_too_big_neg_int.json", "i_number_too_big_pos_int.json",
            "i_number_very_big_negative_int.json",
            // 500 levels are within the limit of 512.
            "i_structure_500_nested_arrays.json",
        ]
        for (name, bytes) in try suiteFiles("test_parsing") where name.hasPrefix("i_") {
            // Everything else is rejected: invalid UTF-8, lone surrogates, UTF-16 and byte order marks.
            if accepted.contains(name) {
                XCTAssertNoThrow(try JSONParser.parse(bytes), name)
            } else {
                XCTAssertThrowsError(try JSONParser.parse(bytes), name)
            }
        }
    }

    func testTransformCasesRoundTripExactly() throws {
        for (name, bytes) in try suiteFiles("test_transform") {
            guard let value = try? JSONParser.parse(bytes) else {
                XCTAssertTrue(name.contains("invalid_codepoint"), "\(name) should parse")
                continue
            }
            let again = try JSONParser.parse(JSONSerializer.serialize(value))
            XCTAssertEqual(again, value, name)
            if name.hasPrefix("number_") {
                let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                XCTAssertEqual(JSONSerializer.string(value), text, "\(name): numbers keep their exact text")
            }
        }
    }

    /// The word-at-a-time string scan: any byte that needs the byte loop (quote, backslash, control, non-ASCII)
    /// in any of the eight positions flags the word; a word of plain printable ASCII never does.
    func testWordScanFlagsEveryByteThatNeedsALook() {
        let plain = Array("abcdefgh".utf8)
        func word(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) } }
        XCTAssertFalse(JSONParser.mayNeedALook(word(plain)))
        for b in UInt8(0x20)...0x7E where b != 0x22 && b != 0x5C {
            XCTAssertFalse(JSONParser.mayNeedALook(word([UInt8](repeating: b, count: 8))), "byte \(b)")
        }
        for special: UInt8 in [0x22, 0x5C, 0x00, 0x01, 0x09, 0x0A, 0x1F, 0x80, 0xC3, 0xFF] {
            for position in 0..<8 {
                var bytes = plain
                bytes[position] = special
                XCTAssertTrue(JSONParser.mayNeedALook(word(bytes)), "byte \(special) at \(position)")
            }
        }
    }

    /// Strings of every length up to 40 with an escape, a non-ASCII character or a control byte at every
    /// position: the same value or the same error as the byte-by-byte reading.
    func testStringsAroundWordBoundariesParseAsBefore() throws {
        for length in 0...40 {
            let base = String((0..<length).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
            XCTAssertEqual(try JSONParser.parse("\"\(base)\"").stringValue, base)
            XCTAssertEqual(try JSONParser.parse("{\"\(base)\":1}").objectValue?.keys, [base])
            for position in 0..<length {
                var chars = Array(base)
                chars[position] = "\u{e9}"
                XCTAssertEqual(try JSONParser.parse("\"\(String(chars))\"").stringValue, String(chars))
                var escaped = base
                escaped.insert(contentsOf: "\\n", at: escaped.index(escaped.startIndex, offsetBy: position))
                XCTAssertEqual(try JSONParser.parse("\"\(escaped)\"").stringValue,
                               String(base.prefix(position)) + "\n" + String(base.dropFirst(position)))
                var control = Array(base.utf8)
                control[position] = 0x01
                XCTAssertThrowsError(try JSONParser.parse([0x22] + control + [0x22]), "control byte at \(position)")
                var unterminated = Array(base.utf8)
                unterminated.insert(0x22, at: 0)
                XCTAssertThrowsError(try JSONParser.parse(unterminated), "no closing quote")
            }
        }
    }

    /// Lists of records of changing shape at several depths (the parser reserves what the last object or
    /// array at the same depth held): every value as written.
    func testRecordsOfChangingShapeParseExactly() throws {
        var records: [String] = []
        for i in 0..<40 {
            let members = (0..<(i * 7 % 23)).map { "\"k\($0)\":[\((0..<($0 % 5)).map(String.init).joined(separator: ","))]" }
            records.append("{" + members.joined(separator: ",") + "}")
        }
        let text = "{\"items\":[" + records.joined(separator: ",") + "],\"deep\":[[[[[[[[[[1,2],[3]]]]]]]]]]}"
        let value = try JSONParser.parse(text)
        XCTAssertEqual(JSONSerializer.string(value), text)
        let items = try XCTUnwrap(value["items"]?.arrayValue)
        XCTAssertEqual(items.count, 40)
        for (i, item) in items.enumerated() {
            XCTAssertEqual(item.objectValue?.count, i * 7 % 23)
            for (j, entry) in (item.objectValue?.entries ?? []).enumerated() {
                XCTAssertEqual(entry.key, "k\(j)")
                XCTAssertEqual(entry.value.arrayValue?.count, j % 5)
            }
        }
    }

    func testNumbersKeepTheirText() throws {
        let text = #"{"id":9007199254740993,"price":1.10,"tiny":1e-999,"neg":-0}"#
        XCTAssertEqual(JSONSerializer.string(try JSONParser.parse(text)), text)
    }

    func testKeyOrderAndDuplicateKeys() throws {
        let v = try JSONParser.parse(#"{"b":1,"a":2,"b":3}"#)
        XCTAssertEqual(v.objectValue?.keys, ["b", "a"], "one member per key, where it first appeared")
        XCTAssertEqual(v["b"], .number(JSONNumber(3)), "with the last value")
        XCTAssertEqual(JSONSerializer.string(v), #"{"b":3,"a":2}"#, "no stage and no client can see the other copy")
        let nested = try JSONParser.parse(#"{"o":{"x":1,"x":2},"o":{"y":1,"y":2,"y":3}}"#)
        XCTAssertEqual(JSONSerializer.string(nested), #"{"o":{"y":3}}"#)
        // A large object goes through the indexed path.
        let many = "{" + (0..<40).map { "\"k\($0 % 20)\":\($0)" }.joined(separator: ",") + "}"
        let collapsed = try XCTUnwrap(try JSONParser.parse(many).objectValue)
        XCTAssertEqual(collapsed.keys, (0..<20).map { "k\($0)" })
        XCTAssertEqual(collapsed["k3"], .number(JSONNumber(23)))
        // Keys that differ only in Unicode normalization are different keys.
        XCTAssertEqual(try JSONParser.parse("{\"\u{E9}\":1,\"e\u{301}\":2}").objectValue?.count, 2)
    }

    func testDuplicateKeysCanBeRefused() throws {
        XCTAssertThrowsError(try JSONParser.parse(#"{"a":1,"b":{"c":1,"c":2}}"#, duplicateKeys: .reject)) { error in
            XCTAssertEqual((error as? JSONParser.Error)?.offset, 18, "where the second key starts")
            XCTAssertEqual((error as? JSONParser.Error)?.reason, "duplicate key \"c\"")
        }
        XCTAssertNoThrow(try JSONParser.parse(#"{"a":{"c":1},"b":{"c":2}}"#, duplicateKeys: .reject))
        // Large objects are checked with a set of their keys: same verdicts, same offsets.
        for duplicate in [0, 15, 16, 39] {
            let members = (0..<40).map { "\"k\($0)\":\($0)" } + ["\"k\(duplicate)\":0"]
            let text = "{" + members.joined(separator: ",") + "}"
            XCTAssertThrowsError(try JSONParser.parse(text, duplicateKeys: .reject)) { error in
                XCTAssertEqual((error as? JSONParser.Error)?.offset, text.utf8.count - "\"k\(duplicate)\":0}".utf8.count)
                XCTAssertEqual((error as? JSONParser.Error)?.reason, "duplicate key \"k\(duplicate)\"")
            }
        }
        let distinct = (0..<40).map { "\"k\($0)\":\($0)" } + [#""\u00e9":1"#, #""e\u0301":2"#]
        XCTAssertEqual(try JSONParser.parse("{" + distinct.joined(separator: ",") + "}", duplicateKeys: .reject).objectValue?.count, 42, "NFC and NFD keys differ")
    }

    func testObjectEditsKeepOneMemberPerKey() {
        var o = JSONObject([(key: "a", value: .null), (key: "b", value: .bool(true))])
        o.renameKey("a", to: "b")
        XCTAssertEqual(JSONSerializer.string(.object(o)), #"{"b":null}"#, "the renamed member replaces the one it lands on")
        o["c"] = .bool(false)
        o.removeValue(forKey: "b")
        XCTAssertEqual(JSONSerializer.string(.object(o)), #"{"c":false}"#)
    }

    /// Objects parsed from an array keep their text for the serializer only where it is exactly what the
    /// serializer writes: the output is the same as from a tree that kept no text, for every fixture.
    func testSerializingParsedObjectsIsTheSameWithOrWithoutTheirText() throws {
        func withoutText(_ bytes: [UInt8]) throws -> JSONValue {
            try bytes.withUnsafeBytes { raw throws(JSONParser.Error) in try JSONParser.parse(raw) }  // no document to keep
        }
        var documents = try (suiteFiles("test_parsing") + suiteFiles("test_transform")).map(\.1)
        documents += [
            #"{"a":1,"b":[true,null,{"c":"d"}],"e":{}}"#, #"{ "a":1}"#, #"{"a" :1}"#, #"{"a":[1, 2]}"#, "{\"a\":{\"b\":1}\n}",
            #"{"a":"\u0041"}"#, #"{"\u0061":1}"#, #"{"a":"\/"}"#, #"{"a":"x\ny"}"#, #"{"a":1,"a":2}"#, #"{"o":{"x":1,"x":2}}"#,
            #"{"é":"ü😀"}"#, #"{"n":-0.10e+5}"#, #" {"a":1} "#, #"[{"a":1}, {"b":2}]"#,
        ].map { Array($0.utf8) }
        var compared = 0
        for bytes in documents {
            guard let value = try? JSONParser.parse(bytes) else { continue }
            XCTAssertEqual(JSONSerializer.string(value), JSONSerializer.string(try withoutText(bytes)), String(decoding: bytes, as: UTF8.self))
            compared += 1
        }
        XCTAssertGreaterThan(compared, 100)
        // Which objects keep their text.
        func text(_ s: String) throws -> Bool { try XCTUnwrap(JSONParser.parse(s).objectValue).canonicalText != nil }
        XCTAssertTrue(try text(#"{"a":1,"b":[true,null,{"c":"d"}],"é":"ü"}"#))
        XCTAssertTrue(try text(#" {"a":1} "#), "whitespace outside the object is not part of it")
        for irregular in [#"{ "a":1}"#, #"{"a":[1, 2]}"#, #"{"a":"\u0041"}"#, #"{"\u0061":1}"#, #"{"a":"\/"}"#, #"{"a":1,"a":2}"#, #"{"a":{"x":1,"x":2}}"#] {
            XCTAssertFalse(try text(irregular), irregular)
        }
        let nested = try JSONParser.parse(#"{"a":{"b":1}, "c":{"d":2}}"#)
        XCTAssertNil(nested.objectValue?.canonicalText)
        XCTAssertNotNil(nested["a"]?.objectValue?.canonicalText, "a nested object's own text is regular")
    }

    /// Any change to a parsed object drops its text: the serializer writes the members as they are now.
    func testEditsOfAParsedObjectAreSerialized() throws {
        var o = try XCTUnwrap(JSONParser.parse(#"{"a":{"b":1},"c":2,"d":3}"#).objectValue)
        var inner = try XCTUnwrap(o["a"]?.objectValue)
        inner["b"] = .bool(true)
        o["a"] = .object(inner)
        XCTAssertEqual(JSONSerializer.string(.object(o)), #"{"a":{"b":true},"c":2,"d":3}"#)
        o.renameKey("c", to: "e")
        XCTAssertEqual(JSONSerializer.string(.object(o)), #"{"a":{"b":true},"e":2,"d":3}"#)
        var p = try XCTUnwrap(JSONParser.parse(#"{"a":1,"b":2}"#).objectValue)
        p.removeValue(forKey: "a")
        XCTAssertEqual(JSONSerializer.string(.object(p)), #"{"b":2}"#)
        var q = try XCTUnwrap(JSONParser.parse(#"{"a":1}"#).objectValue)
        q["z"] = .null
        XCTAssertEqual(JSONSerializer.string(.object(q)), #"{"a":1,"z":null}"#)
        // A copy made before the edit keeps the old text, and the old members.
        let before = try XCTUnwrap(JSONParser.parse(#"{"a":1}"#).objectValue)
        var after = before
        after["a"] = .number(JSONNumber(2))
        XCTAssertEqual(JSONSerializer.string(.object(before)), #"{"a":1}"#)
        XCTAssertEqual(JSONSerializer.string(.object(after)), #"{"a":2}"#)
    }

    /// Escapes as the serializer writes them, into a fresh buffer and appended to a log line's bytes.
    func testSerializerEscapes() {
        let s = "q\"b\\n\nr\rt\tb\u{8}f\u{C}c\u{1F}d\u{7F}é"
        let expected = #""q\"b\\n\nr\rt\tb\u0008f\u000cc\u001fd"# + "\u{7F}é\""
        XCTAssertEqual(JSONSerializer.string(.string(s)), expected)
        XCTAssertEqual(JSONSerializer.string(.array([.string(s), .object(JSONObject([(key: s, value: .null)]))])), "[\(expected),{\(expected):null}]")
        var line: [UInt8] = Array("x=".utf8)
        JSONSerializer.writeString(s, into: &line)
        XCTAssertEqual(String(decoding: line, as: UTF8.self), "x=" + expected)
        var into: [UInt8] = [1]
        JSONSerializer.write(.array([.null, .bool(false), .number(JSONNumber(3))]), into: &into)
        XCTAssertEqual(into, [1] + Array("[null,false,3]".utf8))
    }

    func testEscapesAndSurrogatePairs() throws {
        let v = try JSONParser.parse(#"["\u00e9\ud83d\ude00\n\t\"\\\/\u0000"]"#)
        XCTAssertEqual(v.arrayValue?.first?.stringValue, "é😀\n\t\"\\/\u{0}")
        XCTAssertEqual(JSONSerializer.string(v), "[\"é😀\\n\\t\\\"\\\\/\\u0000\"]")
        XCTAssertThrowsError(try JSONParser.parse(#"["\ud83d"]"#))
        XCTAssertThrowsError(try JSONParser.parse(#"["\ude00"]"#))
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]), "invalid UTF-8")
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xED, 0xA0, 0x80, 0x22]), "encoded surrogate")
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xC0, 0xAF, 0x22]), "overlong")
    }

    func testDepthLimit() {
        let deep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        XCTAssertThrowsError(try JSONParser.parse(deep)) { error in
            XCTAssertTrue("\(error)".contains("nesting deeper than 512"))
        }
        let ok = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        XCTAssertNoThrow(try JSONParser.parse(ok))
        XCTAssertNoThrow(try JSONParser.parse(String(repeating: "[", count: 10) + String(repeating: "]", count: 10), maxDepth: 10))
        XCTAssertThrowsError(try JSONParser.parse(String(repeating: "[", count: 11) + String(repeating: "]", count: 11), maxDepth: 10))
    }

    func testInvalidInputsThrowWithOffsets() {
        for bad in ["", " ", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "tru", "nul", "\"abc", "[1 2]", "{\"a\" 1}", "1 2", "\u{FEFF}1"] {
            XCTAssertThrowsError(try JSONParser.parse(bad), bad.debugDescription)
        }
    }
}

final class JSONValueTests: XCTestCase {
    func testKeysAndStringsCompareByCodePoints() throws {
        let nfc = "\u{E9}", nfd = "e\u{301}"
        XCTAssertNotEqual(JSONValue.string(nfc), JSONValue.string(nfd))
        let o = try JSONParser.parse("{\"\(nfc)\":1,\"\(nfd)\":2}")
        XCTAssertEqual(o[nfc], .number(JSONNumber(1)))
        XCTAssertEqual(o[nfd], .number(JSONNumber(2)))
    }

    func testNumbersCompareByValueAndObjectsIgnoreOrder() throws {
        XCTAssertEqual(try JSONParser.parse("1"), try JSONParser.parse("1.0"))
        XCTAssertEqual(try JSONParser.parse(#"{"a":1,"b":[true,null]}"#), try JSONParser.parse(#"{"b":[true,null],"a":1}"#))
        XCTAssertNotEqual(try JSONParser.parse("0"), try JSONParser.parse("false"))
    }
}
