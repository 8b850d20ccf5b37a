import Foundation
import Synchronization
@testable import AggregationKit

/// A raw-socket "Redis" on 127.0.0.1 that answers every command with whatever bytes the test sets
/// (`reply`): wrong types, wrong shapes, broken RESP, silence. Speaks just enough to be used with
/// `preferRESP3: false` and no password (the client then sends no handshake). One blocking thread per
/// connection.
final class HostileRedis: @unchecked Sendable {
    enum Answer: Sendable {
        case bytes([UInt8])
        /// Close the connection without answering.
        case close
        /// Say nothing (the client's timeout must end the call).
        case silence
    }

    let port: Int
    private let listener: Int32
    private let stopped = Atomic<Bool>(false)
    private let answer = Mutex<Answer>(.bytes(Array("+OK\r\n".utf8)))
    private let received = Mutex<[[String]]>([])

    init() throws {
        (listener, port) = try loopbackListener()
        Thread { [self] in acceptLoop() }.start()
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    /// What every following command gets.
    func reply(_ answer: Answer) { self.answer.withLock { $0 = answer } }
    func reply(_ text: String) { reply(.bytes(Array(text.utf8))) }

    /// Commands received so far (arguments as text).
    var commands: [[String]] { received.withLock { $0 } }

    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }

    private func acceptLoop() {
        while !stopped.load(ordering: .acquiring) {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            Thread { [self] in serve(fd) }.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            while let (command, consumed) = Self.parseCommand(buffer) {
                buffer.removeFirst(consumed)
                received.withLock { $0.append(command) }
                switch answer.withLock({ $0 }) {
                case .bytes(let bytes): sendAll(bytes, to: fd)
                case .close: return
                case .silence: break
                }
            }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// One RESP array of bulk strings (what the client sends) and its length; nil if incomplete.
    static func parseCommand(_ b: [UInt8]) -> ([String], Int)? {
        func line(from i: Int) -> (String, Int)? {
            var j = i
            while j + 1 < b.count {
                if b[j] == 13 && b[j + 1] == 10 { return (String(decoding: b[i..<j], as: UTF8.self), j + 2) }
                j += 1
            }
            return nil
        }
        guard let (head, afterHead) = line(from: 0), head.first == "*", let count = Int(head.dropFirst()) else { return nil }
        var position = afterHead
        var arguments: [String] = []
        for _ in 0..<count {
            guard let (size, afterSize) = line(from: position), size.first == "$", let length = Int(size.dropFirst()),
                  afterSize + length + 2 <= b.count else { return nil }
            arguments.append(String(decoding: b[afterSize..<(afterSize + length)], as: UTF8.self))
            position = afterSize + length + 2
        }
        return (arguments, position)
    }
}

/// RESP2 encodings for the hostile replies.
enum RESP {
    static func bulk(_ s: String) -> String { "$\(s.utf8.count)\r\n\(s)\r\n" }
    static func array(_ items: [String]) -> String { "*\(items.count)\r\n" + items.joined() }
    /// A session record as the scripts return it, with fields to tamper with.
    static func record(id: String = "s1", subject: String = "alice", roles: String = "[\"user\"]", client: String = "web",
                       userAgent: String = "UA", created: String = "1000", refreshed: String = "1000", expires: String = "5000") -> String {
        array([id, subject, roles, client, userAgent, created, refreshed, expires].map(bulk))
    }
}
