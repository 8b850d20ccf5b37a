#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Writes log lines to a descriptor from a thread of its own, so no event loop ever blocks on a full pipe
/// (a stuck log shipper, a container log driver that stopped reading).
///
///     loop ─▶ LogBuffer (per loop, one iteration) ─▶ submit ─▶ bounded queue ─▶ writer thread ─▶ write(fd)
///                                                           └─ full: lines dropped and counted
///
/// The queue holds at most `capacity` bytes. A batch that does not fit is dropped whole and its lines are
/// counted in `droppedLines`; once the writer catches up it writes one warning line with the number
/// dropped since the last such warning, so a gap in the log is never silent.
public final class LogWriter: @unchecked Sendable {
    /// Standard output, shared by every loop and the command line.
    public static let standardOutput = LogWriter(fd: 1)

    public let fd: Int32
    public let capacity: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let idle = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    private var queued: [UInt8] = []
    private var writing = false
    private var droppedSinceWarning = 0
    private var started = false
    private let dropped = Atomic<Int>(0)

    public init(fd: Int32, capacity: Int = 4 << 20) {
        self.fd = fd
        self.capacity = capacity
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(idle, nil)
    }

    /// Lines dropped because the queue was full, since the start.
    public var droppedLines: Int { dropped.load(ordering: .relaxed) }

    /// Queues `bytes` (`lines` complete lines). Never blocks on the descriptor; returns false when the
    /// batch was dropped.
    @discardableResult
    public func submit(_ bytes: UnsafeRawBufferPointer, lines: Int) -> Bool {
        guard bytes.count > 0 else { return true }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if !started {
            started = true
            startThread()
        }
        guard queued.count + bytes.count <= capacity else {
            droppedSinceWarning += lines
            dropped.add(lines, ordering: .relaxed)
            return false
        }
        queued.append(contentsOf: bytes)
        pthread_cond_signal(wake)
        return true
    }

    public func submit(line: String) {
        var text = line
        text.append("\n")
        _ = text.withUTF8 { submit(UnsafeRawBufferPointer($0), lines: 1) }
    }

    /// Queues `bytes`: `lines` complete lines, each ending in a newline.
    @discardableResult
    public func submit(_ bytes: [UInt8], lines: Int) -> Bool {
        bytes.withUnsafeBytes { submit($0, lines: lines) }
    }

    /// A writer for the file at `path`, opened for appending (created with mode 0640 if missing), so
    /// several writers and a log rotator's `copytruncate` never overwrite each other's lines. The
    /// descriptor stays open for the life of the process.
    public static func appending(toFile path: String) throws(SystemError) -> LogWriter {
        LogWriter(fd: try Syscall.openForAppending(path))
    }

    /// Waits until everything queued so far is written, or `timeout` nanoseconds pass (a reader that never
    /// reads must not keep the process from exiting). Returns whether the queue emptied.
    @discardableResult
    public func flush(timeout: UInt64) -> Bool {
        let deadline = MonotonicClock.now() + timeout
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !queued.isEmpty || writing {
            let now = MonotonicClock.now()
            guard now < deadline else { return false }
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            let wait = min(deadline - now, 50_000_000)
            ts.tv_nsec += Int(wait)
            if ts.tv_nsec >= 1_000_000_000 { ts.tv_sec += 1; ts.tv_nsec -= 1_000_000_000 }
            pthread_cond_timedwait(idle, mutex, &ts)
        }
        return true
    }

    private func startThread() {
        var thread: pthread_t = 0
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { arg in
            let writer = Unmanaged<LogWriter>.fromOpaque(arg!).takeRetainedValue()
            writer.run()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed")
        pthread_detach(thread)
    }

    private func run() {
        var batch: [UInt8] = []
        while true {
            pthread_mutex_lock(mutex)
            while queued.isEmpty {
                writing = false
                pthread_cond_broadcast(idle)
                pthread_cond_wait(wake, mutex)
            }
            writing = true
            swap(&batch, &queued)
            let lost = droppedSinceWarning
            droppedSinceWarning = 0
            pthread_mutex_unlock(mutex)
            if lost > 0 {
                writeAll(Logger.encode(level: .warning, message: "log lines dropped: the output did not keep up", requestID: nil,
                                       fields: [.int("dropped", lost)], time: LogTime.appendNow))
            }
            writeAll(batch)
            batch.removeAll(keepingCapacity: batch.capacity <= 1 << 20)
        }
    }

    /// Blocking write of every byte (this thread may block; no loop waits for it). Gives up on an error
    /// other than an interrupted or full pipe, so a closed descriptor cannot make the thread spin.
    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                do {
                    if let n = try Syscall.write(fd, raw.baseAddress! + offset, raw.count - offset) {
                        offset += n
                    } else {
                        // A non-blocking descriptor that is full: wait for it to drain.
                        Syscall.waitWritable(fd, timeoutMilliseconds: 1000)
                    }
                } catch {
                    return
                }
            }
        }
    }
}
