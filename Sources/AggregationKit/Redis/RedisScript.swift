/// A Lua script for `EVALSHA`, with its SHA-1 digest (what Redis names a cached script by) computed once.
/// `RedisClient.evalScript` sends `EVALSHA` (the digest only) and falls back to `EVAL` (the source, which
/// Redis then caches) when the server answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
///
/// A script runs atomically on the server: no other command runs between its steps, which is what
/// read-check-write sequences (refresh-token rotation) rely on.
public struct RedisScript: Sendable, Hashable {
    public let source: String
    /// Lower-case hex, as `SCRIPT LOAD` returns it.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        sha1 = Digest.hex(Digest.sha1(Array(source.utf8)))
    }
}
