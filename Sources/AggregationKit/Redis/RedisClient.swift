import Synchronization

/// A Redis client on the gateway's event loops: one pool per loop (`RedisPoolStateMachine`: pipelined
/// connections, a bounded queue, timeouts, reconnect with backoff), RESP3 with a RESP2 fallback, typed
/// replies.
///
///     try await redis.send(["SET", "k", "v"])   ─▶ this loop's pool (the caller's loop, else the next)
///        ─▶ least busy ready connection (pipelined) or the queue ─▶ reply in order ─▶ RedisValue
///
/// Every call ends within its timeout: with a reply, or a `RedisError` that says why (`unavailable`
/// at once while Redis is down, `timeout`, `queueFull`, `server` for an error reply, …).
///
/// Built once at start (the URL is resolved then), shared by every loop; `shutdown()` before the loops
/// stop. `send` and the helpers: any task or thread; `shutdown()`: any thread but a loop's.
public final class RedisClient: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var endpoint: RedisEndpoint
        /// Per loop: connections, pipeline depth, queue, connect timeout, backoff.
        public var pool: RedisPoolStateMachine.Configuration
        /// Nanoseconds a command may take, queueing included, when the call names none. Default 1 s.
        public var commandTimeout: UInt64
        public var replyLimits: RedisReplyLimits
        /// Ask for RESP3 (`HELLO 3`), falling back to RESP2 when the server does not know it. Default on.
        public var preferRESP3: Bool

        public init(endpoint: RedisEndpoint, pool: RedisPoolStateMachine.Configuration = .init(),
                    commandTimeout: UInt64 = 1_000_000_000, replyLimits: RedisReplyLimits = .init(), preferRESP3: Bool = true) {
            precondition(commandTimeout > 0)
            self.endpoint = endpoint
            self.pool = pool
            self.commandTimeout = commandTimeout
            self.replyLimits = replyLimits
            self.preferRESP3 = preferRESP3
        }

        /// The defaults, for the server at `url` (`redis://…` or `unix://…`, see `RedisEndpoint`).
        public init(url: String) throws(RedisURLError) {
            self.init(endpoint: try RedisEndpoint(url: url))
        }
    }

    /// A loop's pool, as counts (for metrics and tests).
    public struct PoolCounts: Sendable, Equatable {
        public var connections = 0
        public var ready = 0
        public var queued = 0
        public var inFlight = 0
        public init(connections: Int = 0, ready: Int = 0, queued: Int = 0, inFlight: Int = 0) {
            self.connections = connections
            self.ready = ready
            self.queued = queued
            self.inFlight = inFlight
        }
    }

    public let configuration: Configuration
    let address: SocketAddress
    private let loops: [EventLoop]
    private let pools = LoopSlots<RedisPool>()
    private let nextLoop = Atomic<Int>(0)
    private let isShutDown = Atomic<Bool>(false)

    /// Resolves the endpoint's host once, now (a blocking lookup: call at start-up, not on a loop).
    public init(configuration: Configuration, group: EventLoopGroup) throws {
        self.configuration = configuration
        switch configuration.endpoint.address {
        case .tcp(let host, let port): address = try SocketAddress(host: host, port: port)
        case .unix(let path): address = try SocketAddress(unixPath: path)
        }
        loops = group.loops
    }

    // MARK: Commands

    /// Sends one command (`["SET", "k", "v"]`) and returns its reply. An error reply is thrown as
    /// `RedisError.server`. `timeout`: nanoseconds, nil for `configuration.commandTimeout`. `loop`: whose
    /// pool to use; nil for the caller's own loop when it runs on one, else the next in turn.
    @discardableResult
    public func send(_ arguments: [String], timeout: UInt64? = nil, on loop: EventLoop? = nil) async throws(RedisError) -> RedisValue {
        try await send(RedisCommand(arguments), timeout: timeout, on: loop)
    }

    @discardableResult
    public func send(_ command: RedisCommand, timeout: UInt64? = nil, on loop: EventLoop? = nil) async throws(RedisError) -> RedisValue {
        let value = try await execute(command, timeout: timeout, on: loop).get()
        if case .error(let e) = value { throw RedisError.server(e) }
        return value
    }

    private func execute(_ command: RedisCommand, timeout: UInt64?, on requested: EventLoop?) async -> Result<RedisValue, RedisError> {
        if isShutDown.load(ordering: .acquiring) { return .failure(RedisError(.shutDown, "the Redis client is shut down")) }
        let loop = requested ?? loops.first(where: { $0.inEventLoop }) ?? loops[nextLoop.add(1, ordering: .relaxed).oldValue % loops.count]
        precondition(loops.contains { $0 === loop }, "RedisClient used with a loop of another group")
        let pending = RedisPendingCommand(bytes: command.bytes, timeout: timeout ?? configuration.commandTimeout)
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Result<RedisValue, RedisError>, Never>) in
                pending.continuation = continuation
                if loop.inEventLoop {
                    pool(on: loop).submit(pending)
                } else if !loop.executeIfRunning({ self.pool(on: loop).submit(pending) }) {
                    pending.complete(.failure(RedisError(.shutDown, "the event loop has stopped")))
                }
            }
        } onCancel: {
            _ = loop.executeIfRunning { self.pool(on: loop).cancel(pending) }
        }
    }

    /// `loop`'s pool, made on first use. Loop thread only.
    private func pool(on loop: EventLoop) -> RedisPool {
        pools.value(on: loop) {
            let pool = RedisPool(configuration: configuration, address: address, loop: loop)
            loop.addTicker(pool)
            if isShutDown.load(ordering: .acquiring) { pool.shutdown() }
            return pool
        }
    }

    // MARK: Lifecycle

    /// `loop`'s pool as counts (zeros before its first command). Any thread but a loop's.
    public func poolCounts(on loop: EventLoop) -> PoolCounts {
        loop.tryExecute(sync: { self.pools.existingValue(on: loop)?.counts }) .flatMap { $0 } ?? PoolCounts()
    }

    /// Shuts the client down on every loop: waiting and in-flight commands fail (`shutDown`), connections
    /// close, reconnects stop, later calls fail at once. Returns when every loop has done so (a loop that
    /// has stopped is skipped). Idempotent. Any thread but one of the loops'.
    public func shutdown() {
        precondition(!loops.contains { $0.inEventLoop }, "RedisClient.shutdown() would wait on its own loop")
        isShutDown.store(true, ordering: .releasing)
        for loop in loops {
            _ = loop.tryExecute(sync: { self.pools.existingValue(on: loop)?.shutdown() })
        }
    }
}
