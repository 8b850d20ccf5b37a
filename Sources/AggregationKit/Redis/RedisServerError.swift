/// An error reply from Redis (`-WRONGTYPE Operation against a key holding the wrong kind of value`).
/// `code` is the first word when it is all capitals (`ERR`, `WRONGTYPE`, `NOSCRIPT`, `NOAUTH`), the
/// convention Redis follows; otherwise `ERR`.
public struct RedisServerError: Sendable, Hashable, CustomStringConvertible {
    /// `NOSCRIPT`, `WRONGTYPE`, … Safe as a metric label only after checking it against a known set.
    public let code: String
    /// The whole message as sent, code included.
    public let message: String

    public init(message: String) {
        self.message = message
        let word = message.prefix { $0 != " " }
        let isCode = !word.isEmpty && word.utf8.count <= 32 && word.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || $0 == 95 || ($0 >= 48 && $0 <= 57) }
        code = isCode ? String(word) : "ERR"
    }

    public var description: String { message }
}
