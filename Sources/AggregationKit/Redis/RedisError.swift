/// Why a Redis call failed. Equality is on `kind`; `detail` is for logs (it never holds a password or a
/// value); `kind.rawValue` is safe as a metric label.
///
/// The kinds a caller acts on: `unavailable` (Redis cannot be reached: fail closed at once), `timeout`
/// (the command may or may not have run), `connectionClosed` (likewise), `queueFull` (overloaded: shed),
/// `server` (Redis answered with an error: `serverError` says which).
public struct RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Redis cannot be reached: a connection attempt failed (refused, timed out, handshake refused), or
        /// the client is waiting out its reconnect backoff after such a failure. Fails fast.
        case unavailable = "unavailable"
        /// The command did not get its reply within its timeout (its connection was closed).
        case timeout = "timeout"
        /// The connection dropped (or was closed because of another command's timeout or a broken reply)
        /// while the command was in flight: it may or may not have run.
        case connectionClosed = "connection_closed"
        /// Too many commands wait for a connection on this loop (`maxQueuedCommands`).
        case queueFull = "queue_full"
        /// Redis answered with an error reply (`serverError`).
        case server = "server_error"
        /// The server broke the protocol or a reply limit (`RedisReplyLimits`): its connection was closed.
        case protocolViolation = "protocol_error"
        /// The server refused our credentials (`AUTH`/`HELLO … AUTH`), or wants some we do not have.
        case authenticationFailed = "authentication_failed"
        /// The reply was valid RESP but not what the helper expects (`incr` answered with a string).
        case unexpectedReply = "unexpected_reply"
        /// The client was shut down.
        case shutDown = "shut_down"
        /// The calling task was cancelled.
        case cancelled = "cancelled"
    }

    public let kind: Kind
    public let detail: String
    /// The error reply, for `.server` (and for `.authenticationFailed` when the server sent one).
    public let serverError: RedisServerError?

    public init(_ kind: Kind, _ detail: String, serverError: RedisServerError? = nil) {
        self.kind = kind
        self.detail = detail
        self.serverError = serverError
    }

    /// An error reply as an error.
    public static func server(_ error: RedisServerError) -> RedisError {
        RedisError(.server, error.message, serverError: error)
    }

    public static func == (a: RedisError, b: RedisError) -> Bool { a.kind == b.kind }
    public var description: String { "redis \(kind.rawValue): \(detail)" }
}
