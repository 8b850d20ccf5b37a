import XCTest
import Foundation
@testable import AggregationKit

/// Partner API keys over real sockets and through the real executable: two gateways in this process
/// share one key file (a revocation by the store is refused by the other within a second), the key
/// never reaches the downstream, and `BFFPartner keys …` manages the file the gateway reads.
final class APIKeyIntegrationTests: XCTestCase {
    var downstream: Downstream!
    var gateways: [TestGateway] = []
    var directory: URL!
    var keysPath: String { directory.appendingPathComponent("keys.json").path }

    override func setUpWithError() throws {
        downstream = try Downstream()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bff-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for g in gateways { g.stop() }
        downstream?.stop()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    func configuration() -> String {
        """
        {
          "listen": {"host": "127.0.0.1", "port": 0},
          "services": {"down": {"instances": ["127.0.0.1:\(downstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "auth": {"apiKeys": {"file": "\(keysPath)"}},
          "routes": [
            {"name": "orders", "path": "/api/orders", "proxy": {"service": "down", "path": "/echo"},
             "policy": {"auth": {"apiKey": true, "require": {"scopes": ["orders:read"]}},
                        "headers": {"request": {"set": {"X-Partner": "{claims.sub}", "X-Tier": "{claims.tier}"}}}}},
            {"name": "open", "path": "/*", "proxy": {"service": "down"}}
          ]
        }
        """
    }

    func startGateway() throws -> TestGateway {
        let g = try TestGateway(configuration())
        gateways.append(g)
        return g
    }

    func get(_ g: TestGateway, _ fields: [(String, String)]) throws -> HTTPResponse { try g.get("/api/orders", headers: fields) }

    /// The headers the downstream received, lower-cased names.
    func received(_ r: HTTPResponse) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for pair in r.json?["headers"]?.arrayValue ?? [] { out[pair.arrayValue![0].stringValue!.lowercased(), default: []].append(pair.arrayValue![1].stringValue!) }
        return out
    }

    func testRevocationIsRefusedByAnotherInstanceWithinASecond() throws {
        let writer = APIKeyFileStore(path: keysPath)
        let made = try APIKeyFormat.generate()
        try writer.add(APIKeyRecord(id: made.id, digest: made.digest, partner: "acme", tier: "gold", scopes: ["orders:read"],
                                    created: Int64(Date().timeIntervalSince1970), expires: nil, status: .active))
        let a = try startGateway(), b = try startGateway()
        for g in [a, b] {
            let r = try get(g, [("X-API-Key", made.key)])
            XCTAssertEqual(r.status, 200, r.text)
            let headers = received(r)
            XCTAssertEqual(headers["x-partner"], ["acme"])
            XCTAssertEqual(headers["x-tier"], ["gold"])
            XCTAssertNil(headers["x-api-key"], "the key is not forwarded")
            XCTAssertFalse(r.text.contains(made.key))
        }
        let missing = try get(a, [])
        XCTAssertEqual(missing.status, 401)
        XCTAssertEqual(missing.headers.values("WWW-Authenticate"), ["ApiKey"])
        XCTAssertEqual(missing.headers["Content-Type"], "application/problem+json")

        // Revoked through a third store object, as the command line would.
        try writer.update(id: made.id) { $0.status = .revoked }
        let revokedAt = Date()
        var refusedAfter: TimeInterval? = nil
        while Date().timeIntervalSince(revokedAt) < 5 {
            if try get(b, [("Authorization", "ApiKey \(made.key)")]).status == 401 { refusedAfter = Date().timeIntervalSince(revokedAt); break }
            usleep(20_000)
        }
        let after = try XCTUnwrap(refusedAfter, "the revoked key was still accepted 5 s later")
        XCTAssertLessThanOrEqual(after, 1.0, "refused only after \(after) s")
        let refused = try get(a, [("X-API-Key", made.key)])
        XCTAssertEqual(refused.status, 401)
        XCTAssertEqual(refused.problemCode, "invalid_api_key")
        XCTAssertFalse(refused.text.contains(made.key))
    }

    // MARK: The command line

    static var productsDirectory: URL { Bundle.module.bundleURL.deletingLastPathComponent() }

    func partner(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = Self.productsDirectory.appendingPathComponent("BFFPartner")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// `id: …` and `key: …` of a create or rotate.
    func idAndKey(_ out: String) throws -> (id: String, key: String) {
        let lines = out.split(separator: "\n").map(String.init)
        let id = try XCTUnwrap(lines.first { $0.hasPrefix("id: ") }).dropFirst(4)
        let key = try XCTUnwrap(lines.first { $0.hasPrefix("key: ") }).dropFirst(5)
        return (String(id), String(key))
    }

    func testCommandLineManagesTheKeysTheGatewayReads() throws {
        let created = try partner(["keys", "create", "--partner", "acme", "--tier", "gold", "--scopes", "orders:read,orders:write",
                                   "--expires-days", "30", "--keys-file", keysPath])
        XCTAssertEqual(created.status, 0, created.err)
        let (id, key) = try idAndKey(created.out)
        XCTAssertTrue(key.hasPrefix("bffk_"))
        XCTAssertFalse(try String(contentsOfFile: keysPath, encoding: .utf8).contains(key))
        // The change is a security event on standard error: a JSON line with the id, never the key.
        let createdEvent = try XCTUnwrap(created.err.split(separator: "\n").first { $0.contains("apikey.created") }, created.err)
        let createdJSON = try XCTUnwrap(try JSONParser.parse(Array(createdEvent.utf8)).objectValue)
        XCTAssertEqual(createdJSON["key_id"]?.stringValue, id)
        XCTAssertEqual(createdJSON["partner"]?.stringValue, "acme")
        XCTAssertEqual(createdJSON["tier"]?.stringValue, "gold")
        XCTAssertFalse(created.err.contains(key))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: keysPath)[.posixPermissions] as? Int, 0o600)

