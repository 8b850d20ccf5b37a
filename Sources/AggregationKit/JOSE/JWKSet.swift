/// A JWK Set (RFC 7517 §5) turned into verification keys, each bound to one algorithm.
///
/// A key that is not for us (an encryption key by `use` or `key_ops`, an `alg` that is not a JWS
/// algorithm we support, another curve or key type) is skipped and listed in `skipped`, so a provider
/// that also publishes such keys keeps working. A key that is malformed (bad base64url, a short RSA modulus, a point off its
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
            do throws(CryptoError) {
                // Private material is refused even in a key we would skip: a provider publishing secrets
                // is broken, whatever the key was for.
                if requirement == .publicOnly, let member = Self.privateMembers.first(where: { object[$0] != nil }) {
                    throw CryptoError.privateKeyNotAllowed("private member \(member) where only public keys are allowed")
                }
                // Keys that are not for JWS signatures are skipped before their material is read: we never
                // use them, so their form is not ours to judge.
                if let reason = Self.notForSignatures(object) {
                    skipped.append(SkippedKey(index: index, keyID: kid, reason: reason))
                    continue
                }
                let jwk = try JWK.parse(object, requirement: requirement)
                keys.append(try jwk.jwsKey(defaultAlgorithm: defaultAlgorithm))
            } catch where error == .unsupportedKey {
                skipped.append(SkippedKey(index: index, keyID: kid, reason: error.detail))
            } catch {
                throw error.adding(context: context)
            }
        }
        return JWKSet(keys: keys, skipped: skipped)
    }

    /// Members only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
    private static let privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]

    /// Why a key is not for JWS signatures (`use` other than `sig`, `key_ops` without `verify` or `sign`,
    /// an `alg` that is not a JWS signature algorithm), or nil when it may be.
    private static func notForSignatures(_ object: JSONObject) -> String? {
        if let use = object["use"]?.stringValue, use != "sig" { return "use \(use)" }
        if let ops = object["key_ops"]?.arrayValue {
            let names = ops.compactMap(\.stringValue)
            if !names.contains("verify"), !names.contains("sign") { return "key_ops without verify" }
        }
        if let alg = object["alg"]?.stringValue, JWSAlgorithm(name: alg) == nil { return "alg \(alg) is not a supported JWS algorithm" }
        return nil
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
