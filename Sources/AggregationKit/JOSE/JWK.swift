/// One JSON Web Key (RFC 7517), read strictly (RFC 7518 §6, RFC 8037 §2).
///
/// Supported: `kty` RSA, EC (P-256, P-384, P-521), OKP (Ed25519) and oct. Strict means: base64url
/// without padding and in its one canonical spelling; RSA integers in their minimal big-endian form (no
/// leading zero byte, RFC 7518 §2 "Base64urlUInt"); EC coordinates and private scalars of exactly the
/// curve's length; an RSA private key with all of its CRT members or none; the member types RFC 7517
/// gives (`kid`, `alg`, `use` strings, `key_ops` an array of distinct strings); duplicate JSON members
/// refused. Members we do not use (`x5c`, `x5t`, `issuer`, …) are ignored, as RFC 7517 §4 asks.
///
/// A key of a kind we do not support (another curve, Ed448, X25519, multi-prime RSA) throws
/// `unsupported_key`, which a key set treats as "skip this one", not as a broken set.
public struct JWK: Sendable {
    public enum KeyType: String, Sendable, Hashable {
        case rsa = "RSA", ec = "EC", okp = "OKP", oct = "oct"
    }

    /// Which keys a caller accepts.
    public enum Requirement: Sendable, Hashable {
        /// Public keys only: private members (`d`, `p`, …) and symmetric (`oct`) keys are refused. For
        /// key sets fetched from an identity provider, which must never hold a secret.
        case publicOnly
        /// Public, private and symmetric keys (a local configuration file).
        case any
    }

    enum Material: Sendable {
        case asymmetric(AsymmetricKey)
        case secret([UInt8])
    }

    public let keyType: KeyType
    public let keyID: String?
    /// The `alg` member as written (it may name an algorithm we do not support).
    public let algorithmName: String?
    public let use: String?
    public let keyOperations: [String]?
    let material: Material

    /// True for a private or symmetric key.
    public var isPrivate: Bool {
        switch material {
        case .asymmetric(let key): key.isPrivate
        case .secret: true
        }
    }

    /// The parsed key, for an asymmetric JWK.
    public var asymmetricKey: AsymmetricKey? {
        if case .asymmetric(let key) = material { return key }
        return nil
    }

    /// True unless `use` or `key_ops` says the key is for something other than signatures (an
    /// encryption key published in the same set).
    public var isForSignatures: Bool {
        if let use, use != "sig" { return false }
        if let keyOperations, !keyOperations.contains("verify"), !keyOperations.contains("sign") { return false }
        return true
    }

    /// Parses one JWK from JSON text.
    public static func parse(_ bytes: [UInt8], requirement: Requirement) throws(CryptoError) -> JWK {
        let value: JSONValue
        do { value = try JSONParser.parse(bytes, maxDepth: 8, duplicateKeys: .reject) } catch {
            throw .invalidKey("not a JSON object: \(error)")
        }
        guard let object = value.objectValue else { throw .invalidKey("a JWK must be a JSON object") }
        return try parse(object, requirement: requirement)
    }

    /// Parses one JWK from a JSON object.
    public static func parse(_ object: JSONObject, requirement: Requirement) throws(CryptoError) -> JWK {
        let members = Members(object)
        guard let ktyName = try members.string("kty") else { throw .invalidKey("missing kty") }
        guard let keyType = KeyType(rawValue: ktyName) else { throw .unsupportedKey("kty \(ktyName)") }
        let keyID = try members.string("kid")
        let algorithmName = try members.string("alg")
        let use = try members.string("use")
        var keyOperations: [String]?
        if let ops = object["key_ops"] {
            guard let array = ops.arrayValue else { throw .invalidKey("key_ops must be an array of strings") }
            var seen: [String] = []
            for op in array {
                guard let name = op.stringValue, !seen.contains(name) else { throw .invalidKey("key_ops must hold distinct strings") }
                seen.append(name)
            }
            keyOperations = seen
        }
        let material: Material
        switch keyType {
        case .rsa: material = .asymmetric(try parseRSA(members, requirement))
        case .ec: material = .asymmetric(try parseEC(members, requirement))
        case .okp: material = .asymmetric(try parseOKP(members, requirement))
        case .oct:
            guard requirement == .any else { throw .privateKeyNotAllowed("a symmetric (oct) key where only public keys are allowed") }
            guard let k = try members.bytes("k"), !k.isEmpty else { throw .invalidKey("an oct key needs a non-empty k") }
            material = .secret(k)
        }
        return JWK(keyType: keyType, keyID: keyID, algorithmName: algorithmName, use: use, keyOperations: keyOperations, material: material)
    }

