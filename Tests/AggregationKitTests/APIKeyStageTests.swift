import XCTest
import Foundation
@testable import AggregationKit

/// The API key stage on a real loop driven by a `ManualClock`, over a real key file: every refusal
/// class, the expiry boundary, scopes, what reaches the responder, and revocation seen at the next
/// look at the file (at most `reloadInterval` of the loop's clock later).
final class APIKeyStageTests: XCTestCase {
    var clock: ManualClock!
    var harness: StageHarness!
    var directory: URL!
    var store: APIKeyFileStore!
    let t0 = manualClockStartSeconds

    override func setUpWithError() throws {
        clock = ManualClock()
        harness = try StageHarness(clock: clock, logging: .disabled)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bff-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = APIKeyFileStore(path: directory.appendingPathComponent("keys.json").path)
    }

    override func tearDown() {
        harness?.close()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// Adds a key to the store and returns it (and its id).
    func makeKey(partner: String = "acme", tier: String = "gold", scopes: [String] = ["orders:read"], expires: Int64? = nil,
                 status: APIKeyRecord.Status = .active) throws -> (key: String, id: String) {
        let made = try APIKeyFormat.generate()
        try store.add(APIKeyRecord(id: made.id, digest: made.digest, partner: partner, tier: tier, scopes: scopes, created: t0,
                                   expires: expires, status: status))
        return (made.key, made.id)
    }

    /// Copies the tier from the context into a header, to see what later stages get.
    struct TierProbe: RequestStage {
        var name: String { "probe" }
        func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
            if let tier = context.storage[APIKeyTier.self] { request.headers.add("X-Seen-Tier", tier) }
            return .proceed
        }
    }

    func run(_ headers: [(String, String)], require: [[String]] = []) -> StageHarness.Outcome {
        harness.run([APIKeyStage(policy: APIKeyPolicy(store: store, require: require)), TierProbe()], makeRequest("GET", "/r", headers))
    }

    func assertRefused(_ outcome: StageHarness.Outcome, _ code: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(outcome.response.status, 401, outcome.response.text, file: file, line: line)
        XCTAssertEqual(outcome.response.problemCode, code, file: file, line: line)
        XCTAssertEqual(outcome.response.headers.values("WWW-Authenticate"), ["ApiKey"], file: file, line: line)
        XCTAssertNil(outcome.forwarded, file: file, line: line)
    }

