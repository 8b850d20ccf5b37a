/// Typed helpers over `send` for what the gateway's stores use. Each throws `unexpectedReply` when the
/// server answers with a type the command never returns (a protocol mix-up, not a user error).
extension RedisClient {
    /// `GET key`: the value, or nil when the key does not exist.
    public func get(_ key: String, timeout: UInt64? = nil) async throws(RedisError) -> [UInt8]? {
        let reply = try await send(["GET", key], timeout: timeout)
        if reply.isNull { return nil }
        guard let bytes = reply.bytes else { throw Self.unexpected(reply, from: "GET") }
        return bytes
    }

    /// `SET key value [EX seconds]`.
    public func set(_ key: String, _ value: [UInt8], ex seconds: Int? = nil, timeout: UInt64? = nil) async throws(RedisError) {
        var arguments: [[UInt8]] = [Array("SET".utf8), Array(key.utf8), value]
        if let seconds {
            precondition(seconds > 0, "SET … EX needs a positive number of seconds")
            arguments += [Array("EX".utf8), Array(String(seconds).utf8)]
        }
        let reply = try await send(RedisCommand(arguments: arguments), timeout: timeout)
        guard reply == .simpleString("OK") else { throw Self.unexpected(reply, from: "SET") }
    }

    /// `SET key value [EX seconds]` with a text value.
    public func set(_ key: String, _ value: String, ex seconds: Int? = nil, timeout: UInt64? = nil) async throws(RedisError) {
        try await set(key, Array(value.utf8), ex: seconds, timeout: timeout)
    }

    /// `INCR key`: the new value.
    @discardableResult
    public func incr(_ key: String, timeout: UInt64? = nil) async throws(RedisError) -> Int64 {
        let reply = try await send(["INCR", key], timeout: timeout)
        guard case .integer(let n) = reply else { throw Self.unexpected(reply, from: "INCR") }
        return n
    }

    /// `EXPIRE key seconds`: whether the key exists (and now expires).
    @discardableResult
    public func expire(_ key: String, seconds: Int, timeout: UInt64? = nil) async throws(RedisError) -> Bool {
        let reply = try await send(["EXPIRE", key, String(seconds)], timeout: timeout)
        guard case .integer(let n) = reply else { throw Self.unexpected(reply, from: "EXPIRE") }
        return n == 1
    }

    /// `DEL key…`: how many of the keys existed.
    @discardableResult
    public func del(_ keys: [String], timeout: UInt64? = nil) async throws(RedisError) -> Int {
        precondition(!keys.isEmpty, "DEL needs at least one key")
        let reply = try await send(["DEL"] + keys, timeout: timeout)
        guard case .integer(let n) = reply else { throw Self.unexpected(reply, from: "DEL") }
        return Int(n)
    }

    /// Runs `script` with `EVALSHA` (its digest only); when the server does not have it cached
    /// (`NOSCRIPT`: after a restart or `SCRIPT FLUSH`), with `EVAL` (the source, which Redis caches for
    /// the next call). Other errors (a script error, `BUSY`) are thrown as they are. `timeout` applies to
    /// each of the two commands.
    public func evalScript(_ script: RedisScript, keys: [String] = [], arguments: [String] = [],
                           timeout: UInt64? = nil) async throws(RedisError) -> RedisValue {
        let tail = [String(keys.count)] + keys + arguments
        do {
            return try await send(["EVALSHA", script.sha1] + tail, timeout: timeout)
        } catch where error.kind == .server && error.serverError?.code == "NOSCRIPT" {
            return try await send(["EVAL", script.source] + tail, timeout: timeout)
        }
    }

    private static func unexpected(_ reply: RedisValue, from command: String) -> RedisError {
        RedisError(.unexpectedReply, "\(command) answered with a \(reply.typeName)")
    }
}