    private static let rsaPrivateMembers = ["d", "p", "q", "dp", "dq", "qi"]

    private static func parseRSA(_ members: Members, _ requirement: Requirement) throws(CryptoError) -> AsymmetricKey {
        let present = rsaPrivateMembers.filter { members.object[$0] != nil }
        if requirement == .publicOnly, !present.isEmpty || members.object["oth"] != nil {
            throw .privateKeyNotAllowed("RSA private members (\(present.joined(separator: ", "))) where only public keys are allowed")
        }
        if members.object["oth"] != nil { throw .unsupportedKey("multi-prime RSA (oth)") }
        guard let n = try members.unsignedInteger("n"), let e = try members.unsignedInteger("e") else {
            throw .invalidKey("an RSA key needs n and e")
        }
        if present.isEmpty { return try AsymmetricKey.rsa(modulus: n, exponent: e) }
        // RFC 7518 §6.3.2 allows d alone, but every producer writes the CRT members and OpenSSL's
        // consistency check needs them; a partial set is a damaged key.
        guard present.count == rsaPrivateMembers.count else {
            throw .invalidKey("an RSA private key needs all of d, p, q, dp, dq, qi (has \(present.joined(separator: ", ")))")
        }
        return try AsymmetricKey.rsa(modulus: n, publicExponent: e,
                                     privateExponent: try members.unsignedInteger("d")!, prime1: try members.unsignedInteger("p")!,
                                     prime2: try members.unsignedInteger("q")!, exponent1: try members.unsignedInteger("dp")!,
                                     exponent2: try members.unsignedInteger("dq")!, coefficient: try members.unsignedInteger("qi")!)
    }

    private static func parseEC(_ members: Members, _ requirement: Requirement) throws(CryptoError) -> AsymmetricKey {
        guard let crv = try members.string("crv") else { throw .invalidKey("an EC key needs crv") }
        guard let curve = AsymmetricKey.Curve(rawValue: crv) else { throw .unsupportedKey("EC curve \(crv)") }
        if requirement == .publicOnly, members.object["d"] != nil {
            throw .privateKeyNotAllowed("an EC private key (d) where only public keys are allowed")
        }
        guard let x = try members.bytes("x"), let y = try members.bytes("y") else { throw .invalidKey("an EC key needs x and y") }
        let d = try members.bytes("d")
        let length = curve.coordinateLength
        guard x.count == length, y.count == length, d.map({ $0.count == length }) ?? true else {
            throw .invalidKey("\(crv) members x, y and d must be exactly \(length) bytes each")
        }
        return try AsymmetricKey.ec(curve: curve, x: x, y: y, d: d)
    }

    private static func parseOKP(_ members: Members, _ requirement: Requirement) throws(CryptoError) -> AsymmetricKey {
        guard let crv = try members.string("crv") else { throw .invalidKey("an OKP key needs crv") }
        guard crv == "Ed25519" else { throw .unsupportedKey("OKP curve \(crv) (Ed25519 is supported)") }
        if requirement == .publicOnly, members.object["d"] != nil {
            throw .privateKeyNotAllowed("an Ed25519 private key (d) where only public keys are allowed")
        }
        guard let x = try members.bytes("x"), x.count == 32 else { throw .invalidKey("an Ed25519 key needs x of 32 bytes") }
        guard let d = try members.bytes("d") else { return try AsymmetricKey.ed25519(publicKey: x) }
        let key = try AsymmetricKey.ed25519(privateKey: d)
        guard key.ed25519PublicBytes() == x else { throw .invalidKey("the Ed25519 x does not belong to d") }
        return key
    }

