import Foundation
import XCTest
@testable import AggregationKit

/// `auth.sessions`: defaults, the values it accepts, and every bad value reported with its JSON path.
final class SessionConfigurationTests: XCTestCase {
    private func parse(_ json: String, directory: String = ".") throws(ConfigurationError) -> GatewayConfiguration {
        try GatewayConfiguration.parse(Array(json.utf8), file: "gateway.json", directory: directory)
    }

    private func config(_ sessions: String, routes: String = "[]", jwt: String = "") -> String {
        """
        {"services": {"identity": {"instances": ["127.0.0.1:81"]}},
         "auth": {\(jwt) "sessions": \(sessions)}, "routes": \(routes)}
        """
    }

    private func issues(_ json: String) -> [String] {
        do { _ = try parse(json); return [] } catch { return error.issues.map { "\($0.path): \($0.reason)" } }
    }

    private let minimal = #"{"identity": {"service": "identity"}, "allowedOrigins": ["https://app.example"]}"#

    func testDefaults() throws {
        let sessions = try XCTUnwrap(try parse(config(minimal)).auth.sessions)
        XCTAssertEqual(sessions.mode, .cookie)
        XCTAssertEqual(sessions.identityService, "identity")
        XCTAssertEqual(sessions.identityPath, "/verify")
        XCTAssertEqual(sessions.identityTimeout, 5_000_000_000)
        XCTAssertEqual(sessions.accessTokenTtlSeconds, 300)
        XCTAssertEqual(sessions.refreshIdleSeconds, 86_400)
        XCTAssertEqual(sessions.sessionLifetimeSeconds, 604_800)
        XCTAssertEqual(sessions.issuer.issuer, "bff-gateway")
        XCTAssertEqual(sessions.issuer.audience, "bff-services")
        XCTAssertTrue(sessions.issuer.isEphemeral)
        XCTAssertEqual(sessions.issuer.signer.key.algorithm, .es256)
        XCTAssertEqual(sessions.accountLockout, LockoutPolicy())
        XCTAssertEqual(sessions.clientLockout, LockoutPolicy(threshold: 20))
        XCTAssertEqual(sessions.maxLoginBodyBytes, 4096)
        XCTAssertEqual(sessions.revocationCheck, 1_000_000_000)
        XCTAssertEqual(sessions.allowedOrigins, ["https://app.example"])
        XCTAssertTrue(sessions.store is InMemorySessionStore)
        XCTAssertTrue(sessions.throttle is InMemoryLoginThrottle)
    }

