import XCTest
import Foundation
@testable import AggregationKit

/// The log writer against a real pipe that nobody reads: handing lines over never blocks, lines past the
/// queue's capacity are dropped and counted, and once the reader catches up the gap is reported.
final class LogWriterTests: XCTestCase {
    private func makeFullPipe() -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        // Fill the pipe until the kernel refuses more, then let the writer block on it.
        let flags = fcntl(fds[1], F_GETFL)
        _ = fcntl(fds[1], F_SETFL, flags | O_NONBLOCK)
        let chunk = [UInt8](repeating: 46, count: 4096)
        while chunk.withUnsafeBytes({ write(fds[1], $0.baseAddress!, $0.count) }) > 0 {}
        return (fds[0], fds[1])
    }

    func testSubmitNeverBlocksAndCountsWhatItDrops() throws {
        let (readEnd, writeEnd) = makeFullPipe()
        defer { close(readEnd); close(writeEnd) }
        let writer = LogWriter(fd: writeEnd, capacity: 1000)
        let line = Array(String(repeating: "x", count: 99).utf8) + [10]
        var accepted = 0
        for _ in 0..<100 {
            if line.withUnsafeBytes({ writer.submit($0, lines: 1) }) { accepted += 1 }
        }
        // The queue holds 1000 bytes; the writer thread may hold one more batch it took before blocking.
        XCTAssertLessThanOrEqual(accepted, 20)
        XCTAssertEqual(writer.droppedLines, 100 - accepted)
        XCTAssertFalse(writer.flush(timeout: 50_000_000), "nothing can be written while the pipe is full")

        // The reader catches up: everything accepted arrives, preceded by one warning with the count.
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(10)
        var buffer = [UInt8](repeating: 0, count: 65536)
        let flags = fcntl(readEnd, F_GETFL)
        _ = fcntl(readEnd, F_SETFL, flags | O_NONBLOCK)
        while Date() < deadline {
            let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress!, $0.count) }
            if n > 0 { received += buffer[0..<n] } else { usleep(2000) }
            let text = String(decoding: received.filter { $0 != 46 }, as: UTF8.self)
            if text.split(separator: "\n").count >= accepted + 1 { break }
        }
        let lines = String(decoding: received.filter { $0 != 46 }, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.filter { $0 == Substring(String(repeating: "x", count: 99)) }.count, accepted)
        let warning = try XCTUnwrap(lines.first { $0.contains("log lines dropped") })
        let entry = try JSONParser.parse(String(warning), duplicateKeys: .reject)
        XCTAssertEqual(entry["dropped"]?.numberValue?.intValue, 100 - accepted)
        XCTAssertEqual(entry["level"]?.stringValue, "warning", "the logger's level name")
        // (The pipe's filler dots are filtered out above, the time's included: only check it is there.)
        XCTAssertEqual(entry.objectValue?.keys, ["time", "level", "msg", "dropped"], "the logger's format: \(warning)")
        XCTAssertTrue(writer.flush(timeout: 5_000_000_000))
    }

    func testLoopBatchesReachTheWriterInOrder() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        let writer = LogWriter(fd: fds[1])
        let buffer = LogBuffer(writer: writer, flushThreshold: 100)
        LogBuffer.enabled = true
        defer { LogBuffer.enabled = false }
        for i in 0..<50 { buffer.append("{\"n\":\(i)}") }
        buffer.flush()
        XCTAssertTrue(writer.flush(timeout: 5_000_000_000))
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = bytes.withUnsafeMutableBytes { read(fds[0], $0.baseAddress!, $0.count) }
        let lines = String(decoding: bytes[0..<max(0, n)], as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines, (0..<50).map { Substring("{\"n\":\($0)}") })
    }
}
