/// Verifies JWS compact serializations (`header.payload.signature`, RFC 7515 §7.1) against a fixed set
/// of keys, each bound to one algorithm. Pure: no I/O, no clock; claims are `JWTClaimsValidator`'s job.
///
///     token ─▶ size cap ─▶ exactly two dots, non-empty header and payload ─▶ strict base64url ×3
///           ─▶ header: JSON object, no duplicate members
///           ─▶ refuse alg none (any casing), jwk, jku, x5u, x5c, crit, an unknown alg
///           ─▶ candidate keys: those with the token's kid (kid only selects; keys configured without
///              an id stand in for a kid nobody has), else all keys
///           ─▶ refuse when no candidate is bound to the token's alg (HMAC against public keys: its own code)
///           ─▶ signature over the ASCII "header.payload" with each candidate bound to alg
///
/// The header never chooses a key family or supplies a key: a key's algorithm is fixed when it is
/// configured, and the token's `alg` must equal it exactly. Thread safety: immutable, share freely.
public struct JWSVerifier: Sendable {
    /// RFC 6750 bearer tokens travel in a header; 8 KiB is far above any honest token and bounds the work
    /// one request can cause.
    public static let defaultMaximumTokenBytes = 8192

    public let keys: [JWSKey]
    public let maximumTokenBytes: Int

    /// A token that verified: its header, its payload bytes (not yet read as claims), the algorithm and
    /// the id of the key that verified it.
    public struct Verified: Sendable {
        public let header: JSONObject
        public let payload: [UInt8]
        public let algorithm: JWSAlgorithm
        public let keyID: String?
    }

    public init(keys: [JWSKey], maximumTokenBytes: Int = defaultMaximumTokenBytes) {
        precondition(maximumTokenBytes > 0)
        self.keys = keys
        self.maximumTokenBytes = maximumTokenBytes
    }

    /// Verifies `token` (the bytes after `Bearer `).
    public func verify(_ token: String) throws(JWSError) -> Verified {
        guard token.utf8.count <= maximumTokenBytes else { throw .tokenTooLarge }
        return try verify(Array(token.utf8))
    }

    /// Verifies `token` (the bytes after `Bearer `).
    public func verify(_ token: [UInt8]) throws(JWSError) -> Verified {
        guard token.count <= maximumTokenBytes else { throw .tokenTooLarge }
        var dots: (Int, Int) = (-1, -1)
        for (i, byte) in token.enumerated() where byte == UInt8(ascii: ".") {
            if dots.0 < 0 { dots.0 = i } else if dots.1 < 0 { dots.1 = i } else { throw .malformed }
        }
        let (first, second) = dots
        // An empty signature part passes this step so that an unsigned `alg: none` token (which has one)
        // is refused for what it is; no configured algorithm accepts an empty signature.
        guard first > 0, second > first + 1 else { throw .malformed }
        let result = token.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Result<Verified, JWSError> in
            do throws(JWSError) { return .success(try verify(raw, dots: (first, second))) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private func verify(_ raw: UnsafeRawBufferPointer, dots: (Int, Int)) throws(JWSError) -> Verified {
        let (first, second) = dots
        guard let headerBytes = Base64URL.decode(UnsafeRawBufferPointer(rebasing: raw[0..<first])),
              let payload = Base64URL.decode(UnsafeRawBufferPointer(rebasing: raw[(first + 1)..<second])),
              let signature = Base64URL.decode(UnsafeRawBufferPointer(rebasing: raw[(second + 1)...]))
        else { throw .invalidBase64URL }
        let (header, algorithm, keyID) = try Self.readHeader(headerBytes)
        let candidates = try candidateKeys(algorithm: algorithm, keyID: keyID)
        guard !signature.isEmpty else { throw .malformedSignature }
        if let length = algorithm.ecdsaSignatureLength, let curve = algorithm.curve {
            guard signature.count == length, ECDSASignature.der(fromRaw: signature, curve: curve) != nil else {
                throw .malformedSignature
            }
        }
        let signingInput = UnsafeRawBufferPointer(rebasing: raw[0..<second])
        for key in candidates where Self.isValid(signature, signingInput, key) {
            return Verified(header: header, payload: payload, algorithm: algorithm, keyID: key.keyID)
        }
        throw .invalidSignature
    }

    /// The header's object, algorithm and key id, after every refusal the header alone can decide.
    private static func readHeader(_ bytes: [UInt8]) throws(JWSError) -> (JSONObject, JWSAlgorithm, String?) {
        guard let value = try? JSONParser.parse(bytes, maxDepth: 16, duplicateKeys: .reject),
              let header = value.objectValue else { throw .invalidHeader }
        guard let algValue = header["alg"] else { throw .missingAlgorithm }
        guard let name = algValue.stringValue else { throw .invalidHeader }
        if name.lowercased() == "none" { throw .algorithmNone }
        if header["jwk"] != nil { throw .embeddedKey }
        if header["jku"] != nil { throw .keySetURL }
        if header["x5u"] != nil { throw .certificateURL }
        if header["x5c"] != nil { throw .certificateChain }
        // We implement no header extensions, so any crit names one we do not understand.
        if header["crit"] != nil { throw .unsupportedCritical }
        guard let algorithm = JWSAlgorithm(name: name) else { throw .unsupportedAlgorithm }
        var keyID: String?
        if let kid = header["kid"] {
            guard let s = kid.stringValue else { throw .invalidHeader }
            keyID = s
        }
        for member in ["typ", "cty"] where header[member] != nil && header[member]?.stringValue == nil {
            throw .invalidHeader
        }
        return (header, algorithm, keyID)
    }

    /// The keys to try, restricted to those bound to `algorithm`: with a `kid`, the keys of that id, or
    /// (when no key has it) the keys configured without an id; without a `kid`, all keys.
    ///
    /// A key configured without an id (a static PEM key) thus serves tokens whose issuer adds a `kid` of
    /// its own, while a `kid` that some key does have never reaches another key.
    private func candidateKeys(algorithm: JWSAlgorithm, keyID: String?) throws(JWSError) -> [JWSKey] {
        var named = keys
        if let kid = keyID {
            named = keys.filter { $0.keyID == kid }
            if named.isEmpty { named = keys.filter { $0.keyID == nil } }
        }
        guard !named.isEmpty else { throw .unknownKeyID }
        let bound = named.filter { $0.algorithm == algorithm }
        if bound.isEmpty {
            throw algorithm.isHMAC && !named.contains(where: { $0.algorithm.isHMAC }) ? .hmacWithPublicKey : .algorithmNotAllowed
        }
        return bound
    }

    private static func isValid(_ signature: [UInt8], _ signingInput: UnsafeRawBufferPointer, _ key: JWSKey) -> Bool {
        switch key.material {
        case .hmac(let secret):
            return secret.isValidAuthenticationCode(signature, for: signingInput)
        case .asymmetric(let publicKey):
            guard let scheme = key.algorithm.signatureAlgorithm else { return false }
            return publicKey.isValidSignature(signature, for: signingInput, using: scheme)
        }
    }
}
