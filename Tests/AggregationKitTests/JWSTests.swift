import XCTest
import Foundation
@testable import AggregationKit

/// The JWS compact verifier and signer, and the JWT claims validator: the RFC examples, every class of
/// refusal with its own code, round trips for every algorithm, sharing across threads, and the clock
/// boundaries of exp, nbf and iat.
final class JWSTests: XCTestCase {
    // MARK: - Helpers

    struct Vector {
        let name: String
        let algorithm: JWSAlgorithm
        let jwk: JSONObject
        let token: String
        let deterministic: Bool
    }

    static let vectorNames = ["rfc7515-a1-hs256", "rfc7515-a2-rs256", "rfc7515-a3-es256", "rfc7515-a4-es512",
                              "rfc7520-4.1-rs256", "rfc7520-4.2-ps384", "rfc7520-4.3-es512", "rfc7520-4.4-hs256"]

    static func vector(_ name: String) throws -> Vector {
        let object = try JSONParser.parse(CryptoTests.fixtureText("\(name).json")).objectValue!
        return Vector(name: name, algorithm: JWSAlgorithm(name: object["alg"]!.stringValue!)!,
                      jwk: object["jwk"]!.objectValue!, token: object["token"]!.stringValue!,
                      deterministic: object["deterministic"]!.boolValue!)
    }

