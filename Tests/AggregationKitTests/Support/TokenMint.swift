import XCTest
@testable import AggregationKit

/// Makes bearer tokens for auth tests: properly signed ones, and the malformed and hostile ones no
/// signer would write (raw header text, any signature).
struct TokenMint {
    /// The issuer's signing key (ES256, kid `k1`) and its public half, which the gateway is given.
    let signing: JWSKey
    let verifying: JWSKey
    static let issuer = "https://id.test"
    static let audience = "bff"

    init(kid: String? = "k1") throws {
        let key = try AsymmetricKey.generateEC(curve: .p256)
        signing = try JWSKey(key: key, algorithm: .es256, keyID: kid)
        verifying = try JWSKey(key: try key.publicKey(), algorithm: .es256, keyID: kid)
    }

    /// The public key as an inline JWK for gateway.json.
    var publicJWK: String {
        JSONSerializer.string(.object(JWK.publicJSON(for: verifying.asymmetricKey!, keyID: verifying.keyID, algorithm: .es256)))
    }

    /// A signed token with `header` (raw JSON text) and `claims` (raw JSON text).
    func token(header: String = #"{"alg":"ES256","typ":"JWT","kid":"k1"}"#, claims: String, key: JWSKey? = nil) throws -> String {
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        let key = key ?? signing
        let signature: [UInt8]
        switch key.material {
        case .hmac(let secret): signature = secret.authenticationCode(for: Array(input.utf8))
        case .asymmetric(let privateKey): signature = try privateKey.signature(for: Array(input.utf8), using: key.algorithm.signatureAlgorithm!)
        }
        return input + "." + Base64URL.encode(signature)
    }

    /// Claims JSON with the usual members: `iss`, `aud`, `sub`, `exp`, plus `extra` (raw members).
    static func claims(sub: String = "u1", exp: Int64?, extra: String = "") -> String {
        var members = [#""iss":"\#(issuer)""#, #""aud":"\#(audience)""#, #""sub":"\#(sub)""#]
        if let exp { members.append(#""exp":\#(exp)"#) }
        if !extra.isEmpty { members.append(extra) }
        return "{" + members.joined(separator: ",") + "}"
    }
}

/// The `ManualClock`'s starting wall time in seconds (2026-01-01T00:00:00Z).
let manualClockStartSeconds: Int64 = 1_767_225_600
