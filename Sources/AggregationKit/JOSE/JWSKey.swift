/// A key bound to exactly one JWS algorithm, with an optional key id.
///
/// The binding is the defence against algorithm confusion: the verifier checks a token only with keys
/// bound to the token's `alg`, so a token can never make an RSA public key serve as an HMAC secret, or
/// pick a weaker algorithm than the one configured. Immutable; safe to share between threads.
public struct JWSKey: Sendable {
    enum Material: Sendable {
        case hmac(HMACKey)
        case asymmetric(AsymmetricKey)
    }

    public let keyID: String?
    public let algorithm: JWSAlgorithm
    let material: Material

    /// An HMAC key. RFC 7518 §3.2: the secret must be at least as long as the hash output (32, 48 or 64
    /// bytes); a shorter one is refused.
    public static func hmac(secret: [UInt8], algorithm: JWSAlgorithm, keyID: String? = nil) throws(CryptoError) -> JWSKey {
        guard let hash = algorithm.hmacHash else {
            throw .keyMismatch("a shared secret cannot be bound to \(algorithm.name)")
        }
        guard secret.count >= hash.digestLength else {
            throw .keyTooSmall("an \(algorithm.name) secret of \(secret.count) bytes (at least \(hash.digestLength) required)")
        }
        return JWSKey(keyID: keyID, algorithm: algorithm, material: .hmac(try HMACKey(secret: secret, hash: hash)))
    }

    /// A public or private key bound to `algorithm`, which must fit it (RSA for RS/PS, the algorithm's
    /// own curve for ES, Ed25519 for EdDSA).
    public init(key: AsymmetricKey, algorithm: JWSAlgorithm, keyID: String? = nil) throws(CryptoError) {
        guard !algorithm.isHMAC, algorithm.fits(key.family) else {
            throw .keyMismatch("\(key) cannot be bound to \(algorithm.name)")
        }
        self.init(keyID: keyID, algorithm: algorithm, material: .asymmetric(key))
    }

    private init(keyID: String?, algorithm: JWSAlgorithm, material: Material) {
        self.keyID = keyID
        self.algorithm = algorithm
        self.material = material
    }

    /// True for a key that can sign (an HMAC secret, or a private key).
    public var canSign: Bool {
        switch material {
        case .hmac: true
        case .asymmetric(let key): key.isPrivate
        }
    }

    /// The asymmetric key, if this is not an HMAC key (for publishing its public half as a JWK).
    public var asymmetricKey: AsymmetricKey? {
        if case .asymmetric(let key) = material { return key }
        return nil
    }
}
