#if canImport(Glibc)
import Glibc
#endif

/// What the process metrics read from the kernel at a scrape (never on a loop's hot path): small
/// `/proc` files, a directory count, resource limits and usage. Failures give nil: a metric left out
/// of one scrape is better than a failed scrape.
extension Syscall {
    /// The whole of a small file (at most `limit` bytes), or nil if it cannot be read.
    static func readSmallFile(_ path: String, limit: Int = 65536) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit)
        var filled = 0
        while filled < limit {
            let n = bytes.withUnsafeMutableBytes { buffer in
                try? read(fd, buffer.baseAddress! + filled, limit - filled)
            }
            guard let n else { return nil }
            if n == 0 { break }
            filled += n
        }
        bytes.removeSubrange(filled...)
        return bytes
    }

    /// The entries of a directory other than `.` and `..` (and the descriptor used to list it, when the
    /// directory is `/proc/self/fd`), or nil if it cannot be listed.
    static func countDirectoryEntries(_ path: String) -> Int? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        let own = String(dirfd(dir))
        var count = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." || (path == "/proc/self/fd" && name == own) { continue }
            count += 1
        }
        return count
    }

    /// The soft limit on open descriptors (`RLIMIT_NOFILE`), or nil when unlimited or unknown.
    static func descriptorLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return limit.rlim_cur >= rlim_t(Int.max) ? nil : Int(limit.rlim_cur)
    }

    /// User plus system CPU time of the whole process, in seconds.
    static func processCPUSeconds() -> Double? {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return nil }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static var pageSize: Int { sysconf(Int32(_SC_PAGESIZE)) }
    static var clockTicksPerSecond: Int { sysconf(Int32(_SC_CLK_TCK)) }

    /// Seconds since the Unix epoch on the wall clock.
    static func wallSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1_000_000_000
    }
}
