#if canImport(Glibc)
import Glibc
#endif
internal import CLinuxIO

/// One client connection, on one loop thread for its whole life.
///
///     read ─▶ parser ─▶ request ─▶ handler task (on this loop) ─▶ response ─▶ write ─▶ next pipelined request
///
/// Requests are answered strictly in order: the next pipelined request is parsed only once the previous
/// response is written, and reading pauses while more than the parser's limits are buffered.
final class HTTPServerConnection: EventLoopHandler, DeferredFlush, @unchecked Sendable {
    private enum State { case reading, processing, writingLast, lingering, closed }

    let fd: Int32
    let peer: SocketAddress
    /// The client's address as text, formatted once per connection (inet_ntop is not free).
    private lazy var peerIP: String = peer.ipString
    let loop: EventLoop
    let server: HTTPServer
    private unowned let state: ServerLoopState
    // `@exclusivity(unchecked)` here and below: see docs/dev-notes/exclusivity.md (no access to these
    // properties may span a call that can reach back into this object; each such access is audited).
    @exclusivity(unchecked) private var phase: State = .reading
    @exclusivity(unchecked) private var parser: HTTPRequestParser
    @exclusivity(unchecked) private var buffer: [UInt8] = []
    @exclusivity(unchecked) private var outgoing: [UInt8] = []
    @exclusivity(unchecked) private var outgoingOffset = 0
    @exclusivity(unchecked) private var wantsWrite = false
    @exclusivity(unchecked) private var readPaused = false
    @exclusivity(unchecked) private var peerClosedRead = false
    @exclusivity(unchecked) private var draining = false
    @exclusivity(unchecked) private var continueSent = false
    @exclusivity(unchecked) private var deadlines: ConnectionDeadlines
    // The request being answered.
    /// What the connection keeps of the request being answered (see `Answering`).
    @exclusivity(unchecked) private var current: Answering?

    /// What the answer, the log and the metrics read of the request being answered. Not the request
    /// itself: holding its header buffers here would make the first edit of a request stage copy them.
    private struct Answering {
        let method: String
        let target: String
        let versionMinor: Int
        let keepAlive: Bool
        var path: Substring { HTTPRequest.path(of: target) }
    }
    @exclusivity(unchecked) private var currentID = RequestID("")

    init(fd: Int32, peer: SocketAddress, loop: EventLoop, server: HTTPServer, state: ServerLoopState) {
        self.fd = fd
        self.peer = peer
        self.loop = loop
        self.server = server
        self.state = state
        self.parser = HTTPRequestParser(limits: server.configuration.limits)
        self.deadlines = ConnectionDeadlines(now: loop.now)
    }

    private var maxBuffered: Int {
        let l = server.configuration.limits
        return l.maxHeaderBytes + l.maxBodyBytes + 64 * 1024
    }

    // MARK: Events

    func handleEvents(_ events: UInt32) {
        if events & EPOLLOUT.rawValue != 0 { flush() }
        if phase == .closed { return }
        if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            readAvailable(hangUp: events & (EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0)
        }
    }

