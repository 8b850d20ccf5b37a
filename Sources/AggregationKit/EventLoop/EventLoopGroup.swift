#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A fixed set of event loops, one thread each (`--threads`, default: the number of cores).
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]
    private let nextIndex = Atomic<Int>(0)
    private let threads: Mutex<[pthread_t]> = Mutex([])

    /// Where the loops' application and access logs go.
    public let logging: LogStreams

    public init(threads count: Int, logging: LogStreams = .standard) throws {
        precondition(count > 0 && count <= PoolSlots.capacity)
        self.logging = logging
        loops = try (0..<count).map { try EventLoop(index: $0, logging: logging) }
        var started: [pthread_t] = []
        for loop in loops {
            let box = Unmanaged.passRetained(loop).toOpaque()
            var thread: pthread_t = 0
            let rc = pthread_create(&thread, nil, { arg in
                let loop = Unmanaged<EventLoop>.fromOpaque(arg!).takeRetainedValue()
                loop.run()
                return nil
            }, box)
            precondition(rc == 0, "pthread_create failed")
            started.append(thread)
        }
        threads.withLock { $0 = started }
        // Wait until every loop knows its thread, so inEventLoop is right from the first call.
        for loop in loops { while true { let done = loop.execute(sync: { true }); if done { break } } }
    }

    public static var coreCount: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// The loops in turn.
    public func next() -> EventLoop {
        loops[(nextIndex.add(1, ordering: .relaxed).oldValue) % loops.count]
    }

    /// Stops every loop and joins its thread.
    public func shutdown() {
        for loop in loops { loop.stop() }
        let ts = threads.withLock { t -> [pthread_t] in let c = t; t = []; return c }
        for t in ts { pthread_join(t, nil) }
    }
}

extension EventLoop {
    /// Runs `body` on the loop and waits for its result. For start-up and tests, never on a loop thread.
    public func execute<T: Sendable>(sync body: @escaping @Sendable () throws -> T) rethrows -> T {
        precondition(!inEventLoop, "execute(sync:) on the loop's own thread would deadlock")
        let box = Mutex<Result<T, Error>?>(nil)
        let done = DispatchSemaphoreLite()
        execute {
            let r = Result { try body() }
            box.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        let result = box.withLock { $0! }
        switch result {
        case .success(let v): return v
        case .failure(let e): try { throw e }()
        }
        fatalError("unreachable")
    }
}

/// A tiny counting semaphore on a pthread mutex and condition (no Dispatch on the hot path).
final class DispatchSemaphoreLite: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var count = 0
    init() {
        pthread_mutex_init(&mutex, nil)
        // Timed waits measure the monotonic clock (a wall-clock step must not end or stretch a drain).
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(&cond, &attributes)
        pthread_condattr_destroy(&attributes)
    }
    deinit {
        pthread_mutex_destroy(&mutex)
        pthread_cond_destroy(&cond)
    }
    func signal() {
        pthread_mutex_lock(&mutex)
        count += 1
        pthread_cond_signal(&cond)
        pthread_mutex_unlock(&mutex)
    }
    func wait() {
        pthread_mutex_lock(&mutex)
        while count == 0 { pthread_cond_wait(&cond, &mutex) }
        count -= 1
        pthread_mutex_unlock(&mutex)
    }
    /// Waits for a signal until the monotonic time `deadline` (ns); false if it passed first.
    func wait(until deadline: UInt64) -> Bool {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while count == 0 {
            if pthread_cond_timedwait(&cond, &mutex, &ts) == ETIMEDOUT { break }
        }
        guard count > 0 else { return false }
        count -= 1
        return true
    }
}
