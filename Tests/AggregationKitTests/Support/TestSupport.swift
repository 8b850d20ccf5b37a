import XCTest
import Foundation
@testable import AggregationKit

/// A real downstream: `downstream.py`, a Python HTTP/1.1 server in a child process.
final class Downstream {
    let process = Process()
    let port: Int

    init() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("downstream.py")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var line = Data()
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data([10]) { break }
            line.append(byte)
        }
        guard let p = Int(String(decoding: line, as: UTF8.self)) else { throw TestError("downstream did not start") }
        port = p
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }

    deinit { if process.isRunning { stop() } }
}

/// Writes all of `bytes` to a blocking socket (stops early if the peer is gone).
func sendAll(_ bytes: [UInt8], to fd: Int32) {
    bytes.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
            let n = Glibc.send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
            if n <= 0 { return }
            off += n
        }
    }
}

struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A blocking client over a raw socket, for what `URLSession` cannot do: pipelining, byte-at-a-time
/// sends, malformed requests.
final class RawClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    /// `receiveBuffer`: a small SO_RCVBUF, set before connecting, makes a client that reads slowly (or not
    /// at all) leave the server's output waiting in user space.
    init(port: Int, timeoutSeconds: Int = 5, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw TestError("connect failed: \(errno)") }
    }

    deinit { close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }
    func send(_ bytes: [UInt8]) { sendAll(bytes, to: fd) }

    /// Reads one response (nil if the connection closed or timed out first).
    func readResponse(head: Bool = false, maxBodyBytes: Int = 1 << 20) -> HTTPResponse? {
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = maxBodyBytes
        var parser = HTTPResponseParser(limits: limits, requestWasHead: head)
        while true {
            let result = buffer.withUnsafeBytes { parser.parse($0) }
            switch result {
            case .response(let r, let consumed, _):
                buffer.removeFirst(consumed)
                return r
            case .interim(let consumed):
                buffer.removeFirst(consumed)
                return HTTPResponse(status: 100)
            case .error:
                return nil
            case .needMore:
                var chunk = [UInt8](repeating: 0, count: 65536)
                let n = recv(fd, &chunk, chunk.count, 0)
                if n <= 0 {
                    if n == 0, case .response(let r, _, _) = buffer.withUnsafeBytes({ parser.finishAtEOF($0) }) { buffer = []; return r }
                    return nil
                }
                buffer.append(contentsOf: chunk[0..<n])
            }
        }
    }

    /// Whether the server closed the connection (EOF) within the receive timeout, discarding any data.
    func waitForClose() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

}

extension HTTPResponse {
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSONValue? { try? JSONParser.parse(body) }
}

/// Starts an in-process gateway from a configuration text, on an ephemeral port.
final class TestGateway {
    let gateway: Gateway
    let port: Int

    init(_ json: String, threads: Int = 1, clock: any GatewayClock = SystemClock(), logging: LogStreams = .standard) throws {
        var config = try GatewayConfiguration.parse(Array(json.utf8), file: "test.json")
        config.server.port = 0
        (gateway, port) = try Self.start(config, threads: threads, clock: clock, logging: logging)
    }

    /// From a parsed configuration (to swap parts such as the session store before starting).
    init(configuration: GatewayConfiguration, threads: Int = 1, clock: any GatewayClock = SystemClock(), logging: LogStreams = .standard) throws {
        var config = configuration
        config.server.port = 0
        (gateway, port) = try Self.start(config, threads: threads, clock: clock, logging: logging)
    }

    /// From a contract folder (gateway.json and endpoints/).
    init(directory: String, threads: Int = 1) throws {
        var config = try GatewayConfiguration.load(directory: directory)
        config.server.port = 0
        (gateway, port) = try Self.start(config, threads: threads)
    }

    private static func start(_ config: GatewayConfiguration, threads: Int, clock: any GatewayClock = SystemClock(),
                              logging: LogStreams = .standard) throws -> (Gateway, Int) {
        LogBuffer.enabled = false
        let gateway = try Gateway(configuration: config, group: try EventLoopGroup(threads: threads, clock: clock, logging: logging))
        return (gateway, try gateway.start())
    }

    func stop() {
        gateway.shutdown()
        gateway.group.shutdown()
    }

    func get(_ path: String, headers: [(String, String)] = []) throws -> HTTPResponse {
        try Self.get(port: port, path, headers: headers)
    }

    /// A GET on a fresh connection to a listener on 127.0.0.1:`port`.
    static func get(port: Int, _ path: String, headers: [(String, String)] = []) throws -> HTTPResponse {
        let client = try RawClient(port: port)
        var text = "GET \(path) HTTP/1.1\r\nHost: test\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        client.send(text + "\r\n")
        guard let r = client.readResponse() else { throw TestError("no response for \(path)") }
        return r
    }
}

/// The gateway configuration for tests, with one service pointing at `port`.
func proxyConfig(port: Int, extraService: String = "", routes: String? = nil, timeouts: String = "", pool: String = "") -> String {
    """
    {
      "listen": {"host": "127.0.0.1", "port": 0},
      \(timeouts.isEmpty ? "" : "\"timeouts\": {\(timeouts)},")
      "services": {
        "down": {"instances": ["127.0.0.1:\(port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000 \(pool.isEmpty ? "" : ", \"pool\": {\(pool)}")}
        \(extraService)
      },
      "routes": \(routes ?? "[{\"name\": \"all\", \"path\": \"/*\", \"proxy\": {\"service\": \"down\"}}]")
    }
    """
}
