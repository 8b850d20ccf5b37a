/// Produces JWS compact serializations with one key (for the tokens the gateway issues, and for tests).
/// Thread safety: immutable, share freely.
public struct JWSSigner: Sendable {
    public let key: JWSKey

    /// Header members the signer writes itself; `additionalHeader` may not set them.
    private static let reservedHeaderMembers: Set<String> = ["alg", "kid", "typ", "crit", "jwk", "jku", "x5u", "x5c"]

    /// Throws when `key` cannot sign (a public key).
    public init(key: JWSKey) throws(CryptoError) {
        guard key.canSign else { throw .keyMismatch("a public key cannot sign") }
        self.key = key
    }

    /// `BASE64URL(header) . BASE64URL(payload) . BASE64URL(signature)` with the header
    /// `{"alg":…,"typ":…,"kid":…}` plus `additionalHeader`.
    public func sign(payload: [UInt8], type: String? = "JWT", additionalHeader: [(String, JSONValue)] = []) throws(CryptoError) -> String {
        var header: [(key: String, value: JSONValue)] = [("alg", .string(key.algorithm.name))]
        if let type { header.append(("typ", .string(type))) }
        if let keyID = key.keyID { header.append(("kid", .string(keyID))) }
        for (name, value) in additionalHeader {
            precondition(!Self.reservedHeaderMembers.contains(name), "header member \(name) is written by the signer")
            header.append((name, value))
        }
        var signingInput = Base64URL.encodeToBytes(JSONSerializer.serialize(.object(JSONObject(header))))
        signingInput.append(UInt8(ascii: "."))
        signingInput += Base64URL.encodeToBytes(payload)
        let signature: [UInt8]
        switch key.material {
        case .hmac(let secret):
            signature = secret.authenticationCode(for: signingInput)
        case .asymmetric(let privateKey):
            signature = try privateKey.signature(for: signingInput, using: key.algorithm.signatureAlgorithm!)
        }
        signingInput.append(UInt8(ascii: "."))
        signingInput += Base64URL.encodeToBytes(signature)
        return String(decoding: signingInput, as: UTF8.self)
    }

    /// Signs a claims object (serialized compactly) as a JWT.
    public func sign(claims: JSONObject, type: String? = "JWT") throws(CryptoError) -> String {
        try sign(payload: JSONSerializer.serialize(.object(claims)), type: type)
    }
}
