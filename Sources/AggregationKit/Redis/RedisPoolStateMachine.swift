/// The connections and commands of one loop's Redis pool, as a pure state machine: events in, actions
/// out. The shell (`RedisPool`) owns the sockets and the callers, and performs the actions; this type
/// decides. Time is passed in (`now`, monotonic ns), so every rule is tested without a socket.
///
/// Rules:
/// - **Pipelining.** A ready connection carries up to `maxInFlightPerConnection` commands at once;
///   replies come back in order, so each connection keeps its commands in a FIFO.
/// - **Which connection.** The least busy ready one. When none is free of commands, another connection
///   is opened (one at a time, up to `maxConnections`) while the command goes on the least busy one.
/// - **Bounded queue.** Commands that find no room (no ready connection, or all of them full) wait in a
///   FIFO of at most `maxQueuedCommands`; past it they fail at once (`queueFull`).
/// - **Timeouts.** Every command has a deadline covering its wait and its round trip. A queued command
///   past it fails (`timeout`). An in-flight one fails too, and its connection is closed (its reply, if
///   it ever comes, would be taken for the next command's): the other commands on it fail
///   (`connectionClosed`). A connection not ready (connected and handshaken) within `connectTimeout`
///   counts as a failed attempt.
/// - **Down and backoff.** A failed connection attempt fails the queued commands at once (when no other
///   connection can serve them: `unavailable`, or `authenticationFailed`) and starts a backoff
///   (`RedisBackoff`, exponential with jitter, capped). Until it ends, with no connection ready or
///   opening, new commands fail at once with `unavailable`: when Redis is down, callers learn it in
///   microseconds rather than at their timeout. When the backoff ends the pool reconnects by itself
///   (`reconnectDue`), so it recovers without waiting for traffic; a success resets the backoff.
/// - **Lost connections.** A ready connection that drops fails its in-flight commands
///   (`connectionClosed`: they may have run) and is replaced at once; one that drops before serving a
///   single reply counts as a failure (backoff), so a server that accepts and hangs up cannot make the
///   pool reconnect in a tight loop.
/// - **Shutdown.** Every command fails (`shutDown`), every connection closes, nothing new is accepted.
public struct RedisPoolStateMachine: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Connections per loop. Default 2.
        public var maxConnections: Int
        /// Commands in flight on one connection (the pipeline depth). Default 128.
        public var maxInFlightPerConnection: Int
        /// Commands waiting for room on a connection, per loop. Default 1024.
        public var maxQueuedCommands: Int
        /// Nanoseconds from the connect call to the handshake's last reply. Default 1 s.
        public var connectTimeout: UInt64
        public var backoff: RedisBackoff

        public init(maxConnections: Int = 2, maxInFlightPerConnection: Int = 128, maxQueuedCommands: Int = 1024,
                    connectTimeout: UInt64 = 1_000_000_000, backoff: RedisBackoff = RedisBackoff()) {
            precondition(maxConnections >= 1 && maxInFlightPerConnection >= 1 && maxQueuedCommands >= 0 && connectTimeout > 0)
            self.maxConnections = maxConnections
            self.maxInFlightPerConnection = maxInFlightPerConnection
            self.maxQueuedCommands = maxQueuedCommands
            self.connectTimeout = connectTimeout
            self.backoff = backoff
        }
    }

    public typealias ConnectionID = Int
    public typealias CommandID = Int

    public enum Action: Equatable, Sendable {
        /// Open connection `id` (connect, then handshake); report `connectionReady` or `connectionFailed`.
        case connect(ConnectionID)
        /// Write the command's bytes on the connection; its reply is the connection's next after those
        /// of the commands sent on it before.
        case send(CommandID, on: ConnectionID)
        /// Tell the command's caller this error.
        case fail(CommandID, RedisError)
        /// Close the connection (its commands have been failed already, in the same action list).
        case close(ConnectionID)
        /// Call `reconnectDue(now:)` at this monotonic time (replaces any earlier one).
        case scheduleReconnect(at: UInt64)
    }

    /// A FIFO with a moving head: O(1) at both ends, compacted now and then.
    private struct FIFO<Element: Sendable>: Sendable {
        private(set) var items: [Element] = []
        private var head = 0
        var count: Int { items.count - head }
        var isEmpty: Bool { head == items.count }
        var all: ArraySlice<Element> { items[head...] }
        mutating func append(_ e: Element) { items.append(e) }
        mutating func popFirst() -> Element? {
            guard head < items.count else { return nil }
            let e = items[head]
            head += 1
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 32 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return e
        }
        /// Removes and returns the elements matching `predicate`, in order.
        mutating func removeAll(where predicate: (Element) -> Bool) -> [Element] {
            var removed: [Element] = []
            var kept: [Element] = []
            for e in items[head...] {
                if predicate(e) { removed.append(e) } else { kept.append(e) }
            }
            if !removed.isEmpty {
                items = kept
                head = 0
            }
            return removed
        }
        mutating func removeAll() -> [Element] {
            let all = Array(items[head...])
            items = []
            head = 0
            return all
        }
    }

    private struct Command: Sendable {
        var id: CommandID
        var deadline: UInt64
    }

    private enum Phase: Sendable, Equatable { case connecting(deadline: UInt64), ready }

    private struct Connection: Sendable {
        var phase: Phase
        var inFlight = FIFO<Command>()
        var served = 0
    }

    public let configuration: Configuration
    private var connections: [ConnectionID: Connection] = [:]
    private var queue = FIFO<Command>()
    private var nextConnectionID = 0
    private var nextCommandID = 0
    private var consecutiveFailures = 0
    /// While set (and in the future), no connection is opened: the backoff after a failed attempt.
    private var retryAt: UInt64?
    private var lastFailure: RedisError?
    /// Set by the first command: from then on the pool keeps a connection (reconnects by itself).
    private var wanted = false
    private var random: SplitMix64
    public private(set) var isShutDown = false

    /// `jitterSeed` seeds the backoff's jitter (tests fix it; the shell draws one from the system).
    public init(configuration: Configuration, jitterSeed: UInt64) {
        self.configuration = configuration
        self.random = SplitMix64(seed: jitterSeed)
    }

    // MARK: Counts (for metrics and tests)

    public var connectionCount: Int { connections.count }
    public var readyCount: Int { connections.values.count { $0.phase == .ready } }
    public var queuedCount: Int { queue.count }
    public var inFlightCount: Int { connections.values.reduce(0) { $0 + $1.inFlight.count } }
    /// Whether new commands fail at once: nothing ready or opening, and a backoff running.
    public func isDown(now: UInt64) -> Bool {
        if let retryAt, now < retryAt, connections.isEmpty { return true }
        return false
    }

    // MARK: Events

    /// A new command, due by `deadline`. Returns its id (for the actions and later events) and what to do.
    public mutating func submit(deadline: UInt64, now: UInt64) -> (CommandID, [Action]) {
        nextCommandID += 1
        let id = nextCommandID
        if isShutDown { return (id, [.fail(id, RedisError(.shutDown, "the Redis client is shut down"))]) }
        wanted = true
        let command = Command(id: id, deadline: deadline)
        if connections.isEmpty {
            if let retryAt, now < retryAt {
                let why = lastFailure.map { ": \($0.detail)" } ?? ""
                return (id, [.fail(id, RedisError(.unavailable, "Redis is unreachable\(why); next attempt in \((retryAt - now) / 1_000_000) ms"))])
            }
            retryAt = nil
            guard queue.count < configuration.maxQueuedCommands else { return (id, [.fail(id, queueFull())]) }
            queue.append(command)
            return (id, [.connect(openConnection(now: now))])
        }
        var actions: [Action] = []
        let best = leastBusyReadyConnection()
        let bestLoad = best.map { connections[$0]!.inFlight.count }
        if bestLoad != 0, connections.count < configuration.maxConnections, !connections.values.contains(where: { $0.phase != .ready }),
           retryAt.map({ now >= $0 }) ?? true {
            retryAt = nil
            actions.append(.connect(openConnection(now: now)))
        }
        if queue.isEmpty, let best, let bestLoad, bestLoad < configuration.maxInFlightPerConnection {
            connections[best]!.inFlight.append(command)
            actions.append(.send(id, on: best))
        } else if queue.count < configuration.maxQueuedCommands {
            queue.append(command)
        } else {
            actions.append(.fail(id, queueFull()))
        }
        return (id, actions)
    }

    /// Connection `id` connected and finished its handshake.
    public mutating func connectionReady(_ id: ConnectionID, now: UInt64) -> [Action] {
        guard let c = connections[id], case .connecting = c.phase else { preconditionFailure("connectionReady for connection \(id), not connecting") }
        connections[id]!.phase = .ready
        consecutiveFailures = 0
        retryAt = nil
        lastFailure = nil
        return drainQueue()
    }

    /// Connection `id` could not be opened (refused, timed out, handshake refused). Queued commands fail
    /// when no other connection can serve them; a backoff starts.
    public mutating func connectionFailed(_ id: ConnectionID, error: RedisError, now: UInt64) -> [Action] {
        guard let c = connections.removeValue(forKey: id) else { return [] }
        precondition(c.inFlight.isEmpty, "a connection that never became ready has commands in flight")
        return failedAttempt(error: error, now: now)
    }

    /// Ready connection `id` was lost (closed by the server, a read error, a broken reply): its in-flight
    /// commands fail with `error`, and it is replaced.
    public mutating func connectionClosed(_ id: ConnectionID, error: RedisError, now: UInt64) -> [Action] {
        guard var c = connections[id] else { return [] }
        if case .connecting = c.phase { return connectionFailed(id, error: error, now: now) }
        connections[id] = nil
        var actions: [Action] = []
        while let command = c.inFlight.popFirst() { actions.append(.fail(command.id, error)) }
        return actions + replaceLost(servedAny: c.served > 0, error: error, now: now)
    }

    /// The next reply arrived on connection `id`: it answers the command returned (nil: no command was
    /// in flight, a protocol violation; close the connection with `connectionClosed`).
    public mutating func replyReceived(on id: ConnectionID, now: UInt64) -> (CommandID?, [Action]) {
        guard connections[id]?.phase == .ready, let command = connections[id]!.inFlight.popFirst() else { return (nil, []) }
        connections[id]!.served += 1
        return (command.id, queue.isEmpty ? [] : drainQueue())
    }

    /// The caller of `id` gave up. Returns whether the command was still queued (it is removed; fail it
    /// with `cancelled`). An in-flight command stays in its connection's FIFO: its reply must still be
    /// read, and is dropped.
    public mutating func cancel(_ id: CommandID) -> Bool {
        !queue.removeAll { $0.id == id }.isEmpty
    }

    /// The backoff ended: reconnect if the pool has been used and has no connection.
    public mutating func reconnectDue(now: UInt64) -> [Action] {
        guard !isShutDown, let retryAt, now >= retryAt else { return [] }
        self.retryAt = nil
        guard wanted, connections.isEmpty else { return [] }
        return [.connect(openConnection(now: now))]
    }

    /// Enforces deadlines: commands past theirs fail, connections with such a command close, connections
    /// not ready by their connect deadline count as failed attempts. Call every few tens of ms.
    public mutating func expire(now: UInt64) -> [Action] {
        var actions: [Action] = []
        for command in queue.removeAll(where: { $0.deadline <= now }) {
            actions.append(.fail(command.id, RedisError(.timeout, "no connection had room for the command before its timeout")))
        }
        for id in connections.keys.sorted() {
            guard let c = connections[id] else { continue }
            switch c.phase {
            case .connecting(let deadline) where deadline <= now:
                actions.append(.close(id))
                actions += connectionFailed(id, error: RedisError(.unavailable, "connecting to Redis (and the handshake) timed out"), now: now)
            case .ready where c.inFlight.all.contains { $0.deadline <= now }:
                connections[id] = nil
                for command in c.inFlight.all {
                    if command.deadline <= now {
                        actions.append(.fail(command.id, RedisError(.timeout, "Redis did not answer within the command's timeout")))
                    } else {
                        actions.append(.fail(command.id, RedisError(.connectionClosed, "the connection was closed: an earlier command on it timed out")))
                    }
                }
                actions.append(.close(id))
                // A stalled server is not a failed attempt; the replacement's handshake will tell.
                actions += replaceLost(servedAny: true, error: RedisError(.timeout, "a command timed out"), now: now)
            default:
                break
            }
        }
        return actions
    }

    /// Fails everything and closes every connection; later commands fail at once.
    public mutating func shutdown() -> [Action] {
        guard !isShutDown else { return [] }
        isShutDown = true
        let error = RedisError(.shutDown, "the Redis client was shut down")
        var actions: [Action] = queue.removeAll().map { .fail($0.id, error) }
        for id in connections.keys.sorted() {
            var c = connections[id]!
            while let command = c.inFlight.popFirst() { actions.append(.fail(command.id, error)) }
            actions.append(.close(id))
        }
        connections = [:]
        retryAt = nil
        return actions
    }

    // MARK: -

    private func queueFull() -> RedisError {
        RedisError(.queueFull, "\(configuration.maxQueuedCommands) Redis commands are already waiting for a connection on this loop")
    }

    private mutating func openConnection(now: UInt64) -> ConnectionID {
        nextConnectionID += 1
        connections[nextConnectionID] = Connection(phase: .connecting(deadline: now + configuration.connectTimeout))
        return nextConnectionID
    }

    private func leastBusyReadyConnection() -> ConnectionID? {
        var best: (id: ConnectionID, load: Int)?
        for (id, c) in connections where c.phase == .ready {
            if best == nil || c.inFlight.count < best!.load || (c.inFlight.count == best!.load && id < best!.id) {
                best = (id, c.inFlight.count)
            }
        }
        return best?.id
    }

    /// Moves queued commands onto ready connections with room, least busy first.
    private mutating func drainQueue() -> [Action] {
        var actions: [Action] = []
        while !queue.isEmpty, let id = leastBusyReadyConnection(), connections[id]!.inFlight.count < configuration.maxInFlightPerConnection {
            let command = queue.popFirst()!
            connections[id]!.inFlight.append(command)
            actions.append(.send(command.id, on: id))
        }
        return actions
    }

    private mutating func failedAttempt(error: RedisError, now: UInt64) -> [Action] {
        consecutiveFailures += 1
        lastFailure = error
        let at = now + configuration.backoff.delay(afterFailures: consecutiveFailures, random: random.next())
        retryAt = at
        var actions: [Action] = []
        if connections.isEmpty {
            let kind: RedisError.Kind = error.kind == .authenticationFailed ? .authenticationFailed : .unavailable
            let failure = RedisError(kind, error.detail, serverError: error.serverError)
            actions = queue.removeAll().map { .fail($0.id, failure) }
        }
        actions.append(.scheduleReconnect(at: at))
        return actions
    }

    /// A ready connection is gone: open another at once if it had proved itself, else after a backoff.
    private mutating func replaceLost(servedAny: Bool, error: RedisError, now: UInt64) -> [Action] {
        guard !isShutDown, wanted else { return [] }
        if !servedAny { return failedAttempt(error: error, now: now) }
        guard connections.values.allSatisfy({ $0.phase == .ready }), connections.count < configuration.maxConnections else { return [] }
        if let retryAt, now < retryAt { return [] }
        retryAt = nil
        return [.connect(openConnection(now: now))]
    }
}
