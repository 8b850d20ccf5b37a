/// A loop's buffered writer to standard output: lines are appended during an iteration and written
/// together at its end. Bounded: past `limit` bytes, lines are dropped and counted.
final class LogBuffer {
    private var bytes: [UInt8] = []
    let limit = 1 << 20
    private(set) var dropped = 0
    nonisolated(unsafe) static var enabled = true

    /// Past this many bytes the buffer is written out at once rather than at the end of the iteration.
    let flushThreshold: Int

    init(flushThreshold: Int = 65536) {
        self.flushThreshold = flushThreshold
        bytes.reserveCapacity(16384)
    }

    var bufferedBytes: Int { bytes.count }

    func append(_ line: String) {
        guard Self.enabled else { return }
        if bytes.count + line.utf8.count + 1 > limit {
            dropped += 1
            return
        }
        bytes.append(contentsOf: line.utf8)
        bytes.append(10)
        if bytes.count > flushThreshold { flush() }
    }

    func flush() {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                guard let n = try? Syscall.write(1, raw.baseAddress! + offset, raw.count - offset), n > 0 else { break }
                offset += n
            }
        }
        bytes.removeAll(keepingCapacity: true)
    }
}
