import XCTest
import Foundation
@testable import AggregationKit

final class ContractTestRunnerTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testShippedContractTestsPass() async throws {
        for client in ["web", "mobile", "partner"] {
            let summary = try await ContractTestRunner.run(directory: Self.root.appendingPathComponent("contracts/\(client)").path)
            XCTAssertEqual(summary.failed, 0, summary.report)
            XCTAssertGreaterThanOrEqual(summary.passed, 3, client)
        }
    }

    func testADifferenceIsReportedByJSONPath() throws {
        let expected = try JSONParser.parse(#"{"a":{"b":[1,2,{"c":true}]},"d":"x","e":null}"#)
        let actual = try JSONParser.parse(#"{"a":{"b":[1,3,{"c":"true"}]},"f":1,"e":null}"#)
        XCTAssertEqual(ContractTestRunner.diff(expected, actual, at: "$"), [
            "$.a.b[1]: expected 2, got 3",
            "$.a.b[2].c: expected boolean true, got string \"true\"",
            "$.d: missing (expected \"x\")",
            "$.f: unexpected (got 1)",
        ])
        XCTAssertEqual(ContractTestRunner.diff(expected, actual, at: "$", allowExtra: true).count, 3)
    }

    func testAFailingCaseFailsTheRun() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-ct-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("tests"), withIntermediateDirectories: true)
        try #"{"services": {"s": {"instances": ["127.0.0.1:1"]}}, "routes": []}"#.write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        try #"{"name": "e", "method": "GET", "path": "/e", "calls": {"x": {"service": "s", "path": "/x"}}, "response": {"v": "$x.v"}, "schema": {"type": "object", "properties": {"v": {"type": "integer"}}}}"#
            .write(to: dir.appendingPathComponent("endpoints/e.json"), atomically: true, encoding: .utf8)
        try #"[{"name": "wrong value", "request": {"path": "/e"}, "stubs": {"s": [{"path": "/x", "body": {"v": 2}}]}, "expect": {"status": 200, "body": {"v": 3}}},"#
            .appending(#" {"name": "schema broken", "request": {"path": "/e"}, "stubs": {"s": [{"path": "/x", "body": {"v": "two"}}]}, "expect": {"schemaOnly": true}}]"#)
            .write(to: dir.appendingPathComponent("tests/t.json"), atomically: true, encoding: .utf8)
        let summary = try await ContractTestRunner.run(directory: dir.path)
        XCTAssertEqual(summary.passed, 0)
        XCTAssertEqual(summary.failed, 2)
        XCTAssertTrue(summary.report.contains("$.v: expected 3, got 2"), summary.report)
        XCTAssertTrue(summary.report.contains("schema: $.v: expected integer, found string (type)"), summary.report)
        XCTAssertTrue(summary.report.hasSuffix("0 passed, 2 failed\n"))
    }
}
