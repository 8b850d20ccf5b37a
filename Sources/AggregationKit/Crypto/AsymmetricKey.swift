internal import COpenSSL

/// A public or private key for RSA, ECDSA (P-256, P-384, P-521) or Ed25519: an owned OpenSSL `EVP_PKEY`,
/// freed with this object.
///
/// Every way in (components from a JWK, PEM, generation) ends in the same checks: the kind must be one we
/// use, an RSA modulus between 2048 and 8192 bits, and OpenSSL's own key validation (a point on its curve,
/// consistent RSA private parameters), so no later code meets a key it cannot trust.
///
/// Thread safety: immutable after init. OpenSSL 3 allows one `EVP_PKEY` to be used by many threads at
/// once for signing and verifying as long as nobody modifies it; every operation here makes its own
/// `EVP_MD_CTX`.
public final class AsymmetricKey: @unchecked Sendable, CustomStringConvertible {
    /// The ECDSA curves of RFC 7518 §3.4.
    public enum Curve: String, Sendable, Hashable, CaseIterable {
        case p256 = "P-256", p384 = "P-384", p521 = "P-521"

        /// Bytes of one coordinate, of the private scalar, and of each half of a raw signature.
        public var coordinateLength: Int {
            switch self {
            case .p256: 32
            case .p384: 48
            case .p521: 66
            }
        }

        /// The names OpenSSL reports for the group (`EVP_PKEY_get_group_name`).
        fileprivate static func fromOpenSSLGroupName(_ name: String) -> Curve? {
            switch name {
            case "prime256v1", "P-256", "secp256r1": .p256
            case "secp384r1", "P-384": .p384
            case "secp521r1", "P-521": .p521
            default: nil
            }
        }

        fileprivate var groupName: StaticString {
            switch self {
            case .p256: "P-256"
            case .p384: "P-384"
            case .p521: "P-521"
            }
        }

        /// The group order n as `coordinateLength` big-endian bytes (an ECDSA R or S must be in 1..<n).
        public var order: [UInt8] {
            switch self {
            case .p256: curveOrders.p256
            case .p384: curveOrders.p384
            case .p521: curveOrders.p521
            }
        }
    }

    /// What kind of key this is.
    public enum Family: Sendable, Hashable {
        case rsa
        case ec(Curve)
        case ed25519
    }

    /// RSA moduli below this many bits are refused (NIST SP 800-131A; RFC 7518 §3.3 requires 2048).
    public static let minimumRSABits = 2048
    /// RSA moduli above this are refused: verification cost grows with the square of the size, and no
    /// identity provider uses more.
    public static let maximumRSABits = 8192

    let pkey: OpaquePointer
    public let family: Family
    /// The key size: the RSA modulus length, the curve's field size, 253 for Ed25519.
    public let bits: Int
    /// True when this key holds private material (it can sign).
    public let isPrivate: Bool

    /// Takes ownership of `pkey` (freed here even when the checks fail).
    init(taking pkey: OpaquePointer, isPrivate: Bool) throws(CryptoError) {
        let family: Family
        do { family = try Self.family(of: pkey) } catch { EVP_PKEY_free(pkey); throw error }
        self.pkey = pkey
        self.family = family
        self.isPrivate = isPrivate
        self.bits = Int(EVP_PKEY_get_bits(pkey))
        // From here on a throw runs `deinit`, which frees `pkey`.
        if family == .rsa {
            guard bits >= Self.minimumRSABits else {
                throw .keyTooSmall("an RSA modulus of \(bits) bits (at least \(Self.minimumRSABits) required)")
            }
            guard bits <= Self.maximumRSABits else {
                throw .keyTooLarge("an RSA modulus of \(bits) bits (at most \(Self.maximumRSABits) allowed)")
            }
        }
        try validate()
    }

    private static func family(of pkey: OpaquePointer) throws(CryptoError) -> Family {
        if EVP_PKEY_is_a(pkey, "RSA") == 1 { return .rsa }
        if EVP_PKEY_is_a(pkey, "ED25519") == 1 { return .ed25519 }
        if EVP_PKEY_is_a(pkey, "EC") == 1 {
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(pkey, &name, name.count, &length) == 1 else {
                clearOpenSSLErrors()
                throw .unsupportedKey("an EC key without a named curve")
            }
            let text = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard let curve = Curve.fromOpenSSLGroupName(text) else {
                throw .unsupportedKey("EC curve \(text) (P-256, P-384 and P-521 are supported)")
            }
            return .ec(curve)
        }
        let name = EVP_PKEY_get0_type_name(pkey).map { String(cString: $0) } ?? "unknown"
        throw .unsupportedKey("key type \(name) (RSA, EC and Ed25519 are supported)")
    }

