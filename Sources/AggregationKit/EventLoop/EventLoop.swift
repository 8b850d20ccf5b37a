#if canImport(Glibc)
import Glibc
#endif
import Synchronization
internal import CLinuxIO

/// Something registered with a loop for readiness events. Called on the loop's thread only.
/// A connection whose writes wait for the end of the loop's event batch (`EventLoop.flushAfterEvents`).
protocol DeferredFlush: AnyObject {
    /// Writes what was queued. Loop thread only.
    func flushDeferred()
}

protocol EventLoopHandler: AnyObject {
    func handleEvents(_ events: UInt32)
    /// Called about every `EventLoop.tickInterval` with the loop's `now`, to enforce timeouts.
    func tick(now: UInt64)
}

/// One epoll loop on its own thread. Sockets registered with it are touched only on that thread.
///
/// It is also a `TaskExecutor`: a request's handler task is started with `Task(executorPreference: loop)`,
/// so the handler and the child tasks of its task groups run on the connection's own thread and resume
/// there after each upstream reply, with no hop to another thread.
///
///     epoll_wait ─▶ socket events ─▶ queued jobs (tasks, closures) ─▶ timers and timeouts ─▶ flush log
public final class EventLoop: TaskExecutor, @unchecked Sendable {
    enum Work {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }

    /// How often handlers are asked to check their timeouts.
    static let tickInterval: UInt64 = 50_000_000

    public let index: Int
    let epollFD: Int32
    private let wakeFD: Int32
    /// The queued work, and whether the loop has finished (work submitted after that never runs).
    private let queue = Mutex<(work: [Work], finished: Bool)>(([], false))
    private let stopped = Atomic<Bool>(false)
    nonisolated(unsafe) private var threadID: pthread_t = 0

    // Loop-thread-only state.
    // `@exclusivity(unchecked)` here and below: see docs/dev-notes/exclusivity.md (no access to these
    // properties may span a call that can reach back into this object; each such access is audited).
    @exclusivity(unchecked) private var handlers: [EventLoopHandler?] = []
    /// Whether each registered descriptor is watched edge-triggered (see `register`); as long as `handlers`.
    @exclusivity(unchecked) private var edgeTriggeredFDs: [Bool] = []
    /// Each registration's tag, sent with its events (`epoll_data`): an event of a batch whose descriptor
    /// was closed, and its number reused by a new registration, earlier in the same batch, carries the old
    /// tag and is dropped rather than handed to the new handler.
    @exclusivity(unchecked) private var registrationTags: [UInt32] = []
    @exclusivity(unchecked) private var lastRegistrationTag: UInt32 = 0
    @exclusivity(unchecked) private var tickers: [ObjectIdentifier: EventLoopHandler] = [:]
    @exclusivity(unchecked) private var timers = TimerHeap()
    /// The other half of the job queue's double buffer (loop thread only).
    @exclusivity(unchecked) private var spare: [Work] = []
    /// Counts the loop's polls. Something that was quiet at iteration `i` and is looked at in a later one
    /// has been through an `epoll_wait` since, and its handler has run if that wait reported it.
    @exclusivity(unchecked) private(set) var iteration: UInt64 = 0
    /// Per descriptor, the last iteration whose poll reported it. Set for the whole batch before any
    /// handler runs, so a handler can tell that another descriptor has an event still to be handled.
    @exclusivity(unchecked) private var reportedAt: [UInt64] = []

    /// Whether this iteration's poll reported `fd` (its handler may not have run yet). Loop thread only.
    func isReportedNow(_ fd: Int32) -> Bool { Int(fd) < reportedAt.count && reportedAt[Int(fd)] == iteration }
    /// The last iteration whose `epoll_wait` returned as many events as it could take: the kernel may have
    /// kept more ready descriptors back, so "not reported since" did not mean "nothing to report" then.
    @exclusivity(unchecked) private(set) var lastFullPoll: UInt64 = 0
    @exclusivity(unchecked) private var lastTick: UInt64 = 0
    /// The monotonic time (of `clock`) at the start of this iteration; cheap to read on the loop thread.
    /// What the loop's timers, ticks, connection deadlines, pool idle expiry and upstream latencies use.
    @exclusivity(unchecked) private(set) var now: UInt64
    /// The access log stream on this loop: lines batched per iteration (see `LogBuffer`).
    let log: LogBuffer
    /// The application log (the group's `LogStreams.application`). Any thread.
    public let logger: Logger
    /// The clock this loop decides with (injected; a `ManualClock` in tests), and its wall time as text.
    public let clock: LoopClock
    /// Requests on this loop that took a Swift task (a suspending stage, a composite endpoint, a plain
    /// handler); proxy routes behind synchronous stages take none. Loop thread only.
    @exclusivity(unchecked) public internal(set) var requestTasksStarted: UInt64 = 0
    /// One scratch buffer for every read on this loop, so idle connections hold no read memory.
    let readScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    init(index: Int, clock: any GatewayClock = SystemClock(), logging: LogStreams = .standard) throws {
        self.index = index
        let loopClock = LoopClock(source: clock)
        self.clock = loopClock
        now = clock.monotonicNanoseconds()
        log = LogBuffer(writer: logging.access, clock: loopClock)
        logger = logging.application
        epollFD = try Syscall.epollCreate()
        wakeFD = try Syscall.eventFD()
        try Syscall.epollControl(epollFD, EPOLL_CTL_ADD, wakeFD, events: EPOLLIN.rawValue)
    }

