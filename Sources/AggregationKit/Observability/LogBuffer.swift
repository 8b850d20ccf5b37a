/// A loop's batch of log lines: appended during an iteration and handed to the `LogWriter` together at
/// its end (or earlier, past `flushThreshold`). Handing over never blocks: the writer's own thread does
/// the `write`, and a batch it has no room for is dropped and counted there. Loop thread only.
final class LogBuffer {
    private var bytes: [UInt8] = []
    private var lines = 0
    let writer: LogWriter
    nonisolated(unsafe) static var enabled = true

    /// Past this many bytes the batch is handed over at once rather than at the end of the iteration.
    let flushThreshold: Int

    init(writer: LogWriter = .standardOutput, flushThreshold: Int = 65536) {
        self.writer = writer
        self.flushThreshold = flushThreshold
        bytes.reserveCapacity(16384)
    }

    var bufferedBytes: Int { bytes.count }

    func append(_ line: String) {
        guard Self.enabled else { return }
        bytes.append(contentsOf: line.utf8)
        bytes.append(10)
        lines += 1
        if bytes.count > flushThreshold { flush() }
    }

    func flush() {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { _ = writer.submit($0, lines: lines) }
        bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 18)
        lines = 0
    }
}
