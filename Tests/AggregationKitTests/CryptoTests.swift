import XCTest
import Foundation
@testable import AggregationKit

/// The OpenSSL wrappers: digests, HMAC, constant-time comparison, randomness, strict base64url, keys
/// from PEM and components, signatures and the ECDSA encodings, and JWK parsing.
final class CryptoTests: XCTestCase {
    static func fixtureText(_ name: String) throws -> String {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/jose/\(name)")
        return try String(contentsOf: url, encoding: .utf8)
    }

    private func hex(_ bytes: [UInt8]) -> String { Digest.hex(bytes) }
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    private func assertCryptoError(_ expected: CryptoError, file: StaticString = #filePath, line: UInt = #line,
                                   _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected \(expected.code), nothing was thrown", file: file, line: line)
        } catch let error as CryptoError {
            XCTAssertEqual(error.code, expected.code, "\(error)", file: file, line: line)
        } catch {
            XCTFail("expected \(expected.code), got \(error)", file: file, line: line)
        }
    }

    // MARK: - Digests, HMAC, comparison, randomness

    func testSHA2OfABCMatchesFIPS180Vectors() {
        XCTAssertEqual(hex(Digest.sha256(bytes("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex(Digest.sha384(bytes("abc"))),
                       "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")
        XCTAssertEqual(hex(Digest.sha512(bytes("abc"))),
                       "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
        XCTAssertEqual(hex(Digest.sha256([])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    /// RFC 4231 test case 2 (a short key, "Jefe") and 6 (a key longer than the block, hashed first).
    func testHMACMatchesRFC4231Vectors() throws {
        let message = bytes("what do ya want for nothing?")
        let jefe = bytes("Jefe")
        XCTAssertEqual(hex(try HMACKey(secret: jefe, hash: .sha256).authenticationCode(for: message)),
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        XCTAssertEqual(hex(try HMACKey(secret: jefe, hash: .sha384).authenticationCode(for: message)),
                       "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649")
        XCTAssertEqual(hex(try HMACKey(secret: jefe, hash: .sha512).authenticationCode(for: message)),
                       "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737")
        let longKey = [UInt8](repeating: 0xAA, count: 131)
        let longMessage = bytes("Test Using Larger Than Block-Size Key - Hash Key First")
        XCTAssertEqual(hex(try HMACKey(secret: longKey, hash: .sha256).authenticationCode(for: longMessage)),
                       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        let key = try HMACKey(secret: jefe, hash: .sha256)
        let mac = key.authenticationCode(for: message)
        XCTAssertTrue(key.isValidAuthenticationCode(mac, for: message))
        XCTAssertFalse(key.isValidAuthenticationCode(mac, for: message + [0]))
        XCTAssertFalse(key.isValidAuthenticationCode(Array(mac.dropLast()), for: message))
        // The keyed prototype is copied per operation: the same key gives the same MAC every time.
        XCTAssertEqual(key.authenticationCode(for: message), mac)
        assertCryptoError(.invalidKey) { _ = try HMACKey(secret: [], hash: .sha256) }
    }

    func testConstantTimeEquality() {
        XCTAssertTrue(ConstantTime.equals([], []))
        XCTAssertTrue(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(ConstantTime.equals([1, 2, 3], [1, 2]))
        XCTAssertFalse(ConstantTime.equals([0], []))
    }

    func testSecureRandomGivesTheRequestedLengthAndDifferentDraws() throws {
        XCTAssertEqual(try SecureRandom.bytes(0), [])
        let a = try SecureRandom.bytes(32), b = try SecureRandom.bytes(32)
        XCTAssertEqual(a.count, 32)
        XCTAssertNotEqual(a, b)
    }

    // MARK: - Base64URL

    func testBase64URLMatchesRFC4648VectorsWithoutPadding() {
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64URL.encode(bytes(plain)), encoded)
            XCTAssertEqual(Base64URL.decode(encoded), bytes(plain))
        }
        XCTAssertEqual(Base64URL.encode([0xFB, 0xFF, 0xBF]), "-_-_")
        XCTAssertEqual(Base64URL.decode("-_-_"), [0xFB, 0xFF, 0xBF])
    }

    func testBase64URLRoundTripsEveryLengthAndByte() throws {
        for length in 0..<70 {
            let data = try SecureRandom.bytes(length)
            XCTAssertEqual(Base64URL.decode(Base64URL.encode(data)), data)
        }
        let all = (0...255).map { UInt8($0) }
        XCTAssertEqual(Base64URL.decode(Base64URL.encode(all)), all)
    }

    func testBase64URLDecodingIsStrict() {
        XCTAssertNil(Base64URL.decode("Zg=="), "padding")
        XCTAssertNil(Base64URL.decode("Zm8="), "padding")
        XCTAssertNil(Base64URL.decode("+/+/"), "the standard alphabet")
        XCTAssertNil(Base64URL.decode("Zm9v Yg"), "whitespace")
        XCTAssertNil(Base64URL.decode("Zm9v\nYg"), "a line break")
        XCTAssertNil(Base64URL.decode("Zm9vY"), "a length of 4n+1")
        XCTAssertNil(Base64URL.decode("Z"), "a length of 4n+1")
        XCTAssertNil(Base64URL.decode("Zm9v\u{0}"), "a NUL byte")
        XCTAssertNil(Base64URL.decode("Zé"), "non-ASCII")
        // Non-canonical trailing bits: "Zg" is the only spelling of "f"; "Zh" carries a stray bit.
        XCTAssertNil(Base64URL.decode("Zh"))
        XCTAssertNil(Base64URL.decode("Zm9"), "\"Zm8\" is the only spelling of \"fo\"")
        XCTAssertEqual(Base64URL.decode("Zm8"), bytes("fo"))
    }

    // MARK: - Keys from PEM

    func testPEMKeysOfEveryAcceptedFormatLoadAndSignAndVerify() throws {
        let rsaPrivate = try AsymmetricKey.pem(Self.fixtureText("rsa-2048-pkcs1.pem"))
        XCTAssertEqual(rsaPrivate.family, .rsa)
        XCTAssertEqual(rsaPrivate.bits, 2048)
        XCTAssertTrue(rsaPrivate.isPrivate)
        let rsaSPKI = try AsymmetricKey.pem(Self.fixtureText("rsa-2048-spki.pem"))
        let rsaPKCS1Public = try AsymmetricKey.pem(Self.fixtureText("rsa-2048-pkcs1-public.pem"))
        XCTAssertFalse(rsaSPKI.isPrivate)
        XCTAssertFalse(rsaPKCS1Public.isPrivate)
        let message = bytes("a message")
        let signature = try rsaPrivate.signature(for: message, using: .rsaPKCS1v15(.sha256))
        XCTAssertTrue(rsaSPKI.isValidSignature(signature, for: message, using: .rsaPKCS1v15(.sha256)))
        XCTAssertTrue(rsaPKCS1Public.isValidSignature(signature, for: message, using: .rsaPKCS1v15(.sha256)))
        XCTAssertEqual(try rsaSPKI.subjectPublicKeyInfo(), try rsaPKCS1Public.subjectPublicKeyInfo())

        let ecPrivate = try AsymmetricKey.pem(Self.fixtureText("ec-p256-sec1.pem"))
        let ecPublic = try AsymmetricKey.pem(Self.fixtureText("ec-p256-spki.pem"))
        XCTAssertEqual(ecPrivate.family, .ec(.p256))
        let ecSignature = try ecPrivate.signature(for: message, using: .ecdsa(.sha256))
        XCTAssertEqual(ecSignature.count, 64)
        XCTAssertTrue(ecPublic.isValidSignature(ecSignature, for: message, using: .ecdsa(.sha256)))

        let edPrivate = try AsymmetricKey.pem(Self.fixtureText("ed25519-pkcs8.pem"))
        XCTAssertEqual(edPrivate.family, .ed25519)
        let edPublic = try edPrivate.publicKey()
        XCTAssertFalse(edPublic.isPrivate)
        let edSignature = try edPrivate.signature(for: message, using: .ed25519)
        XCTAssertTrue(edPublic.isValidSignature(edSignature, for: message, using: .ed25519))

        // Our own PEM output reads back as the same key.
        let again = try AsymmetricKey.pem(try rsaPrivate.privateKeyPEM())
        XCTAssertEqual(try again.subjectPublicKeyInfo(), try rsaSPKI.subjectPublicKeyInfo())
        XCTAssertEqual(try AsymmetricKey.pem(try ecPrivate.publicKeyPEM()).ecPublicCoordinates()?.x, ecPublic.ecPublicCoordinates()?.x)
    }

    func testPEMRefusals() throws {
        assertCryptoError(.keyTooSmall) { _ = try AsymmetricKey.pem(Self.fixtureText("rsa-1024-pkcs1.pem")) }
        assertCryptoError(.unsupportedKey) { _ = try AsymmetricKey.pem(Self.fixtureText("ec-secp256k1-sec1.pem")) }
        assertCryptoError(.unsupportedKey) { _ = try AsymmetricKey.pem(Self.fixtureText("ed25519-encrypted.pem")) }
        assertCryptoError(.unsupportedKey) { _ = try AsymmetricKey.pem(Self.fixtureText("ec-p256-certificate.pem")) }
        let two = try Self.fixtureText("ec-p256-spki.pem") + Self.fixtureText("rsa-2048-spki.pem")
        assertCryptoError(.invalidKey) { _ = try AsymmetricKey.pem(two) }
        assertCryptoError(.invalidKey) { _ = try AsymmetricKey.pem("") }
        // A public block that holds garbage.
        assertCryptoError(.invalidKey) { _ = try AsymmetricKey.pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n") }
        // A private label around a public key's body does not make it private.
        let spki = try Self.fixtureText("ec-p256-spki.pem").replacingOccurrences(of: "PUBLIC KEY", with: "PRIVATE KEY")
        assertCryptoError(.invalidKey) { _ = try AsymmetricKey.pem(spki) }
    }

    func testAPublicKeyCannotSign() throws {
        let key = try AsymmetricKey.pem(Self.fixtureText("ec-p256-spki.pem"))
        assertCryptoError(.keyMismatch) { _ = try key.signature(for: [1], using: .ecdsa(.sha256)) }
    }

    // MARK: - Signatures

    func testEverySignatureAlgorithmRoundTripsAndRejectsTampering() throws {
        let rsa = try AsymmetricKey.pem(Self.fixtureText("rsa-2048-pkcs1.pem"))
        let cases: [(AsymmetricKey, SignatureAlgorithm, Int?)] = [
            (rsa, .rsaPKCS1v15(.sha256), 256), (rsa, .rsaPKCS1v15(.sha384), 256), (rsa, .rsaPKCS1v15(.sha512), 256),
            (rsa, .rsaPSS(.sha256), 256), (rsa, .rsaPSS(.sha384), 256), (rsa, .rsaPSS(.sha512), 256),
            (try .generateEC(curve: .p256), .ecdsa(.sha256), 64),
            (try .generateEC(curve: .p384), .ecdsa(.sha384), 96),
            (try .generateEC(curve: .p521), .ecdsa(.sha512), 132),
            (try .generateEd25519(), .ed25519, 64),
        ]
        let message = bytes("The quick brown fox")
        for (key, algorithm, length) in cases {
            let signature = try key.signature(for: message, using: algorithm)
            XCTAssertEqual(signature.count, length, "\(algorithm)")
            let publicKey = try key.publicKey()
            XCTAssertTrue(publicKey.isValidSignature(signature, for: message, using: algorithm), "\(algorithm)")
            XCTAssertFalse(publicKey.isValidSignature(signature, for: message + [0x21], using: algorithm), "\(algorithm)")
            var flipped = signature
            flipped[flipped.count / 2] ^= 0x01
            XCTAssertFalse(publicKey.isValidSignature(flipped, for: message, using: algorithm), "\(algorithm)")
        }
        // A scheme used with a key of another kind is simply not valid.
        let ed = try AsymmetricKey.generateEd25519()
        XCTAssertFalse(rsa.isValidSignature(try ed.signature(for: message, using: .ed25519), for: message, using: .ed25519))
        // PKCS#1 v1.5 and PSS do not stand in for each other.
        let pss = try rsa.signature(for: message, using: .rsaPSS(.sha256))
        XCTAssertFalse(rsa.isValidSignature(pss, for: message, using: .rsaPKCS1v15(.sha256)))
        XCTAssertFalse(rsa.isValidSignature(pss, for: message, using: .rsaPSS(.sha384)))
    }

    func testECDSASignatureEncodingsConvertAndRefuseOutOfRangeValues() throws {
        let curve = AsymmetricKey.Curve.p256
        // r = 1, s = 0x80 (needs a leading zero in DER).
        var raw = [UInt8](repeating: 0, count: 64)
        raw[31] = 1
        raw[63] = 0x80
        let der = try XCTUnwrap(ECDSASignature.der(fromRaw: raw, curve: curve))
        XCTAssertEqual(der, [0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x80])
        XCTAssertEqual(ECDSASignature.raw(fromDER: der, curve: curve), raw)

        XCTAssertNil(ECDSASignature.der(fromRaw: Array(raw.dropLast()), curve: curve), "63 bytes")
        XCTAssertNil(ECDSASignature.der(fromRaw: raw + [0], curve: curve), "65 bytes")
        XCTAssertNil(ECDSASignature.der(fromRaw: [UInt8](repeating: 0, count: 32) + raw[32...], curve: curve), "r = 0")
        XCTAssertNil(ECDSASignature.der(fromRaw: Array(raw[..<32]) + [UInt8](repeating: 0, count: 32), curve: curve), "s = 0")
        XCTAssertNil(ECDSASignature.der(fromRaw: curve.order + raw[32...], curve: curve), "r = n")
        XCTAssertNil(ECDSASignature.der(fromRaw: Array(raw[..<32]) + curve.order, curve: curve), "s = n")
        XCTAssertNil(ECDSASignature.der(fromRaw: [UInt8](repeating: 0xFF, count: 64), curve: curve), "r, s > n")
        var belowOrder = curve.order
        belowOrder[31] -= 1
        XCTAssertNotNil(ECDSASignature.der(fromRaw: belowOrder + belowOrder, curve: curve), "r = s = n − 1")

        // P-521: 132 bytes, a DER length over 127 (long form).
        let p521 = try AsymmetricKey.generateEC(curve: .p521)
        let signature = try p521.signature(for: [1, 2, 3], using: .ecdsa(.sha512))
        XCTAssertEqual(signature.count, 132)
        let longDER = try XCTUnwrap(ECDSASignature.der(fromRaw: signature, curve: .p521))
        XCTAssertEqual(ECDSASignature.raw(fromDER: longDER, curve: .p521), signature)

        // Non-canonical DER: a redundant leading zero, a negative integer, trailing bytes.
        XCTAssertNil(ECDSASignature.raw(fromDER: [0x30, 0x08, 0x02, 0x02, 0x00, 0x01, 0x02, 0x02, 0x00, 0x80], curve: curve))
        XCTAssertNil(ECDSASignature.raw(fromDER: [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x80], curve: curve))
        XCTAssertNil(ECDSASignature.raw(fromDER: der + [0], curve: curve))
    }

    // MARK: - Keys from JWK

    private func jwk(_ json: String, _ requirement: JWK.Requirement = .any) throws -> JWK {
        try JWK.parse(bytes(json), requirement: requirement)
    }

    private static let rfcRSA: JSONObject = {
        // RFC 7515 A.2.1, the public members.
        let text = try! CryptoTests.fixtureText("rfc7515-a2-rs256.json")
        return try! JSONParser.parse(text).objectValue!["jwk"]!.objectValue!
    }()

    private func rsaJSON(_ changes: [String: String?]) -> String {
        var object = Self.rfcRSA
        for (name, value) in changes { object[name] = value.map { .string($0) } }
        return JSONSerializer.string(.object(object))
    }

    func testJWKKeysOfEveryTypeParseAndBind() throws {
        let ec = try jwk(#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"e1"}"#, .publicOnly)
        XCTAssertEqual(ec.keyType, .ec)
        XCTAssertEqual(ec.keyID, "e1")
        XCTAssertFalse(ec.isPrivate)
        XCTAssertEqual(try ec.jwsKey().algorithm, .es256, "an EC key's algorithm follows from its curve")

        let publicRSA = try jwk(rsaJSON(["d": nil, "p": nil, "q": nil, "dp": nil, "dq": nil, "qi": nil]), .publicOnly)
        XCTAssertEqual(publicRSA.asymmetricKey?.bits, 2048)
        assertCryptoError(.invalidKey) { _ = try publicRSA.jwsKey() }
        XCTAssertEqual(try publicRSA.jwsKey(defaultAlgorithm: .ps256).algorithm, .ps256)
        XCTAssertEqual(try jwk(rsaJSON(["alg": "RS384"])).jwsKey(defaultAlgorithm: .ps256).algorithm, .rs384, "alg wins over the default")
        XCTAssertTrue(try jwk(rsaJSON([:])).isPrivate)

        let ed = try AsymmetricKey.generateEd25519()
        let edJSON = JSONSerializer.string(.object(JWK.publicJSON(for: ed, keyID: "o1", algorithm: .edDSA)))
        let okp = try jwk(edJSON, .publicOnly)
        XCTAssertEqual(okp.keyType, .okp)
        XCTAssertEqual(try okp.jwsKey().algorithm, .edDSA)
        XCTAssertEqual(okp.asymmetricKey?.ed25519PublicBytes(), ed.ed25519PublicBytes())

        let oct = try jwk(#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow","alg":"HS512"}"#)
        XCTAssertEqual(try oct.jwsKey().algorithm, .hs512)
        XCTAssertTrue(oct.isPrivate)

        // The exported public JWK of each kind reads back as the same key.
        for key in [try AsymmetricKey.generateEC(curve: .p384), try AsymmetricKey.generateEC(curve: .p521), try AsymmetricKey.pem(Self.fixtureText("rsa-2048-spki.pem"))] {
            let text = JSONSerializer.string(.object(JWK.publicJSON(for: key, keyID: nil, algorithm: nil)))
            XCTAssertEqual(try jwk(text, .publicOnly).asymmetricKey?.subjectPublicKeyInfo(), try key.subjectPublicKeyInfo())
        }
    }

    func testJWKStrictness() throws {
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        // Padding, the other alphabet, non-canonical trailing bits.
        assertCryptoError(.invalidKey) { _ = try self.jwk(#"{"kty":"EC","crv":"P-256","x":"\#(x)=","y":"\#(y)"}"#) }
        assertCryptoError(.invalidKey) { _ = try self.jwk(self.rsaJSON(["e": "AQAB=="])) }
        assertCryptoError(.invalidKey) { _ = try self.jwk(self.rsaJSON(["e": "AQAC"])) }
        let n = Self.rfcRSA["n"]!.stringValue!
        assertCryptoError(.invalidKey) { _ = try self.jwk(self.rsaJSON(["n": n.replacingOccurrences(of: "_", with: "/")])) }
        // RSA integers must be minimal: a leading zero byte is refused.
        let padded = Base64URL.encode([0] + Base64URL.decode(n)!)
        assertCryptoError(.invalidKey) { _ = try self.jwk(self.rsaJSON(["n": padded])) }
        // EC coordinates must be exactly the curve's length, even when the value would fit.
        let shortX = Base64URL.encode(Base64URL.decode(x)!.dropFirst())
        assertCryptoError(.invalidKey) { _ = try self.jwk(#"{"kty":"EC","crv":"P-256","x":"\#(shortX)","y":"\#(y)"}"#) }
        let longX = Base64URL.encode([0] + Base64URL.decode(x)!)
        assertCryptoError(.invalidKey) { _ = try self.jwk(#"{"kty":"EC","crv":"P-256","x":"\#(longX)","y":"\#(y)"}"#) }
        // A point that is not on the curve.
        var badY = Base64URL.decode(y)!
        badY[31] ^= 1
        assertCryptoError(.invalidKey) { _ = try self.jwk(#"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(Base64URL.encode(badY))"}"#) }
        // A P-256 key bound to ES384 (curve mismatch), an EC key bound to an RSA algorithm.
        assertCryptoError(.keyMismatch) { _ = try self.jwk(#"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)","alg":"ES384"}"#).jwsKey() }
        assertCryptoError(.keyMismatch) { _ = try self.jwk(#"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)","alg":"RS256"}"#).jwsKey() }
        assertCryptoError(.keyMismatch) { _ = try self.jwk(self.rsaJSON(["alg": "HS256"])).jwsKey() }
        // Unsupported kinds are their own class (a key set skips them).
        assertCryptoError(.unsupportedKey) { _ = try self.jwk(#"{"kty":"EC","crv":"secp256k1","x":"\#(x)","y":"\#(y)"}"#) }
        assertCryptoError(.unsupportedKey) { _ = try self.jwk(#"{"kty":"OKP","crv":"Ed448","x":"\#(x)"}"#) }
        assertCryptoError(.unsupportedKey) { _ = try self.jwk(#"{"kty":"OKP","crv":"X25519","x":"\#(x)"}"#) }
        assertCryptoError(.unsupportedKey) { _ = try self.jwk(#"{"kty":"DSA"}"#) }
        assertCryptoError(.unsupportedKey) { _ = try self.jwk(#"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)","alg":"ECDH-ES"}"#).jwsKey() }
        assertCryptoError(.unsupportedKey) { _ = try self.jwk(#"{"kty":"oct","k":"AAAA","alg":"none"}"#).jwsKey() }
        // Member types, duplicates, missing members.
        assertCryptoError(.invalidKey) { _ = try self.jwk(#"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)","kid":7}"#) }
        assertCryptoError(.invalidKey) { _ = try self.jwk(#"{"kty":"EC","crv":"P-256","x":"\#(x)","x":"\#(x)","y":"\#(y)"}"#) }
        assertCryptoError(.invalidKey) { _ = try self.jwk(#"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)","key_ops":"verify"}"#) }
        assertCryptoError(.invalidKey) { _ = try self.jwk(#"{"kty":"EC","crv":"P-256","x":"\#(x)"}"#) }
        assertCryptoError(.invalidKey) { _ = try self.jwk(#"{"crv":"P-256"}"#) }
        assertCryptoError(.invalidKey) { _ = try self.jwk(#"[]"#) }
        // An RSA private key with only some of its members.
        assertCryptoError(.invalidKey) { _ = try self.jwk(self.rsaJSON(["qi": nil])) }
        // An Ed25519 private key whose x is not d's public key.
        let a = try AsymmetricKey.generateEd25519(), b = try AsymmetricKey.generateEd25519()
        let aDER = try a.privateKeyPEM()
        XCTAssertTrue(aDER.contains("PRIVATE KEY"))
        let seedJWK = #"{"kty":"OKP","crv":"Ed25519","x":"\#(Base64URL.encode(b.ed25519PublicBytes()!))","d":"\#(Base64URL.encode([UInt8](repeating: 7, count: 32)))"}"#
        assertCryptoError(.invalidKey) { _ = try self.jwk(seedJWK) }
        // An HMAC secret shorter than its hash (RFC 7518 §3.2).
        assertCryptoError(.keyTooSmall) { _ = try self.jwk(#"{"kty":"oct","k":"\#(Base64URL.encode([UInt8](repeating: 1, count: 31)))","alg":"HS256"}"#).jwsKey() }
        assertCryptoError(.keyTooSmall) { _ = try self.jwk(#"{"kty":"oct","k":"\#(Base64URL.encode([UInt8](repeating: 1, count: 47)))","alg":"HS384"}"#).jwsKey() }
        XCTAssertNoThrow(try self.jwk(#"{"kty":"oct","k":"\#(Base64URL.encode([UInt8](repeating: 1, count: 32)))","alg":"HS256"}"#).jwsKey())
    }

    func testJWKRSAModulusFloorIs2048Bits() throws {
        let n = Base64URL.decode(Self.rfcRSA["n"]!.stringValue!)!
        // 2047 bits: the top bit of a 256-byte modulus cleared.
        var short = n
        short[0] = 0x7F
        assertCryptoError(.keyTooSmall) { _ = try self.jwk(self.rsaJSON(["n": Base64URL.encode(short), "d": nil, "p": nil, "q": nil, "dp": nil, "dq": nil, "qi": nil])) }
        let n1024 = Array(n.prefix(127)) + [0x01]
        assertCryptoError(.keyTooSmall) { _ = try self.jwk(self.rsaJSON(["n": Base64URL.encode(n1024), "d": nil, "p": nil, "q": nil, "dp": nil, "dq": nil, "qi": nil])) }
        assertCryptoError(.keyTooSmall) { _ = try AsymmetricKey.rsa(modulus: n1024, exponent: [1, 0, 1]) }
        XCTAssertEqual(try AsymmetricKey.rsa(modulus: n, exponent: [1, 0, 1]).bits, 2048)
        // Over the ceiling: 8200 bits.
        let huge = [UInt8](repeating: 0xC3, count: 1025)
        assertCryptoError(.keyTooLarge) { _ = try AsymmetricKey.rsa(modulus: huge, exponent: [1, 0, 1]) }
    }

    func testPublicOnlyRefusesPrivateMembersAndSecrets() throws {
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        let d = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
        assertCryptoError(.privateKeyNotAllowed) { _ = try self.jwk(#"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)","d":"\#(d)"}"#, .publicOnly) }
        XCTAssertTrue(try jwk(#"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)","d":"\#(d)"}"#, .any).isPrivate)
        assertCryptoError(.privateKeyNotAllowed) { _ = try self.jwk(self.rsaJSON([:]), .publicOnly) }
        assertCryptoError(.privateKeyNotAllowed) { _ = try self.jwk(self.rsaJSON(["p": nil, "q": nil, "dp": nil, "dq": nil, "qi": nil]), .publicOnly) }
        assertCryptoError(.privateKeyNotAllowed) { _ = try self.jwk(#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#, .publicOnly) }
        let ed = try AsymmetricKey.generateEd25519()
        let edPrivate = #"{"kty":"OKP","crv":"Ed25519","x":"\#(Base64URL.encode(ed.ed25519PublicBytes()!))","d":"\#(Base64URL.encode([UInt8](repeating: 1, count: 32)))"}"#
        assertCryptoError(.privateKeyNotAllowed) { _ = try self.jwk(edPrivate, .publicOnly) }
    }

    func testJWKSetSkipsKeysNotForUsAndRejectsMalformedOnes() throws {
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        let rsaPublic = rsaJSON(["d": nil, "p": nil, "q": nil, "dp": nil, "dq": nil, "qi": nil, "kid": "r1", "alg": "RS256"])
        let document = """
        {"keys":[
          {"kty":"EC","crv":"P-256","x":"\(x)","y":"\(y)","kid":"e1","use":"sig","x5t":"ignored"},
          \(rsaPublic),
          {"kty":"EC","crv":"P-256","x":"\(x)","y":"\(y)","kid":"enc1","use":"enc"},
          {"kty":"OKP","crv":"X25519","x":"\(x)","kid":"x1"},
          {"kty":"RSA","n":"AQAB","e":"AQAB","kid":"oaep","alg":"RSA-OAEP"},
          {"kty":"EC","crv":"P-256","x":"\(x)","y":"\(y)","kid":"ops","key_ops":["deriveKey"]}
        ],"other":"ignored"}
        """
        let set = try JWKSet.parse(bytes(document), requirement: .publicOnly)
        XCTAssertEqual(set.keys.map(\.keyID), ["e1", "r1"])
        XCTAssertEqual(set.keys.map(\.algorithm), [.es256, .rs256])
        XCTAssertEqual(set.skipped.map(\.keyID), ["enc1", "x1", "oaep", "ops"], "\(set.skipped)")
        // Private material rejects a public set even in a key that would be skipped.
        let leaked = #"{"keys":[{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)","d":"AAAA","use":"enc"}]}"#
        assertCryptoError(.privateKeyNotAllowed) { _ = try JWKSet.parse(self.bytes(leaked), requirement: .publicOnly) }

        // One malformed key rejects the set (the caller keeps its last good one).
        let broken = #"{"keys":[{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)","kid":"ok"},{"kty":"EC","crv":"P-256","x":"\#(x)=","y":"\#(y)","kid":"bad"}]}"#
        assertCryptoError(.invalidKey) { _ = try JWKSet.parse(self.bytes(broken), requirement: .publicOnly) }
        do {
            _ = try JWKSet.parse(bytes(broken), requirement: .publicOnly)
        } catch {
            XCTAssertTrue(error.detail.contains("kid bad"), error.detail)
        }
        let withSecret = #"{"keys":[{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow","alg":"HS256"}]}"#
        assertCryptoError(.privateKeyNotAllowed) { _ = try JWKSet.parse(self.bytes(withSecret), requirement: .publicOnly) }
        XCTAssertEqual(try JWKSet.parse(bytes(withSecret), requirement: .any).keys.first?.algorithm, .hs256)
        // An RSA key without alg needs a configured default.
        let noAlg = #"{"keys":[\#(rsaJSON(["d": nil, "p": nil, "q": nil, "dp": nil, "dq": nil, "qi": nil]))]}"#
        assertCryptoError(.invalidKey) { _ = try JWKSet.parse(self.bytes(noAlg), requirement: .publicOnly) }
        XCTAssertEqual(try JWKSet.parse(bytes(noAlg), requirement: .publicOnly, defaultAlgorithm: .rs256).keys.first?.algorithm, .rs256)
        // A short RSA modulus rejects the set.
        var short = Base64URL.decode(Self.rfcRSA["n"]!.stringValue!)!
        short[0] = 0x7F
        let smallKey = rsaJSON(["n": Base64URL.encode(short), "d": nil, "p": nil, "q": nil, "dp": nil, "dq": nil, "qi": nil, "alg": "RS256"])
        assertCryptoError(.keyTooSmall) { _ = try JWKSet.parse(self.bytes(#"{"keys":[\#(smallKey)]}"#), requirement: .publicOnly) }
        assertCryptoError(.invalidKey) { _ = try JWKSet.parse(self.bytes(#"{"keys":{}}"#), requirement: .publicOnly) }
        assertCryptoError(.invalidKey) { _ = try JWKSet.parse(self.bytes(#"{"keys":[1]}"#), requirement: .publicOnly) }
        let many = "{\"keys\":[" + Array(repeating: "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"\(x)\",\"y\":\"\(y)\"}", count: 65).joined(separator: ",") + "]}"
        assertCryptoError(.invalidKey) { _ = try JWKSet.parse(self.bytes(many), requirement: .publicOnly) }
    }
}
