import Foundation
import XCTest
@testable import AggregationKit

/// The top-level `auth` section (providers, keys, roles) and `policy.auth`: what is compiled, and every
/// bad value reported with its JSON path.
final class AuthConfigurationTests: XCTestCase {
    let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/jose").path
    let service = #""services": {"a": {"instances": ["127.0.0.1:81"]}}"#
    var mint: TokenMint!

    override func setUpWithError() throws { mint = try TokenMint() }

    private func parse(_ json: String) throws(ConfigurationError) -> GatewayConfiguration {
        try GatewayConfiguration.parse(Array(json.utf8), file: "gateway.json", directory: fixtures)
    }

    private func issues(_ json: String) -> [String] {
        do { _ = try parse(json); return [] } catch { return error.issues.map { "\($0.path): \($0.reason)" } }
    }

    /// A configuration with one provider `main` (the mint's key inline) plus `provider` members, `roles`,
    /// and one route with `policy`.
    private func config(provider: String = "", roles: String = #"{"user": {"permissions": ["users:read"]}}"#,
                        policy: String = "null", path: String = "/users/{id}", extra: String = "") -> String {
        """
        {\(service), \(extra)
         "auth": {"jwt": {"providers": {"main": {"keys": [{"jwk": \(mint.publicJWK)}], "issuers": ["https://id.test"]\(provider)}}},
                  "roles": \(roles)},
         "routes": [{"name": "r", "path": "\(path)", "proxy": {"service": "a"}, "policy": \(policy)}]}
        """
    }

