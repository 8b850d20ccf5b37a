import XCTest
@testable import AggregationKit

/// `services.<name>`: instances as strings or objects with weight and zone, the balancer, and the errors
/// for everything else.
final class ServiceConfigurationTests: XCTestCase {
    private func issues(_ services: String) -> [String] {
        do {
            _ = try GatewayConfiguration.parse(Array(#"{"services": \#(services)}"#.utf8), file: "gateway.json")
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    func testInstancesAsStringsAndObjects() throws {
        let c = try GatewayConfiguration.parse(Array("""
        {"services": {"a": {"instances": ["127.0.0.1:81", {"address": "http://10.0.0.2:82", "weight": 5, "zone": "eu-1"},
                                          {"address": "[::1]:83", "weight": 1000}],
                            "balancer": "roundRobin"}}}
        """.utf8), file: "g.json")
        XCTAssertEqual(c.services[0].instances, [
            InstanceConfiguration(host: "127.0.0.1", port: 81),
            InstanceConfiguration(host: "10.0.0.2", port: 82, weight: 5, zone: "eu-1"),
            InstanceConfiguration(host: "::1", port: 83, weight: 1000),
        ])
        XCTAssertEqual(c.services[0].balancer, .roundRobin)
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let upstream = try Upstream(configuration: c.services[0], group: group)
        XCTAssertEqual(upstream.instances.map(\.authority), ["127.0.0.1:81", "10.0.0.2:82", "[::1]:83"])
        XCTAssertEqual(upstream.instances.map(\.weight), [1, 5, 1000])
        XCTAssertEqual(upstream.instances.map(\.index), [0, 1, 2])
    }

    func testDefaults() throws {
        let c = try GatewayConfiguration.parse(Array(#"{"services": {"a": {"instances": ["127.0.0.1:81"]}}}"#.utf8), file: "g.json")
        XCTAssertEqual(c.services[0].instances, [InstanceConfiguration(host: "127.0.0.1", port: 81, weight: 1, zone: nil)])
        XCTAssertEqual(c.services[0].balancer, .roundRobin)
    }

    func testBadInstancesAreReportedWithTheirPaths() {
        XCTAssertEqual(issues("""
        {"a": {"instances": [{"address": "127.0.0.1:81", "weight": 0}, {"address": "127.0.0.1:82", "weight": 1001},
                             {"address": "127.0.0.1:83", "weight": 1.5}, {"address": "127.0.0.1:84", "weight": "2"},
                             {"address": "127.0.0.1:85", "wieght": 2}, {"weight": 2}, {"address": "nohost"},
                             {"address": "127.0.0.1:86", "zone": "eu 1"}, {"address": "127.0.0.1:87", "zone": ""}, true, []]}}
        """), [
            "gateway.json: $.services.a.instances[0].weight: 0 is out of range 1...1000",
            "gateway.json: $.services.a.instances[1].weight: 1001 is out of range 1...1000",
            "gateway.json: $.services.a.instances[2].weight: expected an integer, found a fraction",
            "gateway.json: $.services.a.instances[3].weight: expected an integer, found string",
            "gateway.json: $.services.a.instances[4].wieght: unknown key (allowed: address, weight, zone)",
            "gateway.json: $.services.a.instances[5].address: required",
            "gateway.json: $.services.a.instances[6].address: 'nohost' is not host:port with a port in 1...65535",
            "gateway.json: $.services.a.instances[7].zone: 'eu 1' is not a zone name (1 to 64 letters, digits, '.', '_' or '-')",
            "gateway.json: $.services.a.instances[8].zone: '' is not a zone name (1 to 64 letters, digits, '.', '_' or '-')",
            "gateway.json: $.services.a.instances[9]: expected \"host:port\" or {\"address\": \"host:port\", \"weight\": 1, \"zone\": \"…\"}, found boolean",
            "gateway.json: $.services.a.instances[10]: expected \"host:port\" or {\"address\": \"host:port\", \"weight\": 1, \"zone\": \"…\"}, found array",
        ])
    }

    /// The same address twice would silently double its share: say so, and point at `weight`.
    func testAnInstanceListedTwiceIsAnError() {
        XCTAssertEqual(issues(#"{"a": {"instances": ["127.0.0.1:81", {"address": "http://127.0.0.1:81/"}]}}"#), [
            "gateway.json: $.services.a.instances[1]: '127.0.0.1:81' is listed twice (give one entry a weight instead)",
        ])
    }

    func testBalancers() {
        XCTAssertEqual(issues(#"{"a": {"instances": ["127.0.0.1:81"], "balancer": "leastRequest"}}"#), [
            "gateway.json: $.services.a.balancer: 'leastRequest' is not available yet (available: roundRobin)",
        ])
        XCTAssertEqual(issues(#"{"a": {"instances": ["127.0.0.1:81"], "balancer": "fastest"}}"#), [
            "gateway.json: $.services.a.balancer: unknown balancer 'fastest' (available: roundRobin)",
        ])
        XCTAssertEqual(issues(#"{"a": {"instances": ["127.0.0.1:81"], "balancer": 1}}"#), [
            "gateway.json: $.services.a.balancer: expected a string, found number",
        ])
    }
}
