internal import COpenSSL

extension AsymmetricKey {
    /// The PEM labels we read, and whether each holds a private key.
    private static let pemLabels: [String: Bool] = [
        "PUBLIC KEY": false,          // X.509 SubjectPublicKeyInfo (any kind)
        "RSA PUBLIC KEY": false,      // PKCS#1 RSAPublicKey
        "PRIVATE KEY": true,          // PKCS#8 PrivateKeyInfo (any kind)
        "RSA PRIVATE KEY": true,      // PKCS#1 RSAPrivateKey
        "EC PRIVATE KEY": true,       // SEC 1 ECPrivateKey
    ]

    /// A key from one PEM block: `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` (PKCS#1), `PRIVATE KEY` (PKCS#8),
    /// `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC 1).
    ///
    /// Exactly one block: a file with two keys is ambiguous about which one is meant. Encrypted private
    /// keys are refused rather than decrypted (there is no passphrase to give, and OpenSSL must never
    /// prompt on a terminal from inside a server). Certificates are refused: name the key itself.
    public static func pem(_ text: String) throws(CryptoError) -> AsymmetricKey {
        let bytes = Array(text.utf8)
        let begin = Array("-----BEGIN ".utf8)
        let starts = occurrences(of: begin, in: bytes)
        guard starts.count == 1, let start = starts.first else {
            throw .invalidKey(starts.isEmpty ? "no PEM block" : "\(starts.count) PEM blocks (exactly one key expected)")
        }
        let labelStart = start + begin.count
        guard let labelEnd = occurrences(of: Array("-----".utf8), in: bytes[labelStart...]).first else {
            throw .invalidKey("an unterminated PEM header")
        }
        let label = String(decoding: bytes[labelStart..<labelEnd], as: UTF8.self)
        if label.contains("ENCRYPTED") || !occurrences(of: Array("Proc-Type:".utf8), in: bytes).isEmpty {
            throw .unsupportedKey("an encrypted private key (store it unencrypted, readable only by the gateway)")
        }
        guard let isPrivate = pemLabels[label] else {
            throw .unsupportedKey("a PEM block labelled \"\(label)\" (expected PUBLIC KEY, RSA PUBLIC KEY, PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")
        }
        var pkey: OpaquePointer?
        let selection = isPrivate ? shim_EVP_PKEY_KEYPAIR() : shim_EVP_PKEY_PUBLIC_KEY()
        guard let decoder = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", nil, nil, selection, nil, nil) else {
            throw .operationFailed("OSSL_DECODER_CTX_new_for_pkey failed: \(openSSLErrorText())")
        }
        defer { OSSL_DECODER_CTX_free(decoder) }
        let decoded = bytes.withUnsafeBufferPointer { buffer -> Int32 in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            var remaining = buffer.count
            return OSSL_DECODER_from_data(decoder, &cursor, &remaining)
        }
        guard decoded == 1, let pkey else { throw .invalidKey("the \(label) PEM block does not decode: \(openSSLErrorText())") }
        return try AsymmetricKey(taking: pkey, isPrivate: isPrivate)
    }

    /// The public half as a `PUBLIC KEY` PEM block (SubjectPublicKeyInfo).
    public func publicKeyPEM() throws(CryptoError) -> String {
        try writePEM { bio in PEM_write_bio_PUBKEY(bio, pkey) }
    }

    /// The private key as an unencrypted `PRIVATE KEY` PEM block (PKCS#8). Throws for a public key.
    public func privateKeyPEM() throws(CryptoError) -> String {
        guard isPrivate else { throw .keyMismatch("a public key has no private PEM") }
        return try writePEM { bio in PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil) }
    }

    private func writePEM(_ write: (OpaquePointer) -> Int32) throws(CryptoError) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .operationFailed("BIO_new failed") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw .operationFailed("PEM write failed: \(openSSLErrorText())") }
        var data: UnsafeMutablePointer<CChar>?
        let length = shim_BIO_get_mem_data(bio, &data)
        guard length > 0, let data else { throw .operationFailed("PEM write produced nothing") }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    private static func occurrences(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> [Int] {
        var found: [Int] = []
        guard haystack.count >= needle.count else { return found }
        var i = haystack.startIndex
        while i + needle.count <= haystack.endIndex {
            if haystack[i] == needle[0], haystack[i..<(i + needle.count)].elementsEqual(needle) { found.append(i) }
            i += 1
        }
        return found
    }

    private static func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        occurrences(of: needle, in: haystack[...])
    }
}