    deinit { EVP_PKEY_free(pkey) }

    public var description: String {
        let kind = switch family {
        case .rsa: "RSA-\(bits)"
        case .ec(let curve): "EC \(curve.rawValue)"
        case .ed25519: "Ed25519"
        }
        return "\(kind) \(isPrivate ? "private" : "public") key"
    }

    /// OpenSSL's validation: for a public key, a point on its curve and in its subgroup or a sane RSA
    /// modulus and exponent; for a private key, also that the private half matches the public one.
    private func validate() throws(CryptoError) {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil) else {
            throw .operationFailed("EVP_PKEY_CTX_new_from_pkey failed: \(openSSLErrorText())")
        }
        defer { EVP_PKEY_CTX_free(context) }
        let ok = isPrivate ? EVP_PKEY_check(context) : EVP_PKEY_public_check(context)
        guard ok == 1 else { throw .invalidKey("the key fails validation: \(openSSLErrorText())") }
    }

    // MARK: - From components

    /// An RSA public key from its modulus and exponent (unsigned big-endian).
    public static func rsa(modulus: [UInt8], exponent: [UInt8]) throws(CryptoError) -> AsymmetricKey {
        try fromParameters(type: "RSA", isPrivate: false) { (builder: OpaquePointer, keep: inout [OpaquePointer]) throws(CryptoError) in
            try pushBigNumber(builder, "n", modulus, &keep)
            try pushBigNumber(builder, "e", exponent, &keep)
        }
    }

    /// An RSA private key from its modulus, exponents, primes and CRT values (unsigned big-endian).
    public static func rsa(modulus: [UInt8], publicExponent: [UInt8], privateExponent: [UInt8],
                           prime1: [UInt8], prime2: [UInt8], exponent1: [UInt8], exponent2: [UInt8],
                           coefficient: [UInt8]) throws(CryptoError) -> AsymmetricKey {
        try fromParameters(type: "RSA", isPrivate: true) { (builder: OpaquePointer, keep: inout [OpaquePointer]) throws(CryptoError) in
            try pushBigNumber(builder, "n", modulus, &keep)
            try pushBigNumber(builder, "e", publicExponent, &keep)
            try pushBigNumber(builder, "d", privateExponent, &keep)
            try pushBigNumber(builder, "rsa-factor1", prime1, &keep)
            try pushBigNumber(builder, "rsa-factor2", prime2, &keep)
            try pushBigNumber(builder, "rsa-exponent1", exponent1, &keep)
            try pushBigNumber(builder, "rsa-exponent2", exponent2, &keep)
            try pushBigNumber(builder, "rsa-coefficient1", coefficient, &keep)
        }
    }

    /// An EC key on `curve` from its affine coordinates (each exactly `coordinateLength` bytes) and, for a
    /// private key, its scalar `d` (also exactly `coordinateLength` bytes).
    public static func ec(curve: Curve, x: [UInt8], y: [UInt8], d: [UInt8]? = nil) throws(CryptoError) -> AsymmetricKey {
        let length = curve.coordinateLength
        guard x.count == length, y.count == length else {
            throw .invalidKey("\(curve.rawValue) coordinates must be \(length) bytes each (got \(x.count) and \(y.count))")
        }
        if let d, d.count != length {
            throw .invalidKey("a \(curve.rawValue) private scalar must be \(length) bytes (got \(d.count))")
        }
        // SEC 1 uncompressed point: 0x04 ‖ x ‖ y.
        let point: [UInt8] = [0x04] + x + y
        return try point.withUnsafeBufferPointer { (pointBytes: UnsafeBufferPointer<UInt8>) throws(CryptoError) -> AsymmetricKey in
            try fromParameters(type: "EC", isPrivate: d != nil) { (builder: OpaquePointer, keep: inout [OpaquePointer]) throws(CryptoError) in
                guard OSSL_PARAM_BLD_push_utf8_string(builder, staticCString("group"), staticCString(curve.groupName), 0) == 1,
                      OSSL_PARAM_BLD_push_octet_string(builder, staticCString("pub"), pointBytes.baseAddress, pointBytes.count) == 1
                else { throw .operationFailed("OSSL_PARAM_BLD push failed: \(openSSLErrorText())") }
                if let d { try pushBigNumber(builder, "priv", d, &keep) }
            }
        }
    }

    /// An Ed25519 public key from its 32 bytes (RFC 8032 encoding).
    public static func ed25519(publicKey: [UInt8]) throws(CryptoError) -> AsymmetricKey {
        guard publicKey.count == 32 else { throw .invalidKey("an Ed25519 public key is 32 bytes (got \(publicKey.count))") }
        let pkey = publicKey.withUnsafeBufferPointer {
            EVP_PKEY_new_raw_public_key(shim_EVP_PKEY_ED25519(), nil, $0.baseAddress, $0.count)
        }
        guard let pkey else { throw .invalidKey("not an Ed25519 public key: \(openSSLErrorText())") }
        return try AsymmetricKey(taking: pkey, isPrivate: false)
    }

    /// An Ed25519 private key from its 32-byte seed (RFC 8032 §5.1.5); the public half is derived.
    public static func ed25519(privateKey: [UInt8]) throws(CryptoError) -> AsymmetricKey {
        guard privateKey.count == 32 else { throw .invalidKey("an Ed25519 private key is 32 bytes (got \(privateKey.count))") }
        let pkey = privateKey.withUnsafeBufferPointer {
            EVP_PKEY_new_raw_private_key(shim_EVP_PKEY_ED25519(), nil, $0.baseAddress, $0.count)
        }
        guard let pkey else { throw .invalidKey("not an Ed25519 private key: \(openSSLErrorText())") }
        return try AsymmetricKey(taking: pkey, isPrivate: true)
    }

    /// Builds a key with `EVP_PKEY_fromdata` from the parameters `fill` pushes. `keep` collects the
    /// `BIGNUM`s pushed, which the builder references until `OSSL_PARAM_BLD_to_param`.
    private static func fromParameters(type: StaticString, isPrivate: Bool,
                                       _ fill: (OpaquePointer, inout [OpaquePointer]) throws(CryptoError) -> Void) throws(CryptoError) -> AsymmetricKey {
        guard let builder = OSSL_PARAM_BLD_new() else { throw .operationFailed("OSSL_PARAM_BLD_new failed") }
        defer { OSSL_PARAM_BLD_free(builder) }
        var numbers: [OpaquePointer] = []
        defer { for n in numbers { BN_clear_free(n) } }
        try fill(builder, &numbers)
        guard let params = OSSL_PARAM_BLD_to_param(builder) else {
            throw .operationFailed("OSSL_PARAM_BLD_to_param failed: \(openSSLErrorText())")
        }
        defer { OSSL_PARAM_free(params) }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, staticCString(type), nil) else {
            throw .operationFailed("EVP_PKEY_CTX_new_from_name failed: \(openSSLErrorText())")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var pkey: OpaquePointer?
        let selection = isPrivate ? shim_EVP_PKEY_KEYPAIR() : shim_EVP_PKEY_PUBLIC_KEY()
        guard EVP_PKEY_fromdata_init(context) == 1,
              EVP_PKEY_fromdata(context, &pkey, selection, params) == 1, let pkey
        else { throw .invalidKey("OpenSSL refused the key parameters: \(openSSLErrorText())") }
        return try AsymmetricKey(taking: pkey, isPrivate: isPrivate)
    }

    private static func pushBigNumber(_ builder: OpaquePointer, _ name: StaticString, _ bytes: [UInt8],
                                      _ keep: inout [OpaquePointer]) throws(CryptoError) {
        guard !bytes.isEmpty else { throw .invalidKey("an empty integer for \(name)") }
        let number = bytes.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        guard let number else { throw .operationFailed("BN_bin2bn failed") }
        keep.append(number)
        guard OSSL_PARAM_BLD_push_BN(builder, staticCString(name), number) == 1 else {
            throw .operationFailed("OSSL_PARAM_BLD_push_BN failed: \(openSSLErrorText())")
        }
    }

    // MARK: - Generation

    /// A fresh RSA private key of `bits` bits (exponent 65537).
    public static func generateRSA(bits: Int = 2048) throws(CryptoError) -> AsymmetricKey {
        try generate(type: "RSA") { context in EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) == 1 }
    }

    /// A fresh EC private key on `curve`.
    public static func generateEC(curve: Curve) throws(CryptoError) -> AsymmetricKey {
        try generate(type: "EC") { context in EVP_PKEY_CTX_set_group_name(context, staticCString(curve.groupName)) == 1 }
    }

    /// A fresh Ed25519 private key.
    public static func generateEd25519() throws(CryptoError) -> AsymmetricKey {
        try generate(type: "ED25519") { _ in true }
    }

    private static func generate(type: StaticString, configure: (OpaquePointer) -> Bool) throws(CryptoError) -> AsymmetricKey {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, staticCString(type), nil) else {
            throw .operationFailed("EVP_PKEY_CTX_new_from_name failed: \(openSSLErrorText())")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var pkey: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, configure(context), EVP_PKEY_generate(context, &pkey) == 1, let pkey else {
            throw .operationFailed("key generation failed: \(openSSLErrorText())")
        }
        return try AsymmetricKey(taking: pkey, isPrivate: true)
    }

    // MARK: - Public half and components

    /// The public half of this key (itself when it is already public).
    public func publicKey() throws(CryptoError) -> AsymmetricKey {
        guard isPrivate else { return self }
        let der = try subjectPublicKeyInfo()
        let pkey = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let pkey else { throw .operationFailed("d2i_PUBKEY failed: \(openSSLErrorText())") }
        return try AsymmetricKey(taking: pkey, isPrivate: false)
    }

    /// The DER SubjectPublicKeyInfo of the public half.
    public func subjectPublicKeyInfo() throws(CryptoError) -> [UInt8] {
        let length = i2d_PUBKEY(pkey, nil)
        guard length > 0 else { throw .operationFailed("i2d_PUBKEY failed: \(openSSLErrorText())") }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_PUBKEY(pkey, &cursor)
        }
        guard written == length else { throw .operationFailed("i2d_PUBKEY failed: \(openSSLErrorText())") }
        return der
    }

    /// The RSA modulus and public exponent, unsigned big-endian with no leading zero bytes (as a JWK's
    /// `n` and `e`), or nil for another kind of key.
    public func rsaPublicComponents() -> (modulus: [UInt8], exponent: [UInt8])? {
        guard family == .rsa, let n = bigNumberParameter("n"), let e = bigNumberParameter("e") else { return nil }
        return (n, e)
    }

    /// The EC public point's affine coordinates, each exactly `coordinateLength` bytes (as a JWK's `x`
    /// and `y`), or nil for another kind of key.
    public func ecPublicCoordinates() -> (x: [UInt8], y: [UInt8])? {
        guard case .ec(let curve) = family else { return nil }
        var buffer = [UInt8](repeating: 0, count: 1 + 2 * curve.coordinateLength)
        var length = 0
        guard EVP_PKEY_get_octet_string_param(pkey, staticCString("encoded-pub-key"), &buffer, buffer.count, &length) == 1,
              length == buffer.count, buffer[0] == 0x04
        else { clearOpenSSLErrors(); return nil }
        let n = curve.coordinateLength
        return (Array(buffer[1...n]), Array(buffer[(n + 1)...]))
    }

    /// The 32-byte Ed25519 public key (as a JWK's `x`), or nil for another kind of key.
    public func ed25519PublicBytes() -> [UInt8]? {
        guard family == .ed25519 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        var length = out.count
        guard EVP_PKEY_get_raw_public_key(pkey, &out, &length) == 1, length == 32 else { clearOpenSSLErrors(); return nil }
        return out
    }

    private func bigNumberParameter(_ name: StaticString) -> [UInt8]? {
        var number: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pkey, staticCString(name), &number) == 1, let number else { clearOpenSSLErrors(); return nil }
        defer { BN_free(number) }
        var out = [UInt8](repeating: 0, count: (Int(BN_num_bits(number)) + 7) / 8)
        guard BN_bn2binpad(number, &out, Int32(out.count)) == Int32(out.count) else { return nil }
        return out
    }
}

/// The curve orders, read once from OpenSSL's group definitions.
private struct CurveOrders: Sendable {
    let p256: [UInt8], p384: [UInt8], p521: [UInt8]

    init() {
        func order(_ nid: Int32, _ length: Int) -> [UInt8] {
            guard let group = EC_GROUP_new_by_curve_name(nid), let order = EC_GROUP_get0_order(group) else {
                fatalError("OpenSSL lacks curve \(nid)")
            }
            defer { EC_GROUP_free(group) }
            var out = [UInt8](repeating: 0, count: length)
            precondition(BN_bn2binpad(order, &out, Int32(length)) == Int32(length))
            return out
        }
        p256 = order(shim_NID_X9_62_prime256v1(), 32)
        p384 = order(shim_NID_secp384r1(), 48)
        p521 = order(shim_NID_secp521r1(), 66)
    }
}

private let curveOrders = CurveOrders()
