import XCTest
import Foundation
@testable import AggregationKit

/// The metrics registry, its exposition, and the gateway's families, without sockets.
final class MetricsTests: XCTestCase {
    // MARK: Exposition

    func testExpositionOfASmallRegistryIsExact() throws {
        let registry = MetricsRegistry(loopShards: 2)
        let requests = try registry.counter("app_requests_total", help: "Requests.", labels: ["route", "status"])
        let user2xx = requests.series(["user", "2xx"])
        let cart5xx = requests.series(["cart", "5xx"])
        user2xx.increment(shard: 0)
        user2xx.add(2, shard: 1)
        user2xx.add(4)
        cart5xx.increment(shard: 1)
        let inFlight = try registry.gauge("app_in_flight", help: "In flight.").series()
        inFlight.add(3, shard: 0)
        inFlight.add(-1, shard: 1)
        let latency = try registry.histogram("app_latency_seconds", help: "Latency.", labels: ["route"],
                                             buckets: [0.01, 0.1], unitsPerBaseUnit: 1_000_000_000).series(["user"])
        latency.observe(5_000_000, shard: 0)
        latency.observe(50_000_000, shard: 1)
        latency.observe(2_000_000_000, shard: 1)
        try registry.gauge("app_pool_size", help: "Pool size.", labels: ["service"]) {
            [MetricSample(["users"], 2), MetricSample(["carts"], 0.5)]
        }

        XCTAssertEqual(registry.render(), """
        # HELP app_in_flight In flight.
        # TYPE app_in_flight gauge
        app_in_flight 2
        # HELP app_latency_seconds Latency.
        # TYPE app_latency_seconds histogram
        app_latency_seconds_bucket{route="user",le="0.01"} 1
        app_latency_seconds_bucket{route="user",le="0.1"} 2
        app_latency_seconds_bucket{route="user",le="+Inf"} 3
        app_latency_seconds_sum{route="user"} 2.055
        app_latency_seconds_count{route="user"} 3
        # HELP app_pool_size Pool size.
        # TYPE app_pool_size gauge
        app_pool_size{service="carts"} 0.5
        app_pool_size{service="users"} 2
        # HELP app_requests_total Requests.
        # TYPE app_requests_total counter
        app_requests_total{route="cart",status="5xx"} 1
        app_requests_total{route="user",status="2xx"} 7
        # HELP metrics_series_dropped_total Label sets refused because their family reached its series limit (counted in the family's overflow series instead).
        # TYPE metrics_series_dropped_total counter
        metrics_series_dropped_total{family="app_in_flight"} 0
        metrics_series_dropped_total{family="app_latency_seconds"} 0
        metrics_series_dropped_total{family="app_pool_size"} 0
        metrics_series_dropped_total{family="app_requests_total"} 0

        """)
        XCTAssertEqual(MetricsRegistry.contentType, "text/plain; version=0.0.4; charset=utf-8")
    }

    func testLabelValuesAndHelpAreEscaped() throws {
        let registry = MetricsRegistry(loopShards: 1)
        let family = try registry.counter("escapes_total", help: "Back\\slash, \"quotes\" and a\nnew line.", labels: ["value"])
        family.series(["a\\b\"c\nd"]).increment(shard: 0)
        family.series(["plain é ✓"]).increment(shard: 0)
        let text = registry.render()
        XCTAssertTrue(text.contains("# HELP escapes_total Back\\\\slash, \"quotes\" and a\\nnew line.\n"), text)
        XCTAssertTrue(text.contains("escapes_total{value=\"a\\\\b\\\"c\\nd\"} 1\n"), text)
        XCTAssertTrue(text.contains("escapes_total{value=\"plain é ✓\"} 1\n"), text)
    }

    func testValuesAreFormattedAsTheFormatWants() {
        XCTAssertEqual(PrometheusText.format(3.0), "3")
        XCTAssertEqual(PrometheusText.format(-2.0), "-2")
        XCTAssertEqual(PrometheusText.format(0.25), "0.25")
        XCTAssertEqual(PrometheusText.format(0.0005), "0.0005")
        XCTAssertEqual(PrometheusText.format(Double.nan), "NaN")
        XCTAssertEqual(PrometheusText.format(Double.infinity), "+Inf")
        XCTAssertEqual(PrometheusText.format(-Double.infinity), "-Inf")
        XCTAssertEqual(Double(PrometheusText.format(1e20)), 1e20)
        XCTAssertEqual(PrometheusText.format(UInt64.max), "18446744073709551615")
    }

