/// A JWK Set (RFC 7517 §5) turned into verification keys, each bound to one algorithm.
///
/// A key that is well formed but not for us (an encryption key, another curve, an `alg` that is not a
/// JWS algorithm we support) is skipped and listed in `skipped`, so a provider that also publishes such
/// keys keeps working. A key that is malformed (bad base64url, a short RSA modulus, a point off its
/// curve, private members in a public set, an RSA key with no algorithm) rejects the whole set: the
/// caller keeps its last good set and reports the error, rather than silently running with fewer keys.
public struct JWKSet: Sendable {
    /// Keys we refuse to hold at once: a bound on the work a token without `kid` can cause.
    public static let maximumKeys = 64

    public struct SkippedKey: Sendable, CustomStringConvertible {
        public let index: Int
        public let keyID: String?
        public let reason: String
        public var description: String { "key #\(index)\(keyID.map { " (kid \($0))" } ?? ""): \(reason)" }
    }

    public let keys: [JWSKey]
    public let skipped: [SkippedKey]

    /// Parses a JWK Set document. `defaultAlgorithm` binds RSA and oct keys that carry no `alg` (see
    /// `JWK.jwsKey`).
    public static func parse(_ bytes: [UInt8], requirement: JWK.Requirement,
                             defaultAlgorithm: JWSAlgorithm? = nil) throws(CryptoError) -> JWKSet {
        let value: JSONValue
        do { value = try JSONParser.parse(bytes, maxDepth: 16, duplicateKeys: .reject) } catch {
            throw .invalidKey("the key set is not valid JSON: \(error)")
        }
        guard let entries = value.objectValue?["keys"]?.arrayValue else {
            throw .invalidKey("a JWK set must be an object with a keys array")
        }
        guard entries.count <= maximumKeys else {
            throw .invalidKey("\(entries.count) keys (at most \(maximumKeys))")
        }
        var keys: [JWSKey] = []
        var skipped: [SkippedKey] = []
        for (index, entry) in entries.enumerated() {
            guard let object = entry.objectValue else { throw .invalidKey("key #\(index) is not an object") }
            let kid = object["kid"]?.stringValue
            let context = "key #\(index)\(kid.map { " (kid \($0))" } ?? "")"
            do {
                let jwk = try JWK.parse(object, requirement: requirement)
                guard jwk.isForSignatures else {
                    skipped.append(SkippedKey(index: index, keyID: kid, reason: "not a signature key (use or key_ops)"))
                    continue
                }
                keys.append(try jwk.jwsKey(defaultAlgorithm: defaultAlgorithm))
            } catch where error == .unsupportedKey {
                skipped.append(SkippedKey(index: index, keyID: kid, reason: error.detail))
            } catch {
                throw error.adding(context: context)
            }
        }
        return JWKSet(keys: keys, skipped: skipped)
    }

    /// The public JWK Set document for `keys` (their public halves only; HMAC keys are left out): what the
    /// gateway serves at `/.well-known/jwks.json`.
    public static func publicDocument(for keys: [JWSKey]) -> [UInt8] {
        let entries: [JSONValue] = keys.compactMap { key in
            key.asymmetricKey.map { .object(JWK.publicJSON(for: $0, keyID: key.keyID, algorithm: key.algorithm)) }
        }
        return JSONSerializer.serialize(.object(JSONObject([("keys", .array(entries))])))
    }
}