    /// Whether the caller runs on this loop's thread.
    public var inEventLoop: Bool { pthread_equal(pthread_self(), threadID) != 0 }

    // MARK: Scheduling work

    public func enqueue(_ job: consuming ExecutorJob) {
        submit(.job(UnownedJob(job)))
    }

    /// Runs `work` on the loop's thread, later (never inline).
    public func execute(_ work: @escaping @Sendable () -> Void) {
        submit(.closure(work))
    }

    /// Runs `work` on the loop's thread, later; false (and `work` never runs) if the loop has finished.
    /// For work whose caller waits on it and must not wait forever.
    func executeIfRunning(_ work: @escaping @Sendable () -> Void) -> Bool {
        submit(.closure(work))
    }

    @discardableResult
    private func submit(_ work: Work) -> Bool {
        let (accepted, wasEmpty) = queue.withLock { q -> (Bool, Bool) in
            guard !q.finished else { return (false, false) }
            q.work.append(work)
            return (true, q.work.count == 1)
        }
        if wasEmpty && !inEventLoop { wake() }
        return accepted
    }

    /// Runs `body` on the loop and waits for its result; nil if the loop has finished (its thread is gone,
    /// so nothing it owns can be reached any more). For shutdown paths, never on a loop thread.
    func tryExecute<T: Sendable>(sync body: @escaping @Sendable () -> T) -> T? {
        precondition(!inEventLoop, "tryExecute(sync:) on the loop's own thread would deadlock")
        let box = Mutex<T?>(nil)
        let done = DispatchSemaphoreLite()
        guard submit(.closure({
            let r = body()
            box.withLock { $0 = r }
            done.signal()
        })) else { return nil }
        done.wait()
        return box.withLock { $0 }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = try? Syscall.write(wakeFD, &one, 8)
    }

    /// Calls `callback` on the loop thread at `deadline` (monotonic ns) unless the handle is cancelled first.
    @discardableResult
    func schedule(at deadline: UInt64, _ callback: @escaping () -> Void) -> TimerHandle {
        precondition(inEventLoop)
        return timers.insert(deadline: deadline, callback)
    }

    // MARK: Registration (loop thread)

    /// Watches `fd` for `events`. `edgeTriggered`: reported once per change (`EPOLLET`, for this and every
    /// later `modify`), as nginx watches its sockets; the handler must then read until a short read or
    /// `EAGAIN` (and past a short read when the event says the peer hung up), and learns of a hang-up only
    /// from the event that reports it. Level-triggered, a readable socket is reported again on every
    /// `epoll_wait` after its handler ran, which costs the kernel a second poll of each busy socket.
    func register(_ fd: Int32, _ handler: EventLoopHandler, events: UInt32, edgeTriggered: Bool = false) throws {
        if Int(fd) >= handlers.count {
            let more = Int(fd) + 1 - handlers.count + 64
            handlers.append(contentsOf: repeatElement(nil, count: more))
            edgeTriggeredFDs.append(contentsOf: repeatElement(false, count: more))
            registrationTags.append(contentsOf: repeatElement(0, count: more))
        }
        lastRegistrationTag = lastRegistrationTag == UInt32.max ? 1 : lastRegistrationTag + 1
        try Syscall.epollControl(epollFD, EPOLL_CTL_ADD, fd, events: edgeTriggered ? events | EPOLLET.rawValue : events,
                                 tag: lastRegistrationTag)
        handlers[Int(fd)] = handler
        edgeTriggeredFDs[Int(fd)] = edgeTriggered
        registrationTags[Int(fd)] = lastRegistrationTag
        tickers[ObjectIdentifier(handler)] = handler
    }

