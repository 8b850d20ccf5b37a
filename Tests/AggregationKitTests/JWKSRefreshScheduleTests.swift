import XCTest
@testable import AggregationKit

/// When a JWK Set is fetched, decided by the pure schedule with time passed in: one fetch at a time,
/// at most one per minimum interval whatever asks, scheduled refreshes, retries after a failure.
/// Plus the `jwksUrl` rules and the provider's filter of fetched keys.
final class JWKSRefreshScheduleTests: XCTestCase {
    let s: UInt64 = 1_000_000_000

    func testUnknownKeyIDFetchesJoinsThenRefusesUntilTheMinimumInterval() {
        var schedule = JWKSRefreshSchedule(refreshInterval: 300 * s, minimumInterval: 10 * s)
        let t = 1000 * s
        XCTAssertEqual(schedule.unknownKeyID(now: t), .fetch, "never fetched: at once")
        XCTAssertEqual(schedule.unknownKeyID(now: t + 1), .join, "one fetch at a time: wait for it")
        XCTAssertEqual(schedule.unknownKeyID(now: t + 3 * s), .join)
        schedule.fetchEnded(succeeded: true)
        XCTAssertEqual(schedule.unknownKeyID(now: t + 3 * s), .refuse)
        XCTAssertEqual(schedule.unknownKeyID(now: t + 10 * s - 1), .refuse, "10 s after the fetch *started*")
        XCTAssertEqual(schedule.unknownKeyID(now: t + 10 * s), .fetch)
        schedule.fetchEnded(succeeded: false)
        XCTAssertEqual(schedule.unknownKeyID(now: t + 15 * s), .refuse, "a failure is not retried sooner")
        XCTAssertEqual(schedule.lastSuccess, t, "the last good set is the one fetched at t")
    }

    func testScheduledRefreshes() {
        var schedule = JWKSRefreshSchedule(refreshInterval: 300 * s, minimumInterval: 10 * s)
        let t = 50 * s
        XCTAssertEqual(schedule.nextScheduledFetch, 0)
        XCTAssertTrue(schedule.scheduledFetchDue(now: t), "the first fetch at once")
        XCTAssertFalse(schedule.scheduledFetchDue(now: t + 400 * s), "not while one is in flight")
        XCTAssertEqual(schedule.unknownKeyID(now: t + 1), .join)
        schedule.fetchEnded(succeeded: false)
        XCTAssertEqual(schedule.nextScheduledFetch, t + 10 * s, "after a failure: the minimum interval")
        XCTAssertFalse(schedule.scheduledFetchDue(now: t + 10 * s - 1))
        XCTAssertTrue(schedule.scheduledFetchDue(now: t + 10 * s))
        schedule.fetchEnded(succeeded: true)
        XCTAssertEqual(schedule.nextScheduledFetch, t + 310 * s, "after a success: the refresh interval")
        XCTAssertFalse(schedule.scheduledFetchDue(now: t + 309 * s))
        // A fetch on demand in between moves the schedule.
        XCTAssertEqual(schedule.unknownKeyID(now: t + 100 * s), .fetch)
        schedule.fetchEnded(succeeded: true)
        XCTAssertEqual(schedule.nextScheduledFetch, t + 400 * s)
        XCTAssertFalse(schedule.scheduledFetchDue(now: t + 310 * s))
        XCTAssertTrue(schedule.scheduledFetchDue(now: t + 400 * s))
    }

    /// 60 s of a flood: 100 tokens with random kids every millisecond, every fetch taking 50 ms and
    /// failing or succeeding, scheduled refreshes checked every 10 ms: never more than one fetch per
    /// minimum interval.
    func testAFloodOfUnknownKidsCostsOneFetchPerInterval() {
        var schedule = JWKSRefreshSchedule(refreshInterval: 30 * s, minimumInterval: 5 * s)
        let ms = s / 1000
        var starts: [UInt64] = []
        var fetchEndsAt: UInt64? = nil
        var now = 10 * s
        let end = now + 60 * s
        var random = SystemRandomNumberGenerator()
        while now < end {
            if let e = fetchEndsAt, now >= e { schedule.fetchEnded(succeeded: Bool.random(using: &random)); fetchEndsAt = nil }
            for _ in 0..<100 where schedule.unknownKeyID(now: now) == .fetch {
                starts.append(now)
                fetchEndsAt = now + 50 * ms
            }
            if now % (10 * ms) == 0, schedule.scheduledFetchDue(now: now) {
                starts.append(now)
                fetchEndsAt = now + 50 * ms
            }
            now += ms
        }
        XCTAssertEqual(starts.count, 12, "one fetch per 5 s over 60 s")
        for (a, b) in zip(starts, starts.dropFirst()) { XCTAssertGreaterThanOrEqual(b - a, 5 * s) }
    }

    // MARK: jwksUrl

