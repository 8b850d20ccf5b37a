import XCTest
@testable import AggregationKit

/// Numbers compare by their exact decimal value, never through a Double: ids beyond 2^53 stay apart.
final class JSONNumberTests: XCTestCase {
    private func n(_ text: String) -> JSONValue { .number(JSONNumber(text: text)) }
    private func hash(_ v: JSONValue) -> Int { var h = Hasher(); h.combine(v); return h.finalize() }

    func testIntegersBeyondTwoToTheFiftyThreeStayApart() {
        XCTAssertNotEqual(n("9007199254740992"), n("9007199254740993"))
        XCTAssertNotEqual(n("-9007199254740992"), n("-9007199254740993"))
        XCTAssertNotEqual(n("123456789012345678901234567890"), n("123456789012345678901234567891"))
        XCTAssertNotEqual(n("18446744073709551616"), n("18446744073709551617"), "beyond UInt64 too")
        XCTAssertEqual(Set([n("9007199254740992"), n("9007199254740993"), n("9007199254740992.0")]).count, 2)
    }

    func testTheSameValueWrittenDifferentlyIsEqualWithEqualHashes() {
        let ones = ["1", "1.0", "1e0", "1E+0", "10e-1", "0.1e1", "100e-2", "1.000"]
        for a in ones {
            for b in ones {
                XCTAssertEqual(n(a), n(b), "\(a) == \(b)")
                XCTAssertEqual(hash(n(a)), hash(n(b)), "hash(\(a)) == hash(\(b))")
            }
        }
        XCTAssertEqual(n("-0"), n("0"))
        XCTAssertEqual(n("-0.0e5"), n("0"))
        XCTAssertEqual(hash(n("-0")), hash(n("0")))
        XCTAssertEqual(n("9007199254740993"), n("9007199254740993.000"))
        XCTAssertEqual(n("1200"), n("1.2e3"))
        XCTAssertEqual(n("0.1"), n("0.10"))
        XCTAssertNotEqual(n("1"), n("-1"))
        XCTAssertNotEqual(n("10"), n("1"))
        XCTAssertNotEqual(n("0.1"), n("0.01"))
    }

    func testFractionsCompareExactlyToo() {
        // Equal as Doubles, different as numbers: no rounding decides equality.
        XCTAssertNotEqual(n("0.1"), n("0.1000000000000000000001"))
        XCTAssertNotEqual(n("9007199254740992.5"), n("9007199254740992"))
    }

    func testOrderIsExact() {
        XCTAssertEqual(JSONNumber.compare(JSONNumber(text: "9007199254740993"), JSONNumber(text: "9007199254740992")), .greater)
        XCTAssertEqual(JSONNumber.compare(JSONNumber(text: "-9007199254740993"), JSONNumber(text: "-9007199254740992")), .less)
        XCTAssertEqual(JSONNumber.compare(JSONNumber(text: "1e2"), JSONNumber(text: "100.0")), .equal)
        XCTAssertEqual(JSONNumber.compare(JSONNumber(text: "-1"), JSONNumber(text: "0")), .less)
        XCTAssertEqual(JSONNumber.compare(JSONNumber(text: "0"), JSONNumber(text: "1e-400")), .less)
        XCTAssertEqual(JSONNumber.compare(JSONNumber(text: "1e400"), JSONNumber(text: "9e399")), .greater)
        XCTAssertEqual(JSONNumber.compare(JSONNumber(text: "0.5"), JSONNumber(text: "0.45")), .greater)
        XCTAssertEqual(JSONNumber.compare(JSONNumber(text: "12"), JSONNumber(text: "9")), .greater)
    }

    func testIntValueIsExact() {
        XCTAssertEqual(JSONNumber(text: "9223372036854775807").intValue, Int.max)
        XCTAssertEqual(JSONNumber(text: "-9223372036854775808").intValue, Int.min)
        XCTAssertNil(JSONNumber(text: "9223372036854775808").intValue)
        XCTAssertEqual(JSONNumber(text: "9007199254740993.0").intValue, 9007199254740993)
        XCTAssertEqual(JSONNumber(text: "1e3").intValue, 1000)
        XCTAssertEqual(JSONNumber(text: "-0").intValue, 0)
        XCTAssertNil(JSONNumber(text: "1.5").intValue)
        XCTAssertNil(JSONNumber(text: "1e19").intValue)
        XCTAssertNil(JSONNumber(text: "1e400").intValue)
    }

    func testTextIsKept() throws {
        let v = try JSONParser.parse("[9007199254740993,1.10,1e0]")
        XCTAssertEqual(JSONSerializer.string(v), "[9007199254740993,1.10,1e0]")
    }

    func testValuesHashConsistentlyWithEquality() throws {
        let a = try JSONParser.parse(#"{"id":1,"tags":["x",2.0],"n":null}"#)
        let b = try JSONParser.parse(#"{"n":null,"tags":["x",2],"id":1.0}"#)
        XCTAssertEqual(a, b)
        XCTAssertEqual(hash(a), hash(b))
        XCTAssertEqual(Set([a, b, try JSONParser.parse(#"{"id":2}"#)]).count, 2)
        let nfc = JSONValue.string("\u{E9}"), nfd = JSONValue.string("e\u{301}")
        XCTAssertEqual(Set([nfc, nfd]).count, 2, "strings hash by code points")
    }

    func testSchemaChecksBigIntegersExactly() throws {
        let const = try JSONSchema(try JSONParser.parse(#"{"const": 9007199254740993}"#))
        XCTAssertTrue(const.isValid(n("9007199254740993")))
        XCTAssertTrue(const.isValid(n("9007199254740993.0")))
        XCTAssertFalse(const.isValid(n("9007199254740992")))
        let enumSchema = try JSONSchema(try JSONParser.parse(#"{"enum": [9007199254740993, "x"]}"#))
        XCTAssertFalse(enumSchema.isValid(n("9007199254740992")))
        XCTAssertTrue(enumSchema.isValid(n("9007199254740993")))
        let max = try JSONSchema(try JSONParser.parse(#"{"maximum": 9007199254740992}"#))
        XCTAssertTrue(max.isValid(n("9007199254740992")))
        XCTAssertFalse(max.isValid(n("9007199254740993")))
        let min = try JSONSchema(try JSONParser.parse(#"{"minimum": -9007199254740992}"#))
        XCTAssertTrue(min.isValid(n("-9007199254740992")))
        XCTAssertFalse(min.isValid(n("-9007199254740993")))
        let integer = try JSONSchema(try JSONParser.parse(#"{"type": "integer"}"#))
        XCTAssertFalse(integer.isValid(n("9007199254740992.5")), "a fraction that rounds to an integer as a Double")
        XCTAssertTrue(integer.isValid(n("9007199254740993.0")))
        XCTAssertTrue(integer.isValid(n("1e400")))
        XCTAssertFalse(integer.isValid(n("1e-400")))
    }
}