    func testOrderIsStableWhateverTheRegistrationOrder() throws {
        func build(_ order: [String]) throws -> String {
            let registry = MetricsRegistry(loopShards: 1)
            let b = try registry.counter("b_total", help: "B.", labels: ["x"])
            let a = try registry.counter("a_total", help: "A.", labels: ["x"])
            for value in order {
                b.series([value]).increment(shard: 0)
                a.series([value]).increment(shard: 0)
            }
            return registry.render()
        }
        let forward = try build(["p", "q", "r"])
        XCTAssertEqual(forward, try build(["r", "p", "q"]))
        XCTAssertLessThan(forward.range(of: "a_total{x=\"p\"}")!.lowerBound, forward.range(of: "a_total{x=\"r\"}")!.lowerBound)
        XCTAssertLessThan(forward.range(of: "# HELP a_total")!.lowerBound, forward.range(of: "# HELP b_total")!.lowerBound)
    }

    // MARK: Registration rules

    func testNamesAreValidatedAtRegistration() {
        let registry = MetricsRegistry(loopShards: 1)
        func error(_ body: () throws -> Void) -> MetricsRegistrationError? {
            do { try body(); return nil } catch { return error as? MetricsRegistrationError }
        }
        XCTAssertEqual(error { _ = try registry.counter("1bad_total", help: "h") }, .invalidMetricName)
        XCTAssertEqual(error { _ = try registry.counter("bad-name_total", help: "h") }, .invalidMetricName)
        XCTAssertEqual(error { _ = try registry.counter("camelCase_total", help: "h") }, .invalidMetricName)
        XCTAssertEqual(error { _ = try registry.counter("rule:name_total", help: "h") }, .invalidMetricName)
        XCTAssertEqual(error { _ = try registry.gauge("queue_count", help: "h") }, .invalidMetricName)
        XCTAssertEqual(error { _ = try registry.counter("requests", help: "h") }, .counterSuffix)
        XCTAssertEqual(error { _ = try registry.gauge("open_total", help: "h") }, .counterSuffix)
        XCTAssertEqual(error { _ = try registry.counter("x_total", help: "") }, .missingHelp)
        XCTAssertEqual(error { _ = try registry.counter("x_total", help: "h", labels: ["__name"]) }, .invalidLabelName)
        XCTAssertEqual(error { _ = try registry.counter("x_total", help: "h", labels: ["Route"]) }, .invalidLabelName)
        XCTAssertEqual(error { _ = try registry.counter("x_total", help: "h", labels: ["a", "a"]) }, .duplicateLabelName)
        XCTAssertEqual(error { _ = try registry.histogram("h_seconds", help: "h", labels: ["le"], buckets: [1]) }, .reservedLabelName)
        XCTAssertEqual(error { _ = try registry.histogram("h_seconds", help: "h", buckets: [1, 1]) }, .invalidBuckets)
        XCTAssertEqual(error { _ = try registry.histogram("h_seconds", help: "h", buckets: [0.0000000001], unitsPerBaseUnit: 1_000_000_000) }, .invalidBuckets)
        XCTAssertEqual(error { _ = try registry.histogram("h_seconds", help: "h", buckets: []) }, .invalidBuckets)
        XCTAssertNil(error { _ = try registry.histogram("h_seconds", help: "h", buckets: [1, 2]) })
        XCTAssertEqual(error { _ = try registry.gauge("h_seconds", help: "h") }, .duplicateMetricName)
        XCTAssertEqual(error { _ = try registry.counter("metrics_series_dropped_total", help: "h") }, .duplicateMetricName)
        XCTAssertEqual(error { try registry.gauge("h_seconds", help: "h") { [] } }, .duplicateMetricName)
    }

    // MARK: Series limit