    /// Reads until the kernel has nothing more (the socket is edge-triggered: nothing left unread is
    /// reported again). `hangUp`: the event said the client closed (or the socket failed), so a short
    /// read is not the end: reading goes on to the end of stream, where the close is handled.
    private func readAvailable(hangUp: Bool) {
        let scratch = loop.readScratch
        var gotBytes = false
        /// Bytes of the scratch not copied into `buffer`, to be parsed in place.
        var inPlace: Int? = nil
        while phase != .closed {
            if phase != .lingering && buffer.count >= maxBuffered {
                pauseReading()
                break
            }
            let n: Int?
            do {
                n = try Syscall.read(fd, scratch.baseAddress!, scratch.count)
            } catch {
                // A reset (or any read error) while a request is being answered: the client is gone.
                if phase == .processing && current != nil {
                    clientWentAway(error: "client_reset_connection: the connection failed before the answer (\(error))")
                } else {
                    closeNow()
                }
                return
            }
            guard let n else { break }
            if n == 0 {
                // Stop watching for input, or level-triggered epoll would report the EOF again and again
                // while a response is still being prepared.
                peerClosedRead = true
                if phase == .processing && current != nil && !server.configuration.ignoreClientAbort {
                    clientWentAway()
                    return
                }
                if phase != .lingering { updateInterest() }
                break
            }
            deadlines.lastActivity = loop.now
            if phase == .lingering { continue }
            gotBytes = true
            // A short read emptied the socket (TCP copies all it has): new bytes will be a new event.
            let last = n < scratch.count && !hangUp
            if last && buffer.isEmpty && phase == .reading {
                // The usual case, a whole request in one read: parsed where it lies (`processBuffer(read:)`).
                inPlace = n
                break
            }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            if last { break }
        }
        if phase == .lingering {
            if peerClosedRead { closeNow() }
            return
        }
        if gotBytes && phase == .reading && deadlines.requestStartedAt == 0 { deadlines.requestStartedAt = loop.now }
        if phase == .reading {
            if let n = inPlace { processBuffer(read: UnsafeRawBufferPointer(rebasing: scratch[0..<n])) } else { processBuffer() }
        }
        if peerClosedRead && phase == .processing && current != nil && !server.configuration.ignoreClientAbort {
            // The end of stream came in the same event as the request (edge-triggered, it is not reported
            // again): the client went away as its request started, as the next event would have said.
            return clientWentAway()
        }
        if peerClosedRead && phase == .reading {
            // EOF between requests, or in the middle of one: nothing to answer.
            closeNow()
        }
    }

    private func pauseReading() {
        guard !readPaused else { return }
        readPaused = true
        updateInterest()
    }

    private func resumeReading() {
        guard readPaused else { return }
        readPaused = false
        updateInterest()
    }

