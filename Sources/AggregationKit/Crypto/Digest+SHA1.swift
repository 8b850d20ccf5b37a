internal import COpenSSL

extension Digest {
    /// SHA-1 of `bytes` (20 bytes). Only where a protocol names it as an identifier (Redis script
    /// digests for `EVALSHA`); never for signatures or secrets.
    public static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { output in
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, fetchedSHA1.pointer, nil)
            }
        }
        precondition(ok == 1 && length == 20, "EVP_Digest(SHA-1) failed")
        return out
    }
}

private let fetchedSHA1 = SharedOpenSSLObject(EVP_MD_fetch(nil, "SHA1", nil), what: "SHA-1")
