internal import COpenSSL

/// An HMAC key with its hash, keyed once: the `EVP_MAC_CTX` holding the keyed state is built at
/// construction and duplicated per operation, so a MAC costs a copy and the hash rounds, not a fetch and
/// a key schedule. Immutable after init and safe to share: each operation works on its own copy.
public final class HMACKey: @unchecked Sendable {
    public let hash: HashAlgorithm
    /// The secret's length in bytes (not the secret).
    public let keyLength: Int
    private let prototype: OpaquePointer

    /// Keys `secret` for `hash`. Any length is accepted here (HMAC itself allows it); the JOSE layer
    /// enforces RFC 7518's floor of one hash length.
    public init(secret: [UInt8], hash: HashAlgorithm) throws(CryptoError) {
        guard !secret.isEmpty else { throw .invalidKey("an HMAC secret must not be empty") }
        guard let context = EVP_MAC_CTX_new(fetchedHMAC.pointer) else {
            throw .operationFailed("EVP_MAC_CTX_new failed: \(openSSLErrorText())")
        }
        var params = [
            OSSL_PARAM_construct_utf8_string(staticCString("digest"),
                                             UnsafeMutablePointer(mutating: staticCString(hash.openSSLName)), 0),
            OSSL_PARAM_construct_end(),
        ]
        let ok = secret.withUnsafeBufferPointer { EVP_MAC_init(context, $0.baseAddress, $0.count, &params) }
        guard ok == 1 else {
            EVP_MAC_CTX_free(context)
            throw .operationFailed("EVP_MAC_init failed: \(openSSLErrorText())")
        }
        self.prototype = context
        self.hash = hash
        self.keyLength = secret.count
    }

    deinit { EVP_MAC_CTX_free(prototype) }

    /// The MAC of `message` (`hash.digestLength` bytes).
    public func authenticationCode(for message: [UInt8]) -> [UInt8] {
        message.withUnsafeBytes { authenticationCode(for: $0) }
    }

    /// The MAC of the bytes in `message`.
    public func authenticationCode(for message: UnsafeRawBufferPointer) -> [UInt8] {
        guard let context = EVP_MAC_CTX_dup(prototype) else { fatalError("EVP_MAC_CTX_dup failed: out of memory") }
        defer { EVP_MAC_CTX_free(context) }
        var out = [UInt8](repeating: 0, count: hash.digestLength)
        var length = 0
        let ok = out.withUnsafeMutableBufferPointer { output in
            EVP_MAC_update(context, message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count) == 1
                && EVP_MAC_final(context, output.baseAddress, &length, output.count) == 1
        }
        // Over memory we hold, with a context that initialised, only memory exhaustion can fail this.
        precondition(ok && length == hash.digestLength, "HMAC failed")
        return out
    }

    /// True when `mac` is the MAC of `message`, compared in constant time.
    public func isValidAuthenticationCode(_ mac: [UInt8], for message: UnsafeRawBufferPointer) -> Bool {
        ConstantTime.equals(authenticationCode(for: message), mac)
    }

    /// True when `mac` is the MAC of `message`, compared in constant time.
    public func isValidAuthenticationCode(_ mac: [UInt8], for message: [UInt8]) -> Bool {
        message.withUnsafeBytes { isValidAuthenticationCode(mac, for: $0) }
    }
}

private let fetchedHMAC = SharedOpenSSLObject(EVP_MAC_fetch(nil, "HMAC", nil), what: "HMAC")
