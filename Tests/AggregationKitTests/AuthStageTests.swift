import XCTest
import Foundation
@testable import AggregationKit

/// The `policy.auth` stage through `Pipeline.run` on a real loop driven by a `ManualClock`: what a client
/// sees for every class of refusal (status, `WWW-Authenticate`, problem code), the clock boundaries of
/// exp and nbf, the verified-token cache (hits skip the verifier, the bound, expiry with the token),
/// RBAC, and what reaches the responder.
final class AuthStageTests: XCTestCase {
    var clock: ManualClock!
    var harness: StageHarness!
    var mint: TokenMint!
    let t0 = manualClockStartSeconds

    override func setUpWithError() throws {
        clock = ManualClock()
        harness = try StageHarness(clock: clock, logging: .disabled)
        mint = try TokenMint()
    }

    override func tearDown() { harness?.close() }

    // MARK: Helpers

    func provider(leeway: Int64 = 60, cacheEntries: Int = 16, roles: RoleTable = RoleTable(), rolesClaim: String = "roles",
                  requiredClaims: [String] = ["exp", "sub"], type: String? = nil, maxTokenBytes: Int = 8192) throws -> JWTProvider {
        JWTProvider(name: "main", verifier: JWSVerifier(keys: [mint.verifying], maximumTokenBytes: maxTokenBytes),
                    validator: JWTClaimsValidator(issuers: [TokenMint.issuer], audiences: [TokenMint.audience], requiredClaims: requiredClaims,
                                                  leewaySeconds: leeway, expectedType: type),
                    rolesClaim: try ClaimPath(rolesClaim), roles: roles, cacheEntries: cacheEntries)
    }

    func stage(_ provider: JWTProvider? = nil, require: [AuthRequirement] = [], claimsToHeaders: [(String, String)] = [],
               forwardToken: Bool = false) throws -> AuthStage {
        AuthStage(policy: AuthPolicy(provider: try provider ?? self.provider(), require: require,
                                     claimsToHeaders: try claimsToHeaders.map { (try ClaimPath($0.0), $0.1) }, forwardToken: forwardToken))
    }

    func run(_ stages: [any RequestStage], token: String?, headers: [(String, String)] = [],
             parameters: [(name: String, value: String)] = []) -> StageHarness.Outcome {
        var fields = headers
        if let token { fields.insert(("Authorization", "Bearer \(token)"), at: 0) }
        return harness.run(stages, makeRequest("GET", "/r", fields), parameters: parameters)
    }

    func setWall(_ seconds: Int64) { clock.setWallClock(nanoseconds: seconds * 1_000_000_000) }

    func statistics(_ stage: AuthStage) -> AuthStage.Statistics {
        let loop = harness.group.loops[0]
        return loop.execute(sync: { stage.statistics(on: loop) })
    }

