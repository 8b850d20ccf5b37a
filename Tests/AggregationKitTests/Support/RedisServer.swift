import Foundation
import XCTest
@testable import AggregationKit

/// A real `redis-server` in a child process, for the live Redis tests: its own port (or Unix socket)
/// and temporary directory, no persistence. Stop and start it again on the same port to test recovery.
final class RedisServer {
    static let executable = "/usr/bin/redis-server"

    let port: Int
    let directory: String
    /// The Unix socket path when it listens on one (then `port` is 0).
    let socketPath: String?
    private let configLines: [String]
    private var process: Process?

    /// `password`: `requirepass`. `unixSocket`: listen on a socket in the temporary directory instead of
    /// TCP. `extraConfig`: more configuration lines (`rename-command HELLO ""`).
    init(password: String? = nil, unixSocket: Bool = false, extraConfig: [String] = []) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw TestError("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
        }
        directory = NSTemporaryDirectory() + "bff-redis-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if unixSocket {
            port = 0
            socketPath = directory + "/redis.sock"
        } else {
            port = try freePort()
            socketPath = nil
        }
        var lines = [
            "port \(port)", "bind 127.0.0.1", "save \"\"", "appendonly no", "daemonize no",
            "dir \(directory)", "logfile \(directory)/redis.log",
        ]
        if let socketPath { lines += ["unixsocket \(socketPath)", "unixsocketperm 700"] }
        if let password { lines.append("requirepass \(password)") }
        configLines = lines + extraConfig
        try start()
    }

    var url: String { socketPath.map { "unix://\($0)" } ?? "redis://127.0.0.1:\(port)" }

    /// Starts the server (again) and waits until it accepts connections.
    func start() throws {
        precondition(process == nil)
        let config = directory + "/redis.conf"
        try configLines.joined(separator: "\n").write(toFile: config, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.executable)
        p.arguments = [config]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if acceptsConnections() { return }
            guard p.isRunning else { break }
            usleep(20_000)
        }
        let log = (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8)) ?? ""
        throw TestError("redis-server did not start: \(log.suffix(800))")
    }

    /// Ends it with SIGKILL: no goodbye to its clients, as a crash would. Nothing is persisted anyway.
    func kill() {
        guard let p = process else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
        if let socketPath { unlink(socketPath) }
    }

    /// Stops it and removes its directory. (SIGKILL: a child started from a Swift concurrency thread
    /// inherits that thread's signal mask, with SIGTERM blocked, so `terminate()` would not end it.)
    func remove() {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { remove() }

    private func acceptsConnections() -> Bool {
        if let socketPath {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            guard let address = try? SocketAddress(unixPath: socketPath) else { return false }
            return address.withSockAddr { connect(fd, $0, $1) } == 0
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }
}

/// Seconds on the monotonic clock, for asserting that a call ended in time.
func monotonicSeconds() -> Double { Double(MonotonicClock.now()) / 1e9 }

/// Retries `body` until it returns true or `seconds` pass (bounded polling for live tests).
func pollUntil(within seconds: Double, _ body: () async -> Bool) async -> Bool {
    let deadline = monotonicSeconds() + seconds
    while monotonicSeconds() < deadline {
        if await body() { return true }
        try? await Task.sleep(nanoseconds: 50_000_000)
    }
    return false
}
