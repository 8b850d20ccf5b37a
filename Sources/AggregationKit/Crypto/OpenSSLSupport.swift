internal import COpenSSL

/// A pointer to a NUL-terminated static string, for OpenSSL parameter names and values.
///
/// `OSSL_PARAM_BLD` and `OSSL_PARAM` keep the *pointers* they are given (keys are never copied), so a
/// temporary C string made from a Swift `String` for the length of one call would dangle; a
/// `StaticString` lives in the binary for the whole run.
@inline(__always) func staticCString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// Drops whatever OpenSSL queued on this thread's error queue, so a failure does not leak into the
/// next operation's diagnostics (and the queue does not grow).
@inline(__always) func clearOpenSSLErrors() { ERR_clear_error() }

/// The last OpenSSL error on this thread as text (for `detail`), then clears the queue.
func openSSLErrorText() -> String {
    let code = ERR_peek_last_error()
    defer { ERR_clear_error() }
    guard code != 0 else { return "no OpenSSL error queued" }
    var buffer = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &buffer, buffer.count)
    return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// An OpenSSL object fetched once and shared read-only by every thread (an `EVP_MD`, an `EVP_MAC`):
/// OpenSSL 3 documents fetched algorithms as immutable and safe to share.
final class SharedOpenSSLObject: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer?, what: String) {
        guard let pointer else { fatalError("OpenSSL could not provide \(what)") }
        self.pointer = pointer
    }
}
