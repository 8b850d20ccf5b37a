/// One command on its way: its bytes, its timeout, and the caller to tell (exactly once, on the loop).
final class RedisPendingCommand: @unchecked Sendable {
    /// Released once written (a large `SET` value is not held until the reply).
    var bytes: [UInt8]
    let timeout: UInt64
    var id: RedisPoolStateMachine.CommandID = 0
    weak var pool: RedisPool?
    /// Resumed exactly once by `complete`, which clears it (loop thread).
    var continuation: UnsafeContinuation<Result<RedisValue, RedisError>, Never>?
    private(set) var isDone = false
    var isCancelled = false

    init(bytes: [UInt8], timeout: UInt64) {
        self.bytes = bytes
        self.timeout = timeout
    }

    func complete(_ result: Result<RedisValue, RedisError>) {
        guard !isDone else { return }
        isDone = true
        bytes = []
        let c = continuation
        continuation = nil
        c?.resume(returning: result)
    }
}

/// The shell around `RedisPoolStateMachine` for one loop: it owns the connections and the callers,
/// feeds events to the state machine and performs the actions it returns. Made on a loop's first
/// command, lives until `shutdown()`. Loop thread only.
final class RedisPool: EventLoopHandler {
    let configuration: RedisClient.Configuration
    let address: SocketAddress
    let loop: EventLoop
    private var machine: RedisPoolStateMachine
    private var connections: [Int: RedisConnection] = [:]
    private var commands: [Int: RedisPendingCommand] = [:]
    private var reconnectTimer: TimerHandle?

    init(configuration: RedisClient.Configuration, address: SocketAddress, loop: EventLoop) {
        self.configuration = configuration
        self.address = address
        self.loop = loop
        machine = RedisPoolStateMachine(configuration: configuration.pool, jitterSeed: UInt64.random(in: .min ... .max))
    }

    var counts: RedisClient.PoolCounts {
        RedisClient.PoolCounts(connections: machine.connectionCount, ready: machine.readyCount,
                               queued: machine.queuedCount, inFlight: machine.inFlightCount)
    }

    func submit(_ command: RedisPendingCommand) {
        command.pool = self
        if command.isCancelled { return command.complete(.failure(RedisError(.cancelled, "the calling task was cancelled"))) }
        // A fresh reading: `loop.now` dates from the start of the loop turn, and the timeout is short.
        let now = loop.clock.monotonicNanoseconds()
        let (id, actions) = machine.submit(deadline: now + command.timeout, now: now)
        command.id = id
        commands[id] = command
        perform(actions)
    }

    /// The caller of `command` gave up. A queued command is dropped; an in-flight one is answered
    /// `cancelled` now and its reply, when it comes, is read and dropped (the connection stays in step).
    func cancel(_ command: RedisPendingCommand) {
        command.isCancelled = true
        guard command.id != 0, !command.isDone else { return }
        if machine.cancel(command.id) { commands[command.id] = nil }
        command.complete(.failure(RedisError(.cancelled, "the calling task was cancelled")))
    }

    // MARK: Events from connections

    func connectionReady(_ connection: RedisConnection) {
        perform(machine.connectionReady(connection.id, now: loop.now))
    }

    func connectionFailed(_ connection: RedisConnection, _ error: RedisError) {
        connections[connection.id] = nil
        perform(machine.connectionFailed(connection.id, error: error, now: loop.now))
    }

    func connectionClosed(_ connection: RedisConnection, _ error: RedisError) {
        connections[connection.id] = nil
        perform(machine.connectionClosed(connection.id, error: error, now: loop.now))
    }

    func replyReceived(_ connection: RedisConnection, _ value: RedisValue) {
        let (id, actions) = machine.replyReceived(on: connection.id, now: loop.now)
        guard let id else {
            connection.close()
            connectionClosed(connection, RedisError(.protocolViolation, "Redis at \(address) sent a reply no command was waiting for"))
            return
        }
        commands.removeValue(forKey: id)?.complete(.success(value))
        perform(actions)
    }

    // MARK: Actions

    private func perform(_ actions: [RedisPoolStateMachine.Action]) {
        for action in actions {
            switch action {
            case .connect(let id):
                do {
                    connections[id] = try RedisConnection(id: id, pool: self, loop: loop)
                } catch {
                    perform(machine.connectionFailed(id, error: RedisError(.unavailable, "cannot connect to Redis at \(address): \(error)"), now: loop.now))
                }
            case .send(let id, let connectionID):
                guard let command = commands[id], let connection = connections[connectionID] else {
                    preconditionFailure("RedisPool: send of an unknown command or on an unknown connection")
                }
                connection.write(command.bytes)
                command.bytes = []
            case .fail(let id, let error):
                commands.removeValue(forKey: id)?.complete(.failure(error))
            case .close(let id):
                connections.removeValue(forKey: id)?.close()
            case .scheduleReconnect(let at):
                reconnectTimer?.cancel()
                reconnectTimer = loop.schedule(at: at) { [weak self] in
                    guard let self else { return }
                    self.reconnectTimer = nil
                    self.perform(self.machine.reconnectDue(now: self.loop.now))
                }
            }
        }
    }

    /// Fails every command, closes every connection; later commands fail at once (`shutDown`).
    func shutdown() {
        perform(machine.shutdown())
        reconnectTimer?.cancel()
        reconnectTimer = nil
        loop.removeTicker(self)
    }

    func tick(now: UInt64) {
        perform(machine.expire(now: now))
    }

    func handleEvents(_ events: UInt32) {}
}
