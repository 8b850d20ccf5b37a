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

    // MARK: Identity

    /// A contract folder in a temporary directory: gateway.json, one endpoint per entry, and the cases.
    private func folder(gateway: String, endpoints: [String], cases: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-ct-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("tests"), withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        try gateway.write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        for (i, e) in endpoints.enumerated() { try e.write(to: dir.appendingPathComponent("endpoints/e\(i).json"), atomically: true, encoding: .utf8) }
        try cases.write(to: dir.appendingPathComponent("tests/t.json"), atomically: true, encoding: .utf8)
        return dir
    }

    /// Two providers as gateway.json would hold them: `main` (ES256, the key of `mint`, standing in for
    /// the key file on disk) and `partner` (PS256, `at+jwt`, an audience), and an owner-or-admin endpoint
    /// of each that reads the subject from the token.
    private func identityFolder(mint: TokenMint, cases: String) throws -> URL {
        let rsa = try AsymmetricKey.generateRSA(bits: 2048)
        let rsaJWK = JSONSerializer.string(.object(JWK.publicJSON(for: try rsa.publicKey(), keyID: "r1", algorithm: .ps256)))
        return try folder(gateway: """
            {"services": {"s": {"instances": ["127.0.0.1:1"]}}, "routes": [],
             "auth": {"jwt": {"providers": {
                "main": {"keys": [{"jwk": \(mint.publicJWK)}], "issuers": ["\(TokenMint.issuer)"], "audiences": ["\(TokenMint.audience)"]},
                "partner": {"keys": [{"jwk": \(rsaJWK)}], "algorithms": ["PS256"], "issuers": ["https://partner.test"], "audiences": ["p"],
                            "type": "at+jwt"}}},
                      "roles": {"admin": {"permissions": ["all"]}}}}
            """, endpoints: ["""
            {"name": "user", "method": "GET", "path": "/users/{id}",
             "policy": {"auth": {"provider": "main", "require": [{"owner": {"param": "id"}}, {"roles": ["admin"]}]}},
             "calls": {"x": {"service": "s", "path": "/u/{claims.sub}"}}, "response": {"sub": "$claims.sub", "v": "$x.v"}}
            """, """
            {"name": "p", "method": "GET", "path": "/p", "policy": {"auth": {"provider": "partner", "require": {"scopes": ["orders:read"]}}},
             "calls": {"x": {"service": "s", "path": "/p/{claims.sub}"}}, "response": {"sub": "$claims.sub"}}
            """], cases: cases)
    }

    func testIdentityCasesSendATokenSignedForTheRun() async throws {
        let mint = try TokenMint()
        let stubs = #""stubs": {"s": [{"path": "/u/7", "body": {"v": 1}}, {"path": "/u/1", "body": {"v": 2}}, {"path": "/p/acme", "body": {}}]}"#
        let dir = try identityFolder(mint: mint, cases: """
            [{"name": "owner", "request": {"path": "/users/7"}, "identityProvider": "main", "identity": {"sub": "7", "roles": ["user"]}, \(stubs),
              "expect": {"status": 200, "body": {"sub": "7", "v": 1}}},
             {"name": "admin reads another user", "request": {"path": "/users/7"}, "identityProvider": "main", "identity": {"sub": "1", "roles": ["admin"]}, \(stubs),
              "expect": {"status": 200, "body": {"sub": "1", "v": 2}}},
             {"name": "another user", "request": {"path": "/users/7"}, "identityProvider": "main", "identity": {"sub": "8", "roles": ["user"]}, \(stubs),
              "expect": {"status": 403, "headers": {"WWW-Authenticate": "Bearer error=\\"insufficient_scope\\""}, "bodySubset": {"status": 403}}},
             {"name": "anonymous", "request": {"path": "/users/7"}, \(stubs),
              "expect": {"status": 401, "headers": {"WWW-Authenticate": "Bearer"}}},
             {"name": "expired (the case sets exp)", "request": {"path": "/users/7"}, "identityProvider": "main", "identity": {"sub": "7", "exp": 1000}, \(stubs),
              "expect": {"status": 401}},
             {"name": "second provider: its algorithm, type and audience", "request": {"path": "/p"}, "identityProvider": "partner",
              "identity": {"sub": "acme", "scope": "orders:read"}, \(stubs), "expect": {"status": 200, "body": {"sub": "acme"}}},
             {"name": "second provider: scope missing", "request": {"path": "/p"}, "identityProvider": "partner",
              "identity": {"sub": "acme"}, \(stubs), "expect": {"status": 403}},
             {"name": "a token of the main provider does not open the partner endpoint", "request": {"path": "/p"}, "identityProvider": "main",
              "identity": {"sub": "acme", "scope": "orders:read"}, \(stubs), "expect": {"status": 401}}]
            """)
        let summary = try await ContractTestRunner.run(directory: dir.path)
        XCTAssertEqual(summary.failed, 0, summary.report)
        XCTAssertEqual(summary.passed, 8, summary.report)
    }

    /// The keys configured on disk are replaced for the run: a token signed with the real key (here the
    /// test's, standing in for an issuer's) is refused, so no case can pass on a credential from outside.
    func testTheConfiguredKeysAreNotTrusted() async throws {
        let mint = try TokenMint()
        let real = try mint.token(claims: TokenMint.claims(sub: "7", exp: Int64(Date().timeIntervalSince1970) + 300))
        let dir = try identityFolder(mint: mint, cases: """
            [{"name": "a token of the configured key", "request": {"path": "/users/7", "headers": {"Authorization": "Bearer \(real)"}},
              "stubs": {"s": [{"path": "/u/7", "body": {"v": 1}}]}, "expect": {"status": 200}}]
            """)
        let summary = try await ContractTestRunner.run(directory: dir.path)
        XCTAssertEqual(summary.failed, 1, summary.report)
        XCTAssertTrue(summary.report.contains("status: expected 200, got 401"), summary.report)
    }

    func testIdentityMistakesAreConfigurationErrors() async throws {
        let mint = try TokenMint()
        let cases: [(String, String)] = [
            (#"{"name": "n", "request": {"path": "/p"}, "identity": {"sub": "1"}, "expect": {"status": 200}}"#,
             "$.identityProvider: required: several providers are configured (main, partner)"),
            (#"{"name": "n", "request": {"path": "/p"}, "identity": {"sub": "1"}, "identityProvider": "nobody", "expect": {"status": 200}}"#,
             "$.identityProvider: unknown provider 'nobody'"),
            (#"{"name": "n", "request": {"path": "/p"}, "identityProvider": "main", "expect": {"status": 200}}"#,
             "$.identityProvider: only with identity"),
            (#"{"name": "n", "request": {"path": "/p", "headers": {"authorization": "Bearer x"}}, "identity": {"sub": "1"}, "identityProvider": "main", "expect": {}}"#,
             "$.identity: the request sets Authorization or X-API-Key itself"),
            (#"{"name": "n", "request": {"path": "/p"}, "identity": "7", "identityProvider": "main", "expect": {}}"#, "$.identity: "),
        ]
        for (text, expected) in cases {
            let dir = try identityFolder(mint: mint, cases: text)
            do {
                _ = try await ContractTestRunner.run(directory: dir.path)
                XCTFail("\(text) must be refused")
            } catch let error as ConfigurationError {
                XCTAssertTrue(error.issues.contains { "\($0.path): \($0.reason)".hasPrefix(expected) }, "\(expected) not in \(error)")
            }
        }
        // No provider at all.
        let dir = try folder(gateway: #"{"services": {"s": {"instances": ["127.0.0.1:1"]}}, "routes": []}"#, endpoints: [],
                             cases: #"{"name": "n", "request": {"path": "/p"}, "identity": {"sub": "1"}, "expect": {}}"#)
        do {
            _ = try await ContractTestRunner.run(directory: dir.path)
            XCTFail("identity without a provider must be refused")
        } catch let error as ConfigurationError {
            XCTAssertTrue(error.description.contains("configures no JWT provider"), error.description)
        }
    }
}
