/// A loop's batch of access log lines: appended during an iteration and handed to the `LogWriter`
/// together at its end (or earlier, past `flushThreshold`). Handing over never blocks: the writer's own
/// thread does the `write`, and a batch it has no room for is dropped and counted there. Loop thread only.
///
/// It is the access log stream's entry point on a loop (`loop.log`): its writer is the group's
/// `LogStreams.access` (standard output, a file from `accessLog.path`, or nil when off).
final class LogBuffer {
    private var bytes: [UInt8] = []
    private var lines = 0
    /// Where the batches go; nil: lines are discarded as they come.
    let writer: LogWriter?
    /// The loop's clock, for the `time` of entries.
    let clock: WallClock
    /// Test switch: silences every loop's buffer in the process. Production code leaves it alone (a
    /// gateway that wants no access log gets a group with `LogStreams.access == nil`).
    nonisolated(unsafe) static var enabled = true

    /// Past this many bytes the batch is handed over at once rather than at the end of the iteration.
    let flushThreshold: Int

    init(writer: LogWriter? = .standardOutput, clock: WallClock = WallClock(), flushThreshold: Int = 65536) {
        self.writer = writer
        self.clock = clock
        self.flushThreshold = flushThreshold
        if writer != nil { bytes.reserveCapacity(16384) }
    }

    var bufferedBytes: Int { bytes.count }

    /// Whether appended lines go anywhere: check before building a line.
    var isEnabled: Bool { writer != nil && Self.enabled }

    /// Appends one line that is already JSON (a newline is added).
    func append(_ line: String) {
        guard isEnabled else { return }
        bytes.append(contentsOf: line.utf8)
        bytes.append(10)
        lineAdded()
    }

    /// Appends one entry in the logger's format, encoded in place into the batch (no intermediate
    /// string): `{"time":…,"level":…,"msg":…,"request_id":…` then what `fields` writes, e.g.
    ///
    ///     loop.log.append(message: "request", requestID: id) { line in
    ///         line.field("method", method)
    ///         line.field("status", status)
    ///     }
    ///
    /// `fields` runs only when the stream is on.
    func append(level: LogLevel = .info, message: String, requestID: String?, _ fields: (inout LogLine) -> Void) {
        guard isEnabled else { return }
        var line = LogLine()
        swap(&line.bytes, &bytes)
        let clock = self.clock
        line.begin(level: level, message: message, requestID: requestID) { clock.appendISO8601(into: &$0) }
        fields(&line)
        line.end()
        swap(&line.bytes, &bytes)
        lineAdded()
    }

    private func lineAdded() {
        lines += 1
        if bytes.count > flushThreshold { flush() }
    }

    func flush() {
        guard !bytes.isEmpty, let writer else { return }
        bytes.withUnsafeBytes { _ = writer.submit($0, lines: lines) }
        bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 18)
        lines = 0
    }
}