        let g = try startGateway()
        XCTAssertEqual(try get(g, [("X-API-Key", key)]).status, 200)

        let list = try partner(["keys", "list", "--keys-file", keysPath])
        XCTAssertEqual(list.status, 0, list.err)
        XCTAssertTrue(list.out.contains(id))
        XCTAssertTrue(list.out.contains("acme\tgold\torders:read,orders:write"))
        XCTAssertFalse(list.out.contains(key))
        XCTAssertFalse(list.out.contains(APIKeyFormat.digestHex(Array(key.utf8))), "list shows no digest either")

        // Rotate: a new key works, the old one is revoked.
        let rotated = try partner(["keys", "rotate", id, "--keys-file", keysPath])
        XCTAssertEqual(rotated.status, 0, rotated.err)
        let (newID, newKey) = try idAndKey(rotated.out)
        XCTAssertNotEqual(newID, id)
        XCTAssertTrue(rotated.err.contains(#""event":"apikey.rotated""#) && rotated.err.contains(#""key_id":"\#(id)""#)
                      && rotated.err.contains(#""replacement":"\#(newID)""#), rotated.err)
        XCTAssertFalse(rotated.err.contains(newKey))
        try waitForStatus(g, key: key, 401)
        XCTAssertEqual(try get(g, [("X-API-Key", newKey)]).status, 200)

        // Rotate with a grace period: both work until it ends.
        let graceful = try partner(["keys", "rotate", newID, "--grace-seconds", "3600", "--keys-file", keysPath])
        XCTAssertEqual(graceful.status, 0, graceful.err)
        let (_, thirdKey) = try idAndKey(graceful.out)
        try waitForStatus(g, key: thirdKey, 200)
        XCTAssertEqual(try get(g, [("X-API-Key", newKey)]).status, 200)

        let revoke = try partner(["keys", "revoke", newID, "--keys-file", keysPath])
        XCTAssertEqual(revoke.status, 0, revoke.err)
        XCTAssertTrue(revoke.err.contains(#""event":"apikey.revoked""#) && revoke.err.contains(#""key_id":"\#(newID)""#), revoke.err)
        try waitForStatus(g, key: newKey, 401)
        XCTAssertTrue(try partner(["keys", "list", "--keys-file", keysPath]).out.contains("\(newID)\tacme"))

        // Exit codes: unknown id 1; usage 2; no key store in the configuration 2.
        XCTAssertEqual(try partner(["keys", "revoke", "key_nope", "--keys-file", keysPath]).status, 1)
        XCTAssertEqual(try partner(["keys", "create", "--tier", "gold", "--keys-file", keysPath]).status, 2)
        XCTAssertEqual(try partner(["keys", "frobnicate"]).status, 2)
        XCTAssertEqual(try partner(["keys", "rotate", id, "--keys-file", keysPath]).status, 1, "a revoked key is not rotated")
        let help = try partner(["keys", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.out.contains("rotate"))
    }

    /// `--config DIR` finds the key file through the configuration's `auth.apiKeys` (relative to DIR).
    func testCommandLineUsesTheConfiguredFile() throws {
        try """
        {"listen": {"port": 0}, "services": {"s": {"instances": ["127.0.0.1:1"]}}, "auth": {"apiKeys": {"file": "partner-keys.json"}},
         "routes": [{"name": "r", "path": "/r", "proxy": {"service": "s"}, "policy": {"auth": {"apiKey": true}}}]}
        """.write(to: directory.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        let created = try partner(["keys", "create", "--partner", "p1", "--tier", "bronze", "--config", directory.path])
        XCTAssertEqual(created.status, 0, created.err)
        let records = try APIKeyFileStore(path: directory.appendingPathComponent("partner-keys.json").path).records()
        XCTAssertEqual(records.map(\.partner), ["p1"])
        XCTAssertEqual(try partner(["check", "--config", directory.path]).status, 0)
        let shipped = try partner(["keys", "list", "--config", "/nonexistent-dir"])
        XCTAssertEqual(shipped.status, 2)
    }

    /// Polls (bounded, generous) until the gateway answers `status` for `key`.
    func waitForStatus(_ g: TestGateway, key: String, _ status: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let start = Date()
        var last = 0
        while Date().timeIntervalSince(start) < 5 {
            last = try get(g, [("X-API-Key", key)]).status
            if last == status { return }
            usleep(20_000)
        }
        XCTFail("still \(last) after 5 s, expected \(status)", file: file, line: line)
    }
}
