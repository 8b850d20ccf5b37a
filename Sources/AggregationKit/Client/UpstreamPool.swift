/// Something that waits for a connection from an `UpstreamPool` (an upstream call). Told exactly once,
/// on the loop thread: a connection, or why there is none.
protocol UpstreamPoolWaiter: AnyObject {
    func connectionLeased(_ connection: UpstreamConnection)
    func leaseFailed(_ error: UpstreamError)
}

/// The shell around `ConnectionPoolStateMachine` for one origin on one loop: it owns the sockets and the
/// waiting requests, feeds events to the state machine and performs the actions it returns. Owned by an
/// `Upstream` (one per instance and loop), which shuts it down. Loop thread only.
final class UpstreamPool: EventLoopHandler {
    let origin: UpstreamOrigin
    let loop: EventLoop
    // `@exclusivity(unchecked)` here and below: see docs/dev-notes/exclusivity.md (no access to these
    // properties may span a call that can reach back into this object; each such access is audited).
    @exclusivity(unchecked) private var machine: ConnectionPoolStateMachine
    /// By slot (`ConnectionPoolStateMachine.slot(of:)`), not in a dictionary: no hashing per request.
    @exclusivity(unchecked) private var connections = ConnectionsBySlot()
    /// Waiters are objects, not closures: no allocation per lease.
    @exclusivity(unchecked) private var waiters: [Int: (waiter: any UpstreamPoolWaiter, timer: TimerHandle)] = [:]
    @exclusivity(unchecked) private var lastExpiry: UInt64 = 0
    /// Reusable connections whose release waits for the next loop turn (see `release`).
    @exclusivity(unchecked) private var deferredReleases: [UpstreamConnection] = []
    @exclusivity(unchecked) private var releaseScheduled = false

    init(origin: UpstreamOrigin, loop: EventLoop) {
        self.origin = origin
        self.loop = loop
        self.machine = ConnectionPoolStateMachine(configuration: origin.pool)
    }

    var connectionCount: Int { machine.connectionCount }
    var idleCount: Int { machine.idleCount }
    var waiterCount: Int { machine.waiterCount }

    /// Gets a connection for one request; `waiter` is told once, with a connection or an error (possibly
    /// before this returns). Returns a token to cancel the wait.
    @discardableResult
    func lease(_ waiter: any UpstreamPoolWaiter) -> Int? {
        while true {
            switch machine.lease(now: loop.now) {
            case .leased(let id):
                let connection = connections[id]!
                // Nothing unread may be pending. A connection that went idle in an earlier iteration has been
                // polled since, and the loop closes an idle connection on any event (bytes or a close): its
                // phase says it all. One that went idle in this iteration has not: ask the socket. (A
                // `recv(MSG_PEEK)` on every lease cost 6 % of proxy throughput.)
                // Polled since it went idle, and not reported by this iteration's poll (an event of its own
                // may still be waiting in the batch, behind the one that led here).
                // A poll that filled its event array since may have left this socket's event in the kernel.
                let polled = connection.idleSince != loop.iteration && !loop.isReportedNow(connection.fd)
                    && loop.lastFullPoll <= connection.idleSince
                let quiet = polled ? connection.phase == .idle : connection.readyForReuse()
                guard quiet else {
                    perform(machine.connectionReleased(id, reusable: false, now: loop.now))
                    continue
                }
                waiter.connectionLeased(connection)
                return nil
            case .rejected:
                waiter.leaseFailed(UpstreamError(.poolExhausted, "all \(origin.pool.maxConnections) connections to \(origin.authority) are busy and \(origin.pool.maxWaiters) requests are waiting"))
                return nil
            case .shutDown:
                waiter.leaseFailed(UpstreamError(.shutDown, "the pool for \(origin.authority) is shut down"))
                return nil
            case .wait(let token, let create):
                // A strong capture (see `release`); the cycle through `waiters` ends when the timer fires or
                // is cancelled.
                let timer = loop.schedule(at: loop.now + origin.connectTimeout) { [self] in
                    guard self.machine.cancelWaiter(token), let w = self.waiters.removeValue(forKey: token) else { return }
                    w.waiter.leaseFailed(UpstreamError(.poolWaitTimeout, "no connection to \(self.origin.authority) became free in time"))
                }
                waiters[token] = (waiter, timer)
                if let create { open(create) }
                return token
            }
        }
    }

    /// The request waiting as `token` gave up (cancelled).
    func cancelWait(_ token: Int) {
        if machine.cancelWaiter(token), let w = waiters.removeValue(forKey: token) { w.timer.cancel() }
    }

