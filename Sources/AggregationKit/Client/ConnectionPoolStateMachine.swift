/// The keep-alive connection pool of one origin, as a pure state machine: events in, actions out.
/// The shell (`UpstreamPool`) owns the sockets and performs the actions; this type decides.
///
/// Rules:
/// - A lease takes the most recently used idle connection (warm, and lets the others expire).
/// - Otherwise, below `maxConnections`, it opens a new connection and the request waits for the next
///   connection that becomes ready (FIFO), whichever it is.
/// - At `maxConnections`, requests wait in a FIFO queue of at most `maxWaiters`; past that they are
///   refused at once (the shell answers 503).
/// - A released connection goes to the oldest waiter, else idles (up to `maxIdle`), else closes.
/// - Idle connections older than `idleTimeout` are closed by `expireIdle(now:)`.
/// - After `shutdown()` nothing is leased, waiters are failed, and every connection closes as soon as it
///   is idle (a request in progress finishes first).
public struct ConnectionPoolStateMachine: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var maxConnections: Int
        public var maxIdle: Int
        /// Nanoseconds.
        public var idleTimeout: UInt64
        public var maxWaiters: Int
        public init(maxConnections: Int = 64, maxIdle: Int = 32, idleTimeout: UInt64 = 60_000_000_000, maxWaiters: Int = 256) {
            self.maxConnections = maxConnections
            self.maxIdle = maxIdle
            self.idleTimeout = idleTimeout
            self.maxWaiters = maxWaiters
        }
    }

    public typealias ConnectionID = Int
    public typealias WaiterID = Int

    public enum LeaseResult: Equatable, Sendable {
        /// Use this idle connection now.
        case leased(ConnectionID)
        /// Wait as `waiter`; if `create` is set, open that connection.
        case wait(WaiterID, create: ConnectionID?)
        /// The wait queue is full: refuse the request.
        case rejected
        /// The pool was shut down: refuse the request.
        case shutDown
    }

    public enum Action: Equatable, Sendable {
        case handOver(ConnectionID, to: WaiterID)
        case create(ConnectionID)
        case close(ConnectionID)
        case fail(WaiterID)
    }

    private enum ConnectionState: Equatable, Sendable { case connecting, idle(since: UInt64), leased }

    public let configuration: Configuration
    /// The connections by ID, in slots rather than a dictionary (an Int key is hashed with SipHash: four
    /// lookups per request cost some 600 instructions). An ID is its slot plus a generation above
    /// `slotBits`, so the ID of a closed connection never finds the connection that reuses its slot.
    private var connections = ConnectionTable()

    /// The slot of connection `id`: in `0..<maxConnections`-ish, reused after the connection closes, so the
    /// shell can keep its connections in an array by slot (checking the ID it finds there).
    public static func slot(of id: ConnectionID) -> Int { id & (1 << ConnectionTable.slotBits - 1) }
    /// Idle connections, most recently used last.
    private var idleStack: [ConnectionID] = []
    private var waiters: [WaiterID] = []
    private var waiterHead = 0
    private var nextConnectionID = 0
    private var nextWaiterID = 0
    private var connectingCount = 0
    public private(set) var isShutDown = false

    public init(configuration: Configuration) { self.configuration = configuration }

    public var connectionCount: Int { connections.count }
    public var idleCount: Int { idleStack.count }
    public var waiterCount: Int { waiters.count - waiterHead }

    public mutating func lease(now: UInt64) -> LeaseResult {
        if isShutDown { return .shutDown }
        if let id = idleStack.popLast() {
            connections[id] = .leased
            return .leased(id)
        }
        if connections.count < configuration.maxConnections {
            let waiter = enqueueWaiter()
            return .wait(waiter, create: startConnection())
        }
        // Waiters that a connection being opened will serve do not count against the queue.
        guard waiterCount - connectingCount < configuration.maxWaiters else { return .rejected }
        return .wait(enqueueWaiter(), create: nil)
    }

    /// A connection finished connecting.
    public mutating func connectionEstablished(_ id: ConnectionID, now: UInt64) -> [Action] {
        guard connections[id] == .connecting else { return [] }
        connectingCount -= 1
        return becameAvailable(id, now: now)
    }

    /// A connection could not be opened: the oldest waiter is failed (its connection is not coming).
    public mutating func connectionFailed(_ id: ConnectionID) -> [Action] {
        guard connections[id] == .connecting else { return [] }
        connectingCount -= 1
        connections[id] = nil
        var actions: [Action] = []
        if let w = dequeueWaiter() { actions.append(.fail(w)) }
        return actions + replenish()
    }

    /// A leased connection finished its request. `reusable`: keep-alive and in a clean state.
    public mutating func connectionReleased(_ id: ConnectionID, reusable: Bool, now: UInt64) -> [Action] {
        guard connections[id] == .leased else { return [] }
        if reusable { return becameAvailable(id, now: now) }
        connections[id] = nil
        return [.close(id)] + replenish()
    }

    /// An idle connection was closed by the peer (or found broken).
    /// A connection that connected at once (a Unix socket) reports its close before its deferred
    /// `connectionEstablished`: it still counts as connecting here, and fails like a connect (its waiter
    /// is failed), or its slot would stay taken for good.
    @discardableResult
    public mutating func idleConnectionClosed(_ id: ConnectionID) -> [Action] {
        if connections[id] == .connecting { return connectionFailed(id) }
        guard case .idle = connections[id] else { return [] }
        connections[id] = nil
        idleStack.removeAll { $0 == id }
        return []
    }

    /// A waiter gave up (timeout or cancellation). Returns whether it was still waiting.
    public mutating func cancelWaiter(_ waiter: WaiterID) -> Bool {
        guard let index = waiters[waiterHead...].firstIndex(of: waiter) else { return false }
        waiters.remove(at: index)
        return true
    }

    /// Idle connections past the idle timeout, to close.
    public mutating func expireIdle(now: UInt64) -> [Action] {
        var actions: [Action] = []
        idleStack.removeAll { id in
            if case .idle(let since) = connections[id], now &- since >= configuration.idleTimeout {
                connections[id] = nil
                actions.append(.close(id))
                return true
            }
            return false
        }
        return actions
    }

    /// Closes everything idle and fails every waiter; from now on every connection closes when it would
    /// go idle, and leases are refused.
    public mutating func shutdown() -> [Action] {
        isShutDown = true
        var actions = idleStack.map { Action.close($0) }
        for id in idleStack { connections[id] = nil }
        idleStack = []
        while let w = dequeueWaiter() { actions.append(.fail(w)) }
        return actions
    }

    // MARK: -

    private mutating func becameAvailable(_ id: ConnectionID, now: UInt64) -> [Action] {
        if isShutDown {
            connections[id] = nil
            return [.close(id)]
        }
        if let w = dequeueWaiter() {
            connections[id] = .leased
            return [.handOver(id, to: w)]
        }
        if idleStack.count < configuration.maxIdle {
            connections[id] = .idle(since: now)
            idleStack.append(id)
            return []
        }
        connections[id] = nil
        return [.close(id)]
    }

    /// Opens connections for waiters that no connection in progress will serve.
    private mutating func replenish() -> [Action] {
        var actions: [Action] = []
        while waiterCount > connectingCount && connections.count < configuration.maxConnections {
            actions.append(.create(startConnection()))
        }
        return actions
    }

    private mutating func startConnection() -> ConnectionID {
        nextConnectionID += 1
        connectingCount += 1
        return connections.insert(.connecting, generation: nextConnectionID)
    }

    private mutating func enqueueWaiter() -> WaiterID {
        nextWaiterID += 1
        waiters.append(nextWaiterID)
        return nextWaiterID
    }

    private mutating func dequeueWaiter() -> WaiterID? {
        guard waiterHead < waiters.count else { return nil }
        let w = waiters[waiterHead]
        waiterHead += 1
        if waiterHead > 64 && waiterHead * 2 > waiters.count {
            waiters.removeFirst(waiterHead)
            waiterHead = 0
        }
        return w
    }

    /// Slots of connection states; see `connections`. Bounded by the most connections ever open at once
    /// (`maxConnections`): a closed connection's slot is reused.
    private struct ConnectionTable: Sendable {
        static let slotBits = 24
        private var slots: [(id: ConnectionID, state: ConnectionState?)] = []
        private var free: [Int] = []
        private(set) var count = 0

        /// Stores `state` in a free slot; returns the new connection's ID.
        mutating func insert(_ state: ConnectionState, generation: Int) -> ConnectionID {
            let slot: Int
            if let reused = free.popLast() {
                slot = reused
            } else {
                slot = slots.count
                precondition(slot < 1 << Self.slotBits, "more than 2^24 connections open at once")
                slots.append((0, nil))
            }
            // 39 bits of generation: IDs stay positive; one repeats only after 2^39 connections of one pool.
            let id = (generation & (1 << 39 - 1)) << Self.slotBits | slot
            slots[slot] = (id, state)
            count += 1
            return id
        }

        /// The state of connection `id`; nil for an ID that is not (or no longer) open. Setting nil removes it.
        subscript(id: ConnectionID) -> ConnectionState? {
            get {
                let slot = id & (1 << Self.slotBits - 1)
                guard id >= 0, slot < slots.count, slots[slot].id == id else { return nil }
                return slots[slot].state
            }
            set {
                let slot = id & (1 << Self.slotBits - 1)
                guard id >= 0, slot < slots.count, slots[slot].id == id, slots[slot].state != nil else { return }
                if let newValue {
                    slots[slot].state = newValue
                } else {
                    slots[slot] = (0, nil)
                    free.append(slot)
                    count -= 1
                }
            }
        }
    }
}