    func testASeriesCapSendsNewLabelSetsToOneOverflowSeriesAndCountsThem() throws {
        let registry = MetricsRegistry(loopShards: 1, seriesLimit: 3)
        let family = try registry.counter("paths_total", help: "Paths.", labels: ["route", "method"])
        for route in ["a", "b", "c"] { family.series([route, "GET"]).increment(shard: 0) }
        // Known label sets still resolve to their own series, and are not counted as dropped.
        family.series(["a", "GET"]).increment(shard: 0)
        for route in ["d", "e", "f", "g"] { family.series([route, "GET"]).increment(shard: 0) }
        family.series(["d", "GET"]).increment(shard: 0)
        let text = registry.render()
        XCTAssertTrue(text.contains("""
        paths_total{route="a",method="GET"} 2
        paths_total{route="b",method="GET"} 1
        paths_total{route="c",method="GET"} 1
        paths_total{route="other",method="other"} 5

        """), text)
        XCTAssertFalse(text.contains("route=\"d\""), text)
        XCTAssertTrue(text.contains("metrics_series_dropped_total{family=\"paths_total\"} 5\n"), text)
        // The cap holds for many more.
        for i in 0..<10_000 { family.series(["r\(i)", "GET"]).increment(shard: 0) }
        let lines = registry.render().split(separator: "\n").filter { $0.hasPrefix("paths_total{") }
        XCTAssertEqual(lines.count, 4)
        XCTAssertTrue(registry.render().contains("metrics_series_dropped_total{family=\"paths_total\"} 10005\n"))
    }

    func testCallbackSamplesAreSortedDeduplicatedAndCapped() throws {
        let registry = MetricsRegistry(loopShards: 1, seriesLimit: 2)
        try registry.gauge("pool_open", help: "Open.", labels: ["service"]) {
            [MetricSample(["c"], 3), MetricSample(["a"], 1), MetricSample(["a"], 9), MetricSample(["b"], 2)]
        }
        let text = registry.render()
        XCTAssertTrue(text.hasSuffix("pool_open{service=\"a\"} 1\npool_open{service=\"b\"} 2\n"), text)
        XCTAssertFalse(text.contains("service=\"c\""), text)
        XCTAssertTrue(text.contains("metrics_series_dropped_total{family=\"pool_open\"} 1\n"), text)
    }

    // MARK: Histograms

    func testHistogramBucketEdgesAreInclusive() throws {
        let registry = MetricsRegistry(loopShards: 1)
        let family = try registry.histogram("wait_seconds", help: "Wait.", buckets: [0.001, 0.01], unitsPerBaseUnit: 1_000_000_000)
        let series = family.series()
        for nanos: UInt64 in [0, 1_000_000, 1_000_001, 10_000_000, 10_000_001] { series.observe(nanos, shard: 0) }
        XCTAssertEqual(registry.render().components(separatedBy: "# HELP wait_seconds")[1], """
         Wait.
        # TYPE wait_seconds histogram
        wait_seconds_bucket{le="0.001"} 2
        wait_seconds_bucket{le="0.01"} 4
        wait_seconds_bucket{le="+Inf"} 5
        wait_seconds_sum 0.022000002
        wait_seconds_count 5

        """)
        XCTAssertEqual(series.count, 5)
        XCTAssertEqual(series.sum, 22_000_002)
    }

    func testHistogramInBaseUnitsAndAnyThreadRecording() throws {
        let registry = MetricsRegistry(loopShards: 2)
        let sizes = try registry.histogram("body_bytes", help: "Body sizes.", buckets: [100, 1000]).series()
        sizes.observe(100, shard: 1)
        sizes.observe(1000)
        sizes.observe(1001)
        let text = registry.render()
        XCTAssertTrue(text.contains("""
        body_bytes_bucket{le="100"} 1
        body_bytes_bucket{le="1000"} 2
        body_bytes_bucket{le="+Inf"} 3
        body_bytes_sum 2101
        body_bytes_count 3

        """), text)
    }

    // MARK: Concurrency

