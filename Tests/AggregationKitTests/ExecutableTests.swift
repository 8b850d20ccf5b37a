import XCTest
import Foundation
@testable import AggregationKit

/// The real executables as child processes.
final class ExecutableTests: XCTestCase {
    static var productsDirectory: URL { Bundle.module.bundleURL.deletingLastPathComponent() }

    private func run(_ executable: String, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = Self.productsDirectory.appendingPathComponent(executable)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    private func tempConfig(_ json: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try json.write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        return dir
    }

    /// An admin port that clashes with the public one only once the command line is applied is a
    /// configuration error (exit 2), not a failure to bind.
    func testAdminPortSameAsPublicPortIsAConfigurationError() throws {
        let dir = try tempConfig(#"{"services": {"a": {"instances": ["127.0.0.1:9"]}}, "routes": []}"#)
        let r = try run("BFFWeb", ["--config", dir.path, "--port", "18555", "--admin-port", "18555"])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(r.err.contains("$.admin.port"), r.err)
    }

    /// `speed` signs and verifies a token with every algorithm it lists (a wrong signer or verifier
    /// fails the first, unmeasured verification: exit 1) and refuses bad arguments with 2.
    func testSpeedVerifiesEveryAlgorithmAndRefusesBadArguments() throws {
        let all = ["HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"]
        let r = try run("BFFWeb", ["speed", "--seconds", "0.1"] + all)
        XCTAssertEqual(r.status, 0, r.err)
        let lines = r.out.split(separator: "\n")
        XCTAssertEqual(lines.map { String($0.split(separator: " ")[0]) }, all)
        for line in lines {
            let fields = line.split(separator: " ")
            XCTAssertEqual(fields.count, 5, String(line))
            XCTAssertGreaterThan(Int(fields[2]) ?? 0, 0, String(line))
            XCTAssertGreaterThan(Int(fields[4]) ?? 0, 0, String(line))
        }
        XCTAssertEqual(try run("BFFWeb", ["speed", "none"]).status, 2)
        XCTAssertEqual(try run("BFFWeb", ["speed", "--seconds", "0"]).status, 2)
        XCTAssertEqual(try run("BFFWeb", ["speed", "--seconds"]).status, 2)
    }

    func testCheckReportsProblemsWithExitCode2() throws {
        let dir = try tempConfig("{\"services\": {}, \"routes\": [{\"name\": \"r\", \"path\": \"/x\", \"proxy\": {\"service\": \"nope\"}}]}")
        let r = try run("BFFWeb", ["check", "--config", dir.path])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("gateway.json: $.routes[0].proxy.service: unknown service 'nope'"), r.err)
        let missing = try run("BFFMobile", ["check", "--config", "/nonexistent"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.err.contains("/nonexistent/gateway.json: $: cannot read the file"), missing.err)
    }

    func testCheckAcceptsShippedContractsAndFlags() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for (exe, client) in [("BFFWeb", "web"), ("BFFMobile", "mobile"), ("BFFPartner", "partner")] {
            let r = try run(exe, ["check", "--config", root.appendingPathComponent("contracts/\(client)").path])
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertEqual(try run(exe, ["--version"]).out, "\(exe) \(gatewayVersion)\n")
            XCTAssertTrue(try run(exe, ["--help"]).out.contains("--demo"))
            XCTAssertEqual(try run(exe, ["--bogus"]).status, 2)
        }
    }

    /// Starts an executable, waits for its "listening" line, returns the process and its port.
    private func start(_ executable: String, _ args: [String]) throws -> (Process, Int, Pipe) {
        let p = Process()
        p.executableURL = executable.hasPrefix("/") ? URL(fileURLWithPath: executable) : Self.productsDirectory.appendingPathComponent(executable)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var line = Data()
        while true {
            let b = out.fileHandleForReading.readData(ofLength: 1)
            if b.isEmpty { throw TestError("exited before listening") }
            if b == Data([10]) { break }
            line.append(b)
        }
        var json = try JSONParser.parse(Array(line))
        while json["msg"]?.stringValue != "listening" {
            line = Data()
            while true {
                let b = out.fileHandleForReading.readData(ofLength: 1)
                if b.isEmpty { throw TestError("exited before listening") }
                if b == Data([10]) { break }
                line.append(b)
            }
            json = try JSONParser.parse(Array(line))
        }
        let address = try XCTUnwrap(json["address"]?.stringValue)
        let port = try XCTUnwrap(Int(address.split(separator: ":").last!))
        return (p, port, out)
    }

    func testDemoServesRealDataWithNoSetup() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let (p, port, _) = try start("BFFWeb", ["--demo", "--port", "0", "--threads", "1", "--config", root.appendingPathComponent("contracts/web").path])
        defer { p.terminate(); p.waitUntilExit() }
        let client = try RawClient(port: port)
        // The open routes (the user routes need a session token, whose key this test does not hold).
        client.send("GET /api/web/products/7 HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json?["id"]?.numberValue?.intValue, 7)
        XCTAssertNotNil(r.json?["name"]?.stringValue)
        client.send("GET /api/web/catalog/products?ids=1,2 HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try XCTUnwrap(client.readResponse()).json?["products"]?.arrayValue?.count, 2)
        client.send("GET /api/web/products/100000 HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 404)
        // A user's data is behind the session provider: without a token, 401 and a Bearer challenge.
        for path in ["/api/web/users/7", "/api/web/users/7/orders", "/api/web/me/dashboard", "/api/web/dashboard/7"] {
            client.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
            let refused = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(refused.status, 401, path)
            XCTAssertEqual(refused.headers["WWW-Authenticate"], "Bearer", path)
        }
        // Only the session issuer's tokens open them.
        client.send("GET /api/web/users/1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer not.a.token\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 401)
    }

    /// A drain that has to cut a request at its deadline is not clean: the process says so and exits 1,
    /// after stopping every service in reverse order.
    func testSIGTERMWithARequestCutAtTheDrainDeadlineExitsOne() throws {
        let downstream = try Downstream()
        defer { downstream.stop() }
        let dir = try tempConfig(proxyConfig(port: downstream.port, timeouts: "\"drainMs\": 200"))
        let (p, port, out) = try start("BFFWeb", ["--config", dir.path, "--port", "0", "--threads", "1"])
        let client = try RawClient(port: port)
        client.send("GET /slow?ms=2500 HTTP/1.1\r\nHost: t\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.3)
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 1)
        let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let order = log.split(separator: "\n").compactMap { line -> String? in
            guard line.contains("\"msg\":\"service stopped\"") || line.contains("\"msg\":\"service failed\"") else { return nil }
            return (try? JSONParser.parse(String(line)))?["service"]?.stringValue
        }
        XCTAssertEqual(order, ["http-server", "admin-server", "upstreams", "event-loops"], log)
        XCTAssertTrue(log.contains("cut at the drain deadline"), log)
    }

    func testSIGTERMLetsTheSlowRequestFinishThenExitsZero() throws {
        let downstream = try Downstream()
        defer { downstream.stop() }
        let dir = try tempConfig(proxyConfig(port: downstream.port))
        let (p, port, out) = try start("BFFWeb", ["--config", dir.path, "--port", "0", "--threads", "2"])
        let client = try RawClient(port: port)
        let idle = try RawClient(port: port)
        idle.send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(idle.readResponse()?.status, 200)
        client.send("GET /slow?ms=1200 HTTP/1.1\r\nHost: t\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.3)
        kill(p.processIdentifier, SIGTERM)
        XCTAssertTrue(idle.waitForClose(), "an idle keep-alive connection is closed at once")
        let r = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json?["slow"], .bool(true))
        XCTAssertEqual(r.headers["connection"], "close")
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(p.terminationReason, .exit)
        let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let slowLine = try XCTUnwrap(log.split(separator: "\n").first { $0.contains("\"path\":\"/slow\"") }, log)
        let entry = try JSONParser.parse(String(slowLine))
        for key in ["time", "request_id", "method", "path", "route", "status", "duration_ms", "bytes", "upstream", "client"] {
            XCTAssertNotNil(entry[key], "access log field \(key)")
        }
        XCTAssertEqual(entry["status"]?.numberValue?.intValue, 200)
        XCTAssertEqual(entry["route"]?.stringValue, "all")
        XCTAssertEqual(entry["upstream"]?.stringValue, "127.0.0.1:\(downstream.port)")
        XCTAssertGreaterThan(entry["duration_ms"]?.numberValue?.doubleValue ?? 0, 1000, "the slow request took 1.2 s")
        XCTAssertTrue(JSONSchema.isRFC3339DateTime(entry["time"]?.stringValue ?? ""))
        XCTAssertTrue(log.contains("\"msg\":\"stopped\",\"clean\":true"), log)
        // New connections are refused once draining started.
        XCTAssertThrowsError(try RawClient(port: port))
    }

    /// The access log goes to a pipe that nobody reads (a stuck log shipper): the gateway keeps answering.
    /// Before the log writer thread, the loop blocked in `write` once the pipe's 64 KiB were full.
    func testStalledStdoutDoesNotFreezeTheGateway() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let (p, port, out) = try start("BFFWeb", ["--demo", "--port", "0", "--threads", "1", "--config", root.appendingPathComponent("contracts/web").path])
        defer { p.terminate(); p.waitUntilExit(); _ = out }
        let client = try RawClient(port: port)
        // About 250 bytes of log per request: 2,000 requests are 8 times what the pipe holds.
        for i in 0..<2000 {
            client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            guard let r = client.readResponse() else { return XCTFail("no answer to request \(i)") }
            XCTAssertEqual(r.status, 200)
        }
        let other = try RawClient(port: port)
        other.send("GET /api/web/products/7 HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(other.readResponse()?.status, 200)
    }

    /// With a readiness grace, SIGTERM keeps the listener open for that long: health checks get `/readyz`
    /// 503 instead of connection refused, other requests are still served with `Connection: close`, idle
    /// keep-alive connections close at once; then the usual drain, and exit 0.
    func testReadinessGraceKeepsServingWithReadyz503() throws {
        let downstream = try Downstream()
        defer { downstream.stop() }
        let dir = try tempConfig(proxyConfig(port: downstream.port, timeouts: "\"readinessGraceMs\": 3000"))
        let (p, port, _) = try start("BFFWeb", ["--config", dir.path, "--port", "0", "--threads", "2"])
        defer { if p.isRunning { p.terminate(); p.waitUntilExit() } }
        let idle = try RawClient(port: port)
        idle.send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(idle.readResponse()?.status, 200)
        let started = Date()
        kill(p.processIdentifier, SIGTERM)
        XCTAssertTrue(idle.waitForClose(), "an idle keep-alive connection is closed at once")
        let health = try RawClient(port: port)
        health.send("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
        let ready = try XCTUnwrap(health.readResponse())
        XCTAssertEqual(ready.status, 503)
        XCTAssertEqual(ready.headers["connection"], "close")
        let client = try RawClient(port: port)
        client.send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        let served = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(served.status, 200)
        XCTAssertEqual(served.headers["connection"], "close")
        XCTAssertTrue(client.waitForClose())
        XCTAssertLessThan(Date().timeIntervalSince(started), 3, "these checks ran inside the grace")
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 2.9, "the listener stayed open for the grace")
        XCTAssertThrowsError(try RawClient(port: port))
    }

    /// The client's problem document names the service only; the access log line carries the full detail
    /// (address, system error) under the request id.
    func testUpstreamFailureDetailGoesToTheLogNotTheClient() throws {
        let closed = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: UInt32(0x7F00_0001).bigEndian), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(closed, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(closed, $0, &length) } }
        let deadPort = Int(UInt16(bigEndian: address.sin_port))
        defer { close(closed) }   // bound, never listening: connections are refused
        let dir = try tempConfig(proxyConfig(port: deadPort))
        let (p, port, out) = try start("BFFWeb", ["--config", dir.path, "--port", "0", "--threads", "1"])
        let client = try RawClient(port: port)
        client.send("GET /x HTTP/1.1\r\nHost: t\r\nX-Request-ID: dead-1\r\n\r\n")
        let r = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(r.status, 502)
        let body = String(decoding: r.body, as: UTF8.self)
        XCTAssertFalse(body.contains("127.0.0.1") || body.contains("errno") || body.contains(String(deadPort)), body)
        p.terminate()
        p.waitUntilExit()
        let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let line = try XCTUnwrap(log.split(separator: "\n").first { $0.contains("\"request_id\":\"dead-1\"") }, log)
        let error = try XCTUnwrap(try JSONParser.parse(String(line))["error"]?.stringValue)
        XCTAssertTrue(error.hasPrefix("upstream_connect_failed: "), error)
        XCTAssertTrue(error.contains("127.0.0.1:\(deadPort)") && error.contains("errno"), error)
    }

    /// With 160 descriptors (soft = hard) and no cap, 150 idle clients took every descriptor and the next
    /// upstream call failed with 502 `Too many open files`. Clients are capped so that upstream calls keep
    /// their share: an established client is still served while the rest wait in the backlog.
    func testIdleClientsCannotStarveUpstreamCallsOfDescriptors() throws {
        let downstream = try Downstream()
        defer { downstream.stop() }
        let dir = try tempConfig(proxyConfig(port: downstream.port))
        let binary = Self.productsDirectory.appendingPathComponent("BFFWeb").path
        let (p, port, out) = try start("/bin/sh", ["-c", "ulimit -n 160 && exec \"$0\" \"$@\"", binary, "--config", dir.path, "--port", "0", "--threads", "1"])
        defer { p.terminate(); p.waitUntilExit(); _ = out }
        let first = try RawClient(port: port)
        first.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")   // accepted; no upstream connection yet
        XCTAssertEqual(first.readResponse()?.status, 200)
        var idle: [RawClient] = []
        for _ in 0..<150 { idle.append(try RawClient(port: port)) }
        Thread.sleep(forTimeInterval: 0.3)   // let the loop accept what it will
        first.send("GET /echo?after=idle HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try XCTUnwrap(first.readResponse())
        XCTAssertEqual(r.status, 200, String(decoding: r.body, as: UTF8.self))
        withExtendedLifetime(idle) {}
    }

    /// SIGTERM is never lost: the stop signals are blocked in every thread and taken by `sigwait` on the
    /// main thread. Before, a SIGTERM delivered to a loop or writer thread was swallowed by Dispatch's
    /// handler now and then, and the gateway went on serving until killed.
    func testSIGTERMIsAlwaysHandled() throws {
        let dir = try tempConfig(proxyConfig(port: 9))
        for attempt in 0..<12 {
            let (p, port, out) = try start("BFFWeb", ["--config", dir.path, "--port", "0", "--threads", "2"])
            // Keep the loops and the log writer busy, so the signal is as likely to hit them as main.
            let client = try RawClient(port: port)
            client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            _ = client.readResponse()
            kill(p.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(15)
            while p.isRunning && Date() < deadline { usleep(10_000) }
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                return XCTFail("attempt \(attempt): SIGTERM was not handled")
            }
            XCTAssertEqual(p.terminationStatus, 0)
            _ = out
        }
    }
}