    func testProvidersFromEveryKeySource() throws {
        let jwksFile = FileManager.default.temporaryDirectory.appendingPathComponent("auth-jwks-\(UInt32.random(in: 0...UInt32.max)).json").path
        defer { try? FileManager.default.removeItem(atPath: jwksFile) }
        let other = try TokenMint(kid: "k2")
        try #"{"keys": [\#(other.publicJWK), {"kty": "EC", "use": "enc", "crv": "P-256", "x": "", "y": ""}]}"#.write(toFile: jwksFile, atomically: true, encoding: .utf8)
        let third = try TokenMint(kid: "k3")
        let configuration = try parse("""
        {"auth": {"jwt": {"providers": {"main": {
            "keys": [{"pemFile": "ec-p256-spki.pem", "kid": "pem-ec"}, {"pemFile": "rsa-2048-spki.pem"}, {"jwksFile": "\(jwksFile)"},
                     {"jwk": \(mint.publicJWK)}, {"jwks": {"keys": [\(third.publicJWK)]}}],
            "algorithms": ["ES256", "PS256"], "issuers": ["https://id.test"], "audiences": ["bff"], "leewaySeconds": 5,
            "type": "at+jwt", "maxTokenBytes": 4096, "cacheEntries": 10, "rolesClaim": "realm_access.roles"}}},
          "rolesClaim": "roles"}}
        """)
        let provider = try XCTUnwrap(configuration.auth.provider(named: "main"))
        XCTAssertEqual(provider.verifier.keys.map(\.keyID), ["pem-ec", nil, "k2", "k1", "k3"], "the encryption key is skipped")
        XCTAssertEqual(provider.verifier.keys.map(\.algorithm), [.es256, .ps256, .es256, .es256, .es256], "RSA takes the one RSA algorithm listed")
        XCTAssertEqual(provider.verifier.maximumTokenBytes, 4096)
        XCTAssertEqual(provider.validator.issuers, ["https://id.test"])
        XCTAssertEqual(provider.validator.audiences, ["bff"])
        XCTAssertEqual(provider.validator.leewaySeconds, 5)
        XCTAssertEqual(provider.validator.expectedType, "at+jwt")
        XCTAssertEqual(provider.cacheEntries, 10)
        XCTAssertEqual(provider.rolesClaim.segments, ["realm_access", "roles"])
        let token = try other.token(header: #"{"alg":"ES256","kid":"k2"}"#, claims: TokenMint.claims(exp: 4_102_444_800))
        XCTAssertEqual(try provider.verifier.verify(token).keyID, "k2")
    }

    func testDefaults() throws {
        let configuration = try parse(config())
        let provider = try XCTUnwrap(configuration.auth.providers.first)
        XCTAssertEqual(provider.validator.requiredClaims, ["exp", "sub"])
        XCTAssertEqual(provider.validator.leewaySeconds, 60)
        XCTAssertNil(provider.validator.expectedType)
        XCTAssertEqual(provider.verifier.maximumTokenBytes, 8192)
        XCTAssertEqual(provider.cacheEntries, 4096)
        XCTAssertEqual(provider.rolesClaim.segments, ["roles"])
        XCTAssertNil(configuration.effectivePolicy(route: configuration.routes[0]).auth, "no policy.auth: the route is open")
    }

    func testRoutePolicyCompilesToAnAuthStageInItsPlace() throws {
        let configuration = try parse(config(policy: """
        {"methods": ["GET"], "maxBodyBytes": 10, "headers": {"request": {"set": {"X-Sub": "{claims.sub}"}}},
         "auth": {"require": [{"owner": {"param": "id"}}, {"permissions": ["users:read"], "scopes": ["s"]}],
                  "claimsToHeaders": {"sub": "X-User-Id", "realm_access.roles": "X-Roles"}, "forwardToken": true}}
        """))
        let policy = configuration.effectivePolicy(route: configuration.routes[0])
        let auth = try XCTUnwrap(policy.auth)
        XCTAssertEqual(auth.provider.name, "main", "the only provider is the default")
        XCTAssertEqual(auth.require.count, 2)
        XCTAssertEqual(auth.require[0].owner?.parameter, "id")
        XCTAssertEqual(auth.require[0].owner?.claim.segments, ["sub"])
        XCTAssertEqual(auth.require[1].permissions, ["users:read"])
        XCTAssertEqual(auth.claimsToHeaders.map(\.header), ["X-User-Id", "X-Roles"])
        XCTAssertTrue(auth.forwardToken)
        XCTAssertEqual(PipelineCompiler.stages(for: policy).map(\.name), ["methods", "maxBodyBytes", "auth", "headers"])
        let off = try parse(config(policy: #"{"auth": null}"#, extra: #""defaults": {"policy": {"auth": {}}},"#))
        XCTAssertNil(off.effectivePolicy(route: off.routes[0]).auth, "auth: null turns an inherited auth off")
        XCTAssertNotNil(try parse(config(policy: "{}", extra: #""defaults": {"policy": {"auth": {}}},"#)).defaultPolicy.auth)
    }

    func testEndpointContractsNameProvidersToo() throws {
        let configuration = try parse(config())
        let text = #"{"name": "e", "path": "/e/{userId}", "policy": {"auth": {"provider": "main", "require": {"owner": {"param": "userId"}}}}, "calls": {"u": {"service": "a", "path": "/u"}}, "response": "$u"}"#
        guard case .success(let endpoint) = GatewayConfiguration.compileEndpoint(Array(text.utf8), file: "e.json", services: ["a"], auth: configuration.auth) else {
            return XCTFail("not compiled")
        }
        XCTAssertEqual(configuration.effectivePolicy(endpoint: endpoint).auth?.provider.name, "main")
        let wrong = #"{"name": "e", "path": "/e/{userId}", "policy": {"auth": {"provider": "nope", "require": {"owner": {"param": "id"}}}}, "calls": {"u": {"service": "a", "path": "/u"}}, "response": "$u"}"#
        guard case .failure(let e) = GatewayConfiguration.compileEndpoint(Array(wrong.utf8), file: "e.json", services: ["a"], auth: configuration.auth) else {
            return XCTFail("compiled")
        }
        XCTAssertEqual(e.issues.map(\.path), ["$.policy.auth.provider"])
    }

    func testProviderErrors() {
        XCTAssertEqual(issues(#"{"auth": {"jwt": {"providers": {"p": {"keys": []}}}, "extra": 1}}"#), [
            "$.auth.extra: unknown key (allowed: jwt, roles, rolesClaim, apiKeys, sessions)",
            "$.auth.jwt.providers.p.keys: at least one key source is required (or jwksUrl)",
            "$.auth.jwt.providers.p.issuers: required: the exact iss values this provider's tokens carry",
        ])
        XCTAssertEqual(issues(config(provider: #", "algorithms": ["HS256", "none", "ES256", "ES256"], "leewaySeconds": 601, "maxTokenBytes": 100, "jwksUrl": "http://x""#)), [
            "$.auth.jwt.providers.main.jwksUrl: only a loopback host (127.0.0.1, ::1, localhost) until the gateway has TLS to upstreams: keys fetched in the clear from another machine could be swapped on the way",
            "$.auth.jwt.providers.main.algorithms[0]: HS256 needs a shared secret, which would let the gateway mint the issuer's tokens: configure the issuer's public key (RS, PS, ES, EdDSA)",
            "$.auth.jwt.providers.main.algorithms[1]: 'none' is not a JWS algorithm (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA; names are case-sensitive)",
            "$.auth.jwt.providers.main.algorithms[3]: 'ES256' is listed twice",
            "$.auth.jwt.providers.main.leewaySeconds: 601 is out of range 0...600",
            "$.auth.jwt.providers.main.maxTokenBytes: 100 is out of range 512...65536",
        ])
        XCTAssertEqual(issues(config(provider: #", "algorithms": ["EdDSA"]"#)), [
            "$.auth.jwt.providers.main.keys: a key (kid k1) is bound to ES256, which algorithms does not list",
        ])
        let keyIssues = issues(#"""
        {"auth": {"jwt": {"providers": {"p": {"issuers": ["i"], "keys": [
            {"pemFile": "ec-p256-sec1.pem"}, {"pemFile": "rsa-2048-spki.pem"}, {"pemFile": "missing.pem"}, {"pemFile": "x", "jwk": {}},
            {}, {"jwk": {"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"}}, {"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}},
            {"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}, "kid": "x"}]}}}}}
        """#)
        XCTAssertEqual(keyIssues.count, 8, keyIssues.joined(separator: "\n"))
        XCTAssertTrue(keyIssues[0].hasPrefix("$.auth.jwt.providers.p.keys[0].pemFile: a private key"), keyIssues[0])
        XCTAssertTrue(keyIssues[1].hasPrefix("$.auth.jwt.providers.p.keys[1].pemFile: an RSA key: list the RSA algorithm"), keyIssues[1])
        XCTAssertTrue(keyIssues[2].hasPrefix("$.auth.jwt.providers.p.keys[2].pemFile: cannot read"), keyIssues[2])
        XCTAssertEqual(keyIssues[3], "$.auth.jwt.providers.p.keys[3]: set only one of pemFile, jwk")
        XCTAssertEqual(keyIssues[4], "$.auth.jwt.providers.p.keys[4]: expected one of pemFile, jwksFile, jwk, jwks")
        XCTAssertTrue(keyIssues[5].hasPrefix("$.auth.jwt.providers.p.keys[5]: ") && keyIssues[5].contains("symmetric"), keyIssues[5])
        XCTAssertTrue(keyIssues[6].hasPrefix("$.auth.jwt.providers.p.keys[6]: "), keyIssues[6])
        XCTAssertEqual(keyIssues[7], "$.auth.jwt.providers.p.keys[7].kid: only for pemFile (a JWK carries its own kid)")
    }

    func testRoleErrors() {
        XCTAssertEqual(issues(config(roles: #"{"a": {"inherits": ["b"]}, "b": {"inherits": ["a"]}}"#)), ["$.auth.roles: roles inherit in a cycle: a → b → a"])
        XCTAssertEqual(issues(config(roles: #"{"a": {"inherits": ["nobody"], "permissions": ["x", "x"]}}"#)), [
            "$.auth.roles.a.permissions[1]: 'x' is listed twice",
        ])
        XCTAssertEqual(issues(config(roles: #"{"a": {"inherits": ["nobody"]}}"#)), ["$.auth.roles.a.inherits: 'nobody' is not a configured role"])
        XCTAssertEqual(issues(config(roles: #"{"a": {"grants": []}}"#)), ["$.auth.roles.a.grants: unknown key (allowed: permissions, inherits)"])
    }

    func testPolicyErrors() {
        XCTAssertEqual(issues(config(policy: #"{"auth": {"provider": "other", "forwardToken": "yes"}}"#)), [
            "$.routes[0].policy.auth.provider: 'other' is not configured (configured: main)",
            "$.routes[0].policy.auth.forwardToken: expected true or false, found string",
        ])
        XCTAssertEqual(issues(config(policy: #"{"auth": {"require": []}}"#)), ["$.routes[0].policy.auth.require: an empty list: leave require out to accept any valid token"])
        XCTAssertEqual(issues(config(policy: #"{"auth": {"require": [{}]}}"#)), [
            "$.routes[0].policy.auth.require[0]: an empty requirement lets every valid token in: name scopes, permissions, roles or owner (or leave require out)",
        ])
        XCTAssertEqual(issues(config(policy: #"{"auth": {"require": {"permissions": ["users:delete"], "scope": ["x"]}}}"#)), [
            "$.routes[0].policy.auth.require.scope: unknown key (allowed: scopes, permissions, roles, owner)",
            "$.routes[0].policy.auth.require.permissions[0]: no role in auth.roles grants 'users:delete': every request would be refused",
        ])
        XCTAssertEqual(issues(config(policy: #"{"auth": {"require": {"owner": {"param": "userId", "claim": "a..b"}}}}"#)).count, 1)
        XCTAssertEqual(issues(config(policy: #"{"auth": {"require": {"owner": {"param": "userId"}}}}"#)), [
            "$.routes[0].policy.auth: the owner check uses the path parameter 'userId', which the path '/users/{id}' does not capture",
        ])
        XCTAssertEqual(issues(config(policy: #"{"auth": {"claimsToHeaders": {"sub": "Host", "iss": "Authorization", "aud": "bad name", "email": "X-A", "name": "x-a"}}}"#)), [
            "$.routes[0].policy.auth.claimsToHeaders.sub: 'Host' cannot carry a claim (the gateway's own field, or credentials)",
            "$.routes[0].policy.auth.claimsToHeaders.iss: 'Authorization' cannot carry a claim (the gateway's own field, or credentials)",
            "$.routes[0].policy.auth.claimsToHeaders.aud: 'bad name' is not a valid header name",
            "$.routes[0].policy.auth.claimsToHeaders.name: 'x-a' is used twice",
        ])
        XCTAssertEqual(issues(config(policy: #"{"headers": {"request": {"set": {"X-Sub": "{claims.sub}"}}}}"#)), [
            "$.routes[0].policy.headers: uses {claims.…} but the route has no auth: there would be no claims",
        ])
        XCTAssertEqual(issues(config(policy: "{}", extra: #""defaults": {"policy": {"auth": {"require": {"owner": {"param": "id"}}}}},"#, )), [])
        XCTAssertEqual(issues(config(policy: "{}", path: "/other", extra: #""defaults": {"policy": {"auth": {"require": {"owner": {"param": "id"}}}}},"#)), [
            "$.routes[0].policy: inherits defaults.policy.auth, whose owner check uses the path parameter 'id', which the path '/other' does not capture",
        ])
        // Two providers: a route must say which.
        XCTAssertEqual(issues("""
        {\(service), "auth": {"jwt": {"providers": {"a": {"keys": [{"jwk": \(mint.publicJWK)}], "issuers": ["i"]},
                                                    "b": {"keys": [{"jwk": \(mint.publicJWK)}], "issuers": ["j"]}}}},
         "routes": [{"name": "r", "path": "/x", "proxy": {"service": "a"}, "policy": {"auth": {}}}]}
        """), ["$.routes[0].policy.auth.provider: required: several providers are configured (a, b)"])
    }

    func testClaimPaths() throws {
        XCTAssertEqual(try ClaimPath("sub").segments, ["sub"])
        XCTAssertEqual(try ClaimPath("realm_access.roles").segments, ["realm_access", "roles"])
        XCTAssertEqual(try ClaimPath(#"["https://x.test/roles"]"#).segments, ["https://x.test/roles"])
        XCTAssertEqual(try ClaimPath(#"resource_access["bff-web"].roles"#).segments, ["resource_access", "bff-web", "roles"])
        for bad in ["", ".", "a.", ".a", "a..b", #"["x"#, #"[""]"#, #"["a"]b"#] {
            XCTAssertThrowsError(try ClaimPath(bad), bad)
        }
        let claims = try XCTUnwrap(JSONParser.parse(Array(#"{"a":{"b":[1]},"c":"d"}"#.utf8)).objectValue)
        XCTAssertEqual(try ClaimPath("a.b").value(in: claims), .array([.number(JSONNumber(1))]))
        XCTAssertNil(try ClaimPath("c.d").value(in: claims))
    }
}
