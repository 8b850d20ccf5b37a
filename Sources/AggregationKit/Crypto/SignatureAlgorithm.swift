internal import COpenSSL

/// A public-key signature scheme, as the JOSE algorithms use them (RFC 7518 §3.3–3.5, RFC 8037).
public enum SignatureAlgorithm: Sendable, Hashable {
    /// RSASSA-PKCS1-v1_5 (RS256/384/512).
    case rsaPKCS1v15(HashAlgorithm)
    /// RSASSA-PSS with MGF1 over the same hash and a salt exactly as long as the hash (PS256/384/512).
    case rsaPSS(HashAlgorithm)
    /// ECDSA with signatures as raw R ‖ S, each half exactly the curve's coordinate length (64, 96 or 132
    /// bytes in all), as JWS carries them (ES256/384/512). OpenSSL wants DER; the conversion is ours.
    case ecdsa(HashAlgorithm)
    /// Ed25519 (PureEdDSA, RFC 8032): the message is signed as is, with no separate hash.
    case ed25519

    fileprivate var hash: HashAlgorithm? {
        switch self {
        case .rsaPKCS1v15(let h), .rsaPSS(let h), .ecdsa(let h): h
        case .ed25519: nil
        }
    }

    /// Whether `family` of key can be used with this scheme.
    public func fits(_ family: AsymmetricKey.Family) -> Bool {
        switch (self, family) {
        case (.rsaPKCS1v15, .rsa), (.rsaPSS, .rsa), (.ecdsa, .ec), (.ed25519, .ed25519): true
        default: false
        }
    }
}

extension AsymmetricKey {
    /// True when `signature` is a valid signature of `message` by this key (or its private half) under
    /// `algorithm`. False for a key of the wrong kind, a malformed signature, or an ECDSA signature of the
    /// wrong length or with R or S out of range (zero, or not below the curve order).
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8], using algorithm: SignatureAlgorithm) -> Bool {
        message.withUnsafeBytes { isValidSignature(signature, for: $0, using: algorithm) }
    }

    /// True when `signature` is a valid signature of the bytes in `message` (see the `[UInt8]` variant).
    public func isValidSignature(_ signature: [UInt8], for message: UnsafeRawBufferPointer, using algorithm: SignatureAlgorithm) -> Bool {
        guard algorithm.fits(family) else { return false }
        let encoded: [UInt8]
        if case .ecdsa = algorithm {
            guard case .ec(let curve) = family, let der = ECDSASignature.der(fromRaw: signature, curve: curve) else { return false }
            encoded = der
        } else {
            encoded = signature
        }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestVerifyInit(context, &keyContext, algorithm.hash?.md, nil, pkey) == 1,
              configurePadding(keyContext, algorithm)
        else { clearOpenSSLErrors(); return false }
        let ok = encoded.withUnsafeBufferPointer { sig in
            EVP_DigestVerify(context, sig.baseAddress, sig.count, message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count)
        }
        if ok != 1 { clearOpenSSLErrors() }
        return ok == 1
    }

    /// The signature of `message` under `algorithm` (raw R ‖ S for ECDSA). Throws for a public key or a
    /// key of the wrong kind.
    public func signature(for message: [UInt8], using algorithm: SignatureAlgorithm) throws(CryptoError) -> [UInt8] {
        guard isPrivate else { throw .keyMismatch("a public key cannot sign") }
        guard algorithm.fits(family) else { throw .keyMismatch("\(self) cannot sign with \(algorithm)") }
        guard let context = EVP_MD_CTX_new() else { throw .operationFailed("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestSignInit(context, &keyContext, algorithm.hash?.md, nil, pkey) == 1,
              configurePadding(keyContext, algorithm)
        else { throw .operationFailed("EVP_DigestSignInit failed: \(openSSLErrorText())") }
        var length = 0
        let sized = message.withUnsafeBufferPointer { EVP_DigestSign(context, nil, &length, $0.baseAddress, $0.count) }
        guard sized == 1 else { throw .operationFailed("EVP_DigestSign failed: \(openSSLErrorText())") }
        var out = [UInt8](repeating: 0, count: length)
        let signed = message.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { EVP_DigestSign(context, $0.baseAddress, &length, input.baseAddress, input.count) }
        }
        guard signed == 1 else { throw .operationFailed("EVP_DigestSign failed: \(openSSLErrorText())") }
        out.removeSubrange(length...)
        if case .ecdsa = algorithm, case .ec(let curve) = family {
            guard let raw = ECDSASignature.raw(fromDER: out, curve: curve) else {
                throw .operationFailed("OpenSSL produced an ECDSA signature we cannot read")
            }
            return raw
        }
        return out
    }

    private func configurePadding(_ keyContext: OpaquePointer?, _ algorithm: SignatureAlgorithm) -> Bool {
        switch algorithm {
        case .rsaPKCS1v15:
            return EVP_PKEY_CTX_set_rsa_padding(keyContext, shim_RSA_PKCS1_PADDING()) == 1
        case .rsaPSS:
            // MGF1 defaults to the signature's digest; the salt is pinned to the digest length both ways
            // (RFC 7518 §3.5), so a signature made with another salt length does not verify.
            return EVP_PKEY_CTX_set_rsa_padding(keyContext, shim_RSA_PKCS1_PSS_PADDING()) == 1
                && EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, shim_RSA_PSS_SALTLEN_DIGEST()) == 1
        case .ecdsa, .ed25519:
            return true
        }
    }
}