    /// A request is done with `connection`.
    ///
    /// A reusable connection is released later in the loop's turn, never at once: this is called from
    /// the connection's read handler, and handing it to a waiter there would send the waiter's request
    /// while the handler goes on reading, so stray bytes of the old response would become the new one's
    /// answer. Until then the connection is idle with no request outstanding: bytes that arrive close it.
    /// A connection that is not reusable is released at once (it is only closed, never handed over).
    func release(_ connection: UpstreamConnection, reusable: Bool) {
        guard reusable && connection.phase == .idle else {
            perform(machine.connectionReleased(connection.id, reusable: false, now: loop.now))
            return
        }
        deferredReleases.append(connection)
        if !releaseScheduled {
            releaseScheduled = true
            // Strong, not `weak`: a weak reference would give the pool a side table, and every retain of
            // it (each connection's `unowned` reference is read per request) would take the runtime's
            // slow path. The timer fires on the next loop turn.
            loop.schedule(at: loop.now) { [self] in releaseDeferred() }
        }
    }

    /// Releases the connections `release` deferred: one timer per loop turn for all of them.
    private func releaseDeferred() {
        var i = 0
        while i < deferredReleases.count {
            let connection = deferredReleases[i]
            i += 1
            // Handed to a waiter at once: nothing has polled it since its response, so ask the socket.
            // Otherwise it idles, and `lease` decides.
            let usable = machine.waiterCount > 0 ? connection.readyForReuse() : connection.phase == .idle
            connection.idleSince = loop.iteration
            perform(machine.connectionReleased(connection.id, reusable: usable, now: loop.now))
        }
        deferredReleases.removeAll(keepingCapacity: true)
        releaseScheduled = false
    }

    func connectionEstablished(_ connection: UpstreamConnection) {
        guard connection.readyForReuse() else {
            // It spoke (or closed) before any request: not an HTTP/1.1 server we can use.
            connection.close()
            connectionFailed(connection, UpstreamError(.connectFailed, "\(origin.authority) sent bytes or closed before any request"))
            return
        }
        perform(machine.connectionEstablished(connection.id, now: loop.now))
    }

    func connectionFailed(_ connection: UpstreamConnection, _ error: UpstreamError) {
        connections[connection.id] = nil
        perform(machine.connectionFailed(connection.id), failingWith: error)
    }

    func idleConnectionClosed(_ connection: UpstreamConnection) {
        connections[connection.id] = nil
        perform(machine.idleConnectionClosed(connection.id),
                failingWith: UpstreamError(.connectFailed, "\(origin.authority) closed the connection before any request"))
    }

    private func open(_ id: Int) {
        do {
            let connection = try UpstreamConnection(id: id, pool: self, loop: loop)
            connections[id] = connection
        } catch {
            perform(machine.connectionFailed(id), failingWith: UpstreamError(.connectFailed, "\(origin.authority): \(error)"))
        }
    }

    /// Performs the machine's actions; a failed waiter gets `failure` (why the connection it waited for
    /// is not coming).
    private func perform(_ actions: [ConnectionPoolStateMachine.Action], failingWith failure: UpstreamError? = nil) {
        for action in actions {
            switch action {
            case .handOver(let id, let token):
                guard let w = waiters.removeValue(forKey: token) else { continue }
                w.timer.cancel()
                w.waiter.connectionLeased(connections[id]!)
            case .create(let id):
                open(id)
            case .close(let id):
                connections.removeValue(forKey: id)?.close()
            case .fail(let token):
                guard let w = waiters.removeValue(forKey: token) else { continue }
                w.timer.cancel()
                w.waiter.leaseFailed(failure ?? UpstreamError(.connectFailed, "cannot connect to \(origin.authority)"))
            }
        }
    }

    /// Closes the idle connections and fails the waiters; connections in use close when their request
    /// is done, and later leases are refused. Stops the idle-expiry tick.
    func shutdown() {
        guard !machine.isShutDown else { return }
        perform(machine.shutdown(), failingWith: UpstreamError(.shutDown, "the pool for \(origin.authority) was shut down"))
        loop.removeTicker(self)
    }

    func tick(now: UInt64) {
        if now &- lastExpiry > 1_000_000_000 {
            lastExpiry = now
            perform(machine.expireIdle(now: now))
        }
    }

    func handleEvents(_ events: UInt32) {}
}

/// An `UpstreamPool`'s connections by their state machine slot; a lookup checks the connection's ID, so a
/// stale ID finds nothing.
struct ConnectionsBySlot {
    private var slots: [UpstreamConnection?] = []

    subscript(id: ConnectionPoolStateMachine.ConnectionID) -> UpstreamConnection? {
        get {
            let slot = ConnectionPoolStateMachine.slot(of: id)
            guard slot < slots.count, let c = slots[slot], c.id == id else { return nil }
            return c
        }
        set {
            let slot = ConnectionPoolStateMachine.slot(of: id)
            if let newValue {
                if slot >= slots.count { slots.append(contentsOf: repeatElement(nil, count: slot + 1 - slots.count)) }
                slots[slot] = newValue
            } else if slot < slots.count, let c = slots[slot], c.id == id {
                slots[slot] = nil
            }
        }
    }

    @discardableResult
    mutating func removeValue(forKey id: ConnectionPoolStateMachine.ConnectionID) -> UpstreamConnection? {
        let c = self[id]
        if c != nil { self[id] = nil }
        return c
    }
}