    func testEveryKeyAndTheSessionProvider() throws {
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("session-key-\(UUID().uuidString).pem").path
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        try AsymmetricKey.generateEC(curve: .p256).privateKeyPEM().write(toFile: keyFile, atomically: true, encoding: .utf8)
        let configuration = try parse(config("""
            {"mode": "cookie", "identity": {"service": "identity", "path": "/api/check", "timeoutMs": 800},
             "accessTokenTtlSeconds": 120, "refreshIdleSeconds": 3600, "sessionLifetimeSeconds": 86400,
             "issuer": "https://gw.example", "audience": "services", "signingKeyFile": "\(keyFile)", "keyId": "2026-1",
             "allowedOrigins": ["HTTPS://App.Example:443", "http://localhost:5173"],
             "lockout": {"account": {"threshold": 4, "windowSeconds": 60, "baseLockSeconds": 2, "maximumLockSeconds": 30},
                         "client": {"threshold": 50}, "maxEntries": 1000},
             "maxLoginBodyBytes": 1024, "maxSessions": 50, "maxSessionsPerUser": 3, "revocationCheckMs": 0}
            """, routes: #"[{"name": "me", "path": "/me", "proxy": {"service": "identity"}, "policy": {"auth": {"provider": "session"}}}]"#))
        let sessions = try XCTUnwrap(configuration.auth.sessions)
        XCTAssertEqual(sessions.identityPath, "/api/check")
        XCTAssertEqual(sessions.identityTimeout, 800_000_000)
        XCTAssertEqual(sessions.issuer.timeToLive, 120)
        XCTAssertFalse(sessions.issuer.isEphemeral)
        XCTAssertEqual(sessions.issuer.signer.key.keyID, "2026-1")
        XCTAssertEqual(sessions.allowedOrigins, ["https://app.example", "http://localhost:5173"])
        XCTAssertEqual(sessions.accountLockout, LockoutPolicy(threshold: 4, windowSeconds: 60, baseLockSeconds: 2, maximumLockSeconds: 30))
        XCTAssertEqual(sessions.clientLockout.threshold, 50)
        XCTAssertEqual((sessions.store as? InMemorySessionStore)?.limits.maximumSessionsPerSubject, 3)
        XCTAssertEqual(sessions.revocationCheck, 0)
        XCTAssertTrue(configuration.policy(of: configuration.routes[0]).auth?.provider === sessions.issuer.provider)
        XCTAssertEqual(configuration.auth.providers.map(\.name), ["session"])
    }

    func testBadValuesAreReportedWithTheirPath() {
        let cases: [(String, String)] = [
            (#"{"identity": {"service": "identity"}, "allowedOrigins": ["https://a.example"], "colour": 1}"#, "$.auth.sessions.colour: unknown key"),
            (#"{"allowedOrigins": ["https://a.example"]}"#, "$.auth.sessions.identity"),
            (#"{"identity": {"service": "nope"}, "allowedOrigins": ["https://a.example"]}"#, "$.auth.sessions.identity.service: unknown service 'nope'"),
            (#"{"identity": {"service": "identity", "path": "verify"}, "allowedOrigins": ["https://a.example"]}"#, "$.auth.sessions.identity.path"),
            (#"{"identity": {"service": "identity"}}"#, "$.auth.sessions.allowedOrigins: required in cookie mode"),
            (#"{"identity": {"service": "identity"}, "allowedOrigins": []}"#, "$.auth.sessions.allowedOrigins: required in cookie mode"),
            (#"{"identity": {"service": "identity"}, "allowedOrigins": ["https://a.example/app"]}"#, "$.auth.sessions.allowedOrigins[0]"),
            (#"{"identity": {"service": "identity"}, "allowedOrigins": ["*"]}"#, "$.auth.sessions.allowedOrigins[0]"),
            (#"{"mode": "bearer", "identity": {"service": "identity"}, "allowedOrigins": ["https://a.example"]}"#, "$.auth.sessions.allowedOrigins: only for mode cookie"),
            (#"{"mode": "jwt", "identity": {"service": "identity"}}"#, "$.auth.sessions.mode"),
            (#"{"mode": "bearer", "identity": {"service": "identity"}, "accessTokenTtlSeconds": 5}"#, "$.auth.sessions.accessTokenTtlSeconds"),
            (#"{"mode": "bearer", "identity": {"service": "identity"}, "refreshIdleSeconds": 90000, "sessionLifetimeSeconds": 3600}"#,
             "$.auth.sessions.refreshIdleSeconds: longer than sessionLifetimeSeconds"),
            (#"{"mode": "bearer", "identity": {"service": "identity"}, "lockout": {"account": {"threshold": 0}}}"#, "$.auth.sessions.lockout.account.threshold"),
            (#"{"mode": "bearer", "identity": {"service": "identity"}, "lockout": {"client": {"penalty": 1}}}"#, "$.auth.sessions.lockout.client.penalty: unknown key"),
            (#"{"mode": "bearer", "identity": {"service": "identity"}, "signingKeyFile": "/nonexistent.pem"}"#, "$.auth.sessions.signingKeyFile: cannot read"),
            (#"{"mode": "bearer", "identity": {"service": "identity"}, "keyId": "k"}"#, "$.auth.sessions.keyId: only with signingKeyFile"),
            (#"{"mode": "bearer", "identity": {"service": "identity"}, "revocationCheckMs": -1}"#, "$.auth.sessions.revocationCheckMs"),
        ]
        for (sessions, expected) in cases {
            let found = issues(config(sessions))
            XCTAssertTrue(found.contains { $0.hasPrefix(expected) }, "\(sessions) → \(found)")
        }
    }

    func testAPublicSigningKeyIsRefused() throws {
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("session-pub-\(UUID().uuidString).pem").path
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        try AsymmetricKey.generateEC(curve: .p256).publicKeyPEM().write(toFile: keyFile, atomically: true, encoding: .utf8)
        let found = issues(config(#"{"mode": "bearer", "identity": {"service": "identity"}, "signingKeyFile": "\#(keyFile)"}"#))
        XCTAssertTrue(found.contains { $0.hasPrefix("$.auth.sessions.signingKeyFile: a public key") }, "\(found)")
    }

    func testBuiltInPathsAndNamesAreReserved() {
        let clash = issues(config(minimal, routes: #"[{"name": "x", "method": "POST", "path": "/auth/login", "proxy": {"service": "identity"}}]"#))
        XCTAssertTrue(clash.contains { $0.hasPrefix("$.routes[0].path") }, "\(clash)")
        let name = issues(config(minimal, routes: #"[{"name": "auth.login", "path": "/x", "proxy": {"service": "identity"}}]"#))
        XCTAssertTrue(name.contains { $0.hasPrefix("$.routes[0].name") }, "\(name)")
        let provider = issues(config(minimal, jwt: #""jwt": {"providers": {"session": {"keys": [{"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}], "issuers": ["x"]}}},"#))
        XCTAssertTrue(provider.contains { $0.hasPrefix("$.auth.jwt.providers.session") }, "\(provider)")
        XCTAssertEqual(issues(config(#"{"mode": "bearer", "identity": {"service": "identity"}}"#,
                                     routes: #"[{"name": "x", "method": "POST", "path": "/auth/login", "proxy": {"service": "identity"}}]"#)).count, 1)
        XCTAssertEqual(issues(#"{"services": {"a": {"instances": ["127.0.0.1:81"]}}, "routes": [{"name": "x", "path": "/auth/login", "proxy": {"service": "a"}}]}"#), [],
                       "without sessions the paths are free")
    }

    /// Where sessions live: in memory by default, in Redis when a `redis` section is there (or `store:
    /// redis`), with the keys that only mean something for one of the two refused for the other.
    func testStoreChoice() throws {
        let redis = #""redis": {"url": "redis://127.0.0.1:6379"},"#
        func withRedis(_ sessions: String) -> String { config(sessions).replacingOccurrences(of: #"{"services""#, with: "{" + redis + #" "services""#) }
        XCTAssertNil(try parse(config(minimal)).auth.sessions?.redisKeyPrefix)
        let inRedis = try XCTUnwrap(try parse(withRedis(minimal)).auth.sessions)
        XCTAssertEqual(inRedis.redisKeyPrefix, "bff:", "a redis section makes Redis the default")
        let tuned = try XCTUnwrap(try parse(withRedis(#"{"identity": {"service": "identity"}, "allowedOrigins": ["https://app.example"], "redisKeyPrefix": "shop:", "reuseGraceSeconds": 2, "maxSessionsPerUser": 4}"#)).auth.sessions)
        XCTAssertEqual(tuned.redisKeyPrefix, "shop:")
        XCTAssertEqual(tuned.storeLimits.reuseGraceSeconds, 2)
        XCTAssertEqual(tuned.storeLimits.maximumSessionsPerSubject, 4)
        XCTAssertNil(try parse(withRedis(#"{"identity": {"service": "identity"}, "allowedOrigins": ["https://app.example"], "store": "memory"}"#)).auth.sessions?.redisKeyPrefix)

        let p = "$.auth.sessions"
        XCTAssertEqual(issues(config(#"{"identity": {"service": "identity"}, "allowedOrigins": ["https://app.example"], "store": "redis"}"#)),
                       ["\(p).store: redis needs the top-level redis section (redis.url or BFF_REDIS_URL)"])
        XCTAssertEqual(issues(config(#"{"identity": {"service": "identity"}, "allowedOrigins": ["https://app.example"], "store": "disk"}"#)),
                       ["\(p).store: 'disk' is not memory or redis"])
        XCTAssertEqual(issues(config(#"{"identity": {"service": "identity"}, "allowedOrigins": ["https://app.example"], "redisKeyPrefix": "x:"}"#)),
                       ["\(p).redisKeyPrefix: only for sessions in Redis (store: redis)"])
        XCTAssertEqual(issues(withRedis(#"{"identity": {"service": "identity"}, "allowedOrigins": ["https://app.example"], "redisKeyPrefix": "a b"}"#)),
                       ["\(p).redisKeyPrefix: expected 1 to 58 printable characters without spaces"])
        XCTAssertEqual(issues(withRedis(#"{"identity": {"service": "identity"}, "allowedOrigins": ["https://app.example"], "maxSessions": 5, "lockout": {"maxEntries": 500}}"#)),
                       ["\(p).maxSessions: only for the in-memory store (Redis is bounded by its maxmemory)",
                        "\(p).lockout.maxEntries: only for the in-memory throttle (Redis keys expire)"])
        XCTAssertEqual(issues(config(#"{"identity": {"service": "identity"}, "allowedOrigins": ["https://app.example"], "reuseGraceSeconds": 11}"#)).count, 1)
    }
}
