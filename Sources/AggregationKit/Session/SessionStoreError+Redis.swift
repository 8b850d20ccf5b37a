extension SessionStoreError {
    /// What a Redis failure means to sessions, which fail closed either way (503, never "logged in"):
    ///
    /// - `unavailable`: Redis cannot be reached, timed out, dropped the connection, is overloaded,
    ///   shutting down, or answered a transient refusal (`BUSY`, `LOADING`, `OOM`, `READONLY`,
    ///   `MASTERDOWN`, `TRYAGAIN`), or refused our credentials. A `timeout`/`connectionClosed` means the
    ///   script may have run: the caller must not retry a rotation (the retry would look like reuse).
    /// - `unexpectedReply`: Redis answered, but not as the script does (a protocol violation, a reply of
    ///   the wrong shape, a script error from a corrupted key).
    init(redis error: RedisError, during operation: String) {
        let kind: Kind
        switch error.kind {
        case .unavailable, .timeout, .connectionClosed, .queueFull, .shutDown, .cancelled, .authenticationFailed:
            kind = .unavailable
        case .server:
            let transient: Set<String> = ["BUSY", "LOADING", "OOM", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS"]
            kind = transient.contains(error.serverError?.code ?? "") ? .unavailable : .unexpectedReply
        case .protocolViolation, .unexpectedReply:
            kind = .unexpectedReply
        }
        self.init(kind, "redis \(error.kind.rawValue) during \(operation): \(error.detail.prefix(200))")
    }

    static func malformed(_ operation: String, _ why: String) -> SessionStoreError {
        SessionStoreError(.unexpectedReply, "redis answered \(operation) with \(why)")
    }
}