    private func updateInterest() {
        var events: UInt32 = 0
        if !readPaused && !peerClosedRead { events |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
        if wantsWrite { events |= EPOLLOUT.rawValue }
        loop.modify(fd, events: events)
    }

    // MARK: Requests

    /// Parses what `buffer` holds, or `read`: a read that found `buffer` empty, parsed where it lies (the
    /// loop's read scratch) rather than copied in first. The parser sees exactly the bytes `buffer` would
    /// hold; only what it leaves unconsumed is copied into `buffer`, before anything else runs (the scratch
    /// is the loop's, reused by the next read).
    private func processBuffer(read: UnsafeRawBufferPointer? = nil) {
        guard phase == .reading else { return }
        let result: HTTPRequestParser.Result
        if let read {
            result = parser.parse(read)
        } else {
            guard !buffer.isEmpty else { return }
            result = buffer.withUnsafeBytes { parser.parse($0) }
        }
        // Consumed: the request is bound out of the result, not copied (a retain of each of its buffers).
        switch consume result {
        case .needMore:
            let decoded = parser.discardDecodedPrefix()
            if let read {
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: read[decoded...]))
            } else if decoded > 0 {
                buffer.removeSubrange(0..<decoded)
                if readPaused && buffer.count < maxBuffered { resumeReading() }
            }
            if let pending = parser.requestAwaitingBody {
                if deadlines.bodyStartedAt == 0 {
                    deadlines.bodyStartedAt = loop.now
                    if let limitOf = server.bodyLimit, let limit = limitOf(pending),
                       let declared = pending.headers["content-length"].flatMap({ Int($0) }), declared > limit {
                        // The route's own limit, before the body is read: the head goes through the route's
                        // pipeline with its declared size, so the 413 comes from the route's body-limit stage
                        // and carries what the stages before it add (CORS fields); the connection then ends.
                        var head = pending
                        head.keepAlive = false
                        return dispatch(head, declaredBodyBytes: declared)
                    }
                }
                if pending.expectsContinue && !continueSent {
                    continueSent = true
                    queueWrite(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                }
            }
        case .error(let error):
            let id = makeRequestID(nil)
            requestDispatchedAt = Syscall.monotonicNanoseconds()
            let response = HTTPError(status: error.status, code: error.code, detail: error.detail).response(requestID: id.string)
            phase = .processing
            server.metrics?.parseRejected(code: error.code, shard: loop.index)
            logLine(method: "-", path: "-", route: nil, upstream: nil, status: error.status, bytes: response.body.count, id: id, error: error.code)
            send(response, head: false, close: true)
        case .request(let request, let consumed):
            if let read {
                if consumed < read.count { buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: read[consumed...])) }
            } else if consumed == buffer.count {
                // The usual case, the whole buffer: no shifting (`removeSubrange` costs some 300 instructions).
                buffer.removeAll(keepingCapacity: true)
            } else {
                buffer.removeSubrange(0..<consumed)
            }
            if buffer.isEmpty && buffer.capacity > 65536 { buffer = [] }
            deadlines.requestStartedAt = buffer.isEmpty ? 0 : loop.now
            deadlines.bodyStartedAt = 0
            continueSent = false
            if request.isUpgrade {
                // Protocol upgrades are not proxied: answer the request as plain HTTP, then close.
                var plain = request
                plain.keepAlive = false
                return dispatch(plain)
            }
            dispatch(request)
        }
    }

    private lazy var requestIDPrefix: String = "\(server.requestIDPrefix)-\(loop.index)-"

    private func makeRequestID(_ request: HTTPRequest?) -> RequestID {
        if let request, let i = request.headers.firstIndex(named: "x-request-id") {
            let given = request.headers.value(at: i)
            if RequestIDs.isValid(given) { return RequestID(given) }
        }
        return RequestID(prefix: requestIDPrefix, counter: state.nextRequestID())
    }

    /// `declaredBodyBytes`: set for a head dispatched before its body is read (refused by the route's
    /// body limit); nothing forwards such a request.
    private func dispatch(_ request: consuming HTTPRequest, declaredBodyBytes: Int? = nil) {
        phase = .processing
        let id = makeRequestID(request)
        current = Answering(method: request.method, target: request.target, versionMinor: request.versionMinor,
                            keepAlive: request.keepAlive)
        currentID = id
        requestDispatchedAt = Syscall.monotonicNanoseconds()
        let context = RequestContext(id: id, loop: loop, clientAddress: peerIP, startNanos: loop.now)
        if let declaredBodyBytes { context.declaredBodyBytes = declaredBodyBytes }
        currentContext = context
        if let metrics = server.metrics {
            metrics.requestsInFlight.add(1, shard: loop.index)
            countedInFlight = true
        }
        insideRespond = true
        server.answering.respond(to: request, context: context) { [self] response, error in
            answered(consume response, error: error)
        }
        insideRespond = false
        if let (response, error) = earlyAnswer.take() {
            // Answered before `respond` returned: finished after it, not inside it.
            answered(response, error: error)
        }
    }

    /// The request's context while it is being answered, and an answer that came before `respond` returned.
    @exclusivity(unchecked) private var currentContext: RequestContext?
    @exclusivity(unchecked) private var insideRespond = false
    @exclusivity(unchecked) private var earlyAnswer: (HTTPResponse, String?)?

    /// The response is handed over (`consuming`) to the serializer: a copy of it would be a retain and a
    /// release of each of its buffers and Strings.
    private func answered(_ response: consuming HTTPResponse, error: String?) {
        if insideRespond {
            earlyAnswer = (consume response, error)
            return
        }
        guard let context = currentContext else { return }
        currentContext = nil
        // `X-Request-ID` is written by the serializer (`requestID:`), replacing any the response has.
        complete(consume response, route: context.route, upstream: context.upstream, error: error ?? context.errorDetail,
                 routeMetrics: context.routeMetrics, requestID: context.id)
    }

    /// Whether the request being answered is counted in `bff_requests_in_flight`.
    @exclusivity(unchecked) private var countedInFlight = false

    /// Counts the request being answered as done: its route's requests and duration, and one fewer in flight.
    private func recordRequest(_ request: Answering, status: Int, routeMetrics: RouteMetrics?) {
        guard countedInFlight, let metrics = server.metrics else { return }
        countedInFlight = false
        metrics.requestsInFlight.add(-1, shard: loop.index)
        (routeMetrics ?? metrics.unmatched).record(method: MethodLabel(request.method), status: status,
                                                   durationNanos: Syscall.monotonicNanoseconds() &- requestDispatchedAt, shard: loop.index)
    }

    /// The client closed its connection before the answer: its request's work is cancelled (task, upstream
    /// calls: their connections closed, not pooled) and the log records 499, as nginx does.
    private func clientWentAway(error: String = "client_closed_request: the client closed the connection before the answer") {
        abandonRequest(status: 499, error: error)
        closeNow()
    }

    /// The request being answered is given up: its work is cancelled (task, upstream calls: their
    /// connections closed, not pooled), and it is counted and logged with `status`. Nothing is sent.
    private func abandonRequest(status: Int, error: String) {
        guard phase == .processing, let request = current, let context = currentContext else { return }
        current = nil
        currentContext = nil
        context.cancel()
        recordRequest(request, status: status, routeMetrics: context.routeMetrics)
        logLine(method: request.method, path: request.path, route: context.route, upstream: context.upstream,
                status: status, bytes: 0, id: currentID, error: error)
    }

    /// Cut at the drain deadline: a request still being answered is cancelled and logged (503: the
    /// gateway gave up on it), then the connection closes.
    func cutAtDrainDeadline() {
        abandonRequest(status: 503, error: "drain_deadline: the request was still being answered when the drain deadline passed")
        closeNow()
    }

    /// `requestID`: sent as the response's `X-Request-ID`, replacing any it has.
    private func complete(_ response: consuming HTTPResponse, route: String?, upstream: String?, error: String?, routeMetrics: RouteMetrics?,
                          requestID: RequestID) {
        // Taken, not copied: a copy of a request is a retain and a release of each of its buffers.
        guard phase == .processing, let request = current.take() else { return }
        var response = consume response
        var error = error
        if response.body.count > MemoryBudget.untrackedBytes {
            // A large body waits in this connection's output until the client reads it: hold budget for it.
            let budget = server.configuration.responseBudget
            if budget.tryReserve(response.body.count) {
                outgoingReserved += response.body.count
            } else {
                error = "response_memory_budget_exhausted: a \(response.body.count)-byte response did not fit the budget (limits.maxBufferedResponseBytes, \(budget.limit) bytes, \(budget.inUse) in use)"
                response = HTTPError(status: 503, code: "response_memory_budget_exhausted",
                                     detail: "the gateway is holding too many large responses; try again later").response(requestID: currentID.string)
                response.headers.set("Retry-After", "1")
            }
        }
        let close = !request.keepAlive || draining || peerClosedRead || server.closingConnections.load(ordering: .relaxed)
        recordRequest(request, status: response.status, routeMetrics: routeMetrics)
        logLine(method: request.method, path: request.path, route: route, upstream: upstream,
                status: response.status, bytes: response.body.count, id: currentID, error: error)
        send(response, head: request.method.isExactly("HEAD"), close: close,
             keepAliveHTTP10: request.versionMinor == 0 && request.keepAlive, requestID: requestID)
    }

    private func send(_ response: HTTPResponse, head: Bool, close: Bool, keepAliveHTTP10: Bool = false, requestID: RequestID? = nil) {
        if close { phase = .writingLast }
        if outgoing.isEmpty { outgoingOffset = 0 }
        HTTPResponseSerializer.serialize(response, headRequest: head, close: close, keepAliveHTTP10: keepAliveHTTP10,
                                         date: loop.clock.httpDate(), id: requestID, into: &outgoing)
        deadlines.writeProgressAt = loop.now
        // Written with the other sends of this batch (see `EventLoop.flushAfterEvents`).
        if !flushQueued {
            flushQueued = true
            loop.flushAfterEvents(self)
        }
    }

    /// Whether `send` asked the loop for a flush at the end of this batch.
    @exclusivity(unchecked) private var flushQueued = false

    func flushDeferred() {
        flushQueued = false
        guard phase == .processing || phase == .writingLast else { return }
        flush()
        if phase == .closed { return }
        if outgoing.isEmpty { responseWritten() }
    }

    /// The whole response is in the kernel.
    private func responseWritten() {
        switch phase {
        case .writingLast:
            startLingeringClose()
        case .processing:
            phase = .reading
            deadlines.lastActivity = loop.now
            resumeReading()
            processBuffer()
            if peerClosedRead && phase == .reading { closeNow() }
        default:
            break
        }
    }

    // MARK: Writing

    private func queueWrite(_ bytes: [UInt8]) {
        if outgoing.isEmpty {
            outgoing = bytes
            outgoingOffset = 0
        } else {
            outgoing.append(contentsOf: bytes)
        }
        deadlines.writeProgressAt = loop.now
        flush()
    }

    private func flush() {
        while outgoingOffset < outgoing.count {
            let result: Int?
            do {
                result = try outgoing.withUnsafeBytes { raw in
                    try Syscall.send(fd, raw.baseAddress! + outgoingOffset, raw.count - outgoingOffset)
                }
            } catch {
                // Writing `100 Continue` while the request is still being answered: the client is gone.
                if phase == .processing && current != nil {
                    clientWentAway(error: "client_reset_connection: a write failed before the answer (\(error))")
                } else {
                    closeNow()
                }
                return
            }
            guard let n = result else {
                if !wantsWrite {
                    wantsWrite = true
                    deadlines.outputBlocked(now: loop.now)
                    updateInterest()
                }
                return
            }
            outgoingOffset += n
            deadlines.sent(n, now: loop.now, configuration: server.configuration)
        }
        outgoing.removeAll(keepingCapacity: outgoing.capacity <= 65536)
        outgoingOffset = 0
        deadlines.outputDrained()
        releaseOutgoingBudget()
        if wantsWrite {
            wantsWrite = false
            updateInterest()
            if phase == .processing || phase == .writingLast { responseWritten() }
        }
    }

    // MARK: Closing

    /// Half-closes and reads until the peer closes (or a short deadline), so the response is not lost to a
    /// reset caused by unread request bytes.
    private func startLingeringClose() {
        guard phase != .closed, phase != .lingering else { return }
        phase = .lingering
        buffer = []
        Syscall.shutdownWrite(fd)
        if peerClosedRead { closeNow(); return }
        deadlines.lingerUntil = loop.now + 2_000_000_000
        readPaused = false
        updateInterest()
    }

    func closeNow() {
        guard phase != .closed else { return }
        if countedInFlight, let metrics = server.metrics {
            // Closed while a request was being answered (cut at the drain deadline): no longer in flight.
            countedInFlight = false
            metrics.requestsInFlight.add(-1, shard: loop.index)
        }
        phase = .closed
        loop.deregisterAndClose(fd, self)
        buffer = []
        outgoing = []
        releaseOutgoingBudget()
        state.connectionClosed(self)
    }

    /// Graceful shutdown: idle connections close now; busy ones close after their response.
    /// `closingFresh` false (the readiness grace): a connection that has not sent a request yet is kept,
    /// to be answered and then closed (it may be the health check the grace is for); only idle
    /// keep-alive connections close now.
    func drain(closingFresh: Bool = true) {
        draining = true
        guard phase == .reading && !parser.isMidRequest && buffer.isEmpty else { return }
        if closingFresh || requestDispatchedAt != 0 { closeNow() }
    }

    func tick(now: UInt64) {
        let stage: ConnectionDeadlines.Stage
        switch phase {
        case .reading: stage = .reading
        case .processing, .writingLast: stage = .processing
        case .lingering: stage = .lingering
        case .closed: stage = .closed
        }
        switch deadlines.verdict(now: now, stage: stage, awaitingBody: parser.requestAwaitingBody != nil, draining: draining,
                                 writePending: wantsWrite, configuration: server.configuration) {
        case .keep: break
        case .headerTimeout: timeOut(code: "header_timeout", "request head not received in time")
        case .bodyTimeout: timeOut(code: "body_timeout", "request body not received in time")
        case .close: closeNow()
        case .writeStalled:
            // Reset rather than close: a plain close would leave the kernel's send buffer (up to 4 MiB)
            // trickling out to the reader that was too slow for it.
            Syscall.setLingerZero(fd)
            closeNow()
        }
    }

    private func timeOut(code: String, _ detail: String) {
        let id = makeRequestID(nil)
        let response = HTTPError(status: 408, code: code, detail: detail).response(requestID: id.string)
        phase = .processing
        server.metrics?.parseRejected(code: code, shard: loop.index)
        logLine(method: "-", path: "-", route: nil, upstream: nil, status: 408, bytes: response.body.count, id: id, error: code)
        send(response, head: false, close: true)
    }

    // MARK: Log

    /// `path` is made only when the access log is on.
    private func logLine(method: String, path: @autoclosure () -> Substring, route: String?, upstream: String?, status: Int, bytes: Int,
                         id: RequestID, error: String?) {
        guard server.configuration.accessLog else { return }
        var line = "{\"time\":\"\(loop.clock.iso8601())\",\"request_id\":"
        JSONText.appendQuoted(id.string, to: &line)
        line += ",\"method\":"
        JSONText.appendQuoted(method, to: &line)
        line += ",\"path\":"
        JSONText.appendQuoted(String(path()), to: &line)
        line += ",\"route\":" + (route.map(JSONText.quoted) ?? "null")
        line += ",\"status\":\(status),\"duration_ms\":\(formatMilliseconds(Syscall.monotonicNanoseconds(), since: requestDispatchedAt))"
        line += ",\"bytes\":\(bytes),\"upstream\":" + (upstream.map(JSONText.quoted) ?? "null")
        line += ",\"client\":" + JSONText.quoted(peerIP)
        if let error { line += ",\"error\":" + JSONText.quoted(error) }
        line += "}"
        loop.log.append(line)
    }

    @exclusivity(unchecked) private var requestDispatchedAt: UInt64 = 0
    /// Budget held for large responses in `outgoing`, released when it is written or the connection closes.
    @exclusivity(unchecked) private var outgoingReserved = 0

    private func releaseOutgoingBudget() {
        guard outgoingReserved > 0 else { return }
        server.configuration.responseBudget.release(outgoingReserved)
        outgoingReserved = 0
    }

    private func formatMilliseconds(_ now: UInt64, since start: UInt64) -> String {
        guard start != 0 else { return "0" }
        let micros = (now &- start) / 1000
        let whole = micros / 1000, frac = micros % 1000
        let fracText = String(frac)
        return "\(whole).\(String(repeating: "0", count: 3 - fracText.count))\(fracText)"
    }
}

/// Request IDs: a client's own is kept when it is short and plain.
enum RequestIDs {
    static func isValid(_ id: String) -> Bool {
        let u = id.utf8
        guard !u.isEmpty, u.count <= 128 else { return false }
        return u.allSatisfy { b in
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 95 || b == 46 || b == 58
        }
    }
}