    func testKeyFormatAndStoredDigestOnly() throws {
        let (key, id) = try makeKey()
        XCTAssertTrue(key.hasPrefix("bffk_"))
        XCTAssertEqual(key.utf8.count, 48)
        XCTAssertTrue(id.hasPrefix("key_"))
        let text = try String(contentsOfFile: store.path, encoding: .utf8)
        XCTAssertFalse(text.contains(key), "the key is stored in clear")
        XCTAssertFalse(text.contains(String(key.dropFirst(5))))
        XCTAssertTrue(text.contains(APIKeyFormat.digestHex(Array(key.utf8))))
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: store.path)[.posixPermissions] as? Int)
        XCTAssertEqual(mode, 0o600)
        XCTAssertEqual(try store.records().map(\.id), [id])
        XCTAssertNotEqual(try APIKeyFormat.generate().key, try APIKeyFormat.generate().key)
    }

    func testValidKeyFillsIdentityAndTierAndIsNotForwarded() throws {
        let (key, id) = try makeKey(scopes: ["orders:read", "orders:write"])
        for fields in [[("X-API-Key", key)], [("Authorization", "ApiKey \(key)")], [("authorization", "apikey   \(key)  ")]] {
            let outcome = run(fields + [("X-Other", "1")])
            XCTAssertEqual(outcome.response.status, 200, outcome.response.text)
            XCTAssertEqual(outcome.identity.principal, "acme")
            XCTAssertEqual(outcome.identity.scopes, ["orders:read", "orders:write"])
            XCTAssertEqual(outcome.identity.claims["tier"], .string("gold"))
            XCTAssertEqual(outcome.identity.claims["keyId"], .string(id))
            let forwarded = try XCTUnwrap(outcome.forwarded)
            XCTAssertEqual(forwarded.headers.values("X-Seen-Tier"), ["gold"])
            XCTAssertEqual(forwarded.headers.values("X-API-Key"), [])
            XCTAssertEqual(forwarded.headers.values("Authorization"), [])
            XCTAssertEqual(forwarded.headers.values("X-Other"), ["1"])
        }
    }

    func testRefusals() throws {
        let (key, _) = try makeKey()
        let (revoked, _) = try makeKey(status: .revoked)
        assertRefused(run([]), "authentication_required")
        assertRefused(run([("Authorization", "Bearer abc")]), "authentication_required")
        assertRefused(run([("X-API-Key", key), ("X-API-Key", key)]), "invalid_api_key")
        assertRefused(run([("X-API-Key", key), ("Authorization", "ApiKey \(key)")]), "invalid_api_key")
        assertRefused(run([("X-API-Key", revoked)]), "invalid_api_key")
        assertRefused(run([("X-API-Key", "bffk_" + String(repeating: "A", count: 43))]), "invalid_api_key")
        assertRefused(run([("X-API-Key", String(key.dropLast()))]), "invalid_api_key")
        assertRefused(run([("X-API-Key", key + "A")]), "invalid_api_key")
        assertRefused(run([("X-API-Key", "")]), "invalid_api_key")
        // The answers do not tell a revoked key from an unknown one.
        XCTAssertEqual(run([("X-API-Key", revoked)]).response.body, run([("X-API-Key", "bffk_" + String(repeating: "B", count: 43))]).response.body.map { $0 })
    }

    func testExpiryBoundaryOnTheLoopClock() throws {
        let (key, _) = try makeKey(expires: t0 + 100)
        clock.setWallClock(nanoseconds: (t0 + 99) * 1_000_000_000)
        XCTAssertEqual(run([("X-API-Key", key)]).response.status, 200)
        clock.setWallClock(nanoseconds: (t0 + 100) * 1_000_000_000)
        assertRefused(run([("X-API-Key", key)]), "invalid_api_key")
    }

    func testScopesRequirement() throws {
        let (key, _) = try makeKey(scopes: ["orders:read"])
        XCTAssertEqual(run([("X-API-Key", key)], require: [["orders:read"]]).response.status, 200)
        XCTAssertEqual(run([("X-API-Key", key)], require: [["orders:write"], ["orders:read"]]).response.status, 200)
        let denied = run([("X-API-Key", key)], require: [["orders:read", "orders:write"]])
        XCTAssertEqual(denied.response.status, 403)
        XCTAssertEqual(denied.response.problemCode, "insufficient_scope")
        XCTAssertNil(denied.forwarded)
    }

    /// The loop looks at the file at most every 200 ms of its clock: a revocation is seen at the first
    /// request after that, not before (the stat is what bounds the hot path's cost).
    func testRevocationSeenAtTheNextLookAtTheFile() throws {
        let (key, id) = try makeKey()
        let stage = APIKeyStage(policy: APIKeyPolicy(store: store))
        func status() -> Int { harness.run([stage], makeRequest("GET", "/r", [("X-API-Key", key)])).response.status }
        XCTAssertEqual(status(), 200)
        try store.update(id: id) { $0.status = .revoked }
        clock.advance(by: 100_000_000)
        XCTAssertEqual(status(), 200, "looked at the file before the interval")
        clock.advance(by: 150_000_000)
        XCTAssertEqual(status(), 401)
        // A key added by another writer is taken up the same way.
        let (added, _) = try makeKey()
        clock.advance(by: 250_000_000)
        XCTAssertEqual(harness.run([stage], makeRequest("GET", "/r", [("X-API-Key", added)])).response.status, 200)
    }

    /// An unreadable key file refuses every key (fail closed), it never keeps the last good set.
    func testCorruptFileRefusesEveryKey() throws {
        let (key, _) = try makeKey()
        let stage = APIKeyStage(policy: APIKeyPolicy(store: store))
        XCTAssertEqual(harness.run([stage], makeRequest("GET", "/r", [("X-API-Key", key)])).response.status, 200)
        try Data("{\"version\": 1, \"keys\": [".utf8).write(to: URL(fileURLWithPath: store.path))
        clock.advance(by: 250_000_000)
        XCTAssertEqual(harness.run([stage], makeRequest("GET", "/r", [("X-API-Key", key)])).response.status, 401)
        XCTAssertNotNil(store.currentSnapshot().failure)
    }

    func testConfiguration() throws {
        let path = store.path
        func parse(_ auth: String, _ policy: String) -> Result<GatewayConfiguration, ConfigurationError> {
            Result { () throws(ConfigurationError) in
                try GatewayConfiguration.parse(Array("""
                {"listen": {"port": 0}, "services": {"s": {"instances": ["127.0.0.1:1"]}}, "auth": \(auth),
                 "routes": [{"name": "r", "path": "/r", "proxy": {"service": "s"}, "policy": {"auth": \(policy)}}]}
                """.utf8), file: "t.json")
            }
        }
        let ok = try parse(#"{"apiKeys": {"file": "\#(path)", "reloadIntervalMs": 100}}"#, #"{"apiKey": true, "require": {"scopes": ["a"]}}"#).get()
        XCTAssertEqual(ok.auth.apiKeys?.fileStore?.path, path)
        XCTAssertEqual(ok.auth.apiKeys?.fileStore?.reloadInterval, 100_000_000)
        func issues(_ auth: String, _ policy: String) -> String {
            guard case .failure(let e) = parse(auth, policy) else { return "" }
            return e.issues.map { "\($0)" }.joined(separator: "\n")
        }
        XCTAssertTrue(issues("{}", #"{"apiKey": true}"#).contains("configure auth.apiKeys"))
        XCTAssertTrue(issues(#"{"apiKeys": {"file": "\#(path)", "x": 1}}"#, "null").contains("x"))
        XCTAssertTrue(issues(#"{"apiKeys": {"reloadIntervalMs": 5000}}"#, "null").contains("reloadIntervalMs"))
        XCTAssertTrue(issues(#"{"apiKeys": {"file": "\#(path)"}}"#, #"{"apiKey": true, "require": {"roles": ["a"]}}"#).contains("roles"))
        XCTAssertTrue(issues(#"{"apiKeys": {"file": "\#(path)"}}"#, #"{"apiKey": true, "require": []}"#).contains("require"))
        XCTAssertTrue(issues(#"{"apiKeys": {"file": "\#(path)"}}"#, #"{"apiKey": false}"#).contains("apiKey"))
        try Data("not json".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertTrue(issues(#"{"apiKeys": {"file": "\#(path)"}}"#, "null").contains("auth.apiKeys.file"))
    }
}