    func modify(_ fd: Int32, events: UInt32) {
        let known = Int(fd) < edgeTriggeredFDs.count
        let edge = known && edgeTriggeredFDs[Int(fd)]
        try? Syscall.epollControl(epollFD, EPOLL_CTL_MOD, fd, events: edge ? events | EPOLLET.rawValue : events,
                                  tag: known ? registrationTags[Int(fd)] : 0)
    }

    /// Removes `fd` and closes it.
    func deregisterAndClose(_ fd: Int32, _ handler: EventLoopHandler) {
        _ = try? Syscall.epollControl(epollFD, EPOLL_CTL_DEL, fd, events: 0)
        if Int(fd) < handlers.count {
            handlers[Int(fd)] = nil
            edgeTriggeredFDs[Int(fd)] = false
            registrationTags[Int(fd)] = 0
        }
        tickers[ObjectIdentifier(handler)] = nil
        Syscall.close(fd)
    }

    /// Adds a handler that has no descriptor of its own but wants `tick` (a pool's idle expiry).
    func addTicker(_ handler: EventLoopHandler) { tickers[ObjectIdentifier(handler)] = handler }

    /// Stops calling `tick` on a handler `addTicker` added.
    func removeTicker(_ handler: EventLoopHandler) { tickers[ObjectIdentifier(handler)] = nil }


    // MARK: Running

    func stop() {
        stopped.store(true, ordering: .releasing)
        wake()
    }

    func run() {
        threadID = pthread_self()
        let maxEvents: Int32 = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(maxEvents))
        defer { events.deallocate() }
        while !stopped.load(ordering: .acquiring) {
            let pending = queue.withLock { !$0.work.isEmpty }
            var timeout: Int32 = 50
            if pending {
                timeout = 0
            } else if let next = timers.nextDeadline {
                let nowNs = source.monotonicNanoseconds()
                timeout = next <= nowNs ? 0 : Int32(min(50, (next - nowNs) / 1_000_000 + 1))
            }
            let n = Syscall.epollWait(epollFD, events, maxEvents, timeoutMilliseconds: timeout)
            now = source.monotonicNanoseconds()
            iteration &+= 1
            if n == maxEvents { lastFullPoll = iteration }
            for i in 0..<n {
                let fd = Int(events[i].data.u64 & 0xFFFF_FFFF)
                if fd >= reportedAt.count { reportedAt.append(contentsOf: repeatElement(0, count: fd + 1 - reportedAt.count + 64)) }
                reportedAt[fd] = iteration
            }
            for i in 0..<n {
                let data = events[i].data.u64
                let fd = Int32(truncatingIfNeeded: data & 0xFFFF_FFFF)
                let ev = events[i].events
                if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = try? Syscall.read(wakeFD, &value, 8)
                } else if Int(fd) < handlers.count, let handler = handlers[Int(fd)],
                          registrationTags[Int(fd)] == UInt32(truncatingIfNeeded: data >> 32) {
                    handler.handleEvents(ev)
                }
            }
            runDeferredFlushes()
            runQueuedWork()
            if timers.nextDeadline != nil {
                now = source.monotonicNanoseconds()
                while let callback = timers.popDue(upTo: now) { callback() }
            }
            runDeferredFlushes()
            if now &- lastTick >= Self.tickInterval {
                lastTick = now
                for handler in Array(tickers.values) { handler.tick(now: now) }
            }
            log.flush()
        }
        // Work submitted until now still runs (a `tryExecute(sync:)` caller is waiting on it); later
        // submissions are refused.
        queue.withLock { $0.finished = true }
        runQueuedWork()
        runDeferredFlushes()
        log.flush()
    }

    /// The injected clock, read without the `LoopClock` hop.
    private var source: any GatewayClock { clock.source }

    /// Connections with output queued in this batch (see `flushAfterEvents`), and a spare list.
    @exclusivity(unchecked) private var deferredFlushes: [any DeferredFlush] = []
    @exclusivity(unchecked) private var spareFlushes: [any DeferredFlush] = []

    /// Writes `connection`'s queued output after the events of this batch are handled, rather than at
    /// once. The sends of a batch then go out together: a peer woken by the first (the client, the
    /// upstream) is still waking when the next ones arrive, instead of going back to sleep between two
    /// sends spread over the batch and being woken again. A wake-up of a sleeping peer is the costly part
    /// of a send on loopback; nginx's batches wake its peers three times less often per request. Once per
    /// batch per connection (the caller remembers it asked). Loop thread only.
    func flushAfterEvents(_ connection: any DeferredFlush) {
        deferredFlushes.append(connection)
    }

    private func runDeferredFlushes() {
        // A flush may queue more (a pipelined request answered at once): rounds until none is left.
        while !deferredFlushes.isEmpty {
            var batch = spareFlushes
            spareFlushes = []
            swap(&batch, &deferredFlushes)
            for connection in batch { connection.flushDeferred() }
            batch.removeAll(keepingCapacity: true)
            spareFlushes = batch
        }
    }

    private func runQueuedWork() {
        // A few rounds, so work queued by work (a task resumed by a reply) runs before the next epoll_wait.
        for _ in 0..<4 {
            // Swap the queue with an empty spare under the lock: no allocation per round.
            var batch = spare
            spare = []
            queue.withLock { q in swap(&q.work, &batch) }
            if batch.isEmpty {
                spare = batch
                return
            }
            let executor = asUnownedTaskExecutor()
            for work in batch {
                switch work {
                case .job(let job): job.runSynchronously(on: executor)
                case .closure(let closure): closure()
                }
            }
            batch.removeAll(keepingCapacity: true)
            spare = batch
        }
    }
}

