#if canImport(Glibc)
import Glibc
#endif
import Synchronization
internal import CLinuxIO

/// The HTTP/1.1 server: one `SO_REUSEPORT` listener per loop, so the kernel spreads connections over
/// the loops and a connection stays on the loop that accepted it.
public final class HTTPServer: Sendable {
    public let configuration: ServerConfiguration
    public let group: EventLoopGroup
    /// What answers every request (the gateway's front, or a plain handler's adapter), called through a
    /// final class: the existential is opened where it lies, not copied out of the server (through the
    /// value witnesses of whatever type it holds) for every request.
    let answering: Answerer
    /// The route's body limit by head, when the responder is a gateway front with such limits.
    let bodyLimit: (@Sendable (HTTPRequest) -> Int?)?
    /// Where requests, connections and rejections are counted (nil: not counted).
    let metrics: GatewayMetrics?
    let draining = Atomic<Bool>(false)
    /// The readiness grace is on: keep serving, but close every connection after its response.
    let closingConnections = Atomic<Bool>(false)
    private let boundPort = Atomic<Int>(0)
    private let states: [ServerLoopState]
    let requestIDPrefix: String

    /// A server whose requests are answered by `handler`, each in a task on its loop (demo services,
    /// test stubs).
    public convenience init(configuration: ServerConfiguration, group: EventLoopGroup, handler: any HTTPHandler) {
        self.init(configuration: configuration, group: group, responder: HandlerResponder(handler))
    }

    /// A server whose requests are answered by `responder` on the loop. `bodyLimit` gives a route's own
    /// body limit from a request's head (checked before the body is read).
    public init(configuration: ServerConfiguration, group: EventLoopGroup, responder: any Responder,
                bodyLimit: (@Sendable (HTTPRequest) -> Int?)? = nil, metrics: GatewayMetrics? = nil) {
        self.configuration = configuration
        self.group = group
        answering = Answerer(responder)
        self.bodyLimit = bodyLimit
        self.metrics = metrics
        let perLoop = max(1, configuration.maxConnections / group.loops.count)
        states = group.loops.map { ServerLoopState(loop: $0, maxConnections: perLoop) }
        var random: UInt64 = 0
        withUnsafeMutableBytes(of: &random) { _ = getrandom($0.baseAddress, 8, 0) }
        requestIDPrefix = String(random & 0xFFFF_FFFF_FFFF, radix: 16)
    }

    /// The port the server listens on (useful when configured with port 0).
    public var port: Int { boundPort.load(ordering: .acquiring) }

    /// Binds and starts accepting on every loop. Throws if the address cannot be bound.
    @discardableResult
    public func start() throws -> Int {
        var port = configuration.port
        for state in states {
            let address = try SocketAddress(host: configuration.host, port: port)
            let fd = try Syscall.socket(domain: address.family, type: Int32(SOCK_STREAM.rawValue))
            do {
                try Syscall.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
                try Syscall.setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1)
                try Syscall.bind(fd, address)
                try Syscall.listen(fd, backlog: 4096)
            } catch {
                Syscall.close(fd)
                throw error
            }
            if port == 0 { port = try Syscall.localAddress(fd).port }
            let server = self
            try state.loop.execute(sync: { try state.startListening(fd: fd, server: server) })
        }
        boundPort.store(port, ordering: .releasing)
        return port
    }

    /// The first phase of a graceful stop: connections are still accepted and requests answered, but
    /// every response carries `Connection: close` and idle keep-alive connections are closed now, so
    /// clients and load balancers move away while health checks still get an answer. Returns at once.
    public func closeConnectionsAfterResponses() {
        closingConnections.store(true, ordering: .releasing)
        for state in states { state.loop.execute { state.closeIdleConnections() } }
    }

    /// Stops accepting, lets in-flight requests finish within the drain timeout, closes idle connections,
    /// then closes whatever is left. Blocks the calling thread (not a loop thread) until done.
    /// Returns the number of connections that had to be cut at the deadline.
    @discardableResult
    public func shutdown() -> Int {
        draining.store(true, ordering: .releasing)
        // Each loop signals once its last connection has closed: no polling.
        let drained = DispatchSemaphoreLite()
        for state in states { state.loop.execute { state.beginDrain(signalling: drained) } }
        let deadline = MonotonicClock.now() + configuration.drainTimeout
        var done = 0
        while done < states.count, drained.wait(until: deadline) { done += 1 }
        if done == states.count { return 0 }
        return states.reduce(0) { sum, state in sum + state.loop.execute(sync: { state.closeAll() }) }
    }

    /// Open connections on every loop (for tests and metrics).
    public var connectionCount: Int {
        states.reduce(0) { sum, state in sum + state.loop.execute(sync: { state.connectionCount }) }
    }
}