    /// A 401 invalid_token refusal with `reason`, whose texts never quote the token.
    func assertInvalidToken(_ outcome: StageHarness.Outcome, _ reason: String, token: String? = nil,
                            file: StaticString = #filePath, line: UInt = #line) {
        let r = outcome.response
        XCTAssertEqual(r.status, 401, r.text, file: file, line: line)
        XCTAssertEqual(r.problemCode, "invalid_token", file: file, line: line)
        XCTAssertEqual(r.json?["reason"]?.stringValue, reason, r.text, file: file, line: line)
        XCTAssertEqual(r.headers["Content-Type"], "application/problem+json", file: file, line: line)
        let challenge = r.headers["WWW-Authenticate"] ?? ""
        XCTAssertTrue(challenge.hasPrefix(#"Bearer error="invalid_token", error_description=""#), challenge, file: file, line: line)
        XCTAssertEqual(r.headers.values("WWW-Authenticate").count, 1, file: file, line: line)
        XCTAssertNil(outcome.forwarded, "the responder was not called", file: file, line: line)
        if let token {
            for part in token.split(separator: ".") where part.count > 8 {
                XCTAssertFalse(challenge.contains(part) || r.text.contains(part), "token content in the refusal", file: file, line: line)
            }
        }
    }

    // MARK: Accepted tokens

    func testValidTokenFillsTheIdentityAndTheTokenIsNotForwarded() throws {
        let token = try mint.token(claims: TokenMint.claims(exp: t0 + 300, extra: #""scope":"a b","roles":["r1"]"#))
        let outcome = run([try stage()], token: token, headers: [("X-Other", "1")])
        XCTAssertEqual(outcome.response.status, 200)
        XCTAssertTrue(outcome.answeredSynchronously, "static keys: no task")
        XCTAssertEqual(outcome.identity.principal, "u1")
        XCTAssertEqual(outcome.identity.scopes, ["a", "b"])
        XCTAssertEqual(outcome.identity.roles, ["r1"])
        XCTAssertEqual(outcome.identity.claims["iss"]?.stringValue, TokenMint.issuer)
        let forwarded = try XCTUnwrap(outcome.forwarded)
        XCTAssertNil(forwarded.headers["Authorization"], "the raw token stays at the gateway")
        XCTAssertEqual(forwarded.headers["X-Other"], "1")
    }

    func testForwardTokenKeepsTheAuthorizationField() throws {
        let token = try mint.token(claims: TokenMint.claims(exp: t0 + 300))
        let outcome = run([try stage(forwardToken: true)], token: token)
        XCTAssertEqual(outcome.forwarded?.headers["Authorization"], "Bearer \(token)")
    }

    func testBearerSchemeIsCaseInsensitive() throws {
        let token = try mint.token(claims: TokenMint.claims(exp: t0 + 300))
        let outcome = harness.run([try stage()], makeRequest("GET", "/r", [("Authorization", "bEaReR   \(token)")]))
        XCTAssertEqual(outcome.response.status, 200)
    }

    // MARK: Missing and malformed credentials

    func testMissingTokenIsAChallengeWithoutAnErrorCode() throws {
        for fields in [[], [("Authorization", "Basic dTpw")], [("Authorization", "ApiKey abc")]] {
            let outcome = harness.run([try stage()], makeRequest("GET", "/r", fields))
            XCTAssertEqual(outcome.response.status, 401, "\(fields)")
            XCTAssertEqual(outcome.response.headers["WWW-Authenticate"], "Bearer")
            XCTAssertEqual(outcome.response.problemCode, "authentication_required")
            XCTAssertNil(outcome.forwarded)
        }
    }

    func testTwoAuthorizationFieldsAreRefused() throws {
        let token = try mint.token(claims: TokenMint.claims(exp: t0 + 300))
        let outcome = harness.run([try stage()], makeRequest("GET", "/r", [("Authorization", "Bearer \(token)"), ("authorization", "Bearer \(token)")]))
        XCTAssertEqual(outcome.response.status, 401)
        XCTAssertEqual(outcome.response.problemCode, "invalid_request")
        XCTAssertEqual(outcome.response.headers["WWW-Authenticate"], #"Bearer error="invalid_request", error_description="more than one Authorization field""#)
        XCTAssertNil(outcome.forwarded)
    }

    func testMalformedBearerCredentialsAreRefused() throws {
        for value in ["Bearer", "Bearer ", "Bearer a b", "Bearer a,b", "Bearer a=b", "", "Bearer\ta.b.c"] {
            let outcome = harness.run([try stage()], makeRequest("GET", "/r", [("Authorization", value)]))
            XCTAssertEqual(outcome.response.status, 401, value)
            XCTAssertTrue(["invalid_request", "authentication_required"].contains(outcome.response.problemCode ?? ""), value)
            XCTAssertNil(outcome.forwarded, value)
        }
        let outcome = harness.run([try stage()], makeRequest("GET", "/r", [("Authorization", "Bearer a b")]))
        XCTAssertEqual(outcome.response.headers["WWW-Authenticate"],
                       #"Bearer error="invalid_request", error_description="the Authorization field is not Bearer credentials""#)
    }

    // MARK: Every class of refusal

    func testHeaderRefusals() throws {
        let claims = TokenMint.claims(exp: t0 + 300)
        let payload = Base64URL.encode(Array(claims.utf8))
        let hmac = try JWSKey.hmac(secret: [UInt8](repeating: 7, count: 32), algorithm: .hs256, keyID: "k1")
        let jwk = mint.publicJWK
        let cases: [(String, String)] = [
            (Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + payload + ".", "alg_none"),
            (Base64URL.encode(Array(#"{"alg":"NoNe"}"#.utf8)) + "." + payload + ".", "alg_none"),
            (try mint.token(header: #"{"alg":"HS256","kid":"k1"}"#, claims: claims, key: hmac), "alg_hmac_with_public_key"),
            (try mint.token(header: #"{"alg":"ES256","kid":"k1","jwk":\#(jwk)}"#, claims: claims), "header_jwk"),
            (try mint.token(header: #"{"alg":"ES256","kid":"k1","jku":"https://evil.test/jwks"}"#, claims: claims), "header_jku"),
            (try mint.token(header: #"{"alg":"ES256","kid":"k1","x5u":"https://evil.test/cert"}"#, claims: claims), "header_x5u"),
            (try mint.token(header: #"{"alg":"ES256","kid":"k1","x5c":["MIIB"]}"#, claims: claims), "header_x5c"),
            (try mint.token(header: #"{"alg":"ES256","kid":"k1","crit":["exp"],"exp":1}"#, claims: claims), "header_crit_unsupported"),
            (try mint.token(header: #"{"alg":"ES384","kid":"k1"}"#, claims: claims), "alg_not_allowed"),
            (try mint.token(header: #"{"alg":"ES256","kid":"other"}"#, claims: claims), "kid_unknown"),
        ]
        for (token, reason) in cases {
            assertInvalidToken(run([try stage()], token: token), reason, token: token)
        }
    }

    func testEncodingAndSizeRefusals() throws {
        let good = try mint.token(claims: TokenMint.claims(exp: t0 + 300))
        let parts = good.split(separator: ".").map(String.init)
        var flipped = try XCTUnwrap(Base64URL.decode(parts[2]))
        flipped[40] ^= 1
        let cases: [(String, String)] = [
            (good + "==", "token_base64url_invalid"),                                      // padding
            (parts[0] + "." + parts[1] + "+." + parts[2], "token_base64url_invalid"),     // not the url alphabet
            (parts[0] + "." + parts[1], "token_malformed"),                                // two parts
            (good + ".x", "token_malformed"),                                              // JWE-like
            (parts[0] + "." + parts[1] + "." + Base64URL.encode(flipped.prefix(63)), "signature_malformed"),
            (parts[0] + "." + parts[1] + "." + Base64URL.encode(flipped), "signature_invalid"),
        ]
        for (token, reason) in cases { assertInvalidToken(run([try stage()], token: token), reason, token: token) }

        let small = try provider(maxTokenBytes: 600)
        let big = try mint.token(claims: TokenMint.claims(exp: t0 + 300, extra: #""pad":"\#(String(repeating: "x", count: 600))""#))
        assertInvalidToken(run([try stage(small)], token: big), "token_too_large", token: big)
        XCTAssertEqual(statistics(try stage(small)).verifications, 0, "refused before hashing or parsing")
    }

    func testClaimRefusals() throws {
        let cases: [(String, String)] = [
            (#"{"iss":"https://other.test","aud":"bff","sub":"u1","exp":\#(t0 + 300)}"#, "issuer_invalid"),
            (#"{"iss":"https://id.test/","aud":"bff","sub":"u1","exp":\#(t0 + 300)}"#, "issuer_invalid"),
            (#"{"iss":"https://id.test","aud":"other","sub":"u1","exp":\#(t0 + 300)}"#, "audience_invalid"),
            (#"{"iss":"https://id.test","aud":["a","b"],"sub":"u1","exp":\#(t0 + 300)}"#, "audience_invalid"),
            (#"{"iss":"https://id.test","sub":"u1","exp":\#(t0 + 300)}"#, "claim_missing"),
            (#"{"iss":"https://id.test","aud":"bff","exp":\#(t0 + 300)}"#, "claim_missing"),
            (#"{"iss":"https://id.test","aud":"bff","sub":"u1"}"#, "claim_missing"),
            (#"{"iss":"https://id.test","aud":"bff","sub":"u1","exp":"soon"}"#, "claim_invalid"),
            (#"{"iss":"https://id.test","aud":"bff","sub":"u1","exp":\#(t0 - 61)}"#, "token_expired"),
            (#"{"iss":"https://id.test","aud":"bff","sub":"u1","exp":\#(t0 + 300),"iat":\#(t0 + 61)}"#, "token_issued_in_future"),
        ]
        for (claims, reason) in cases {
            let token = try mint.token(claims: claims)
            assertInvalidToken(run([try stage()], token: token), reason, token: token)
        }
        // An array aud containing ours passes.
        let ok = try mint.token(claims: #"{"iss":"https://id.test","aud":["x","bff"],"sub":"u1","exp":\#(t0 + 300)}"#)
        XCTAssertEqual(run([try stage()], token: ok).response.status, 200)
        // typ when configured.
        let typed = try provider(type: "at+jwt")
        assertInvalidToken(run([try stage(typed)], token: ok), "type_invalid")
        let atJWT = try mint.token(header: #"{"alg":"ES256","typ":"at+jwt","kid":"k1"}"#, claims: TokenMint.claims(exp: t0 + 300))
        XCTAssertEqual(run([try stage(typed)], token: atJWT).response.status, 200)
    }

    func testTheDescriptionIsTheFixedSentence() throws {
        let token = try mint.token(claims: TokenMint.claims(exp: t0 - 100))
        let r = run([try stage()], token: token).response
        XCTAssertEqual(r.headers["WWW-Authenticate"], #"Bearer error="invalid_token", error_description="the token has expired""#)
        XCTAssertEqual(r.json?["detail"]?.stringValue, "the token has expired")
    }

    // MARK: Clock boundaries (exp = t0 + 100, leeway 60; nbf = t0 + 100)

    func testExpiryBoundaries() throws {
        let exp = t0 + 100
        for (now, accepted) in [(exp - 1, true), (exp, true), (exp + 59, true), (exp + 60, false)] {
            setWall(now)
            // A fresh stage each time: the cache is tested separately.
            let token = try mint.token(claims: TokenMint.claims(exp: exp))
            let outcome = run([try stage()], token: token)
            if accepted { XCTAssertEqual(outcome.response.status, 200, "at exp\(now - exp)") } else { assertInvalidToken(outcome, "token_expired") }
        }
        let strict = try provider(leeway: 0)
        for (now, accepted) in [(exp - 1, true), (exp, false)] {
            setWall(now)
            let outcome = run([try stage(strict)], token: try mint.token(claims: TokenMint.claims(exp: exp)))
            if accepted { XCTAssertEqual(outcome.response.status, 200) } else { assertInvalidToken(outcome, "token_expired") }
        }
    }

    func testNotBeforeBoundaries() throws {
        let nbf = t0 + 100
        let token = try mint.token(claims: TokenMint.claims(exp: t0 + 1000, extra: #""nbf":\#(nbf)"#))
        for (now, accepted) in [(nbf - 61, false), (nbf - 60, true), (nbf, true)] {
            setWall(now)
            let outcome = run([try stage()], token: token)
            if accepted { XCTAssertEqual(outcome.response.status, 200, "at nbf\(now - nbf)") } else { assertInvalidToken(outcome, "token_not_yet_valid") }
        }
    }

    // MARK: The verified-token cache

    func testARepeatedTokenIsALookupNotASignatureCheck() throws {
        let auth = try stage()
        let token = try mint.token(claims: TokenMint.claims(exp: t0 + 300, extra: #""scope":"s""#))
        for _ in 0..<5 {
            let outcome = run([auth], token: token)
            XCTAssertEqual(outcome.response.status, 200)
            XCTAssertEqual(outcome.identity.principal, "u1")
            XCTAssertEqual(outcome.identity.scopes, ["s"])
        }
        XCTAssertEqual(statistics(auth), AuthStage.Statistics(verifications: 1, hits: 4, entries: 1))
        // Another route of the same provider and gateway shares the cache.
        let caches = AuthCaches()
        let a = AuthStage(policy: AuthPolicy(provider: try provider()), caches: caches)
        let provider = a.policy.provider
        let b = AuthStage(policy: AuthPolicy(provider: provider, forwardToken: true), caches: caches)
        XCTAssertEqual(run([a], token: token).response.status, 200)
        XCTAssertEqual(run([b], token: token).response.status, 200)
        XCTAssertEqual(statistics(b), AuthStage.Statistics(verifications: 1, hits: 1, entries: 1))
    }

    func testTheCacheIsBoundedAndEvictsTheLeastRecentlyUsed() throws {
        let auth = try stage(try provider(cacheEntries: 2))
        let tokens = try (1...3).map { try mint.token(claims: TokenMint.claims(sub: "u\($0)", exp: t0 + 300)) }
        XCTAssertEqual(run([auth], token: tokens[0]).response.status, 200)   // verify A
        XCTAssertEqual(run([auth], token: tokens[1]).response.status, 200)   // verify B
        XCTAssertEqual(run([auth], token: tokens[0]).response.status, 200)   // hit A (now the newest)
        XCTAssertEqual(run([auth], token: tokens[2]).response.status, 200)   // verify C, evicts B
        XCTAssertEqual(statistics(auth), AuthStage.Statistics(verifications: 3, hits: 1, entries: 2))
        XCTAssertEqual(run([auth], token: tokens[0]).identity.principal, "u1")  // still cached
        XCTAssertEqual(statistics(auth).hits, 2)
        XCTAssertEqual(run([auth], token: tokens[1]).identity.principal, "u2")  // evicted: verified again
        XCTAssertEqual(statistics(auth), AuthStage.Statistics(verifications: 4, hits: 2, entries: 2))

        let uncached = try stage(try provider(cacheEntries: 0))
        for _ in 0..<3 { XCTAssertEqual(run([uncached], token: tokens[0]).response.status, 200) }
        XCTAssertEqual(statistics(uncached), AuthStage.Statistics(verifications: 3, hits: 0, entries: 0))
    }

    func testACachedEntryExpiresWithTheToken() throws {
        let auth = try stage()
        let exp = t0 + 100
        let token = try mint.token(claims: TokenMint.claims(exp: exp))
        setWall(exp - 1)
        XCTAssertEqual(run([auth], token: token).response.status, 200)
        setWall(exp + 59)
        XCTAssertEqual(run([auth], token: token).response.status, 200)
        XCTAssertEqual(statistics(auth).hits, 1)
        setWall(exp + 60)
        assertInvalidToken(run([auth], token: token), "token_expired")
        XCTAssertEqual(statistics(auth), AuthStage.Statistics(verifications: 2, hits: 1, entries: 0))
    }

    func testARefusedTokenIsNotCached() throws {
        let auth = try stage()
        let token = try mint.token(claims: TokenMint.claims(exp: t0 + 300, extra: #""nbf":\#(t0 + 200)"#))
        assertInvalidToken(run([auth], token: token), "token_not_yet_valid")
        setWall(t0 + 150)
        XCTAssertEqual(run([auth], token: token).response.status, 200)
        XCTAssertEqual(statistics(auth).verifications, 2)
    }

    // MARK: RBAC

    func testPermissionsThroughInheritedRoles() throws {
        let roles = try RoleTable.resolve(["admin": .init(permissions: ["users:write"], inherits: ["editor"]),
                                           "editor": .init(permissions: ["articles:write"], inherits: ["user"]),
                                           "user": .init(permissions: ["users:read"])])
        XCTAssertEqual(roles.permissionsByRole["admin"], ["users:write", "articles:write", "users:read"])
        let p = try provider(roles: roles, rolesClaim: "realm_access.roles")
        let needsRead = try stage(p, require: [AuthRequirement(permissions: ["users:read"])])
        let needsWrite = try stage(p, require: [AuthRequirement(permissions: ["users:write"])])
        let admin = try mint.token(claims: TokenMint.claims(exp: t0 + 300, extra: #""realm_access":{"roles":["admin"]}"#))
        let user = try mint.token(claims: TokenMint.claims(exp: t0 + 300, extra: #""realm_access":{"roles":["user","unknown"]}"#))
        let flat = try mint.token(claims: TokenMint.claims(exp: t0 + 300, extra: #""roles":["admin"]"#))
        XCTAssertEqual(run([needsRead], token: admin).response.status, 200)
        XCTAssertEqual(run([needsWrite], token: admin).response.status, 200)
        XCTAssertEqual(run([needsRead], token: user).response.status, 200)
        XCTAssertEqual(run([needsRead], token: user).identity.roles, ["user", "unknown"])
        assertForbidden(run([needsWrite], token: user))
        assertForbidden(run([needsRead], token: flat), "roles are read from realm_access.roles only")
        XCTAssertThrowsError(try RoleTable.resolve(["a": .init(inherits: ["b"]), "b": .init(inherits: ["a"])]))
        XCTAssertThrowsError(try RoleTable.resolve(["a": .init(inherits: ["nobody"])]))
    }

    func assertForbidden(_ outcome: StageHarness.Outcome, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(outcome.response.status, 403, message, file: file, line: line)
        XCTAssertEqual(outcome.response.headers["WWW-Authenticate"], #"Bearer error="insufficient_scope""#, file: file, line: line)
        XCTAssertEqual(outcome.response.problemCode, "insufficient_scope", file: file, line: line)
        XCTAssertNil(outcome.forwarded, file: file, line: line)
    }

    func testScopesFromScopeStringAndScpArray() throws {
        let needs = try stage(require: [AuthRequirement(scopes: ["orders:read", "orders:write"])])
        let cases: [(String, Bool)] = [
            (#""scope":"orders:read orders:write profile""#, true),
            (#""scp":["orders:read","orders:write"]"#, true),
            (#""scp":"orders:read orders:write""#, true),
            (#""scope":"orders:read","scp":["orders:write"]"#, true),
            (#""scope":"orders:read""#, false),
            (#""scope":"orders:read,orders:write""#, false),
            (#""scope":["orders:read","orders:write"]"#, false),
            ("", false),
        ]
        for (extra, allowed) in cases {
            let outcome = run([needs], token: try mint.token(claims: TokenMint.claims(exp: t0 + 300, extra: extra)))
            if allowed { XCTAssertEqual(outcome.response.status, 200, extra) } else { assertForbidden(outcome, extra) }
        }
    }

    func testOwnerOrAdmin() throws {
        let owner = AuthRequirement(owner: .init(parameter: "id", claim: try ClaimPath("sub")))
        let needs = try stage(require: [owner, AuthRequirement(roles: ["admin"])])
        let alice = try mint.token(claims: TokenMint.claims(sub: "alice@example.com", exp: t0 + 300))
        let admin = try mint.token(claims: TokenMint.claims(sub: "root", exp: t0 + 300, extra: #""roles":["admin"]"#))
        XCTAssertEqual(run([needs], token: alice, parameters: [("id", "alice@example.com")]).response.status, 200)
        XCTAssertEqual(run([needs], token: alice, parameters: [("id", "alice%40example.com")]).response.status, 200, "percent-decoded")
        assertForbidden(run([needs], token: alice, parameters: [("id", "bob")]))
        assertForbidden(run([needs], token: alice, parameters: [("id", "Alice@example.com")]), "exact, case-sensitive")
        assertForbidden(run([needs], token: alice, parameters: [("id", "alice%40example.com%00")]))
        XCTAssertEqual(run([needs], token: admin, parameters: [("id", "bob")]).response.status, 200)
        let numeric = try stage(require: [AuthRequirement(owner: .init(parameter: "id", claim: try ClaimPath("uid")))])
        let withUID = try mint.token(claims: TokenMint.claims(exp: t0 + 300, extra: #""uid":42"#))
        XCTAssertEqual(run([numeric], token: withUID, parameters: [("id", "42")]).response.status, 200)
        assertForbidden(run([numeric], token: alice, parameters: [("id", "42")]), "no such claim")
    }

    // MARK: Claims to headers, templates

    func testClaimsToHeadersReplaceSpoofedFields() throws {
        let auth = try stage(claimsToHeaders: [("sub", "X-User-Id"), ("tenant", "X-Tenant"), ("missing", "X-Missing"), (#"["https://x.test/groups"]"#, "X-Groups")])
        let token = try mint.token(claims: TokenMint.claims(exp: t0 + 300, extra: #""tenant":7,"https://x.test/groups":["a","b"]"#))
        let outcome = run([auth], token: token, headers: [("x-user-id", "admin"), ("X-USER-ID", "root"), ("X-Tenant", "1"), ("X-Missing", "spoof")])
        let forwarded = try XCTUnwrap(outcome.forwarded)
        XCTAssertEqual(forwarded.headers.values("X-User-Id"), ["u1"])
        XCTAssertEqual(forwarded.headers.values("X-Tenant"), ["7"])
        XCTAssertEqual(forwarded.headers.values("X-Groups"), ["a,b"])
        XCTAssertEqual(forwarded.headers.values("X-Missing"), [], "a missing claim sends nothing, and the client's value is gone")
        XCTAssertNil(forwarded.headers["Authorization"])
    }

    func testAClaimWithAControlCharacterIsRefused() throws {
        let auth = try stage(claimsToHeaders: [("sub", "X-User-Id")])
        let token = try mint.token(claims: TokenMint.claims(sub: #"u1\r\nX-Admin: 1"#, exp: t0 + 300))
        let outcome = run([auth], token: token)
        XCTAssertEqual(outcome.response.status, 400)
        XCTAssertEqual(outcome.response.problemCode, "invalid_header_value")
        XCTAssertNil(outcome.forwarded)
    }

    func testClaimsInHeaderTemplates() throws {
        var headers = HeaderPolicy()
        headers.request.set = [("X-User", try HeaderTemplate("user={claims.sub}")), ("X-Role", try HeaderTemplate("{claims.realm.roles}"))]
        headers.response.add = [("X-Served-For", try HeaderTemplate("{claims.sub}"))]
        let token = try mint.token(claims: TokenMint.claims(exp: t0 + 300, extra: #""realm":{"roles":["x","y"]}"#))
        let outcome = run([try stage(), HeadersStage(policy: headers)], token: token, headers: [("X-User", "spoof")])
        XCTAssertEqual(outcome.forwarded?.headers.values("X-User"), ["user=u1"])
        XCTAssertEqual(outcome.forwarded?.headers["X-Role"], "x,y")
        XCTAssertEqual(outcome.response.headers["X-Served-For"], "u1")
        let hostile = try mint.token(claims: TokenMint.claims(sub: #"a\nb"#, exp: t0 + 300))
        XCTAssertEqual(run([try stage(), HeadersStage(policy: headers)], token: hostile).response.status, 400)
    }

    // MARK: Security events

    func testEveryRefusalIsLoggedWithoutTheToken() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("auth-events-\(UInt32.random(in: 0...UInt32.max)).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try LogWriter.appending(toFile: path)
        harness.close()
        harness = try StageHarness(clock: clock, logging: LogStreams(application: Logger(threshold: .info, writer: writer), access: nil))
        let token = try mint.token(claims: TokenMint.claims(exp: t0 - 100))
        _ = run([try stage()], token: token)
        _ = run([try stage(require: [AuthRequirement(scopes: ["x"])])], token: try mint.token(claims: TokenMint.claims(exp: t0 + 100)))
        XCTAssertTrue(writer.flush(timeout: 5_000_000_000))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.contains(#""event":"auth.unauthenticated""#) && text.contains(#""code":"token_expired""#), text)
        XCTAssertTrue(text.contains(#""event":"auth.forbidden""#), text)
        for part in token.split(separator: ".") { XCTAssertFalse(text.contains(part)) }
    }
}
