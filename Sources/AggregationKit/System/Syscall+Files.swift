#if canImport(Glibc)
import Glibc
#endif

/// Small-file I/O for the API key store: a cheap change stamp, a lock for read-modify-write, and atomic
/// replacement. For the command line and for a loop's rare reload; never in a per-request path beyond
/// `fileStamp`'s one `stat`.
extension Syscall {
    /// `call`'s rules for these blocking file calls: `EINTR` retried, anything else thrown.
    private static func fileCall(_ name: StaticString, _ body: () -> Int) throws(SystemError) -> Int? {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = Glibc.errno
            if e == EINTR { continue }
            throw SystemError("\(name)", errno: e)
        }
    }

    /// What identifies one version of a file: inode (a rename replaces it), size and modification time
    /// to the nanosecond. nil when the file does not exist or cannot be examined.
    struct FileStamp: Equatable, Sendable {
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int64
        var modifiedNanoseconds: Int64
    }

    static func fileStamp(_ path: String) -> FileStamp? {
        var info = stat()
        guard (try? fileCall("stat", { Int(stat(path, &info)) })) != nil else { return nil }
        return FileStamp(inode: UInt64(info.st_ino), size: Int64(info.st_size),
                         modifiedSeconds: Int64(info.st_mtim.tv_sec), modifiedNanoseconds: Int64(info.st_mtim.tv_nsec))
    }

    /// Runs `body` holding an exclusive `flock` on `lockPath` (created 0600 if missing): two command-line
    /// runs editing one key file never lose each other's change.
    static func withExclusiveLock<T>(_ lockPath: String, _ body: () throws -> T) throws -> T {
        guard let fd = try fileCall("open", { Int(Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)) }) else {
            throw SystemError("open", errno: EAGAIN)
        }
        defer { Glibc.close(Int32(fd)) }
        _ = try fileCall("flock") { Int(flock(Int32(fd), LOCK_EX)) }
        return try body()
    }

    /// Replaces `path` with `bytes` atomically: a temporary file beside it (mode `mode`, written and
    /// synced), then `rename`. A reader sees the old file or the new one, never a part.
    static func replaceFile(_ path: String, with bytes: [UInt8], mode: mode_t) throws {
        let temporary = "\(path).tmp.\(getpid())"
        guard let raw = try fileCall("open", { Int(Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) }) else {
            throw SystemError("open", errno: EAGAIN)
        }
        let fd = Int32(raw)
        var open = true
        do {
            // open's mode is filtered by the umask; the key file's mode must not be.
            _ = try fileCall("fchmod") { Int(Glibc.fchmod(fd, mode)) }
            var offset = 0
            while offset < bytes.count {
                let n = try bytes.withUnsafeBytes { (buffer) throws -> Int? in
                    try fileCall("write") { Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
                }
                guard let n, n > 0 else { throw SystemError("write", errno: EIO) }
                offset += n
            }
            _ = try fileCall("fsync") { Int(Glibc.fsync(fd)) }
            Glibc.close(fd)
            open = false
            _ = try fileCall("rename") { Int(Glibc.rename(temporary, path)) }
        } catch {
            if open { Glibc.close(fd) }
            Glibc.unlink(temporary)
            throw error
        }
    }
}