    /// Binds this key to its algorithm: its `alg` member when present; otherwise the curve's own
    /// algorithm for EC (ES256 for P-256, …) and Ed25519 (EdDSA), and `defaultAlgorithm` for RSA and oct
    /// keys, whose `alg` cannot be inferred. Throws when the algorithm does not fit the key (an ES256
    /// key on P-384), when `alg` names something that is not a JWS algorithm we support
    /// (`unsupported_key`), or when an RSA or oct key has neither `alg` nor a default.
    public func jwsKey(defaultAlgorithm: JWSAlgorithm? = nil) throws(CryptoError) -> JWSKey {
        let algorithm: JWSAlgorithm
        if let algorithmName {
            guard let named = JWSAlgorithm(name: algorithmName) else {
                throw .unsupportedKey("alg \(algorithmName) is not a supported JWS algorithm")
            }
            algorithm = named
        } else if case .asymmetric(let key) = material, case .ec(let curve) = key.family {
            algorithm = JWSAlgorithm.allCases.first { $0.curve == curve }!
        } else if case .asymmetric(let key) = material, key.family == .ed25519 {
            algorithm = .edDSA
        } else if let defaultAlgorithm {
            algorithm = defaultAlgorithm
        } else {
            throw .invalidKey("a \(keyType.rawValue) key without alg, and no algorithm configured for such keys")
        }
        switch material {
        case .secret(let secret): return try JWSKey.hmac(secret: secret, algorithm: algorithm, keyID: keyID)
        case .asymmetric(let key): return try JWSKey(key: key, algorithm: algorithm, keyID: keyID)
        }
    }

    /// The public JWK for `key` (never private members), with `kid`, `alg` and `"use": "sig"`: what the
    /// gateway publishes at `/.well-known/jwks.json` for the tokens it signs.
    public static func publicJSON(for key: AsymmetricKey, keyID: String?, algorithm: JWSAlgorithm?) -> JSONObject {
        var object = JSONObject()
        switch key.family {
        case .rsa:
            let (n, e) = key.rsaPublicComponents()!
            object["kty"] = .string("RSA")
            object["n"] = .string(Base64URL.encode(n))
            object["e"] = .string(Base64URL.encode(e))
        case .ec(let curve):
            let (x, y) = key.ecPublicCoordinates()!
            object["kty"] = .string("EC")
            object["crv"] = .string(curve.rawValue)
            object["x"] = .string(Base64URL.encode(x))
            object["y"] = .string(Base64URL.encode(y))
        case .ed25519:
            object["kty"] = .string("OKP")
            object["crv"] = .string("Ed25519")
            object["x"] = .string(Base64URL.encode(key.ed25519PublicBytes()!))
        }
        if let keyID { object["kid"] = .string(keyID) }
        if let algorithm { object["alg"] = .string(algorithm.name) }
        object["use"] = .string("sig")
        return object
    }

    /// Typed, strict access to a JWK's members.
    private struct Members {
        let object: JSONObject
        init(_ object: JSONObject) { self.object = object }

        func string(_ name: String) throws(CryptoError) -> String? {
            guard let value = object[name] else { return nil }
            guard let s = value.stringValue else { throw .invalidKey("member \(name) must be a string") }
            return s
        }

        func bytes(_ name: String) throws(CryptoError) -> [UInt8]? {
            guard let text = try string(name) else { return nil }
            guard let decoded = Base64URL.decode(text) else { throw .invalidKey("member \(name) is not unpadded base64url") }
            return decoded
        }

        /// RFC 7518 §2 Base64urlUInt: minimal big-endian, no leading zero byte, zero itself refused
        /// (no RSA member may be zero).
        func unsignedInteger(_ name: String) throws(CryptoError) -> [UInt8]? {
            guard let decoded = try bytes(name) else { return nil }
            guard let first = decoded.first, first != 0 else {
                throw .invalidKey("member \(name) is not a minimal unsigned integer (empty or a leading zero byte)")
            }
            return decoded
        }
    }
}
