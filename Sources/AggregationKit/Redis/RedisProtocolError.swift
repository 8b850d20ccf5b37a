/// Bytes from the server that are not a valid RESP reply, or a reply over a `RedisReplyLimits` limit.
/// The connection that read them is closed: nothing after them can be trusted to be in step.
public struct RedisProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidType = "invalid_type"
        /// A CR not followed by LF, or a bare LF.
        case invalidLineEnding = "invalid_line_ending"
        case invalidLength = "invalid_length"
        case invalidNumber = "invalid_number"
        /// A boolean, verbatim string or null whose content is malformed.
        case invalidValue = "invalid_value"
        case lineTooLong = "line_too_long"
        case bulkTooLarge = "bulk_too_large"
        case tooManyElements = "too_many_elements"
        case tooDeep = "too_deep"
        case replyTooLarge = "reply_too_large"
        /// A push (`>`) inside another value: pushes only come between replies.
        case misplacedPush = "misplaced_push"
        /// RESP3 streamed strings and aggregates (`$?`, `*?`): Redis never sends them.
        case unsupported = "unsupported"
    }
    public let code: Code
    public let detail: String
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }
    public static func == (a: RedisProtocolError, b: RedisProtocolError) -> Bool { a.code == b.code }
    public var description: String { "\(code.rawValue): \(detail)" }
}