    func testURLs() throws {
        XCTAssertTrue(try JWKSEndpoint.parse(url: "http://127.0.0.1:8081/.well-known/jwks.json") == ("127.0.0.1", 8081, "/.well-known/jwks.json"))
        XCTAssertTrue(try JWKSEndpoint.parse(url: "http://localhost/keys?v=2") == ("127.0.0.1", 80, "/keys?v=2"))
        XCTAssertTrue(try JWKSEndpoint.parse(url: "http://[::1]:9000") == ("::1", 9000, "/"))
        XCTAssertTrue(try JWKSEndpoint.parse(url: "HTTP://127.1.2.3:1?x") == ("127.1.2.3", 1, "/?x"))
        let refused: [(String, String)] = [
            ("https://127.0.0.1/jwks", "https needs TLS"), ("http://10.0.0.1/jwks", "only a loopback host"),
            ("http://id.example.com/jwks", "only a loopback host"), ("http://127.0.0.1.evil.com/", "only a loopback host"),
            ("http://user:pw@127.0.0.1/", "user information"), ("http://127.0.0.1/#x", "fragment"), ("ftp://127.0.0.1/", "http://"),
            ("http://127.0.0.1:0/", "port"), ("http://127.0.0.1:99999/", "port"), ("http://127.0.0.1:+80/", "port"),
            ("http:///jwks", "no host"), ("http://[::1/", "unclosed"), ("http://127.0.0.1/a b", "spaces"), ("http://[::2]/", "loopback"),
        ]
        for (url, reason) in refused {
            XCTAssertThrowsError(try JWKSEndpoint.parse(url: url), url) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(url): \(error)")
            }
        }
    }

    /// Red team (issue 8): hosts that look loopback to some parsers, or lead elsewhere, are refused.
    func testHostileURLsAreRefused() {
        for url in ["http://localhost.evil.com/", "http://127.0.0.1.nip.io/", "http://0x7f.1/", "http://127.1/", "http://2130706433/",
                    "http://0177.0.0.1/", "http://[::ffff:1.2.3.4]/", "http://127.0.0.1:80@evil.com/", "http://127.0.0.1\\@evil.com/",
                    "http://127.0.0.1./", "http://localhost./", "http://[::1%25lo]/", "http://[::1]x/", "http://127.0.0.1:80:81/",
                    "http://%31%32%37.0.0.1/"] {
            XCTAssertThrowsError(try JWKSEndpoint.parse(url: url), url)
        }
        XCTAssertTrue(try JWKSEndpoint.parse(url: "http://[0:0:0:0:0:0:0:1]/k") == ("0:0:0:0:0:0:0:1", 80, "/k"))
        XCTAssertTrue(try JWKSEndpoint.parse(url: "http://127.0.0.1?@evil.com/") == ("127.0.0.1", 80, "/?@evil.com/"), "an @ in the query is a path")
    }

    func testConfiguration() throws {
        func parse(_ provider: String) -> Result<GatewayConfiguration, ConfigurationError> {
            let json = #"{"auth": {"jwt": {"providers": {"main": {"issuers": ["https://id"]\#(provider)}}}}}"#
            do { return .success(try GatewayConfiguration.parse(Array(json.utf8), file: "g.json", environment: { _ in nil })) } catch { return .failure(error) }
        }
        let ok = try parse(#", "jwksUrl": "http://127.0.0.1:9/k", "jwksRefreshSeconds": 60, "jwksMinIntervalMs": 500, "jwksTimeoutMs": 200, "jwksMaxBytes": 2048"#).get()
        XCTAssertEqual(ok.auth.providers[0].jwks, JWKSEndpoint(host: "127.0.0.1", port: 9, target: "/k", refreshInterval: 60 * s,
                                                                minimumInterval: 500_000_000, timeout: 200_000_000, maximumBytes: 2048))
        XCTAssertTrue(ok.auth.providers[0].verifier.keys.isEmpty, "keys are optional with jwksUrl")
        func issues(_ provider: String) -> [String] {
            guard case .failure(let e) = parse(provider) else { return [] }
            return e.issues.map { "\($0.path): \($0.reason)" }
        }
        XCTAssertEqual(issues(#", "jwksUrl": "http://127.0.0.1/k", "jwksRefreshSeconds": 10, "jwksMinIntervalMs": 20000"#),
                       ["$.auth.jwt.providers.main.jwksMinIntervalMs: must not exceed jwksRefreshSeconds (10 s)"])
        XCTAssertEqual(issues(#", "keys": [], "jwksTimeoutMs": 200"#), [
            "$.auth.jwt.providers.main.jwksTimeoutMs: only with jwksUrl",
            "$.auth.jwt.providers.main.keys: at least one key source is required (or jwksUrl)",
        ])
        XCTAssertEqual(issues(#", "jwksUrl": "http://127.0.0.1/k", "jwksMaxBytes": 100"#),
                       ["$.auth.jwt.providers.main.jwksMaxBytes: 100 is out of range 1024...4194304"])
    }

    /// Fetched keys obey the static keys' rules: private members refuse the set, keys for another
    /// algorithm than the provider lists are left out, small RSA keys refuse the set, an empty result is
    /// refused (the last good set stays).
    func testFetchedKeysObeyTheProviderRules() throws {
        let ec = try TokenMint(kid: "e1")
        let rsa = try AsymmetricKey.generateRSA(bits: 2048)
        let rsaJWK = JSONSerializer.string(.object(JWK.publicJSON(for: try rsa.publicKey(), keyID: "r1", algorithm: .rs256)))
        func provider(_ algorithms: [JWSAlgorithm]?) -> JWTProvider {
            JWTProvider(name: "p", verifier: JWSVerifier(keys: []), validator: JWTClaimsValidator(issuers: ["i"]), rolesClaim: try! ClaimPath("roles"),
                        roles: RoleTable(), algorithms: algorithms)
        }
        let both = Array(#"{"keys": [\#(ec.publicJWK), \#(rsaJWK)]}"#.utf8)
        XCTAssertEqual(try provider(nil).usableKeys(fromSet: both).map(\.keyID), ["e1", "r1"])
        XCTAssertEqual(try provider([.es256]).usableKeys(fromSet: both).map(\.keyID), ["e1"])
        XCTAssertThrowsError(try provider([.edDSA]).usableKeys(fromSet: both), "no usable key")
        let privateJWK = #"{"d": "AAAA", "#.dropLast() + ec.publicJWK.dropFirst()
        XCTAssertThrowsError(try provider(nil).usableKeys(fromSet: Array(#"{"keys": [\#(privateJWK)]}"#.utf8))) { error in
            XCTAssertTrue("\(error)".contains("private"), "\(error)")
        }
        let small = #"{"kty": "RSA", "alg": "RS256", "kid": "s", "e": "AQAB", "n": "\#(Base64URL.encode([0xC1] + [UInt8](repeating: 0x5A, count: 127)))"}"#
        XCTAssertThrowsError(try provider(nil).usableKeys(fromSet: Array(#"{"keys": [\#(small)]}"#.utf8)))
        XCTAssertThrowsError(try provider(nil).usableKeys(fromSet: Array("not json".utf8)))
        XCTAssertThrowsError(try provider(nil).usableKeys(fromSet: Array(#"{"keys": {}}"#.utf8)))
    }
}

/// A provider with static keys and a JWK Set: a token either set verifies is good, whatever its `kid`.
final class JWTProviderFetchedKeysTests: XCTestCase {
    func testStaticAndFetchedKeysBothServeAfterAFetch() throws {
        let staticKey = try AsymmetricKey.generateEC(curve: .p256)
        let setKey = try AsymmetricKey.generateEC(curve: .p256)
        let provider = JWTProvider(name: "p", verifier: JWSVerifier(keys: [try JWSKey(key: try staticKey.publicKey(), algorithm: .es256)]),
                                   validator: JWTClaimsValidator(issuers: ["iss"], requiredClaims: ["exp"]),
                                   rolesClaim: try ClaimPath("roles"), roles: RoleTable())
        let fetched = JWSVerifier(keys: [try JWSKey(key: try setKey.publicKey(), algorithm: .es256, keyID: "set-1")])
        let claims = JSONObject([("iss", .string("iss")), ("exp", .number(JSONNumber(2_000)))])
        func token(_ key: AsymmetricKey, kid: String?) throws -> [UInt8] {
            Array(try JWSSigner(key: try JWSKey(key: key, algorithm: .es256, keyID: kid)).sign(claims: claims).utf8)
        }
        XCTAssertNoThrow(try provider.authenticate(try token(staticKey, kid: nil), now: 1_000, fetched: fetched),
                         "a kid-less token of the static key (the set answers signature_invalid)")
        XCTAssertNoThrow(try provider.authenticate(try token(setKey, kid: "set-1"), now: 1_000, fetched: fetched))
        XCTAssertNoThrow(try provider.authenticate(try token(staticKey, kid: "issuer-added"), now: 1_000, fetched: fetched),
                         "a kid-less static key serves tokens whose issuer adds a kid")
        let stranger = try AsymmetricKey.generateEC(curve: .p256)
        XCTAssertThrowsError(try provider.authenticate(try token(stranger, kid: "unknown"), now: 1_000, fetched: fetched)) { error in
            XCTAssertEqual((error as? JWTProvider.Rejection)?.code, JWSError.unknownKeyID.code, "the set's refusal: the refresh cue")
        }
        XCTAssertThrowsError(try provider.authenticate(try token(stranger, kid: nil), now: 1_000, fetched: fetched))
    }
}
