import XCTest
import Foundation
@testable import AggregationKit

/// `/metrics` on the admin listener, over real sockets: exact counts after known traffic, the admin and
/// public listeners kept apart, `promtool` on a live scrape, and a real Prometheus scraping the demo.
final class MetricsIntegrationTests: XCTestCase {
    /// A gateway (two loops) with a proxy route and a composite endpoint over one stub, and its admin
    /// listener started.
    private func startGateway(stub: StubDownstream) throws -> (TestGateway, adminPort: Int) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
        try """
        {"listen": {"host": "127.0.0.1", "port": 0}, "responseValidation": "log",
         "services": {"s": {"instances": ["127.0.0.1:\(stub.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
         "routes": [{"name": "user", "method": "GET", "path": "/api/users/{id}", "proxy": {"service": "s", "path": "/users/{id}"}}]}
        """.write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        try """
        {"name": "profile", "method": "GET", "path": "/profile",
         "calls": {"user": {"service": "s", "path": "/users/1"},
                   "recs": {"service": "s", "path": "/missing", "required": false}},
         "response": {"user": "$user", "recs": "$recs"},
         "schema": {"type": "object", "required": ["nothing"]}}
        """.write(to: dir.appendingPathComponent("endpoints/profile.json"), atomically: true, encoding: .utf8)
        let gateway = try TestGateway(directory: dir.path, threads: 2)
        let admin = try XCTUnwrap(gateway.gateway.adminServer)
        return (gateway, try admin.start())
    }

    private func stopGateway(_ gateway: TestGateway) {
        gateway.gateway.adminServer?.shutdown()
        gateway.stop()
    }

    private func scrape(_ port: Int) throws -> HTTPResponse {
        let client = try RawClient(port: port)
        client.send("GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n")
        return try XCTUnwrap(client.readResponse(), "no response from the admin listener")
    }

    private func request(_ port: Int, _ text: String) throws -> HTTPResponse {
        let client = try RawClient(port: port)
        client.send(text)
        return try XCTUnwrap(client.readResponse(), "no response to \(text)")
    }

    func testMetricsCountKnownTrafficExactly() throws {
        let stub = try StubDownstream(["/users/1": .init(body: #"{"id":1}"#)])
        defer { stub.stop() }
        let (gw, adminPort) = try startGateway(stub: stub)
        defer { stopGateway(gw) }

        for _ in 0..<3 { XCTAssertEqual(try gw.get("/api/users/1").status, 200) }
        for _ in 0..<2 {
            let r = try gw.get("/profile")
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.headers["X-Partial-Response"], "true")
        }
        XCTAssertEqual(try gw.get("/nope").status, 404)
        XCTAssertEqual(try request(gw.port, "DELETE /api/users/1 HTTP/1.1\r\nHost: t\r\n\r\n").status, 405)
        XCTAssertEqual(try gw.get("/healthz").status, 200)
        XCTAssertEqual(try request(gw.port, "GET / HTTP/1.1\nHost: t\n\n").status, 400)

        // Every client above has closed its connection: wait for the server to see the last close.
        var text = ""
        XCTAssertTrue(eventually(timeout: 20) {
            text = (try? scrape(adminPort).text) ?? ""
            return text.contains("\nbff_client_connections_open 0\n")
        }, text)
        let response = try scrape(adminPort)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        let lines = Set(response.text.split(separator: "\n").map(String.init))
        for expected in [
            #"bff_requests_total{client="gateway",route="user",method="GET",status="2xx"} 3"#,
            #"bff_requests_total{client="gateway",route="profile",method="GET",status="2xx"} 2"#,
            #"bff_requests_total{client="gateway",route="unmatched",method="GET",status="4xx"} 1"#,
            #"bff_requests_total{client="gateway",route="unmatched",method="DELETE",status="4xx"} 1"#,
            #"bff_requests_total{client="gateway",route="healthz",method="GET",status="2xx"} 1"#,
            #"bff_request_duration_seconds_count{client="gateway",route="user"} 3"#,
            #"bff_request_duration_seconds_count{client="gateway",route="profile"} 2"#,
            #"bff_request_parse_rejections_total{problem="bare_lf"} 1"#,
            #"bff_request_parse_rejections_total{problem="body_too_large"} 0"#,
            #"bff_composite_call_failures_total{endpoint="profile",call="recs"} 2"#,
            #"bff_composite_call_failures_total{endpoint="profile",call="user"} 0"#,
            #"bff_composite_partial_responses_total{endpoint="profile"} 2"#,
            #"bff_contract_violations_total{endpoint="profile"} 2"#,
            // Every upstream call's outcome report: 3 proxied, 2 × 2 composite calls (a 404 is an answer).
            #"bff_upstream_requests_total{service="s",instance="127.0.0.1:\#(stub.port)",outcome="success"} 7"#,
            #"bff_upstream_request_duration_seconds_count{service="s",instance="127.0.0.1:\#(stub.port)"} 7"#,
            #"bff_upstream_pool_waiters{service="s"} 0"#,
            "bff_requests_in_flight 0",
            "bff_client_connections_open 0",
            "bff_log_lines_dropped_total 0",
        ] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected) in\n\(response.text)")
        }
        // Scrapes are not requests of the public listener; nothing else was counted.
        XCTAssertEqual(lines.filter { $0.hasPrefix("bff_requests_total{") }.count, 5, response.text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("process_resident_memory_bytes ") }, response.text)
    }

    func testAdminListenerAndPublicListenerAreApart() throws {
        let stub = try StubDownstream(["/users/1": .init(body: #"{"id":1}"#)])
        defer { stub.stop() }
        let (gw, adminPort) = try startGateway(stub: stub)
        defer { stopGateway(gw) }
        XCTAssertNotEqual(gw.port, adminPort)

        // The public port does not serve /metrics.
        let publicMetrics = try gw.get("/metrics")
        XCTAssertEqual(publicMetrics.status, 404)
        XCTAssertFalse(publicMetrics.text.contains("bff_requests_total"))
        // The admin port serves nothing but /metrics: no public route, no built-in.
        for path in ["/api/users/1", "/healthz", "/profile", "/"] {
            let r = try request(adminPort, "GET \(path) HTTP/1.1\r\nHost: admin\r\n\r\n")
            XCTAssertEqual(r.status, 404, path)
            XCTAssertEqual(r.headers["Content-Type"], "application/problem+json", path)
        }
        let post = try request(adminPort, "POST /metrics HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(post.status, 405)
        XCTAssertEqual(post.headers["Allow"], "GET, HEAD")
        let head = RawClientHead(port: adminPort)
        XCTAssertEqual(try head.status(), 200)
        // The stub was never asked for /metrics or anything else by the admin listener.
        XCTAssertTrue(stub.requests.isEmpty, "\(stub.requests)")
        // The admin listener's requests are not counted as the gateway's: the one 404 is the public /metrics.
        let text = try scrape(adminPort).text
        XCTAssertTrue(text.contains(#"bff_requests_total{client="gateway",route="unmatched",method="GET",status="4xx"} 1"# + "\n"), text)
        XCTAssertFalse(text.contains(#"method="POST""#), text)
    }

    func testPromtoolAcceptsALiveScrape() throws {
        let stub = try StubDownstream(["/users/1": .init(body: #"{"id":1}"#)])
        defer { stub.stop() }
        let (gw, adminPort) = try startGateway(stub: stub)
        defer { stopGateway(gw) }
        _ = try gw.get("/api/users/1")
        _ = try gw.get("/profile")
        _ = try gw.get("/nope")
        let body = try scrape(adminPort).body
        let result = try MetricsTests.promtoolCheck(body)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(result.output, "", "promtool found problems:\n\(result.output)")
    }

    func testAdminConfiguration() throws {
        let config = try GatewayConfiguration.parse(Array(#"{"listen": {"port": 8080}, "admin": {"host": "127.0.0.2", "port": 9999}}"#.utf8), file: "g.json")
        XCTAssertEqual(config.admin.host, "127.0.0.2")
        XCTAssertEqual(config.admin.effectivePort(publicPort: 8080), 9999)
        let defaults = try GatewayConfiguration.parse(Array("{}".utf8), file: "g.json")
        XCTAssertTrue(defaults.admin.enabled)
        XCTAssertEqual(defaults.admin.host, "127.0.0.1")
        XCTAssertEqual(defaults.admin.effectivePort(publicPort: 8080), 9080)
        XCTAssertEqual(defaults.admin.effectivePort(publicPort: 0), 0)
        XCTAssertNil(defaults.admin.effectivePort(publicPort: 65000))
        XCTAssertFalse(try GatewayConfiguration.parse(Array(#"{"admin": {"enabled": false}}"#.utf8), file: "g.json").admin.enabled)
        for (json, problem) in [
            (#"{"admin": {"bogus": 1}}"#, "$.admin.bogus: unknown key"),
            (#"{"admin": {"port": 70000}}"#, "$.admin.port"),
            (#"{"admin": {"enabled": "yes"}}"#, "$.admin.enabled"),
            (#"{"admin": []}"#, "$.admin: expected an object"),
            (#"{"listen": {"port": 8080}, "admin": {"port": 8080}}"#, "$.admin.port: must differ from listen.port"),
        ] {
            XCTAssertThrowsError(try GatewayConfiguration.parse(Array(json.utf8), file: "g.json"), json) { error in
                XCTAssertTrue("\(error)".contains(problem), "\(json): \(error)")
            }
        }
        // Off: no admin listener and nothing recorded.
        var off = try GatewayConfiguration.parse(Array(#"{"admin": {"enabled": false}}"#.utf8), file: "g.json")
        off.server.port = 0
        let gateway = try Gateway(configuration: off, group: try EventLoopGroup(threads: 1))
        XCTAssertNil(gateway.adminServer)
        XCTAssertNil(gateway.metrics)
        gateway.group.shutdown()
        // A public port whose default admin port would pass 65535 needs admin.port.
        var high = try GatewayConfiguration.parse(Array("{}".utf8), file: "g.json")
        high.server.port = 65000
        XCTAssertThrowsError(try Gateway(configuration: high, group: try EventLoopGroup(threads: 1)))
    }

    func testAdminPortFlag() {
        guard case .success(let options) = GatewayCommand.parse(["--admin-port", "9999"], profile: .web) else { return XCTFail() }
        XCTAssertEqual(options.adminPort, 9999)
        guard case .failure(let error) = GatewayCommand.parse(["--admin-port", "x"], profile: .web) else { return XCTFail() }
        XCTAssertTrue(error.message.contains("--admin-port takes 0...65535"))
        XCTAssertTrue(GatewayCommand.usage(.web).contains("--admin-port"))
    }

    // MARK: A real Prometheus

    /// Starts the demo (BFFWeb --demo) and a real `prometheus` scraping its admin listener every second,
    /// sends known traffic, and reads the count back through Prometheus' HTTP API.
    func testPrometheusScrapesTheDemoAndAnswersAQuery() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus") else {
            throw XCTSkip("prometheus is not installed (apt-get install prometheus); CI installs it")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let demo = try LaunchedGateway("BFFWeb", ["--demo", "--port", "0", "--admin-port", "0", "--threads", "1",
                                                  "--config", root.appendingPathComponent("contracts/web").path])
        defer { demo.stop() }
        let adminPort = try XCTUnwrap(demo.adminPort, "the listening line names the admin address")
        for _ in 0..<4 { XCTAssertEqual(try request(demo.port, "GET /api/web/products/7 HTTP/1.1\r\nHost: t\r\n\r\n").status, 200) }
        // The public port's /metrics is not the gateway's (this config proxies every other path to the
        // legacy service).
        XCTAssertFalse(try request(demo.port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").text.contains("bff_requests_total"))

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("data"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
        global:
          scrape_interval: 1s
          scrape_timeout: 1s
        scrape_configs:
          - job_name: bff-web
            static_configs:
              - targets: ["127.0.0.1:\(adminPort)"]
        """.write(to: dir.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let webPort = try freePort()
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = ["--config.file=\(dir.appendingPathComponent("prometheus.yml").path)",
                                "--storage.tsdb.path=\(dir.appendingPathComponent("data").path)",
                                "--web.listen-address=127.0.0.1:\(webPort)"]
        let log = dir.appendingPathComponent("prometheus.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: log)
        prometheus.standardOutput = logHandle
        prometheus.standardError = logHandle
        try prometheus.run()
        defer {
            prometheus.terminate()
            prometheus.waitUntilExit()
        }

        // Prometheus starts, scrapes, and can answer: poll its API (bounded; the machine is loaded).
        let query = #"bff_requests_total{route="web-product",method="GET",status="2xx"}"#
        var last = ""
        let answered = eventually(timeout: 90) {
            guard prometheus.isRunning,
                  let client = try? RawClient(port: webPort),
                  case let target = "/api/v1/query?query=" + query.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! else { return false }
            client.send("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            guard let r = client.readResponse() else { return false }
            last = r.text
            guard r.status == 200, let result = r.json?["data"]?["result"]?.arrayValue, let first = result.first,
                  let value = first["value"]?.arrayValue, value.count == 2 else { return false }
            return value[1].stringValue == "4" && first["metric"]?["job"]?.stringValue == "bff-web"
        }
        let tail = (try? String(contentsOf: log, encoding: .utf8)).map { String($0.suffix(2000)) } ?? ""
        XCTAssertTrue(answered, "Prometheus never answered 4 for \(query); last answer: \(last)\nprometheus log:\n\(tail)")
    }

    private func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestError("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// A `HEAD /metrics` on a raw socket (the response has headers and no body).
private struct RawClientHead {
    let port: Int
    func status() throws -> Int? {
        let client = try RawClient(port: port)
        client.send("HEAD /metrics HTTP/1.1\r\nHost: admin\r\n\r\n")
        let response = client.readResponse(head: true)
        XCTAssertEqual(response?.body.count, 0)
        XCTAssertEqual(response?.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        return response?.status
    }
}

/// A gateway executable as a child process, started once its "listening" line is out.
final class LaunchedGateway {
    let process = Process()
    let port: Int
    let adminPort: Int?

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent(executable)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var listening: JSONValue?
        while listening == nil {
            var line = Data()
            while true {
                let byte = out.fileHandleForReading.readData(ofLength: 1)
                if byte.isEmpty { throw TestError("\(executable) exited before listening") }
                if byte == Data([10]) { break }
                line.append(byte)
            }
            if let json = try? JSONParser.parse(Array(line)), json["msg"]?.stringValue == "listening" { listening = json }
        }
        func portOf(_ key: String) -> Int? { listening?[key]?.stringValue.flatMap { $0.split(separator: ":").last.flatMap { Int($0) } } }
        guard let port = portOf("address") else { throw TestError("no address in the listening line") }
        self.port = port
        adminPort = portOf("admin")
        // Keep reading its output so the log never blocks it.
        let handle = out.fileHandleForReading
        Thread.detachNewThread { while !handle.availableData.isEmpty {} }
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}