    func testConcurrentShardsSumExactlyAndScrapesNeverGoBack() throws {
        let threads = 4
        let perThread = 200_000
        let registry = MetricsRegistry(loopShards: threads)
        let counter = try registry.counter("hits_total", help: "Hits.").series()
        let gauge = try registry.gauge("level", help: "Level.").series()
        let histogram = try registry.histogram("took_seconds", help: "Took.", buckets: [0.000001], unitsPerBaseUnit: 1_000_000_000).series()
        let shared = try registry.counter("shared_total", help: "From any thread.").series()
        let done = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        for shard in 0..<threads {
            let thread = Thread {
                start.wait()
                for i in 0..<perThread {
                    counter.increment(shard: shard)
                    gauge.add(i % 2 == 0 ? 2 : -1, shard: shard)
                    histogram.observe(UInt64(i % 2000), shard: shard)
                    shared.add(1)
                }
                done.leave()
            }
            done.enter()
            thread.start()
        }
        for _ in 0..<threads { start.signal() }
        // Scrape while they run: the counter never goes back, `_count` always equals the `+Inf` bucket.
        var last: UInt64 = 0
        while done.wait(timeout: .now()) == .timedOut {
            let text = registry.render()
            let value = UInt64(Self.sample(text, "hits_total") ?? "")!
            XCTAssertGreaterThanOrEqual(value, last)
            last = value
            XCTAssertEqual(Self.sample(text, "took_seconds_count"), Self.sample(text, "took_seconds_bucket{le=\"+Inf\"}"))
        }
        let total = UInt64(threads * perThread)
        XCTAssertEqual(counter.value, total)
        XCTAssertEqual(shared.value, total)
        XCTAssertEqual(gauge.value, Int64(threads * perThread / 2))
        XCTAssertEqual(histogram.count, total)
        let text = registry.render()
        XCTAssertEqual(Self.sample(text, "hits_total"), "\(total)")
        XCTAssertEqual(Self.sample(text, "shared_total"), "\(total)")
        XCTAssertEqual(Self.sample(text, "took_seconds_bucket{le=\"1e-06\"}"), "\(threads * perThread / 2000 * 1001)")
        XCTAssertEqual(Self.sample(text, "took_seconds_count"), "\(total)")
    }

