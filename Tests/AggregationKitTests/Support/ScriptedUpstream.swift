import Foundation
import Synchronization
@testable import AggregationKit

/// A raw-socket upstream that answers each request with a script of byte writes and pauses, for
/// upstreams that misbehave in ways a real server would not: bytes after a complete response, bad
/// status lines, odd framing. One blocking thread per connection; requests without a body or with a
/// `Content-Length` body.
final class ScriptedUpstream: @unchecked Sendable {
    struct Request: Sendable {
        let method: String
        let target: String
        /// Lower-cased names.
        let headers: [(name: String, value: String)]
        let connection: Int
        func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
    }

    enum Step: Sendable {
        case send([UInt8])
        case pause(milliseconds: Int)
        /// Close the connection (and stop reading it).
        case close

        static func send(_ text: String) -> Step { .send(Array(text.utf8)) }
    }

    let port: Int
    private let listener: Int32
    private let script: @Sendable (Request) -> [Step]
    private let stopped = Atomic<Bool>(false)
    private let state = Mutex<(accepted: Int, closedByPeer: Int, requests: [Request])>((0, 0, []))

    init(_ script: @escaping @Sendable (Request) -> [Step]) throws {
        self.script = script
        (listener, port) = try loopbackListener()
        Thread { [self] in acceptLoop() }.start()
    }

    /// Connections accepted so far.
    var accepted: Int { state.withLock { $0.accepted } }
    /// Connections the gateway closed (end of file or reset) while we waited for a request.
    var closedByPeer: Int { state.withLock { $0.closedByPeer } }
    var requests: [Request] { state.withLock { $0.requests } }

    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }

    private func acceptLoop() {
        var number = 0
        while !stopped.load(ordering: .acquiring) {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, 4)
            number += 1
            let connection = number
            state.withLock { $0.accepted += 1 }
            Thread { [self] in serve(fd, connection: connection) }.start()
        }
    }

    private func serve(_ fd: Int32, connection: Int) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            // One request head (and its Content-Length body, if any).
            var request: (Request, Int)? = nil
            while request == nil {
                request = Self.parse(buffer, connection: connection)
                if request != nil { break }
                let n = recv(fd, &chunk, chunk.count, 0)
                if n <= 0 {
                    // A close with unread bytes in the gateway's buffer arrives as a reset.
                    if n == 0 || errno == ECONNRESET { state.withLock { $0.closedByPeer += 1 } }
                    return
                }
                buffer.append(contentsOf: chunk[0..<n])
            }
            let (req, consumed) = request!
            buffer.removeFirst(consumed)
            state.withLock { $0.requests.append(req) }
            for step in script(req) {
                switch step {
                case .send(let bytes): sendAll(bytes, to: fd)
                case .pause(let ms): usleep(useconds_t(ms * 1000))
                case .close: return
                }
            }
        }
    }

    /// A request head plus its body, and how many bytes they took; nil if incomplete.
    private static func parse(_ buffer: [UInt8], connection: Int) -> (Request, Int)? {
        guard buffer.count >= 4 else { return nil }
        var end = -1
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            end = i
            break
        }
        guard end >= 0 else { return nil }
        let lines = String(decoding: buffer[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let length = headers.first { $0.name == "content-length" }.flatMap { Int($0.value) } ?? 0
        guard buffer.count >= end + 4 + length else { return nil }
        let request = Request(method: parts.count > 0 ? String(parts[0]) : "", target: parts.count > 1 ? String(parts[1]) : "",
                              headers: headers, connection: connection)
        return (request, end + 4 + length)
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` seconds pass (the machine is loaded:
/// give it time, never decide on one short sleep).
func eventually(timeout: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// A listening TCP socket on 127.0.0.1 at a free port, for the raw-socket peers of the tests.
/// `receiveBuffer`: SO_RCVBUF, inherited by accepted sockets.
func loopbackListener(backlog: Int32 = 128, receiveBuffer: Int32? = nil) throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
    if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, 4) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard bound == 0, listen(fd, backlog) == 0 else { close(fd); throw TestError("cannot listen") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}
