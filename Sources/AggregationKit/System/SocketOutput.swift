internal import CLinuxIO

/// Bytes waiting to go out on a non-blocking socket that a loop watches for input: written until the
/// kernel takes no more, then the loop also watches for writability until they are all out. Shared by
/// the upstream and Redis connections (the server's connection also tracks write progress for its
/// deadlines, so it keeps its own).
struct SocketOutput {
    /// Appended to by the owner; what has not been written yet starts at `offset`.
    var bytes: [UInt8] = []
    private(set) var offset = 0
    private(set) var wantsWrite = false

    /// Everything appended so far is in the kernel.
    var isDrained: Bool { offset >= bytes.count }

    /// Starts over with no bytes (keeping the buffer's capacity).
    mutating func reset() {
        // Usually empty already (`flush` empties it): `removeAll` costs some 80 instructions even then.
        if !bytes.isEmpty { bytes.removeAll(keepingCapacity: true) }
        offset = 0
    }

    /// Drops the buffer (the connection is closing).
    mutating func release() {
        bytes = []
        offset = 0
    }

    /// Writes what the kernel takes. Returns the error of a failed write (the caller closes the
    /// connection); nil when everything is out or the rest waits for writability.
    mutating func flush(_ fd: Int32, on loop: EventLoop) -> SystemError? {
        while offset < bytes.count {
            let start = offset
            let written = bytes.withUnsafeBytes { raw in
                Result { () throws(SystemError) -> Int? in try Syscall.send(fd, raw.baseAddress! + start, raw.count - start) }
            }
            let n: Int?
            switch written {
            case .success(let count): n = count
            case .failure(let error): return error
            }
            guard let n else {
                if !wantsWrite {
                    wantsWrite = true
                    loop.modify(fd, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLOUT.rawValue)
                }
                return nil
            }
            offset += n
        }
        bytes.removeAll(keepingCapacity: bytes.capacity <= 65536)
        offset = 0
        if wantsWrite {
            wantsWrite = false
            loop.modify(fd, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
        }
        return nil
    }
}