/// The server's state on one loop: its listener and its connections. Loop thread only.
final class ServerLoopState: EventLoopHandler, @unchecked Sendable {
    let loop: EventLoop
    let maxConnections: Int
    private var listenFD: Int32 = -1
    private var accepting = false
    /// Strong while listening, not `weak`: a weak reference gives the server a side table, and every
    /// retain and release of it (each connection holds it, and reads it per request) then takes the
    /// runtime's slow path. The cycle (server → states → server) ends when the listener closes (`beginDrain`).
    private var server: HTTPServer?
    /// The server's metrics, kept here so a closing connection does not load the weak reference.
    private var metrics: GatewayMetrics?
    private var connections: [ObjectIdentifier: HTTPServerConnection] = [:]
    var requestCounter: UInt64 = 0

    init(loop: EventLoop, maxConnections: Int) {
        self.loop = loop
        self.maxConnections = maxConnections
    }

    var connectionCount: Int { connections.count }

    func startListening(fd: Int32, server: HTTPServer) throws {
        self.server = server
        metrics = server.metrics
        listenFD = fd
        try loop.register(fd, self, events: EPOLLIN.rawValue)
        accepting = true
    }

    func handleEvents(_ events: UInt32) {
        guard accepting, let server else { return }
        for _ in 0..<64 {
            if connections.count >= maxConnections {
                // Leave the rest in the kernel's backlog until a connection closes.
                loop.modify(listenFD, events: 0)
                accepting = false
                return
            }
            let accepted: (Int32, SocketAddress)?
            do {
                accepted = try Syscall.accept(listenFD)
            } catch {
                loop.logger.error("accept failed", [.string("error", error.description)])
                if error.errno == EMFILE || error.errno == ENFILE || error.errno == ENOBUFS || error.errno == ENOMEM {
                    // Out of descriptors or memory: the pending connection stays readable, so a
                    // level-triggered listener would spin. Pause accepting for 100 ms, as nginx does.
                    pauseAccepting(for: 100_000_000)
                }
                return
            }
            guard let (fd, address) = accepted else { return }
            try? Syscall.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let connection = HTTPServerConnection(fd: fd, peer: address, loop: loop, server: server, state: self)
            do {
                try loop.register(fd, connection, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue, edgeTriggered: true)
                connections[ObjectIdentifier(connection)] = connection
                metrics?.clientConnectionsOpen.add(1, shard: loop.index)
            } catch {
                Syscall.close(fd)
            }
        }
    }

    private var acceptPausedUntil: UInt64 = 0

    private func pauseAccepting(for nanoseconds: UInt64) {
        guard listenFD >= 0 else { return }
        accepting = false
        acceptPausedUntil = loop.now + nanoseconds
        loop.modify(listenFD, events: 0)
        loop.schedule(at: acceptPausedUntil) { [weak self] in self?.resumeAccepting() }
    }

    private func resumeAccepting() {
        guard !accepting, listenFD >= 0, !(server?.draining.load(ordering: .acquiring) ?? true), connections.count < maxConnections else { return }
        accepting = true
        loop.modify(listenFD, events: EPOLLIN.rawValue)
    }

    func connectionClosed(_ connection: HTTPServerConnection) {
        if connections.removeValue(forKey: ObjectIdentifier(connection)) != nil {
            metrics?.clientConnectionsOpen.add(-1, shard: loop.index)
        }
        if connections.isEmpty, let waiter = drainWaiter {
            drainWaiter = nil
            waiter.signal()
        }
        if loop.now >= acceptPausedUntil { resumeAccepting() }
    }

    func tick(now: UInt64) {}

    func closeIdleConnections() {
        for connection in Array(connections.values) { connection.drain(closingFresh: false) }
    }

    /// Signalled once when the last connection closes during a drain.
    private var drainWaiter: DispatchSemaphoreLite?

    func beginDrain(signalling drained: DispatchSemaphoreLite) {
        if listenFD >= 0 {
            loop.deregisterAndClose(listenFD, self)
            listenFD = -1
        }
        accepting = false
        server = nil
        drainWaiter = drained
        for connection in Array(connections.values) { connection.drain() }
        if connections.isEmpty, let waiter = drainWaiter {
            drainWaiter = nil
            waiter.signal()
        }
    }

    func closeAll() -> Int {
        let open = Array(connections.values)
        for connection in open { connection.cutAtDrainDeadline() }
        return open.count
    }

    func nextRequestID() -> UInt64 {
        requestCounter += 1
        return requestCounter
    }
}

/// See `HTTPServer.answering`.
final class Answerer: Sendable {
    private let responder: any Responder
    init(_ responder: any Responder) { self.responder = responder }
    @inline(__always) func respond(to request: consuming HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        responder.respond(to: request, context: context, completion: completion)
    }
}
