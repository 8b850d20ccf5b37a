import XCTest
import Foundation
@testable import AggregationKit

final class JSONSchemaTests: XCTestCase {
    /// Groups that need keywords outside our subset (listed in the test data's README).
    static let skippedGroups: Set<String> = [
        "additionalProperties being false does not allow other properties",
        "non-ASCII pattern with additionalProperties",
        "additionalProperties does not look in applicators",
        "additionalProperties with propertyNames",
        "dependentSchemas with additionalProperties",
        "items and subitems",
        "prefixItems with no additional items allowed",
        "prefixItems validation adjusts the starting index for items",
        "items with heterogeneous array",
        "items does not look in applicators, valid case",
        "properties, patternProperties, additionalProperties interaction",
    ]

    func testJSONSchemaTestSuite() throws {
        let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/json-schema-test-suite/draft2020-12")
        let files = ["type", "properties", "required", "items", "enum", "const", "additionalProperties", "minItems", "maxItems",
                     "minLength", "maxLength", "minimum", "maximum", "pattern", "optional/format/date-time"]
        var run = 0, skipped = 0
        for file in files {
            let groups = try JSONParser.parse(Array(Data(contentsOf: dir.appendingPathComponent("\(file).json"))))
            for group in groups.arrayValue! {
                let description = group["description"]!.stringValue!
                if Self.skippedGroups.contains(description) {
                    skipped += group["tests"]!.arrayValue!.count
                    continue
                }
                let schema: JSONSchema
                do {
                    schema = try JSONSchema(group["schema"]!)
                } catch {
                    XCTFail("\(file): \(description): \(error)")
                    continue
                }
                for test in group["tests"]!.arrayValue! {
                    let expected = test["valid"]!.boolValue!
                    XCTAssertEqual(schema.isValid(test["data"]!), expected, "\(file): \(description): \(test["description"]!.stringValue!)")
                    run += 1
                }
            }
        }
        XCTAssertEqual(run + skipped, 371)
        XCTAssertEqual(skipped, 39)
    }

    func testViolationsNameThePathAndKeyword() throws {
        let schema = try JSONSchema(try JSONParser.parse("""
        {"type": "object", "required": ["id", "items"], "additionalProperties": false,
         "properties": {"id": {"type": "integer", "minimum": 1},
                        "items": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {"sku": {"type": "string", "pattern": "^SKU-"}}}},
                        "at": {"type": "string", "format": "date-time"}, "kind": {"enum": ["a", "b"]}, "v": {"const": 2},
                        "name": {"type": ["string", "null"], "minLength": 2, "maxLength": 3}}}
        """))
        let bad = try JSONParser.parse(#"{"id": 0, "items": [{"sku": "X"}, {"sku": 1}, {}], "at": "2026-02-30T00:00:00Z", "kind": "c", "v": 3, "name": "abcd", "extra": true}"#)
        let found = schema.validate(bad).map(\.description)
        XCTAssertEqual(found, [
            "$.id: 0 is less than 1 (minimum)",
            "$.items: 3 items, at most 2 allowed (maxItems)",
            "$.items[0].sku: does not match /^SKU-/ (pattern)",
            "$.items[1].sku: expected string, found number (type)",
            "$.at: not an RFC 3339 date-time (format)",
            "$.kind: \"c\" is not one of the allowed values (enum)",
            "$.v: must equal 2 (const)",
            "$.name: length 4, at most 3 allowed (maxLength)",
            "$.extra: property 'extra' is not allowed (additionalProperties)",
        ])
        XCTAssertTrue(schema.isValid(try JSONParser.parse(#"{"id": 3, "items": [], "name": null}"#)))
        XCTAssertEqual(schema.validate(try JSONParser.parse(#"{"items": []}"#)).map(\.description), ["$: missing required property 'id' (required)"])
    }

    func testCompileErrors() {
        for (text, message) in [
            (#"{"type": "strng"}"#, "$.type: unknown type 'strng'"),
            (#"{"oneOf": []}"#, "$.oneOf: unsupported keyword 'oneOf'"),
            (#"{"properties": {"a": {"minLength": -1}}}"#, "$.properties.a.minLength: must be a non-negative integer"),
            (#"{"format": "email"}"#, "$.format: unsupported format 'email' (supported: date-time)"),
            (#"{"pattern": "("}"#, nil),
            ("3", "$: a schema must be an object or a boolean"),
        ] as [(String, String?)] {
            XCTAssertThrowsError(try JSONSchema(try JSONParser.parse(text))) { error in
                if let message { XCTAssertEqual("\(error)", message) }
            }
        }
    }
}
