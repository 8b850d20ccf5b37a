/// The standard process metrics, under the names the Prometheus client libraries use, read at each
/// scrape from `/proc` and the resource calls (nothing is kept up to date in between):
///
/// | metric | source |
/// | --- | --- |
/// | `process_cpu_seconds_total` | `getrusage(RUSAGE_SELF)`: user + system |
/// | `process_resident_memory_bytes` | `/proc/self/statm` field 2 × page size |
/// | `process_virtual_memory_bytes` | `/proc/self/statm` field 1 × page size |
/// | `process_open_fds` | entries of `/proc/self/fd` |
/// | `process_max_fds` | `RLIMIT_NOFILE` soft limit |
/// | `process_start_time_seconds` | `/proc/self/stat` start time (ticks after boot) + `btime` of `/proc/stat` |
///
/// A value that cannot be read is left out of that scrape.
public enum ProcessMetrics {
    /// Registers the process families in `registry`.
    public static func register(in registry: MetricsRegistry) throws(MetricsRegistrationError) {
        let startTime = readStartTime() ?? Syscall.wallSeconds()
        try registry.counter("process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.") {
            Syscall.processCPUSeconds().map { [MetricSample([], $0)] } ?? []
        }
        try registry.gauge("process_resident_memory_bytes", help: "Resident memory size in bytes.") {
            readMemory().map { [MetricSample([], Double($0.resident))] } ?? []
        }
        try registry.gauge("process_virtual_memory_bytes", help: "Virtual memory size in bytes.") {
            readMemory().map { [MetricSample([], Double($0.virtual))] } ?? []
        }
        try registry.gauge("process_open_fds", help: "Number of open file descriptors.") {
            Syscall.countDirectoryEntries("/proc/self/fd").map { [MetricSample([], Double($0))] } ?? []
        }
        try registry.gauge("process_max_fds", help: "Maximum number of open file descriptors.") {
            Syscall.descriptorLimit().map { [MetricSample([], Double($0))] } ?? []
        }
        try registry.gauge("process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.") {
            [MetricSample([], startTime)]
        }
    }

    static func readMemory() -> (virtual: Int, resident: Int)? {
        guard let statm = Syscall.readSmallFile("/proc/self/statm") else { return nil }
        return parseStatm(statm, pageSize: Syscall.pageSize)
    }

    static func readStartTime() -> Double? {
        guard let stat = Syscall.readSmallFile("/proc/self/stat"),
              let system = Syscall.readSmallFile("/proc/stat", limit: 1 << 20) else { return nil }
        return parseStartTime(processStat: stat, systemStat: system, ticksPerSecond: Syscall.clockTicksPerSecond)
    }

    /// Virtual and resident bytes from `/proc/self/statm` ("size resident shared text lib data dt", in pages).
    static func parseStatm(_ bytes: [UInt8], pageSize: Int) -> (virtual: Int, resident: Int)? {
        let fields = bytes.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") })
        guard fields.count >= 2, let size = Int(String(decoding: fields[0], as: UTF8.self)),
              let resident = Int(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return (size * pageSize, resident * pageSize)
    }

    /// The process start as seconds since the epoch: `starttime` (field 22 of `/proc/self/stat`, clock
    /// ticks after boot) over the tick rate, plus the boot time (`btime` in `/proc/stat`). The command
    /// name (field 2) is in parentheses and may hold spaces and parentheses, so fields are counted after
    /// the last `)`.
    static func parseStartTime(processStat: [UInt8], systemStat: [UInt8], ticksPerSecond: Int) -> Double? {
        guard ticksPerSecond > 0, let close = processStat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let after = processStat[(close + 1)...].split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") })
        // after[0] is field 3 (state), so field 22 is after[19].
        guard after.count > 19, let ticks = UInt64(String(decoding: after[19], as: UTF8.self)) else { return nil }
        var bootTime: UInt64?
        for line in systemStat.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("btime ".utf8)) {
            bootTime = UInt64(String(decoding: line.dropFirst(6), as: UTF8.self).trimmingSpaces)
        }
        guard let bootTime else { return nil }
        return Double(bootTime) + Double(ticks) / Double(ticksPerSecond)
    }
}

private extension String {
    var trimmingSpaces: String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " || $0 == "\r" }).reversed())
    }
}