/// A cancellable one-shot timer.
final class TimerHandle {
    fileprivate(set) var cancelled = false
    fileprivate var callback: (() -> Void)?
    fileprivate init(_ callback: @escaping () -> Void) { self.callback = callback }
    func cancel() {
        cancelled = true
        callback = nil
    }
}

/// A binary min-heap of timers; cancelled ones are dropped when they reach the top.
struct TimerHeap {
    private var items: [(deadline: UInt64, seq: UInt64, handle: TimerHandle)] = []
    private var seq: UInt64 = 0

    var nextDeadline: UInt64? {
        mutating get {
            while let top = items.first, top.handle.cancelled { popTop() }
            return items.first?.deadline
        }
    }

    /// The size at which the heap next drops its cancelled entries. A cancelled timer stays in the heap
    /// until it reaches the top, which for a long deadline cancelled early (a composite request's, a
    /// route's `timeoutMs`) is long after: without compaction the heap would grow with the request rate
    /// times the deadline. Compacting at twice the size that survived the last compaction keeps it within
    /// twice the live timers (at least `minimumCompactionSize`), at amortised O(1) per insert.
    private var compactAt = TimerHeap.minimumCompactionSize
    static let minimumCompactionSize = 4096

    /// Timers in the heap, cancelled ones not yet dropped included (for tests).
    var count: Int { items.count }

    mutating func insert(deadline: UInt64, _ callback: @escaping () -> Void) -> TimerHandle {
        if items.count >= compactAt { compact() }
        let handle = TimerHandle(callback)
        seq += 1
        items.append((deadline, seq, handle))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if less(i, parent) { items.swapAt(i, parent); i = parent } else { break }
        }
        return handle
    }

    /// Removes the next timer due by `now` and returns its callback (the timer then counts as cancelled),
    /// nil when none is due. The caller runs it after this returns: a callback may schedule or cancel
    /// timers, which it could not do while the heap is being modified (an exclusivity violation).
    mutating func popDue(upTo now: UInt64) -> (() -> Void)? {
        while let top = items.first, top.deadline <= now || top.handle.cancelled {
            popTop()
            if !top.handle.cancelled, let cb = top.handle.callback {
                top.handle.cancel()
                return cb
            }
        }
        return nil
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        items[a].deadline < items[b].deadline || (items[a].deadline == items[b].deadline && items[a].seq < items[b].seq)
    }

    /// Drops every cancelled entry and restores the heap order (bottom-up, O(n)).
    private mutating func compact() {
        items.removeAll { $0.handle.cancelled }
        if items.count > 1 {
            for start in stride(from: items.count / 2 - 1, through: 0, by: -1) { siftDown(start) }
        }
        compactAt = max(TimerHeap.minimumCompactionSize, items.count * 2)
    }

    private mutating func siftDown(_ index: Int) {
        var i = index
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && less(l, m) { m = l }
            if r < items.count && less(r, m) { m = r }
            if m == i { return }
            items.swapAt(i, m)
            i = m
        }
    }

    private mutating func popTop() {
        items.swapAt(0, items.count - 1)
        items.removeLast()
        siftDown(0)
    }
}
