#if canImport(Glibc)
import Glibc
#endif
internal import CLinuxIO

/// The request an `UpstreamConnection` carries: told once, on the loop thread, how it ended.
protocol UpstreamExchange: AnyObject {
    /// The response or the error; `reusable`: the connection may carry another request.
    func exchangeFinished(_ result: consuming Result<HTTPResponse, UpstreamError>, reusable: Bool)
}

/// One keep-alive connection to an origin, on one loop. The pool leases it to one request at a time.
final class UpstreamConnection: EventLoopHandler, DeferredFlush {
    enum Phase { case connecting, idle, busy, closed }

    let id: ConnectionPoolStateMachine.ConnectionID
    let fd: Int32
    let loop: EventLoop
    unowned let pool: UpstreamPool
    /// The pool's origin, copied once: read on every request, and each read through the `unowned`
    /// reference would cost an atomic strong-retain of the pool.
    let origin: UpstreamOrigin
    // `@exclusivity(unchecked)` here and below: see docs/dev-notes/exclusivity.md (no access to these
    // properties may span a call that can reach back into this object; each such access is audited).
    @exclusivity(unchecked) private(set) var phase: Phase = .connecting
    @exclusivity(unchecked) private(set) var requestsServed = 0
    /// The loop iteration in which the connection last went back to the pool (see `UpstreamPool.lease`).
    @exclusivity(unchecked) var idleSince: UInt64 = 0
    @exclusivity(unchecked) private var deadline: UInt64 = 0
    @exclusivity(unchecked) private var output = SocketOutput()
    @exclusivity(unchecked) private var incoming: [UInt8] = []
    @exclusivity(unchecked) private var parser: HTTPResponseParser
    /// The request in progress (an object rather than a closure: no allocation per request).
    @exclusivity(unchecked) private var exchange: (any UpstreamExchange)?

    init(id: Int, pool: UpstreamPool, loop: EventLoop) throws {
        self.id = id
        self.pool = pool
        self.loop = loop
        self.origin = pool.origin
        self.parser = HTTPResponseParser(limits: pool.origin.limits)
        fd = try Syscall.socket(domain: pool.origin.address.family, type: Int32(SOCK_STREAM.rawValue))
        do {
            try Syscall.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let done = try Syscall.connect(fd, pool.origin.address)
            deadline = loop.now + pool.origin.connectTimeout
            try loop.register(fd, self, events: done ? EPOLLIN.rawValue | EPOLLRDHUP.rawValue : EPOLLOUT.rawValue, edgeTriggered: true)
            if done {
                phase = .idle
                // Strong captures, not `weak`: a weak reference gives the object a side table for life, and
                // every retain and release of it then takes the runtime's slow path. The timer fires on
                // the next loop turn, so it keeps the connection only that long.
                loop.schedule(at: loop.now) { [self, pool] in if phase == .idle { pool.connectionEstablished(self) } }
            }
        } catch {
            Syscall.close(fd)
            throw error
        }
    }

    /// Sends one request (with `Host: <origin>` when it has none, and `Connection: close` when the origin
    /// is not reused); `exchange` is told once, on the loop, the response or the error.
    func send(_ request: UpstreamRequest, timeout: UInt64, exchange: any UpstreamExchange) {
        precondition(phase == .idle)
        phase = .busy
        self.exchange = exchange
        parser = HTTPResponseParser(limits: origin.limits, requestWasHead: request.method.isExactly("HEAD"))
        peerHungUp = false
        lastReadFilled = false
        if !incoming.isEmpty { incoming.removeAll(keepingCapacity: true) }
        output.reset()
        request.serialize(authority: origin.authority, closeConnection: !origin.reuseConnections, into: &output.bytes)
        deadline = loop.now + timeout
        // Written with the other sends of this batch (see `EventLoop.flushAfterEvents`).
        loop.flushAfterEvents(self)
    }

    func flushDeferred() {
        // Not when the exchange already ended (failed, cancelled, or an answer that came unasked).
        guard phase == .busy, !output.isDrained else { return }
        flush()
    }