    /// The value of the sample line starting with `series ` in `text`.
    static func sample(_ text: String, _ series: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return String(line.dropFirst(series.count + 1))
        }
        return nil
    }

    // MARK: The gateway's families

    func testGatewayMetricsRecordThroughPrecomputedHandles() throws {
        let metrics = GatewayMetrics(client: "web", loopShards: 2)
        let user = metrics.route("user")
        user.record(method: "GET", status: 200, durationNanos: 300_000, shard: 0)
        user.record(method: "GET", status: 204, durationNanos: 2_000_000, shard: 1)
        user.record(method: MethodLabel("BREW"), status: 503, durationNanos: 20_000_000, shard: 1)
        user.record(method: "POST", status: 499, durationNanos: 1, shard: 0)
        metrics.unmatched.record(method: "GET", status: 404, durationNanos: 1000, shard: 0)
        let users = metrics.upstream(service: "users", instances: ["10.0.0.1:80", "10.0.0.2:80"])
        users.record(instance: 1, outcome: .success, durationNanos: 1_000_000, shard: 0)
        users.record(instance: 1, outcome: .success, durationNanos: 1_000_000, shard: 1)
        users.record(instance: 0, outcome: .timeout, durationNanos: 1_000_000_000, shard: 1)
        users.record(instance: 7, outcome: .connectFailure, durationNanos: 5)
        let profile = metrics.endpoint("profile", calls: ["user", "orders"])
        profile.callFailed(call: 1, shard: 0)
        profile.partialResponse(shard: 0)
        metrics.parseRejected(code: "bare_lf", shard: 1)
        metrics.parseRejected(code: "something_new", shard: 1)
        metrics.requestsInFlight.add(1, shard: 0)
        metrics.clientConnectionsOpen.add(3, shard: 1)
        metrics.setPoolStatisticsSource { [UpstreamPoolStatistics(service: "users", open: 4, idle: 3, waiters: 1)] }
        metrics.setLogLinesDroppedSource { 17 }

        let response = metrics.scrapeResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        let text = String(decoding: response.body, as: UTF8.self)
        let expected = [
            #"bff_requests_total{client="web",route="unmatched",method="GET",status="4xx"} 1"#,
            #"bff_requests_total{client="web",route="user",method="GET",status="2xx"} 2"#,
            #"bff_requests_total{client="web",route="user",method="POST",status="4xx"} 1"#,
            #"bff_requests_total{client="web",route="user",method="other",status="5xx"} 1"#,
            #"bff_request_duration_seconds_bucket{client="web",route="user",le="0.0005"} 2"#,
            #"bff_request_duration_seconds_bucket{client="web",route="user",le="0.0025"} 3"#,
            #"bff_request_duration_seconds_bucket{client="web",route="user",le="0.025"} 4"#,
            #"bff_request_duration_seconds_count{client="web",route="user"} 4"#,
            #"bff_upstream_requests_total{service="users",instance="10.0.0.2:80",outcome="success"} 2"#,
            #"bff_upstream_requests_total{service="users",instance="10.0.0.1:80",outcome="timeout"} 1"#,
            #"bff_upstream_requests_total{service="users",instance="other",outcome="connect_failure"} 1"#,
            #"bff_upstream_request_duration_seconds_count{service="users",instance="10.0.0.2:80"} 2"#,
            #"bff_upstream_request_duration_seconds_sum{service="users",instance="10.0.0.1:80"} 1"#,
            #"bff_composite_call_failures_total{endpoint="profile",call="orders"} 1"#,
            #"bff_composite_call_failures_total{endpoint="profile",call="user"} 0"#,
            #"bff_composite_partial_responses_total{endpoint="profile"} 1"#,
            #"bff_contract_violations_total{endpoint="profile"} 0"#,
            #"bff_request_parse_rejections_total{problem="bare_lf"} 1"#,
            #"bff_request_parse_rejections_total{problem="other"} 1"#,
            #"bff_request_parse_rejections_total{problem="header_timeout"} 0"#,
            "bff_requests_in_flight 1",
            "bff_client_connections_open 3",
            #"bff_upstream_pool_connections_open{service="users"} 4"#,
            #"bff_upstream_pool_connections_idle{service="users"} 3"#,
            #"bff_upstream_pool_waiters{service="users"} 1"#,
            "bff_log_lines_dropped_total 17",
        ]
        let lines = Set(text.split(separator: "\n").map(String.init))
        for line in expected { XCTAssertTrue(lines.contains(line), "missing \(line) in\n\(text)") }
        // No series for a method or class that was never seen.
        XCTAssertFalse(text.contains(#"method="PUT""#), text)
        XCTAssertFalse(text.contains(#"status="1xx""#), text)
    }

    func testLabelSetsMatchTheirIndexes() {
        XCTAssertEqual(MethodLabel.values.count, MethodLabel.count)
        XCTAssertEqual(StatusClassLabel.values.count, StatusClassLabel.count)
        XCTAssertEqual(UpstreamCallOutcome.allCases.count, UpstreamCallOutcome.count)
        for (i, method) in MethodLabel.values.enumerated() where method != "other" { XCTAssertEqual(MethodLabel(method).index, i) }
        XCTAssertEqual(MethodLabel("get").value, "other")
        XCTAssertEqual([99, 100, 199, 200, 302, 404, 499, 500, 599, 600].map(StatusClassLabel.index(of:)), [0, 0, 0, 1, 2, 3, 3, 4, 4, 4])
        XCTAssertEqual(Set(GatewayMetrics.parseProblemCodes).count, GatewayMetrics.parseProblemCodes.count)
    }

    func testRouteRequestSeriesRespectTheCap() {
        let metrics = GatewayMetrics(client: "web", loopShards: 1, seriesLimit: 3)
        for route in ["a", "b", "c", "d", "e"] {
            metrics.route(route).record(method: "GET", status: 200, durationNanos: 1, shard: 0)
        }
        let text = metrics.registry.render()
        XCTAssertTrue(text.contains(#"bff_requests_total{client="other",route="other",method="other",status="other"} 2"#), text)
        XCTAssertTrue(text.contains(#"bff_metrics_series_dropped_total{family="bff_requests_total"} 2"#), text)
    }

    // MARK: Process metrics

    func testProcessMetricsAreReadFromProc() throws {
        let registry = MetricsRegistry(loopShards: 1)
        try ProcessMetrics.register(in: registry)
        let text = registry.render()
        let resident = try XCTUnwrap(Double(Self.sample(text, "process_resident_memory_bytes") ?? ""))
        XCTAssertGreaterThan(resident, 1_000_000)
        XCTAssertGreaterThan(try XCTUnwrap(Double(Self.sample(text, "process_virtual_memory_bytes") ?? "")), resident)
        XCTAssertGreaterThan(try XCTUnwrap(Double(Self.sample(text, "process_cpu_seconds_total") ?? "")), 0)
        XCTAssertGreaterThan(try XCTUnwrap(Double(Self.sample(text, "process_max_fds") ?? "")), 0)
        let start = try XCTUnwrap(Double(Self.sample(text, "process_start_time_seconds") ?? ""))
        let now = Date().timeIntervalSince1970
        XCTAssertLessThanOrEqual(start, now + 1)
        XCTAssertGreaterThan(start, now - 86_400 * 7)
        // Opening descriptors shows up on the next scrape.
        let before = try XCTUnwrap(Int(Self.sample(text, "process_open_fds") ?? ""))
        let opened = (0..<5).map { _ in open("/dev/null", O_RDONLY) }
        defer { opened.forEach { _ = close($0) } }
        XCTAssertEqual(Int(Self.sample(registry.render(), "process_open_fds") ?? ""), before + 5)
    }

    func testProcFileParsing() {
        XCTAssertTrue(ProcessMetrics.parseStatm(Array("2500 300 100 10 0 200 0\n".utf8), pageSize: 4096)! == (2500 * 4096, 300 * 4096))
        XCTAssertNil(ProcessMetrics.parseStatm(Array("x".utf8), pageSize: 4096))
        // A command name with spaces and parentheses; starttime (field 22) is 500 ticks after boot.
        let fields = (4...52).map { $0 == 22 ? "500" : "0" }.joined(separator: " ")
        let stat = Array("1234 (a) (b c) S \(fields)\n".utf8)
        let system = Array("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n".utf8)
        XCTAssertEqual(ProcessMetrics.parseStartTime(processStat: stat, systemStat: system, ticksPerSecond: 100), 1_700_000_005)
        XCTAssertNil(ProcessMetrics.parseStartTime(processStat: stat, systemStat: Array("cpu 1\n".utf8), ticksPerSecond: 100))
    }

    // MARK: promtool

    /// `promtool check metrics` (Debian package `prometheus`) on a populated gateway exposition.
    func testPromtoolAcceptsThePopulatedGatewayExposition() throws {
        let metrics = GatewayMetrics(client: "web", loopShards: 2)
        metrics.route("user").record(method: "GET", status: 200, durationNanos: 300_000, shard: 0)
        metrics.route("weird \"route\"\nname\\").record(method: "DELETE", status: 500, durationNanos: 9_000_000_000, shard: 1)
        metrics.upstream(service: "users", instances: ["127.0.0.1:8081"]).record(instance: 0, outcome: .serverError, durationNanos: 1_000, shard: 1)
        metrics.endpoint("profile", calls: ["user"]).contractViolation(shard: 0)
        metrics.parseRejected(code: "obs_fold", shard: 0)
        metrics.setPoolStatisticsSource { [UpstreamPoolStatistics(service: "users", open: 1, idle: 1, waiters: 0)] }
        let result = try Self.promtoolCheck(metrics.registry.exposition())
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(result.output, "", "promtool found problems:\n\(result.output)")
    }

    /// Runs `promtool check metrics` on `exposition`; skips the test when promtool is not installed.
    static func promtoolCheck(_ exposition: [UInt8]) throws -> (status: Int32, output: String) {
        guard let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("promtool is not installed (apt-get install prometheus); CI installs it")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: promtool)
        process.arguments = ["check", "metrics"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(exposition))
        try input.fileHandleForWriting.close()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: text, as: UTF8.self))
    }
}
