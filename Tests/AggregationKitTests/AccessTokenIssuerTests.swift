import XCTest
import Foundation
@testable import AggregationKit

/// The gateway's own access tokens: what they carry, that the `session` provider accepts them (and
/// only within their lifetime), and that the published JWK Set verifies them here and in Python.
final class AccessTokenIssuerTests: XCTestCase {
    let now: Int64 = 1_767_225_600

    private func claims(of token: String) throws -> JSONObject {
        let payload = try XCTUnwrap(Base64URL.decode(String(token.split(separator: ".")[1])))
        return try XCTUnwrap(JSONParser.parse(payload).objectValue)
    }

    func testTokenCarriesTheSessionClaims() throws {
        let issuer = try AccessTokenIssuer.ephemeral(issuer: "bff-gateway", audience: "bff-services", timeToLive: 300)
        let issued = try issuer.issue(subject: "alice", roles: ["user", "admin"], sessionID: "s1", now: now)
        XCTAssertEqual(issued.expiresAt, now + 300)
        let c = try claims(of: issued.token)
        XCTAssertEqual(c["iss"]?.stringValue, "bff-gateway")
        XCTAssertEqual(c["aud"]?.stringValue, "bff-services")
        XCTAssertEqual(c["sub"]?.stringValue, "alice")
        XCTAssertEqual(c["sid"]?.stringValue, "s1")
        XCTAssertEqual(c["roles"], .array([.string("user"), .string("admin")]))
        XCTAssertEqual(c["iat"]?.numberValue?.intValue, Int(now))
        XCTAssertEqual(c["exp"]?.numberValue?.intValue, Int(now + 300))
        XCTAssertEqual(Base64URL.decode(try XCTUnwrap(c["jti"]?.stringValue))?.count, 16)
        let header = try XCTUnwrap(JSONParser.parse(XCTUnwrap(Base64URL.decode(String(issued.token.split(separator: ".")[0])))).objectValue)
        XCTAssertEqual(header["alg"]?.stringValue, "ES256")
        XCTAssertEqual(header["kid"]?.stringValue, AccessTokenIssuer.thumbprint(of: issuer.signer.key.asymmetricKey!))
        XCTAssertNotEqual(try claims(of: issuer.issue(subject: "alice", roles: [], sessionID: "s1", now: now).token)["jti"], c["jti"], "jti is unique")
    }

    func testSessionProviderAcceptsOnlyLiveTokensOfThisIssuer() throws {
        let issuer = try AccessTokenIssuer.ephemeral(issuer: "bff-gateway", audience: "bff-services", timeToLive: 300)
        let token = Array(try issuer.issue(subject: "alice", roles: ["admin"], sessionID: "s1", now: now).token.utf8)
        let ok = try issuer.provider.authenticate(token, now: now + 10)
        XCTAssertEqual(ok.identity.principal, "alice")
        XCTAssertEqual(ok.identity.roles, ["admin"])
        XCTAssertEqual(issuer.provider.name, "session")
        XCTAssertNoThrow(try issuer.provider.authenticate(token, now: now + 300 + AccessTokenIssuer.leewaySeconds - 1))
        XCTAssertThrowsError(try issuer.provider.authenticate(token, now: now + 300 + AccessTokenIssuer.leewaySeconds)) { error in
            XCTAssertEqual((error as? JWTProvider.Rejection)?.code, "token_expired")
        }
        let other = try AccessTokenIssuer.ephemeral(issuer: "bff-gateway", audience: "bff-services", timeToLive: 300)
        XCTAssertThrowsError(try other.provider.authenticate(token, now: now + 10), "another instance's ephemeral key does not verify it")
    }

    func testJWKSDocumentHasOnlyPublicMembersAndVerifiesIssuedTokens() throws {
        let issuer = try AccessTokenIssuer.ephemeral(issuer: "bff-gateway", audience: "bff-services", timeToLive: 300)
        let text = String(decoding: issuer.jwksDocument, as: UTF8.self)
        XCTAssertFalse(text.contains("\"d\""), text)
        let set = try JWKSet.parse(issuer.jwksDocument, requirement: .publicOnly)
        XCTAssertEqual(set.keys.count, 1)
        XCTAssertEqual(set.keys[0].algorithm, .es256)
        let token = try issuer.issue(subject: "alice", roles: [], sessionID: "s1", now: now).token
        XCTAssertEqual(try JWSVerifier(keys: set.keys).verify(token).keyID, set.keys[0].keyID)
    }

    func testKeyFromPEMKeepsItsAlgorithmAndRefusesPublicKeys() throws {
        let key = try AsymmetricKey.generateEC(curve: .p384)
        let issuer = try AccessTokenIssuer(key: try AsymmetricKey.pem(try key.privateKeyPEM()), issuer: "i", audience: "a", timeToLive: 60)
        XCTAssertFalse(issuer.isEphemeral)
        XCTAssertEqual(issuer.signer.key.algorithm, .es384)
        XCTAssertThrowsError(try AccessTokenIssuer(key: try key.publicKey(), issuer: "i", audience: "a", timeToLive: 60))
        // The same key gives the same kid (tokens of one key stay verifiable across restarts and instances).
        let again = try AccessTokenIssuer(key: try AsymmetricKey.pem(try key.privateKeyPEM()), issuer: "i", audience: "a", timeToLive: 60)
        XCTAssertEqual(again.signer.key.keyID, issuer.signer.key.keyID)
    }

    /// Tokens the gateway issues verify in PyJWT and joserfc with the key from the published JWK Set.
    func testIssuedTokensVerifyInPython() throws {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import joserfc, jwt"]
        check.standardError = FileHandle.nullDevice
        try check.run()
        check.waitUntilExit()
        if check.terminationStatus != 0 { throw XCTSkip("python3 lacks joserfc/PyJWT (pip install joserfc pyjwt)") }

        let issuer = try AccessTokenIssuer.ephemeral(issuer: "bff-gateway", audience: "bff-services", timeToLive: 300)
        let token = try issuer.issue(subject: "alice", roles: ["user"], sessionID: "s1", now: Int64(Date().timeIntervalSince1970)).token
        let jwk = try XCTUnwrap(JSONParser.parse(issuer.jwksDocument).objectValue?["keys"]?.arrayValue?.first)
        let input = JSONObject([("tokens", .array([.object(JSONObject([
            ("alg", .string("ES256")), ("jwk", jwk), ("token", .string(token)), ("claims", .object(try claims(of: token))),
        ]))]))])
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/jose_interop.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "verify"]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data(JSONSerializer.serialize(.object(input))))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let report = try XCTUnwrap(JSONParser.parse(Array(out)).objectValue, String(decoding: out, as: UTF8.self))
        XCTAssertEqual(process.terminationStatus, 0, String(decoding: out, as: UTF8.self))
        let libraries = report["results"]?.arrayValue?.compactMap { $0.objectValue?["library"]?.stringValue } ?? []
        XCTAssertEqual(Set(libraries), ["joserfc", "pyjwt"])
    }
}
