import XCTest
import Foundation
@testable import AggregationKit

/// The logger through the real executable: the access log in a file, `--log-level` / `BFF_LOG_LEVEL`
/// changing what is printed, and usage errors.
final class LoggingExecutableTests: XCTestCase {
    static var productsDirectory: URL { Bundle.module.bundleURL.deletingLastPathComponent() }

    private var directories: [URL] = []

    override func tearDown() {
        for d in directories { try? FileManager.default.removeItem(at: d) }
        directories = []
        super.tearDown()
    }

    private func tempDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-logging-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        directories.append(dir)
        return dir
    }

    /// A gateway.json with one proxy route to the demo `users` service.
    private func config(accessLog: String) throws -> URL {
        let dir = try tempDirectory()
        let json = """
        {"accessLog": \(accessLog),
         "services": {"users": {"instances": ["127.0.0.1:1"]}},
         "routes": [{"name": "user", "method": "GET", "path": "/api/users/{id}", "proxy": {"service": "users", "path": "/users/{id}"}}]}
        """
        try json.write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        return dir
    }

    private func process(_ args: [String], environment: [String: String] = [:]) -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = Self.productsDirectory.appendingPathComponent("BFFWeb")
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "BFF_LOG_LEVEL")
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        return (p, out, err)
    }

    private func run(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let (p, out, err) = process(args, environment: environment)
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    private func readLine(_ handle: FileHandle) throws -> [UInt8] {
        var line: [UInt8] = []
        while true {
            let b = handle.readData(ofLength: 1)
            if b.isEmpty { throw TestError("exited before listening") }
            if b[b.startIndex] == 10 { return line }
            line.append(b[b.startIndex])
        }
    }

    /// Starts the executable and reads its standard output up to the `listening` line; returns the
    /// process, the port and the lines read so far.
    private func startListening(_ args: [String], environment: [String: String] = [:]) throws -> (Process, Int, Pipe, [String]) {
        let (p, out, _) = process(args, environment: environment)
        try p.run()
        var lines: [String] = []
        while true {
            let line = try readLine(out.fileHandleForReading)
            lines.append(String(decoding: line, as: UTF8.self))
            let json = try JSONParser.parse(line)
            if json["msg"]?.stringValue == "listening" {
                let address = try XCTUnwrap(json["address"]?.stringValue)
                return (p, try XCTUnwrap(Int(address.split(separator: ":").last!)), out, lines)
            }
        }
    }

    /// SIGTERM, then everything the process printed after `earlier`, and its exit status.
    private func stop(_ p: Process, _ out: Pipe, earlier: [String] = []) -> (Int32, [String]) {
        kill(p.processIdentifier, SIGTERM)
        let rest = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, earlier + rest.split(separator: "\n").map(String.init))
    }

    /// Every line parsed (duplicate keys rejected): each must be one JSON object with the logger's first
    /// three keys.
    private func entries(_ lines: [String], file: StaticString = #filePath, line: UInt = #line) -> [JSONObject] {
        lines.compactMap { text in
            guard let object = (try? JSONParser.parse(text, duplicateKeys: .reject))?.objectValue else {
                XCTFail("not one JSON object: \(text)", file: file, line: line)
                return nil
            }
            return object
        }
    }

    private func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Connects until the gateway answers (bounded: the machine is loaded).
    private func waitUntilServing(port: Int, _ p: Process) throws -> RawClient {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            guard p.isRunning else { throw TestError("exited before serving") }
            if let client = try? RawClient(port: port) { return client }
            usleep(20_000)
        }
        throw TestError("not serving on \(port) after 30 s")
    }

    // MARK: Access log file

    func testAccessLogIsAppendedToTheConfiguredFile() throws {
        let logDirectory = try tempDirectory()
        let path = logDirectory.appendingPathComponent("access.log").path
        try "{\"earlier\":true}\n".write(toFile: path, atomically: false, encoding: .utf8)
        let dir = try config(accessLog: "{\"path\": \"\(path)\"}")
        let (p, port, out, startLines) = try startListening(["--demo", "--config", dir.path, "--port", "0", "--threads", "1"])
        var stopped = false
        defer { if !stopped { p.terminate(); p.waitUntilExit() } }

        let client = try RawClient(port: port)
        let requests = [("/api/users/7", "logtest-file-1", 200), ("/nowhere", "logtest-file-2", 404), ("/healthz", "logtest-file-3", 200)]
        for (path, id, status) in requests {
            client.send("GET \(path) HTTP/1.1\r\nHost: t\r\nX-Request-ID: \(id)\r\n\r\n")
            let r = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(r.status, status, path)
        }

        // The writer thread writes on its own schedule: poll the file (bounded).
        var lines: [String] = []
        let deadline = Date().addingTimeInterval(30)
        repeat {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            lines = text.split(separator: "\n").map(String.init)
            if requests.allSatisfy({ r in lines.contains { $0.contains(r.1) } }) { break }
            usleep(20_000)
        } while Date() < deadline
        let parsed = entries(lines)
        XCTAssertEqual(parsed.first?["earlier"]?.boolValue, true, "appended, not truncated")
        for (path, id, status) in requests {
            let entry = try XCTUnwrap(parsed.first { $0["request_id"]?.stringValue == id }, "no access line for \(id) in \(lines)")
            XCTAssertEqual(entry["path"]?.stringValue, path)
            XCTAssertEqual(entry["status"]?.numberValue?.intValue, status)
            XCTAssertTrue(JSONSchema.isRFC3339DateTime(entry["time"]?.stringValue ?? ""))
        }
        XCTAssertEqual(parsed.first { $0["request_id"]?.stringValue == "logtest-file-1" }?["route"]?.stringValue, "user")

        let (status, printed) = stop(p, out, earlier: startLines)
        stopped = true
        XCTAssertEqual(status, 0)
        let appLines = entries(printed)
        XCTAssertFalse(printed.contains { $0.contains("logtest-file") }, "no access line on standard output: \(printed)")
        XCTAssertEqual(appLines.compactMap { $0["msg"]?.stringValue }.filter { ["listening", "draining", "stopped"].contains($0) },
                       ["listening", "draining", "stopped"], "the application log stays on standard output")
    }

    func testAnAccessLogThatCannotBeOpenedIsAStartError() throws {
        let missing = try tempDirectory().appendingPathComponent("no/such/dir/access.log").path
        let dir = try config(accessLog: "{\"path\": \"\(missing)\"}")
        let r = try run(["--config", dir.path, "--port", "0", "--threads", "1"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("cannot open the access log file '\(missing)'"), r.err)
        XCTAssertTrue(r.err.contains("No such file or directory"), r.err)
        XCTAssertFalse(r.out.contains("listening"), r.out)

        // A disabled access log is not opened at all.
        let off = try config(accessLog: "{\"path\": \"\(missing)\", \"enabled\": false}")
        let (p, _, out, lines) = try startListening(["--config", off.path, "--port", "0", "--threads", "1"])
        XCTAssertEqual(stop(p, out, earlier: lines).0, 0)
    }

    // MARK: Levels

    func testLogLevelChangesWhatTheExecutablePrints() throws {
        let dir = try config(accessLog: "false")
        let levels = Dictionary(uniqueKeysWithValues: LogLevel.allCases.map { ($0.name, $0) })

        // Debug from the flag, and from the environment.
        for (args, env) in [(["--log-level", "debug"], [:]), ([], ["BFF_LOG_LEVEL": "debug"])] as [([String], [String: String])] {
            let (p, _, out, lines) = try startListening(["--demo", "--config", dir.path, "--port", "0", "--threads", "1"] + args, environment: env)
            let (status, printed) = stop(p, out, earlier: lines)
            XCTAssertEqual(status, 0)
            let all = entries(printed)
            let loaded = try XCTUnwrap(all.first { $0["msg"]?.stringValue == "configuration loaded" }, "\(printed)")
            XCTAssertEqual(loaded["level"]?.stringValue, "debug")
            XCTAssertEqual(loaded["log_level"]?.stringValue, "debug")
            XCTAssertEqual(loaded["routes"]?.numberValue?.intValue, 1)
            let service = try XCTUnwrap(all.first { $0["msg"]?.stringValue == "service" })
            XCTAssertEqual(service["service"]?.stringValue, "users")
            XCTAssertEqual(service["level"]?.stringValue, "debug")
            XCTAssertTrue(all.contains { $0["msg"]?.stringValue == "listening" && $0["level"]?.stringValue == "info" })
            for entry in all {
                XCTAssertEqual(Array(entry.keys.prefix(3)), ["time", "level", "msg"])
                XCTAssertNotNil(levels[entry["level"]?.stringValue ?? ""])
            }
        }

        // Warning: the flag wins over the environment; nothing below warning is printed, and the
        // gateway still serves (found by its port, since the `listening` line is info).
        let port = try freePort()
        let (p, out, _) = process(["--demo", "--config", dir.path, "--port", "\(port)", "--threads", "1", "--log-level", "warning"],
                                  environment: ["BFF_LOG_LEVEL": "debug"])
        try p.run()
        let client = try waitUntilServing(port: port, p)
        client.send("GET /api/users/7 HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200)
        let (status, printed) = stop(p, out)
        XCTAssertEqual(status, 0)
        for entry in entries(printed) {
            let level = try XCTUnwrap(levels[entry["level"]?.stringValue ?? ""])
            XCTAssertGreaterThanOrEqual(level, .warning, "\(entry)")
        }
        XCTAssertFalse(printed.contains { $0.contains("\"listening\"") || $0.contains("configuration loaded") }, "\(printed)")
    }

    func testBadLogLevelIsAUsageError() throws {
        let dir = try config(accessLog: "true")
        let flag = try run(["check", "--config", dir.path, "--log-level", "loud"])
        XCTAssertEqual(flag.status, 2)
        XCTAssertTrue(flag.err.contains("BFFWeb: --log-level takes trace, debug, info, notice, warning, error or critical, not 'loud'"), flag.err)

        let env = try run(["check", "--config", dir.path], environment: ["BFF_LOG_LEVEL": "verbose"])
        XCTAssertEqual(env.status, 2)
        XCTAssertTrue(env.err.contains("BFFWeb: BFF_LOG_LEVEL takes trace, debug, info, notice, warning, error or critical, not 'verbose'"), env.err)

        let serve = try run(["--config", dir.path, "--port", "0"], environment: ["BFF_LOG_LEVEL": "verbose"])
        XCTAssertEqual(serve.status, 2, "serve refuses to start too")
        XCTAssertFalse(serve.out.contains("listening"))

        let overridden = try run(["check", "--config", dir.path, "--log-level", "error"], environment: ["BFF_LOG_LEVEL": "verbose"])
        XCTAssertEqual(overridden.status, 0, "the flag wins; the bad variable is not consulted: \(overridden.err)")
    }
}
