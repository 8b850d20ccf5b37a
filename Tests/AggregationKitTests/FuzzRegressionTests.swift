import Foundation
import XCTest
@testable import AggregationKit

/// Inputs the fuzzers (`scripts/fuzz.sh`) found crashing or misbehaving, kept as plain tests. The raw inputs
/// are also in `Fixtures/fuzz-regressions/<target>/`, which `scripts/fuzz.sh` replays before fuzzing.
final class FuzzRegressionTests: XCTestCase {
    private func fixture(_ name: String) throws -> [UInt8] {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/fuzz-regressions/\(name)")
        return Array(try Data(contentsOf: url))
    }

    /// Found by the `config` fuzzer: an endpoint naming a call twice (a duplicate JSON key) trapped in
    /// `Dictionary(uniqueKeysWithValues:)`, so the gateway died at start instead of listing the problem.
    func testAnEndpointCallNamedTwiceIsAConfigurationIssueNotACrash() throws {
        let bytes = try fixture("config/endpoint-call-named-twice.json")
        switch GatewayConfiguration.compileEndpoint(bytes, file: "dup.json", services: ["users"]) {
        case .success:
            XCTFail("an endpoint with a call named twice was accepted")
        case .failure(let error):
            XCTAssertEqual(error.issues.map(\.description), ["dup.json: $: invalid JSON at line 3, column 14: duplicate key \"user\""])
        }
    }

    /// The same rule everywhere in a configuration: a key written twice is an error, not "the last one wins".
    func testAKeyWrittenTwiceInGatewayJSONIsAnIssue() {
        let json = """
        {"services": {"a": {"instances": ["127.0.0.1:81"]}, "a": {"instances": ["127.0.0.1:82"]}},
         "limits": {"maxBodyBytes": 10, "maxBodyBytes": 20}}
        """
        do {
            _ = try GatewayConfiguration.parse(Array(json.utf8), file: "gateway.json")
            XCTFail("accepted")
        } catch {
            // The parser refuses configuration files with duplicate keys and says where the first one is.
            XCTAssertEqual(error.issues.map(\.description), ["gateway.json: $: invalid JSON at line 1, column 53: duplicate key \"a\""])
        }
    }
}