    private static let secret = [UInt8](repeating: 0x5A, count: 32)
    private static let payload = Array(#"{"sub":"u1","exp":4102444800}"#.utf8)

    private func hmacKey(_ kid: String? = nil, secret: [UInt8] = JWSTests.secret, algorithm: JWSAlgorithm = .hs256) throws -> JWSKey {
        try JWSKey.hmac(secret: secret, algorithm: algorithm, keyID: kid)
    }

    /// A token with exactly `header` (raw JSON text, so tests can write what no signer would) and
    /// `payload`, signed with `key` under `algorithm` (or with `signature` as given).
    private func token(header: String, payload: [UInt8] = JWSTests.payload, key: JWSKey? = nil,
                       signature: [UInt8]? = nil) throws -> String {
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(payload)
        var sig = signature ?? []
        if let key {
            switch key.material {
            case .hmac(let secret): sig = secret.authenticationCode(for: Array(input.utf8))
            case .asymmetric(let privateKey): sig = try privateKey.signature(for: Array(input.utf8), using: key.algorithm.signatureAlgorithm!)
            }
        }
        return input + "." + Base64URL.encode(sig)
    }

    private func assertRejects(_ token: String, with verifier: JWSVerifier, _ expected: JWSError, _ message: String = "",
                               file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try verifier.verify(token)
            XCTFail("accepted; expected \(expected.code) \(message)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.code, expected.code, message, file: file, line: line)
        }
    }

    // MARK: - RFC examples

    /// RFC 7515 A.1–A.4 and RFC 7520 §4.1–4.4 verify under their keys (public halves only for the
    /// asymmetric ones), and a one-byte change to the payload makes each fail.
    func testRFCExamplesVerify() throws {
        for name in Self.vectorNames {
            let v = try Self.vector(name)
            let jwk = try JWK.parse(v.jwk, requirement: .any)
            let key: JWSKey
            if let asymmetric = jwk.asymmetricKey {
                key = try JWSKey(key: try asymmetric.publicKey(), algorithm: v.algorithm, keyID: jwk.keyID)
            } else {
                key = try jwk.jwsKey(defaultAlgorithm: v.algorithm)
            }
            let verifier = JWSVerifier(keys: [key])
            let verified = try verifier.verify(v.token)
            XCTAssertEqual(verified.algorithm, v.algorithm, name)
            let parts = v.token.split(separator: ".").map(String.init)
            XCTAssertEqual(verified.payload, Base64URL.decode(parts[1]), name)
            XCTAssertEqual(verified.header["alg"]?.stringValue, v.algorithm.name, name)

            var tampered = Base64URL.decode(parts[1])!
            tampered[0] ^= 0x01
            assertRejects(parts[0] + "." + Base64URL.encode(tampered) + "." + parts[2], with: verifier, .invalidSignature)
        }
        let a1 = try JWSVerifier(keys: [JWK.parse(Self.vector("rfc7515-a1-hs256").jwk, requirement: .any).jwsKey(defaultAlgorithm: .hs256)])
            .verify(Self.vector("rfc7515-a1-hs256").token)
        XCTAssertEqual(String(decoding: a1.payload, as: UTF8.self), "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}")
        XCTAssertEqual(a1.header["typ"]?.stringValue, "JWT")
    }

    /// Signing the RFC's own signing input with the RFC's private key: HMAC and RSA PKCS#1 v1.5 are
    /// deterministic and must reproduce the published signature byte for byte; ECDSA and PSS are
    /// randomized, so their fresh signatures must verify instead.
    func testSigningTheRFCInputsReproducesOrVerifies() throws {
        for name in Self.vectorNames {
            let v = try Self.vector(name)
            let parts = v.token.split(separator: ".").map(String.init)
            let input = Array((parts[0] + "." + parts[1]).utf8)
            let key = try JWK.parse(v.jwk, requirement: .any).jwsKey(defaultAlgorithm: v.algorithm)
            let signature: [UInt8]
            switch key.material {
            case .hmac(let secret): signature = secret.authenticationCode(for: input)
            case .asymmetric(let privateKey): signature = try privateKey.signature(for: input, using: v.algorithm.signatureAlgorithm!)
            }
            if v.deterministic {
                XCTAssertEqual(Base64URL.encode(signature), parts[2], name)
            } else {
                XCTAssertNotEqual(Base64URL.encode(signature), parts[2], name)
            }
            XCTAssertNoThrow(try JWSVerifier(keys: [key]).verify(parts[0] + "." + parts[1] + "." + Base64URL.encode(signature)), name)
        }
    }

    // MARK: - Refusals, one code each

    func testSizeCapIsCheckedFirst() throws {
        let key = try hmacKey()
        let verifier = JWSVerifier(keys: [key])
        let big = try token(header: #"{"alg":"HS256"}"#, payload: [UInt8](repeating: 0x61, count: 6200), key: key)
        XCTAssertGreaterThan(big.utf8.count, 8192)
        assertRejects(big, with: verifier, .tokenTooLarge)
        let fits = try token(header: #"{"alg":"HS256"}"#, payload: [UInt8](repeating: 0x61, count: 6000), key: key)
        XCTAssertLessThanOrEqual(fits.utf8.count, 8192)
        XCTAssertNoThrow(try verifier.verify(fits))
        assertRejects(fits, with: JWSVerifier(keys: [key], maximumTokenBytes: 1024), .tokenTooLarge)
        assertRejects(String(repeating: "a", count: 9000), with: verifier, .tokenTooLarge)
    }

    func testOnlyCompactSerializationIsAccepted() throws {
        let verifier = JWSVerifier(keys: [try hmacKey()])
        for bad in ["", "abc", "a.b", "a.b.c.d", ".b.c", "a..c", "..", "...", #"{"payload":"e30","signatures":[]}"#,
                    // A JWE has five parts.
                    "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"] {
            assertRejects(bad, with: verifier, .malformed)
        }
    }

    func testBase64URLMustBeStrict() throws {
        let key = try hmacKey()
        let verifier = JWSVerifier(keys: [key])
        let good = try token(header: #"{"alg":"HS256"}"#, key: key)
        XCTAssertNoThrow(try verifier.verify(good))
        let parts = good.split(separator: ".").map(String.init)
        assertRejects(parts[0] + "=." + parts[1] + "." + parts[2], with: verifier, .invalidBase64URL)
        assertRejects(parts[0] + "." + parts[1] + "." + parts[2] + "=", with: verifier, .invalidBase64URL)
        assertRejects(parts[0] + "." + parts[1] + ".+" + parts[2].dropFirst(), with: verifier, .invalidBase64URL)
        assertRejects(parts[0] + "." + parts[1] + "./" + parts[2].dropFirst(), with: verifier, .invalidBase64URL)
        assertRejects(parts[0] + " ." + parts[1] + "." + parts[2], with: verifier, .invalidBase64URL)
        // The 32-byte HMAC ends in a character with two unused bits; setting one gives a second spelling
        // of the same signature, which must not verify (a cache keyed by the token would see two tokens).
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var signature = Array(parts[2])
        let last = alphabet.firstIndex(of: signature.last!)!
        XCTAssertEqual(last & 3, 0)
        signature[signature.count - 1] = alphabet[last | 1]
        assertRejects(parts[0] + "." + parts[1] + "." + String(signature), with: verifier, .invalidBase64URL)
    }

    func testHeaderMustBeAStrictJSONObject() throws {
        let key = try hmacKey()
        let verifier = JWSVerifier(keys: [key])
        assertRejects(try token(header: "not json", key: key), with: verifier, .invalidHeader)
        assertRejects(try token(header: #"["HS256"]"#, key: key), with: verifier, .invalidHeader)
        assertRejects(try token(header: #"{"alg":"HS256","alg":"none"}"#, key: key), with: verifier, .invalidHeader)
        assertRejects(try token(header: #"{"alg":"none","alg":"HS256"}"#, key: key), with: verifier, .invalidHeader)
        assertRejects(try token(header: #"{"alg":["HS256"]}"#, key: key), with: verifier, .invalidHeader)
        assertRejects(try token(header: #"{"alg":"HS256","kid":1}"#, key: key), with: verifier, .invalidHeader)
        assertRejects(try token(header: #"{"alg":"HS256","typ":{}}"#, key: key), with: verifier, .invalidHeader)
        assertRejects(try token(header: #"{"typ":"JWT"}"#, key: key), with: verifier, .missingAlgorithm)
        // Trailing bytes after the object.
        assertRejects(try token(header: #"{"alg":"HS256"}x"#, key: key), with: verifier, .invalidHeader)
    }

    func testAlgNoneInAnyCasingIsRefused() throws {
        let verifier = JWSVerifier(keys: [try hmacKey()])
        for alg in ["none", "None", "NONE", "nOnE"] {
            // As unsigned tokens come: an empty signature.
            assertRejects(try token(header: #"{"alg":"\#(alg)"}"#), with: verifier, .algorithmNone)
            assertRejects(try token(header: #"{"alg":"\#(alg)"}"#, signature: [1, 2, 3]), with: verifier, .algorithmNone)
        }
    }

    func testUnknownAlgorithmsAreRefusedCaseSensitively() throws {
        let key = try hmacKey()
        let verifier = JWSVerifier(keys: [key])
        for alg in ["hs256", "Hs256", "HS1", "ES256K", "RSA-OAEP", "Ed25519", ""] {
            assertRejects(try token(header: #"{"alg":"\#(alg)"}"#, signature: [1]), with: verifier, .unsupportedAlgorithm)
        }
    }

    func testHeadersThatSupplyKeysOrCertificatesAreRefused() throws {
        let key = try hmacKey()
        let verifier = JWSVerifier(keys: [key])
        let jwk = #"{"kty":"oct","k":"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo"}"#
        assertRejects(try token(header: #"{"alg":"HS256","jwk":\#(jwk)}"#, key: key), with: verifier, .embeddedKey)
        assertRejects(try token(header: #"{"alg":"HS256","jku":"https://attacker.example/jwks.json"}"#, key: key), with: verifier, .keySetURL)
        assertRejects(try token(header: #"{"alg":"HS256","x5u":"https://attacker.example/cert.pem"}"#, key: key), with: verifier, .certificateURL)
        assertRejects(try token(header: #"{"alg":"HS256","x5c":["MIIB"]}"#, key: key), with: verifier, .certificateChain)
        // Even a null value: the member's presence is the attack surface.
        assertRejects(try token(header: #"{"alg":"HS256","jku":null}"#, key: key), with: verifier, .keySetURL)
    }

    func testCritIsRefused() throws {
        let key = try hmacKey()
        let verifier = JWSVerifier(keys: [key])
        assertRejects(try token(header: #"{"alg":"HS256","crit":["exp"],"exp":1}"#, key: key), with: verifier, .unsupportedCritical)
        assertRejects(try token(header: #"{"alg":"HS256","crit":["b64"],"b64":false}"#, key: key), with: verifier, .unsupportedCritical)
        assertRejects(try token(header: #"{"alg":"HS256","crit":[]}"#, key: key), with: verifier, .unsupportedCritical)
        // x5t is a thumbprint, not a key source: harmless, accepted.
        XCTAssertNoThrow(try verifier.verify(try token(header: #"{"alg":"HS256","x5t":"abc"}"#, key: key)))
    }

    /// The key-confusion attack: an HS256 token whose "secret" is the RSA public key's own PEM text.
    func testHMACTokenAgainstAPublicKeyIsRefused() throws {
        let pem = try CryptoTests.fixtureText("rsa-2048-spki.pem")
        let rsa = try JWSKey(key: try AsymmetricKey.pem(pem), algorithm: .rs256, keyID: "r1")
        let verifier = JWSVerifier(keys: [rsa])
        let forged = try JWSKey.hmac(secret: Array(pem.utf8), algorithm: .hs256)
        assertRejects(try token(header: #"{"alg":"HS256"}"#, key: forged), with: verifier, .hmacWithPublicKey)
        assertRejects(try token(header: #"{"alg":"HS256","kid":"r1"}"#, key: forged), with: verifier, .hmacWithPublicKey)
        let der = try JWSKey.hmac(secret: try AsymmetricKey.pem(pem).subjectPublicKeyInfo(), algorithm: .hs512)
        assertRejects(try token(header: #"{"alg":"HS512"}"#, key: der), with: verifier, .hmacWithPublicKey)
    }

    func testAnAlgorithmTheKeyIsNotBoundToIsRefused() throws {
        let rsa = try AsymmetricKey.pem(CryptoTests.fixtureText("rsa-2048-pkcs1.pem"))
        let rs256 = try JWSKey(key: try rsa.publicKey(), algorithm: .rs256, keyID: "r")
        let verifier = JWSVerifier(keys: [rs256])
        // A valid PS256 and RS512 signature by the same RSA key: the key is bound to RS256 only.
        assertRejects(try token(header: #"{"alg":"PS256","kid":"r"}"#, key: JWSKey(key: rsa, algorithm: .ps256)), with: verifier, .algorithmNotAllowed)
        assertRejects(try token(header: #"{"alg":"RS512"}"#, key: JWSKey(key: rsa, algorithm: .rs512)), with: verifier, .algorithmNotAllowed)
        XCTAssertNoThrow(try verifier.verify(try token(header: #"{"alg":"RS256","kid":"r"}"#, key: JWSKey(key: rsa, algorithm: .rs256))))
        // An HS384 token against an HS256 secret is a wrong binding, not key confusion.
        let hs = JWSVerifier(keys: [try hmacKey()])
        assertRejects(try token(header: #"{"alg":"HS384"}"#, key: hmacKey(secret: [UInt8](repeating: 1, count: 48), algorithm: .hs384)),
                      with: hs, .algorithmNotAllowed)
        // ES384 against a P-256 key.
        let p256 = try AsymmetricKey.generateEC(curve: .p256)
        let ecVerifier = JWSVerifier(keys: [try JWSKey(key: p256, algorithm: .es256)])
        let p384 = try AsymmetricKey.generateEC(curve: .p384)
        assertRejects(try token(header: #"{"alg":"ES384"}"#, key: JWSKey(key: p384, algorithm: .es384)), with: ecVerifier, .algorithmNotAllowed)
    }

    func testKidOnlySelectsAmongConfiguredKeys() throws {
        let first = try hmacKey("k1", secret: [UInt8](repeating: 1, count: 32))
        let second = try hmacKey("k2", secret: [UInt8](repeating: 2, count: 32))
        let verifier = JWSVerifier(keys: [first, second])
        XCTAssertEqual(try verifier.verify(try token(header: #"{"alg":"HS256","kid":"k1"}"#, key: first)).keyID, "k1")
        XCTAssertEqual(try verifier.verify(try token(header: #"{"alg":"HS256","kid":"k2"}"#, key: second)).keyID, "k2")
        // Signed by k1 but naming k2: only k2 is tried.
        assertRejects(try token(header: #"{"alg":"HS256","kid":"k2"}"#, key: first), with: verifier, .invalidSignature)
        assertRejects(try token(header: #"{"alg":"HS256","kid":"k3"}"#, key: first), with: verifier, .unknownKeyID)
        assertRejects(try token(header: #"{"alg":"HS256","kid":""}"#, key: first), with: verifier, .unknownKeyID)
        // Without kid, every key bound to the algorithm is tried.
        XCTAssertEqual(try verifier.verify(try token(header: #"{"alg":"HS256"}"#, key: second)).keyID, "k2")
        assertRejects(try token(header: #"{"alg":"HS256"}"#, key: first), with: JWSVerifier(keys: []), .unknownKeyID)
        // A key configured without an id serves any kid no configured key claims (a static key, an issuer
        // that adds a kid of its own), but never a kid another key has.
        let anonymous = try hmacKey(secret: [UInt8](repeating: 3, count: 32))
        let mixed = JWSVerifier(keys: [first, anonymous])
        XCTAssertNil(try mixed.verify(try token(header: #"{"alg":"HS256","kid":"issuer-7"}"#, key: anonymous)).keyID)
        assertRejects(try token(header: #"{"alg":"HS256","kid":"k1"}"#, key: anonymous), with: mixed, .invalidSignature)
    }

    func testECDSASignaturesMustBeRawAndInRange() throws {
        for (curve, algorithm) in [(AsymmetricKey.Curve.p256, JWSAlgorithm.es256), (.p384, .es384), (.p521, .es512)] {
            let privateKey = try AsymmetricKey.generateEC(curve: curve)
            let key = try JWSKey(key: privateKey, algorithm: algorithm)
            let verifier = JWSVerifier(keys: [try JWSKey(key: privateKey.publicKey(), algorithm: algorithm)])
            let header = #"{"alg":"\#(algorithm.name)"}"#
            let good = try token(header: header, key: key)
            XCTAssertNoThrow(try verifier.verify(good))
            let parts = good.split(separator: ".").map(String.init)
            let raw = Base64URL.decode(parts[2])!
            XCTAssertEqual(raw.count, 2 * curve.coordinateLength)
            let prefix = parts[0] + "." + parts[1] + "."
            let der = ECDSASignature.der(fromRaw: raw, curve: curve)!
            let n = curve.coordinateLength
            let zeros = [UInt8](repeating: 0, count: n)
            let ones = [UInt8](repeating: 0xFF, count: n)
            let r = Array(raw[..<n]), s = Array(raw[n...])
            let malformed: [(String, [UInt8])] = [
                ("DER", der), ("short", Array(raw.dropLast())), ("long", raw + [0]),
                ("r = 0", zeros + s), ("s = 0", r + zeros), ("r = n", curve.order + s), ("s = n", r + curve.order),
                ("r > n", ones + s),
            ]
            for (label, bad) in malformed {
                assertRejects(prefix + Base64URL.encode(bad), with: verifier, .malformedSignature, "\(algorithm.name) \(label)")
            }
            var flipped = raw
            flipped[n - 1] ^= 1
            assertRejects(prefix + Base64URL.encode(flipped), with: verifier, .invalidSignature)
            // ECDSA malleability: (r, n − s) is also a valid signature mathematically. OpenSSL accepts it;
            // it only matters to a cache keyed by the token, which stores what verified.
        }
    }

    func testSignaturesThatDoNotVerifyAreRefused() throws {
        let key = try hmacKey()
        let verifier = JWSVerifier(keys: [key])
        let good = try token(header: #"{"alg":"HS256"}"#, key: key)
        let parts = good.split(separator: ".").map(String.init)
        assertRejects(parts[0] + "." + parts[1] + "." + Base64URL.encode([UInt8](repeating: 0, count: 32)), with: verifier, .invalidSignature)
        assertRejects(parts[0] + "." + parts[1] + "." + Base64URL.encode(Array(Base64URL.decode(parts[2])!.prefix(16))), with: verifier, .invalidSignature)
        assertRejects(parts[0] + "." + parts[1] + ".", with: verifier, .malformedSignature)
        let other = try token(header: #"{"alg":"HS256"}"#, key: hmacKey(secret: [UInt8](repeating: 9, count: 32)))
        assertRejects(other, with: verifier, .invalidSignature)
    }

    /// Every refusal class has a distinct, stable code.
    func testRefusalCodesAreDistinct() {
        let all: [JWSError] = [.tokenTooLarge, .malformed, .invalidBase64URL, .invalidHeader, .missingAlgorithm, .algorithmNone,
                               .unsupportedAlgorithm, .hmacWithPublicKey, .algorithmNotAllowed, .embeddedKey, .keySetURL,
                               .certificateURL, .certificateChain, .unsupportedCritical, .unknownKeyID, .malformedSignature,
                               .invalidSignature]
        XCTAssertEqual(Set(all.map(\.code)).count, all.count)
        for error in all { XCTAssertFalse(error.description.isEmpty) }
    }

    // MARK: - Round trips

    func testSignThenVerifyForEveryAlgorithm() throws {
        let rsa = try AsymmetricKey.pem(CryptoTests.fixtureText("rsa-2048-pkcs1.pem"))
        let otherRSA = try AsymmetricKey.generateRSA(bits: 2048)
        for algorithm in JWSAlgorithm.allCases {
            let (signing, other): (JWSKey, JWSKey)
            if let hash = algorithm.hmacHash {
                signing = try JWSKey.hmac(secret: try SecureRandom.bytes(hash.digestLength), algorithm: algorithm, keyID: "k")
                other = try JWSKey.hmac(secret: try SecureRandom.bytes(hash.digestLength), algorithm: algorithm, keyID: "k")
            } else {
                let (a, b): (AsymmetricKey, AsymmetricKey)
                if let curve = algorithm.curve {
                    (a, b) = (try .generateEC(curve: curve), try .generateEC(curve: curve))
                } else if algorithm == .edDSA {
                    (a, b) = (try .generateEd25519(), try .generateEd25519())
                } else {
                    (a, b) = (rsa, otherRSA)
                }
                signing = try JWSKey(key: a, algorithm: algorithm, keyID: "k")
                other = try JWSKey(key: try b.publicKey(), algorithm: algorithm, keyID: "k")
                XCTAssertThrowsError(try JWSSigner(key: JWSKey(key: try a.publicKey(), algorithm: algorithm)), algorithm.name)
            }
            let signer = try JWSSigner(key: signing)
            let claims = JSONObject([("sub", .string("u-\(algorithm.name)")), ("exp", .number(JSONNumber(4_102_444_800)))])
            let token = try signer.sign(claims: claims)
            let publicKey: JWSKey = try signing.asymmetricKey.map { try JWSKey(key: try $0.publicKey(), algorithm: algorithm, keyID: "k") } ?? signing
            let verified = try JWSVerifier(keys: [publicKey]).verify(token)
            XCTAssertEqual(verified.algorithm, algorithm)
            XCTAssertEqual(verified.keyID, "k")
            XCTAssertEqual(verified.header["typ"]?.stringValue, "JWT")
            XCTAssertEqual(try JSONParser.parse(verified.payload).objectValue, claims, algorithm.name)
            assertRejects(token, with: JWSVerifier(keys: [other]), .invalidSignature)
        }
    }

    /// One verifier and its keys shared by many threads at once (OpenSSL 3 `EVP_PKEY` is safe to share
    /// for verification; each check makes its own `EVP_MD_CTX`).
    func testVerifierIsSafeToShareBetweenThreads() throws {
        let ec = try AsymmetricKey.generateEC(curve: .p256)
        let ed = try AsymmetricKey.generateEd25519()
        let rsa = try AsymmetricKey.pem(CryptoTests.fixtureText("rsa-2048-pkcs1.pem"))
        let signingKeys = [try JWSKey(key: ec, algorithm: .es256, keyID: "ec"), try JWSKey(key: ed, algorithm: .edDSA, keyID: "ed"),
                           try JWSKey(key: rsa, algorithm: .ps256, keyID: "rsa"), try hmacKey("hs")]
        let tokens = try signingKeys.map { try JWSSigner(key: $0).sign(payload: Self.payload) }
        let verifier = JWSVerifier(keys: [try JWSKey(key: ec.publicKey(), algorithm: .es256, keyID: "ec"),
                                          try JWSKey(key: ed.publicKey(), algorithm: .edDSA, keyID: "ed"),
                                          try JWSKey(key: rsa.publicKey(), algorithm: .ps256, keyID: "rsa"), try hmacKey("hs")])
        let failures = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in 0..<40 {
                let token = tokens[(worker + i) % tokens.count]
                if (try? verifier.verify(token)) == nil { failures.increment() }
                if (try? verifier.verify(token + "A")) != nil { failures.increment() }
            }
        }
        XCTAssertEqual(failures.value, 0)
    }

    // MARK: - Claims

    private let exp: Int64 = 2_000_000_000

    private func claims(_ json: String, header: String = #"{"alg":"HS256","typ":"JWT"}"#,
                        validator: JWTClaimsValidator = JWTClaimsValidator(), now: Int64) throws(JWTClaimsError) -> JSONObject {
        let headerObject = try! JSONParser.parse(header).objectValue!
        return try validator.validate(payload: Array(json.utf8), header: headerObject, now: now)
    }

    private func assertClaims(_ json: String, header: String = #"{"alg":"HS256","typ":"JWT"}"#,
                              validator: JWTClaimsValidator = JWTClaimsValidator(), now: Int64, _ expected: JWTClaimsError?,
                              file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try claims(json, header: header, validator: validator, now: now)
            if let expected { XCTFail("accepted; expected \(expected.code)", file: file, line: line) }
        } catch {
            if let expected {
                XCTAssertEqual(error.code, expected.code, "\(error)", file: file, line: line)
            } else {
                XCTFail("refused: \(error)", file: file, line: line)
            }
        }
    }

    /// exp with the default 60 s leeway, at exp − 1, exp, exp + leeway − 1 and exp + leeway.
    func testExpirationBoundariesWithLeeway() {
        let token = #"{"exp":\#(exp)}"#
        assertClaims(token, now: exp - 1, nil)
        assertClaims(token, now: exp, nil)
        assertClaims(token, now: exp + 59, nil)
        assertClaims(token, now: exp + 60, .expired)
        assertClaims(token, now: exp + 61, .expired)
        let strict = JWTClaimsValidator(leewaySeconds: 0)
        assertClaims(token, validator: strict, now: exp - 1, nil)
        assertClaims(token, validator: strict, now: exp, .expired)
        // A fractional NumericDate.
        assertClaims(#"{"exp":\#(exp).5}"#, validator: strict, now: exp, nil)
        assertClaims(#"{"exp":\#(exp).5}"#, validator: strict, now: exp + 1, .expired)
    }

    func testNotBeforeAndIssuedAtBoundaries() {
        let nbf = exp - 1000
        let token = #"{"exp":\#(exp),"nbf":\#(nbf)}"#
        assertClaims(token, now: nbf - 61, .notYetValid)
        assertClaims(token, now: nbf - 60, nil)
        assertClaims(token, now: nbf, nil)
        let strict = JWTClaimsValidator(leewaySeconds: 0)
        assertClaims(token, validator: strict, now: nbf - 1, .notYetValid)
        assertClaims(token, validator: strict, now: nbf, nil)
        let iat = exp - 1000
        let issued = #"{"exp":\#(exp),"iat":\#(iat)}"#
        assertClaims(issued, now: iat - 60, nil)
        assertClaims(issued, now: iat - 61, .issuedInFuture)
        assertClaims(issued, validator: strict, now: iat - 1, .issuedInFuture)
        assertClaims(issued, validator: strict, now: iat, nil)
    }

    func testRequiredClaimsAndTypes() {
        let now = exp - 100
        // exp is required by default.
        assertClaims(#"{"sub":"u"}"#, now: now, .missingClaim)
        assertClaims(#"{"sub":"u"}"#, validator: JWTClaimsValidator(requiredClaims: []), now: now, nil)
        assertClaims(#"{"exp":\#(exp)}"#, validator: JWTClaimsValidator(requiredClaims: ["exp", "sub", "jti"]), now: now, .missingClaim)
        assertClaims(#"{"exp":"\#(exp)"}"#, now: now, .invalidClaim)
        assertClaims(#"{"exp":null}"#, now: now, .invalidClaim)
        assertClaims(#"{"exp":\#(exp),"nbf":true}"#, now: now, .invalidClaim)
        assertClaims(#"{"exp":\#(exp),"iat":[1]}"#, now: now, .invalidClaim)
        assertClaims(#"{"exp":\#(exp),"sub":42}"#, now: now, .invalidClaim)
        assertClaims(#"{"exp":\#(exp),"iss":{}}"#, now: now, .invalidClaim)
        assertClaims(#"{"exp":1e999}"#, now: now, .invalidClaim)
        assertClaims(#"[1]"#, now: now, .invalidPayload)
        assertClaims("not json", now: now, .invalidPayload)
        // Duplicate claims are refused.
        assertClaims(#"{"exp":\#(exp),"exp":1}"#, now: now, .invalidPayload)
    }

    func testIssuerIsComparedExactly() {
        let now = exp - 100
        let validator = JWTClaimsValidator(issuers: ["https://issuer.example", "https://other.example"])
        assertClaims(#"{"exp":\#(exp),"iss":"https://issuer.example"}"#, validator: validator, now: now, nil)
        assertClaims(#"{"exp":\#(exp),"iss":"https://other.example"}"#, validator: validator, now: now, nil)
        assertClaims(#"{"exp":\#(exp),"iss":"https://issuer.example/"}"#, validator: validator, now: now, .invalidIssuer)
        assertClaims(#"{"exp":\#(exp),"iss":"HTTPS://ISSUER.EXAMPLE"}"#, validator: validator, now: now, .invalidIssuer)
        assertClaims(#"{"exp":\#(exp)}"#, validator: validator, now: now, .missingClaim)
    }

    func testAudienceHasArraySemantics() {
        let now = exp - 100
        let validator = JWTClaimsValidator(audiences: ["bff-gateway"])
        assertClaims(#"{"exp":\#(exp),"aud":"bff-gateway"}"#, validator: validator, now: now, nil)
        assertClaims(#"{"exp":\#(exp),"aud":["other","bff-gateway"]}"#, validator: validator, now: now, nil)
        assertClaims(#"{"exp":\#(exp),"aud":["other"]}"#, validator: validator, now: now, .invalidAudience)
        assertClaims(#"{"exp":\#(exp),"aud":[]}"#, validator: validator, now: now, .invalidAudience)
        assertClaims(#"{"exp":\#(exp),"aud":"bff"}"#, validator: validator, now: now, .invalidAudience)
        assertClaims(#"{"exp":\#(exp),"aud":["bff-gateway",1]}"#, validator: validator, now: now, .invalidClaim)
        assertClaims(#"{"exp":\#(exp),"aud":7}"#, validator: validator, now: now, .invalidClaim)
        assertClaims(#"{"exp":\#(exp)}"#, validator: validator, now: now, .missingClaim)
        // A token for some audience, when we are configured with none, is not for us (RFC 7519 §4.1.3).
        assertClaims(#"{"exp":\#(exp),"aud":"bff-gateway"}"#, now: now, .invalidAudience)
        assertClaims(#"{"exp":\#(exp)}"#, now: now, nil)
    }

    func testTypeCheck() {
        let now = exp - 100
        let jwt = JWTClaimsValidator(expectedType: "JWT")
        let token = #"{"exp":\#(exp)}"#
        assertClaims(token, header: #"{"alg":"HS256","typ":"JWT"}"#, validator: jwt, now: now, nil)
        assertClaims(token, header: #"{"alg":"HS256","typ":"jwt"}"#, validator: jwt, now: now, nil)
        assertClaims(token, header: #"{"alg":"HS256","typ":"application/jwt"}"#, validator: jwt, now: now, nil)
        assertClaims(token, header: #"{"alg":"HS256","typ":"at+jwt"}"#, validator: jwt, now: now, .invalidType)
        assertClaims(token, header: #"{"alg":"HS256"}"#, validator: jwt, now: now, .invalidType)
        let accessToken = JWTClaimsValidator(expectedType: "at+jwt")
        assertClaims(token, header: #"{"alg":"HS256","typ":"application/at+jwt"}"#, validator: accessToken, now: now, nil)
        assertClaims(token, header: #"{"alg":"HS256","typ":"JWT"}"#, validator: accessToken, now: now, .invalidType)
        // Without an expected type, typ is not checked.
        assertClaims(token, header: #"{"alg":"HS256","typ":"anything"}"#, now: now, nil)
    }

    func testVerifiedTokenClaimsEndToEnd() throws {
        let key = try JWSKey(key: try AsymmetricKey.generateEC(curve: .p256), algorithm: .es256, keyID: "gw-1")
        let token = try JWSSigner(key: key).sign(payload: Array(#"{"iss":"https://gw","aud":["web"],"sub":"u1","exp":\#(exp),"iat":\#(exp - 300)}"#.utf8))
        let verifier = JWSVerifier(keys: [try JWSKey(key: key.asymmetricKey!.publicKey(), algorithm: .es256, keyID: "gw-1")])
        let verified = try verifier.verify(token)
        let validator = JWTClaimsValidator(issuers: ["https://gw"], audiences: ["web"], expectedType: "JWT")
        let claims = try validator.validate(payload: verified.payload, header: verified.header, now: exp - 200)
        XCTAssertEqual(claims["sub"]?.stringValue, "u1")
        XCTAssertThrowsError(try validator.validate(payload: verified.payload, header: verified.header, now: exp + 60))
    }

    func testPublishedKeySetVerifiesTheGatewaysTokens() throws {
        let ec = try JWSKey(key: try AsymmetricKey.generateEC(curve: .p256), algorithm: .es256, keyID: "gw-1")
        let ed = try JWSKey(key: try AsymmetricKey.generateEd25519(), algorithm: .edDSA, keyID: "gw-2")
        let document = JWKSet.publicDocument(for: [ec, ed, try hmacKey("secret")])
        XCTAssertFalse(String(decoding: document, as: UTF8.self).contains("\"d\""))
        XCTAssertFalse(String(decoding: document, as: UTF8.self).contains("oct"))
        let set = try JWKSet.parse(document, requirement: .publicOnly)
        XCTAssertEqual(set.keys.map(\.keyID), ["gw-1", "gw-2"])
        let verifier = JWSVerifier(keys: set.keys)
        XCTAssertEqual(try verifier.verify(try JWSSigner(key: ec).sign(payload: Self.payload)).keyID, "gw-1")
        XCTAssertEqual(try verifier.verify(try JWSSigner(key: ed).sign(payload: Self.payload)).keyID, "gw-2")
    }

    // MARK: - Interoperability with joserfc and PyJWT

    private static let interopScript = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/jose_interop.py")

    /// Runs the interop script in `mode` with `input` on stdin; returns its exit status and stdout.
    private func runInterop(_ mode: String, input: [UInt8] = []) throws -> (Int32, [UInt8], String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.interopScript.path, mode]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, Array(out), String(decoding: err, as: UTF8.self))
    }

    private func requireJoserfc() throws {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import joserfc"]
        check.standardError = FileHandle.nullDevice
        try check.run()
        check.waitUntilExit()
        if check.terminationStatus != 0 {
            throw XCTSkip("python3 lacks joserfc: `pip install joserfc pyjwt` to run the JOSE interop tests")
        }
    }

    private static let interopNow: Int64 = 1_800_000_000
    private static let interopValidator = JWTClaimsValidator(issuers: ["https://issuer.example"], audiences: ["bff-gateway"])

    /// Tokens minted by joserfc (and PyJWT when installed) for HS256, RS256, PS256, ES256, ES384 and
    /// EdDSA verify here, with the same claims.
    func testTokensMintedByPythonLibrariesVerifyHere() throws {
        try requireJoserfc()
        let (status, out, err) = try runInterop("mint")
        XCTAssertEqual(status, 0, err)
        let document = try JSONParser.parse(out).objectValue!
        let libraries = document["libraries"]!.arrayValue!.compactMap(\.stringValue)
        XCTAssertTrue(libraries.contains("joserfc"))
        if !libraries.contains("pyjwt") { print("note: PyJWT is not installed; only joserfc's tokens were checked") }
        var seen: Set<String> = []
        for entry in document["tokens"]!.arrayValue! {
            let object = entry.objectValue!
            let library = object["library"]!.stringValue!, name = object["alg"]!.stringValue!
            let algorithm = try XCTUnwrap(JWSAlgorithm(name: name))
            let jwkObject = object["jwk"]!.objectValue!
            let requirement: JWK.Requirement = algorithm.isHMAC ? .any : .publicOnly
            let key = try JWK.parse(jwkObject, requirement: requirement).jwsKey(defaultAlgorithm: algorithm)
            XCTAssertEqual(key.algorithm, algorithm, "\(library) \(name)")
            let verified = try JWSVerifier(keys: [key]).verify(object["token"]!.stringValue!)
            XCTAssertEqual(verified.algorithm, algorithm)
            let claims = try Self.interopValidator.validate(payload: verified.payload, header: verified.header, now: Self.interopNow)
            XCTAssertEqual(claims, object["claims"]!.objectValue!, "\(library) \(name)")
            seen.insert("\(library) \(name)")
        }
        for name in ["HS256", "RS256", "PS256", "ES256", "ES384", "EdDSA"] {
            XCTAssertTrue(seen.contains("joserfc \(name)"), name)
            if libraries.contains("pyjwt") { XCTAssertTrue(seen.contains("pyjwt \(name)"), name) }
        }
    }

    /// Tokens signed here, for every algorithm, verify in joserfc (and PyJWT when installed) under the
    /// public JWKs we export.
    func testTokensSignedHereVerifyInPythonLibraries() throws {
        try requireJoserfc()
        let rsa = try AsymmetricKey.pem(CryptoTests.fixtureText("rsa-2048-pkcs1.pem"))
        let claims = JSONObject([("iss", .string("https://issuer.example")), ("sub", .string("gateway-user")),
                                 ("aud", .string("bff-gateway")), ("iat", .number(JSONNumber(1_767_225_600))),
                                 ("exp", .number(JSONNumber(4_102_444_800)))])
        var entries: [JSONValue] = []
        for algorithm in JWSAlgorithm.allCases {
            let key: JWSKey
            let jwk: JSONObject
            if let hash = algorithm.hmacHash {
                let secret = try SecureRandom.bytes(hash.digestLength)
                key = try JWSKey.hmac(secret: secret, algorithm: algorithm, keyID: "gw-\(algorithm.name)")
                jwk = JSONObject([("kty", .string("oct")), ("k", .string(Base64URL.encode(secret)))])
            } else {
                let asymmetric: AsymmetricKey = if let curve = algorithm.curve { try .generateEC(curve: curve) }
                    else if algorithm == .edDSA { try .generateEd25519() } else { rsa }
                key = try JWSKey(key: asymmetric, algorithm: algorithm, keyID: "gw-\(algorithm.name)")
                jwk = JWK.publicJSON(for: asymmetric, keyID: key.keyID, algorithm: algorithm)
            }
            let token = try JWSSigner(key: key).sign(claims: claims)
            entries.append(.object(JSONObject([("alg", .string(algorithm.name)), ("jwk", .object(jwk)),
                                               ("token", .string(token)), ("claims", .object(claims))])))
        }
        let request = JSONSerializer.serialize(.object(JSONObject([("tokens", .array(entries))])))
        let (status, out, err) = try runInterop("verify", input: request)
        let document = try JSONParser.parse(out).objectValue!
        let results = document["results"]!.arrayValue!.map { $0.objectValue! }
        for result in results where result["ok"]?.boolValue != true {
            XCTFail("\(result["library"]!.stringValue!) refused our \(result["alg"]!.stringValue!) token: \(result["error"]?.stringValue ?? "")")
        }
        XCTAssertEqual(status, 0, err)
        let libraries = document["libraries"]!.arrayValue!.count
        XCTAssertEqual(results.count, JWSAlgorithm.allCases.count * libraries)
    }
}

/// A counter several threads may bump.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
