/// What a new connection says before it carries commands, as a pure state machine: replies in, the next
/// command (or the verdict) out. The connection sends what it is told and feeds back each reply.
///
///     RESP3 preferred:  HELLO 3 [AUTH user password] ─▶ [SELECT db] ─▶ ready (RESP3)
///                          │ "unknown command" / NOPROTO (Redis < 6, HELLO renamed away)
///                          ▼
///     RESP2:            [AUTH [user] password] ─▶ [SELECT db] ─▶ ready (RESP2)
///
/// A refused password (`WRONGPASS`, `NOAUTH`, `invalid password`) is `authenticationFailed`; a refused
/// `SELECT` (a database the server does not have) or any other error is a `server` error. Either way
/// the connection is not used.
public struct RedisHandshake: Sendable {
    public enum Next: Equatable, Sendable {
        /// Send this command and feed back its reply.
        case send([String])
        /// The connection is ready for commands, speaking RESP `protocolVersion` (2 or 3).
        case ready(protocolVersion: Int)
        case failed(RedisError)
    }

    private enum Step: Sendable { case notStarted, hello, auth, select, done }

    public let endpoint: RedisEndpoint
    public let preferRESP3: Bool
    private var step: Step = .notStarted
    private var protocolVersion = 2

    public init(endpoint: RedisEndpoint, preferRESP3: Bool = true) {
        self.endpoint = endpoint
        self.preferRESP3 = preferRESP3
    }

    /// The first command (or `ready` at once: RESP2, no password, database 0).
    public mutating func start() -> Next {
        precondition(step == .notStarted)
        guard preferRESP3 else { return afterProtocol(version: 2) }
        step = .hello
        var hello = ["HELLO", "3"]
        if let password = endpoint.password { hello += ["AUTH", endpoint.user ?? "default", password] }
        return .send(hello)
    }

    /// The reply to the command last returned.
    public mutating func replyReceived(_ reply: RedisValue) -> Next {
        switch step {
        case .hello:
            if case .error(let e) = reply {
                if e.code == "NOPROTO" || e.message.hasPrefix("ERR unknown command") || e.message.hasPrefix("ERR unknown subcommand") {
                    return afterProtocol(version: 2)
                }
                return fail(e, during: "HELLO")
            }
            guard case .map = reply else {
                // A RESP2 array answer would mean the server ignored the protocol switch.
                return finish(.failed(RedisError(.protocolViolation, "HELLO 3 was answered with a \(reply.typeName), not a map")))
            }
            return afterProtocol(version: 3, authenticated: true)
        case .auth:
            if case .error(let e) = reply { return fail(e, during: "AUTH") }
            return afterAuth()
        case .select:
            if case .error(let e) = reply { return fail(e, during: "SELECT") }
            return finish(.ready(protocolVersion: protocolVersion))
        case .notStarted, .done:
            preconditionFailure("RedisHandshake.replyReceived with no command outstanding")
        }
    }

    private mutating func afterProtocol(version: Int, authenticated: Bool = false) -> Next {
        protocolVersion = version
        if !authenticated, let password = endpoint.password {
            step = .auth
            return .send(endpoint.user.map { ["AUTH", $0, password] } ?? ["AUTH", password])
        }
        return afterAuth()
    }

    private mutating func afterAuth() -> Next {
        if endpoint.database != 0 {
            step = .select
            return .send(["SELECT", String(endpoint.database)])
        }
        return finish(.ready(protocolVersion: protocolVersion))
    }

    private mutating func finish(_ next: Next) -> Next {
        step = .done
        return next
    }

    private mutating func fail(_ e: RedisServerError, during command: String) -> Next {
        let auth = ["WRONGPASS", "NOAUTH", "NOPERM"].contains(e.code) || e.message.contains("invalid password")
            || e.message.contains("without any password configured") || e.message.contains("invalid username-password")
        if auth {
            return finish(.failed(RedisError(.authenticationFailed, "\(command) refused: \(e.message.prefix(200))", serverError: e)))
        }
        return finish(.failed(RedisError(.server, "\(command) refused: \(e.message.prefix(200))", serverError: e)))
    }
}