    func handleEvents(_ events: UInt32) {
        switch phase {
        case .connecting:
            let err = Syscall.socketError(fd)
            if err != 0 || events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                let e = SystemError("connect", errno: err == 0 ? ECONNREFUSED : err)
                close()
                pool.connectionFailed(self, UpstreamError(.connectFailed, "\(origin.authority): \(e)"))
                return
            }
            phase = .idle
            loop.modify(fd, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
            pool.connectionEstablished(self)
        case .idle:
            // A keep-alive connection said something (or closed) while no request is outstanding, whether
            // it sits in the pool or waits for its deferred release: it is out of step, never reused.
            close()
            pool.idleConnectionClosed(self)
        case .busy:
            // Edge-triggered: a hang-up reported with the response's bytes is reported only now, so it is
            // remembered, and the connection is not reused after this response.
            if events & (EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { peerHungUp = true }
            if events & EPOLLOUT.rawValue != 0 { flush() }
            if phase == .busy { readAvailable() }
        case .closed:
            break
        }
    }

    private func flush() {
        if let error = output.flush(fd, on: loop) {
            fail(UpstreamError(.connectionClosed, "write to \(origin.authority) failed: \(error)"))
        }
    }

    private func readAvailable() {
        let scratch = loop.readScratch
        while phase == .busy {
            let n: Int?
            do {
                n = try Syscall.read(fd, scratch.baseAddress!, scratch.count)
            } catch {
                fail(UpstreamError(.connectionClosed, "read from \(origin.authority) failed: \(error)"))
                return
            }
            guard let n else { return }
            if n == 0 {
                let result = incoming.withUnsafeBytes { parser.finishAtEOF($0) }
                if case .response(let r, _, _) = result {
                    finish(r, reusable: false)
                } else if case .error(let e) = result, e == .bodyTooLarge {
                    fail(upstreamError(e))
                } else {
                    fail(UpstreamError(.connectionClosed, "\(origin.authority) closed the connection before the response was complete"))
                }
                return
            }
            // A read that filled the scratch may have left bytes in the socket; if the response ends in it,
            // they are not reported again (edge-triggered): `parse` asks the socket before reuse.
            lastReadFilled = n == scratch.count
            received += n
            if received > reserved + MemoryBudget.untrackedBytes, let budget = origin.responseBudget {
                // A large body: hold budget for what has arrived, in 1 MiB steps (one atomic op per step).
                let more = received - reserved + (1 << 20)
                guard budget.tryReserve(more) else {
                    fail(UpstreamError(.memoryBudgetExhausted, "\(origin.authority): \(received) bytes received; the budget for large responses (limits.maxBufferedResponseBytes, \(budget.limit) bytes) is spent"))
                    return
                }
                reserved += more
            }
            let read = UnsafeRawBufferPointer(rebasing: scratch[0..<n])
            if incoming.isEmpty {
                // The usual case, a whole response in one read: parsed where it lies, not copied into
                // `incoming` first (see `parseInPlace`).
                parseInPlace(read)
            } else {
                incoming.append(contentsOf: read)
                parse()
            }
        }
    }

    /// `parse` over a read that starts a response, with `incoming` empty: the parser sees exactly the
    /// bytes `incoming` would hold, so the outcome is the same; only what it leaves unconsumed is kept in
    /// `incoming` (the parser's offsets stay valid, as after `parse`'s own `removeFirst`).
    private func parseInPlace(_ read: UnsafeRawBufferPointer) {
        let result = parser.parse(read)
        switch consume result {
        case .needMore:
            let done = parser.takeConsumedPrefix()
            incoming.append(contentsOf: UnsafeRawBufferPointer(rebasing: read[done...]))
        case .interim(let consumed):
            incoming.append(contentsOf: UnsafeRawBufferPointer(rebasing: read[consumed...]))
            parse()
        case .error(let e):
            fail(upstreamError(e))
        case .response(let r, let consumed, let keepAlive):
            var reusable = Self.mayReuse(status: r.status, requestWasHead: parser.requestWasHead, keepAlive: keepAlive,
                                         leftoverBytes: read.count - consumed, requestFullySent: output.isDrained,
                                         reuseConnections: origin.reuseConnections)
            if reusable && (peerHungUp || (lastReadFilled && !socketIsQuiet())) { reusable = false }
            finish(r, reusable: reusable)
        }
    }

    private func parse() {
        while phase == .busy {
            let result = incoming.withUnsafeBytes { parser.parse($0) }
            // Consumed: the response is moved on (`finish`), never shared, so nobody copies its buffers to edit it.
            switch consume result {
            case .needMore:
                // A chunked or close-delimited body already moved into the response: drop its raw bytes.
                let done = parser.takeConsumedPrefix()
                if done > 0 { incoming.removeFirst(done) }
                return
            case .interim(let consumed):
                incoming.removeFirst(consumed)
            case .error(let e):
                fail(upstreamError(e))
            case .response(let r, let consumed, let keepAlive):
                // Decided before the call, so `r` is not read after it is handed over (that would copy it).
                var reusable = Self.mayReuse(status: r.status, requestWasHead: parser.requestWasHead, keepAlive: keepAlive,
                                             leftoverBytes: incoming.count - consumed, requestFullySent: output.isDrained,
                                             reuseConnections: origin.reuseConnections)
                // Nothing may wait unread: a close reported with the response, or bytes after a read that
                // filled the scratch (asked of the socket), would never be reported again.
                if reusable && (peerHungUp || (lastReadFilled && !socketIsQuiet())) { reusable = false }
                finish(r, reusable: reusable)
            }
        }
    }

    /// Whether the connection may carry another request after this response. Not when the response or the
    /// origin's policy (`pool.reuse: false`) closes it; not when bytes followed the response in the same
    /// read (the connection is out of step); not when the upstream answered before the whole request was
    /// written (an early 401/413, or any handler that answers before reading the body): the upstream still
    /// expects the rest of the body, and the next request written in its place would be read as body bytes,
    /// its headers (credentials included) with them. Finishing the body instead would spend time and
    /// bandwidth on a request already answered, so the connection is closed, as nginx does. And not after
    /// HEAD, 204 or 304: responses without a body, after which a misbehaving upstream sends one anyway,
    /// often a moment later, where it would be read as the next request's answer. Closing those costs one
    /// new connection each; a quiet period before reuse would cost the same wait on every such response
    /// and still guess.
    static func mayReuse(status: Int, requestWasHead: Bool, keepAlive: Bool, leftoverBytes: Int, requestFullySent: Bool,
                         reuseConnections: Bool) -> Bool {
        keepAlive && reuseConnections && leftoverBytes == 0 && requestFullySent && !requestWasHead && status != 204 && status != 304
    }

    /// A parse error as the client sees it: a response over the size limit, or an invalid one.
    private func upstreamError(_ e: HTTPParseError) -> UpstreamError {
        if e == .bodyTooLarge {
            return UpstreamError(.responseTooLarge, "\(origin.authority): response larger than \(origin.limits.maxBodyBytes) bytes (limits.maxResponseBytes)")
        }
        return UpstreamError(.invalidResponse, "\(origin.authority): \(e.code): \(e.detail)")
    }

    /// Whether the connection can carry the next request now: idle, and nothing waiting to be read (bytes
    /// the upstream sent out of turn, or its close, that the loop has not reported yet). Checked before
    /// every reuse.
    func readyForReuse() -> Bool {
        guard phase == .idle else { return false }
        do {
            return try Syscall.peek(fd) == nil
        } catch {
            return false
        }
    }

    /// The current exchange's event reported a hang-up (see `handleEvents`).
    @exclusivity(unchecked) private var peerHungUp = false
    /// The last read filled the loop's read scratch (see `readAvailable`).
    @exclusivity(unchecked) private var lastReadFilled = false

    /// Whether nothing is waiting to be read (no byte, no close).
    private func socketIsQuiet() -> Bool {
        do { return try Syscall.peek(fd) == nil } catch { return false }
    }

    /// Bytes of the current response received, and budget held for them (`MemoryBudget`).
    @exclusivity(unchecked) private var received = 0
    @exclusivity(unchecked) private var reserved = 0

    private func releaseBudget() {
        received = 0
        if reserved > 0 {
            origin.responseBudget?.release(reserved)
            reserved = 0
        }
    }

    private func finish(_ response: consuming HTTPResponse, reusable: Bool) {
        releaseBudget()
        requestsServed += 1
        phase = reusable ? .idle : .busy
        if !incoming.isEmpty || incoming.capacity > 65536 { incoming.removeAll(keepingCapacity: incoming.capacity <= 65536) }
        let done = exchange
        exchange = nil
        if !reusable { close() }
        done?.exchangeFinished(.success(consume response), reusable: reusable)
    }

    func fail(_ error: UpstreamError) {
        guard phase != .closed else { return }
        let done = exchange
        exchange = nil
        close()
        done?.exchangeFinished(.failure(error), reusable: false)
    }

    func close() {
        guard phase != .closed else { return }
        releaseBudget()
        phase = .closed
        loop.deregisterAndClose(fd, self)
        output.release()
        incoming = []
    }

    func tick(now: UInt64) {
        switch phase {
        case .connecting where now > deadline:
            close()
            pool.connectionFailed(self, UpstreamError(.connectTimeout, "connecting to \(origin.authority) timed out"))
        case .busy where now > deadline:
            fail(UpstreamError(.responseTimeout, "\(origin.authority) did not answer in time"))
        default:
            break
        }
    }
}
