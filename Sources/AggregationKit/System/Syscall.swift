#if canImport(Glibc)
import Glibc
#endif
internal import CLinuxIO

/// A failed system call: the function's name and errno. Safe to log; `code` is a metric label.
public struct SystemError: Error, Sendable, CustomStringConvertible, Equatable {
    public let function: String
    public let errno: Int32
    public init(_ function: String, errno: Int32) {
        self.function = function
        self.errno = errno
    }
    public var description: String { "\(function): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The one door to the kernel. Every libc call of the product goes through here: `EINTR` is retried,
/// `EAGAIN`/`EWOULDBLOCK` becomes `nil` (would block), `EBADF`/`EFAULT` trap (they mean a bug of ours),
/// anything else throws `SystemError`.
enum Syscall {
    @inline(__always)
    private static func call(_ name: StaticString, _ body: () -> Int) throws(SystemError) -> Int? {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = Glibc.errno
            switch e {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case EBADF, EFAULT: fatalError("\(name) failed with errno \(e): a bug in the gateway")
            default: throw SystemError("\(name)", errno: e)
            }
        }
    }

    static func read(_ fd: Int32, _ pointer: UnsafeMutableRawPointer, _ count: Int) throws(SystemError) -> Int? {
        try call("read") { Glibc.read(fd, pointer, count) }
    }

    /// Looks at a socket without reading from it or blocking: 1 if bytes are waiting, 0 if the peer closed
    /// (end of file), nil if nothing is pending. A pooled keep-alive connection is reused only on nil.
    static func peek(_ fd: Int32) throws(SystemError) -> Int? {
        var byte: UInt8 = 0
        return try call("recv") { Glibc.recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) }
    }

    static func send(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) throws(SystemError) -> Int? {
        try call("send") { Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL)) }
    }

    static func write(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) throws(SystemError) -> Int? {
        try call("write") { Glibc.write(fd, pointer, count) }
    }

    /// Opens (creating with mode 0640 if missing) a file for appending; the descriptor is not inherited
    /// by child processes.
    static func openForAppending(_ path: String) throws(SystemError) -> Int32 {
        guard let fd = try call("open", { Int(Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)) }) else {
            throw SystemError("open", errno: EAGAIN)
        }
        return Int32(fd)
    }

    /// Waits until `fd` is writable (or the timeout passes). For blocking helper threads, never a loop.
    static func waitWritable(_ fd: Int32, timeoutMilliseconds: Int32) {
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = try? call("poll") { Int(Glibc.poll(&p, 1, timeoutMilliseconds)) }
    }

    /// Blocks the calling thread (never a loop thread) for `nanoseconds`, resuming after signals.
    static func sleep(nanoseconds: UInt64) {
        var remaining = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var left = timespec()
        while nanosleep(&remaining, &left) != 0 && Glibc.errno == EINTR { remaining = left }
    }

    /// Raises the soft limit on open descriptors to the hard limit; returns the soft limit in force.
    static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur >= rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// Blocks `signals` in the calling thread; threads it creates afterwards inherit the mask.
    static func blockSignals(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits for one of `signals` (blocked beforehand with `blockSignals`) and returns it.
    static func waitForSignal(_ signals: [Int32]) -> Int32 {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {}
        return received
    }

    static func close(_ fd: Int32) {
        // close() must not be retried on EINTR on Linux: the descriptor is gone either way.
        _ = Glibc.close(fd)
    }

    static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    static func socket(domain: Int32, type: Int32) throws(SystemError) -> Int32 {
        Int32(try call("socket") { Int(Glibc.socket(domain, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)) }!)
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        var v = value
        _ = try call("setsockopt") { Int(setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))) }
    }

    /// SO_LINGER with a zero timeout: the next close resets the connection and discards unsent data.
    static func setLingerZero(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
    }

    static func socketError(_ fd: Int32) -> Int32 {
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        return err
    }

    static func bind(_ fd: Int32, _ address: SocketAddress) throws(SystemError) {
        _ = try address.withSockAddr { (p, len) throws(SystemError) in
            try call("bind") { Int(Glibc.bind(fd, p, len)) }
        }
    }

    static func listen(_ fd: Int32, backlog: Int32) throws(SystemError) {
        _ = try call("listen") { Int(Glibc.listen(fd, backlog)) }
    }

    /// Starts a non-blocking connect; returns true if it completed at once, false if in progress.
    static func connect(_ fd: Int32, _ address: SocketAddress) throws(SystemError) -> Bool {
        while true {
            let r = address.withSockAddr { (p, len) in Glibc.connect(fd, p, len) }
            if r == 0 { return true }
            let e = Glibc.errno
            if e == EINTR { continue }
            if e == EINPROGRESS { return false }
            throw SystemError("connect", errno: e)
        }
    }

    /// Accepts one connection, non-blocking and close-on-exec; nil when none is waiting.
    static func accept(_ fd: Int32) throws(SystemError) -> (Int32, SocketAddress)? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = try withUnsafeMutablePointer(to: &storage) { p throws(SystemError) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp throws(SystemError) in
                try call("accept4") { Int(accept4(fd, sp, &len, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))) }
            }
        }
        guard let r else { return nil }
        return (Int32(r), SocketAddress(storage: storage, length: len))
    }

    static func localAddress(_ fd: Int32) throws(SystemError) -> SocketAddress {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { p throws(SystemError) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp throws(SystemError) in
                try call("getsockname") { Int(getsockname(fd, sp, &len)) }
            }
        }
        return SocketAddress(storage: storage, length: len)
    }

    // epoll and eventfd, from CLinuxIO.
    static func epollCreate() throws(SystemError) -> Int32 {
        Int32(try call("epoll_create1") { Int(epoll_create1(Int32(EPOLL_CLOEXEC))) }!)
    }

    /// `tag` travels with the descriptor's events, in the high half of `data.u64` (the low half is `fd`).
    static func epollControl(_ epfd: Int32, _ op: Int32, _ fd: Int32, events: UInt32, tag: UInt32 = 0) throws(SystemError) {
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = UInt64(UInt32(bitPattern: fd)) | UInt64(tag) << 32
        _ = try call("epoll_ctl") { Int(epoll_ctl(epfd, op, fd, &ev)) }
    }

    static func epollWait(_ epfd: Int32, _ events: UnsafeMutablePointer<epoll_event>, _ max: Int32, timeoutMilliseconds: Int32) -> Int {
        let r = epoll_wait(epfd, events, max, timeoutMilliseconds)
        if r < 0 {
            if Glibc.errno == EINTR { return 0 }
            fatalError("epoll_wait failed: errno \(Glibc.errno)")
        }
        return Int(r)
    }

    static func eventFD() throws(SystemError) -> Int32 {
        Int32(try call("eventfd") { Int(eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))) }!)
    }

    /// Nanoseconds on the monotonic clock.
    @inline(__always) static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

public enum MonotonicClock {
    /// Nanoseconds on the monotonic clock: the `now` the gateway's state machines are given.
    public static func now() -> UInt64 { Syscall.monotonicNanoseconds() }
}
