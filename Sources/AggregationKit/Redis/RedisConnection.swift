#if canImport(Glibc)
import Glibc
#endif
internal import CLinuxIO

/// One connection to Redis on one loop: a socket, the handshake (`RedisHandshake`), a reply parser, and
/// pipelined writes. It decides nothing about commands: replies go to the pool in order, and the pool's
/// state machine knows which command each answers. Loop thread only.
///
///     connect ─▶ handshake (HELLO/AUTH/SELECT, one at a time) ─▶ ready: commands written in batches
///     (one write per loop turn), replies parsed as they arrive ─▶ pool.replyReceived, in order
final class RedisConnection: EventLoopHandler {
    enum Phase { case connecting, handshaking, ready, closed }

    let id: RedisPoolStateMachine.ConnectionID
    let fd: Int32
    let loop: EventLoop
    unowned let pool: RedisPool
    private(set) var phase: Phase = .connecting
    /// 3 after a successful `HELLO 3`, else 2.
    private(set) var protocolVersion = 2
    private var handshake: RedisHandshake
    private var parser: RedisReplyParser
    private var incoming: [UInt8] = []
    private var output = SocketOutput()
    private var flushScheduled = false

    init(id: Int, pool: RedisPool, loop: EventLoop) throws {
        self.id = id
        self.pool = pool
        self.loop = loop
        let configuration = pool.configuration
        handshake = RedisHandshake(endpoint: configuration.endpoint, preferRESP3: configuration.preferRESP3)
        parser = RedisReplyParser(limits: configuration.replyLimits)
        fd = try Syscall.socket(domain: pool.address.family, type: Int32(SOCK_STREAM.rawValue))
        do {
            if pool.address.family != AF_UNIX { try Syscall.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }
            let done = try Syscall.connect(fd, pool.address)
            try loop.register(fd, self, events: done ? EPOLLIN.rawValue | EPOLLRDHUP.rawValue : EPOLLOUT.rawValue)
            if done {
                // Never inline: the pool is in the middle of performing the action that opened us.
                loop.schedule(at: loop.now) { [weak self] in
                    if let self, self.phase == .connecting { self.connected() }
                }
            }
        } catch {
            Syscall.close(fd)
            throw error
        }
    }

    /// Queues a command's bytes; they go out with the others of this loop turn, in one write.
    func write(_ bytes: [UInt8]) {
        precondition(phase == .ready)
        output.bytes.append(contentsOf: bytes)
        guard !flushScheduled && !output.wantsWrite else { return }
        flushScheduled = true
        loop.schedule(at: loop.now) { [weak self] in
            guard let self else { return }
            self.flushScheduled = false
            if self.phase == .ready { self.flush() }
        }
    }

    func handleEvents(_ events: UInt32) {
        switch phase {
        case .connecting:
            let err = Syscall.socketError(fd)
            if err != 0 || events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                lost(RedisError(.unavailable, "cannot connect to Redis at \(pool.address): \(SystemError("connect", errno: err == 0 ? ECONNREFUSED : err))"))
                return
            }
            loop.modify(fd, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
            connected()
        case .handshaking, .ready:
            if events & EPOLLOUT.rawValue != 0 { flush() }
            if phase != .closed { readAvailable() }
        case .closed:
            break
        }
    }

    private func connected() {
        phase = .handshaking
        perform(handshake.start())
    }

    private func perform(_ next: RedisHandshake.Next) {
        switch next {
        case .send(let arguments):
            output.bytes.append(contentsOf: RedisCommand(arguments).bytes)
            flush()
        case .ready(let version):
            protocolVersion = version
            phase = .ready
            pool.connectionReady(self)
        case .failed(let error):
            lost(error)
        }
    }

    private func flush() {
        if let error = output.flush(fd, on: loop) {
            lost(RedisError(.connectionClosed, "writing to Redis at \(pool.address) failed: \(error)"))
        }
    }

    private func readAvailable() {
        let scratch = loop.readScratch
        while phase == .handshaking || phase == .ready {
            let n: Int?
            do {
                n = try Syscall.read(fd, scratch.baseAddress!, scratch.count)
            } catch {
                lost(RedisError(.connectionClosed, "reading from Redis at \(pool.address) failed: \(error)"))
                return
            }
            guard let n else { return }
            if n == 0 {
                lost(RedisError(.connectionClosed, "Redis at \(pool.address) closed the connection"))
                return
            }
            incoming.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            parseReplies()
        }
    }

    /// Hands every whole reply in `incoming` on, then drops the bytes they used (once, not per reply).
    private func parseReplies() {
        var offset = 0
        while phase == .handshaking || phase == .ready {
            let result = incoming.withUnsafeBytes { raw in
                Result { () throws(RedisProtocolError) in try parser.parse(UnsafeRawBufferPointer(rebasing: raw[offset...])) }
            }
            switch result {
            case .failure(let e):
                lost(RedisError(.protocolViolation, "Redis at \(pool.address) sent an invalid reply: \(e)"))
                return
            case .success(.needMore(let consumed)):
                offset += consumed
                if offset == incoming.count {
                    incoming.removeAll(keepingCapacity: incoming.capacity <= 65536)
                } else if offset > 0 {
                    incoming.removeFirst(offset)
                }
                return
            case .success(.reply(let value, let consumed)):
                offset += consumed
                deliver(value)
            }
        }
    }

    private func deliver(_ value: RedisValue) {
        // Out-of-band data (client-side caching invalidations, …): we subscribe to nothing, and a push is
        // never a command's reply.
        if case .push = value { return }
        switch phase {
        case .handshaking: perform(handshake.replyReceived(value))
        case .ready: pool.replyReceived(self, value)
        case .connecting, .closed: break
        }
    }

    /// The connection failed: tells the pool (a failed attempt before it was ready, a lost connection
    /// after).
    private func lost(_ error: RedisError) {
        guard phase != .closed else { return }
        let wasReady = phase == .ready
        close()
        if wasReady {
            pool.connectionClosed(self, error)
        } else {
            pool.connectionFailed(self, error)
        }
    }

    /// Closes the socket; tells no one (the pool's state machine decided it).
    func close() {
        guard phase != .closed else { return }
        phase = .closed
        loop.deregisterAndClose(fd, self)
        output.release()
        incoming = []
    }

    func tick(now: UInt64) {}
}
