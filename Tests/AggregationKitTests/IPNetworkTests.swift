import XCTest
@testable import AggregationKit

final class IPNetworkTests: XCTestCase {
    private func network(_ text: String) -> IPNetwork? { try? IPNetwork(text) }
    private func reason(_ text: String) -> String? {
        do { _ = try IPNetwork(text); return nil } catch { return error.reason }
    }

    func testAddresses() {
        XCTAssertEqual(IPAddress("10.0.0.1")?.description, "10.0.0.1")
        XCTAssertEqual(IPAddress("::ffff:10.0.0.1"), IPAddress("10.0.0.1"), "IPv4-mapped is the same client")
        XCTAssertEqual(IPAddress("::1")?.bytes, [UInt8](repeating: 0, count: 15) + [1])
        XCTAssertEqual(IPAddress("2001:db8::1"), IPAddress("2001:0db8:0:0:0:0:0:1"))
        XCTAssertEqual(IPAddress("::"), IPAddress("0:0:0:0:0:0:0:0"))
        XCTAssertEqual(IPAddress("1::"), IPAddress("1:0:0:0:0:0:0:0"))
        XCTAssertEqual(IPAddress("64:ff9b::192.0.2.33")?.bytes.suffix(4), [192, 0, 2, 33])
        for bad in ["", "10.0.0", "10.0.0.256", "10.0.0.01", "010.0.0.1", "10.0.0.1.2", "1.2.3.-4", " 1.2.3.4", "a.b.c.d",
                    "1::2::3", ":::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "::g", "fe80::1%eth0", "1:2:3:4:5:6:7::8",
                    "::1.2.3", "1.2.3.4::", "localhost"] {
            XCTAssertNil(IPAddress(bad), bad)
        }
    }

    func testContains() throws {
        let loopback = try IPNetwork("127.0.0.0/8")
        XCTAssertTrue(loopback.contains(IPAddress("127.0.0.1")!))
        XCTAssertTrue(loopback.contains(IPAddress("127.255.255.255")!))
        XCTAssertTrue(loopback.contains(IPAddress("::ffff:127.0.0.1")!))
        XCTAssertFalse(loopback.contains(IPAddress("128.0.0.1")!))
        XCTAssertFalse(loopback.contains(IPAddress("::1")!))
        let odd = try IPNetwork("10.1.64.0/18")
        XCTAssertTrue(odd.contains(IPAddress("10.1.127.255")!))
        XCTAssertFalse(odd.contains(IPAddress("10.1.128.0")!))
        XCTAssertFalse(odd.contains(IPAddress("10.1.63.255")!))
        let host = try IPNetwork("192.0.2.7")
        XCTAssertTrue(host.contains(IPAddress("192.0.2.7")!))
        XCTAssertFalse(host.contains(IPAddress("192.0.2.8")!))
        XCTAssertTrue(try IPNetwork("0.0.0.0/0").contains(IPAddress("203.0.113.9")!))
        XCTAssertFalse(try IPNetwork("0.0.0.0/0").contains(IPAddress("2001:db8::1")!), "an IPv4 block holds no IPv6 address")
        let v6 = try IPNetwork("2001:db8::/33")
        XCTAssertTrue(v6.contains(IPAddress("2001:db8:7fff::1")!))
        XCTAssertFalse(v6.contains(IPAddress("2001:db8:8000::1")!))
        XCTAssertTrue(try IPNetwork("::1/128").contains(IPAddress("::1")!))
    }

    func testStrictParsing() {
        XCTAssertEqual(reason("10.0.0.1/8"), "bits are set after the /8 prefix")
        XCTAssertEqual(reason("10.0.0.0/33"), "the prefix length must be a number 0...32")
        XCTAssertEqual(reason("::/129"), "the prefix length must be a number 0...128")
        XCTAssertEqual(reason("10.0.0.0/"), "the prefix length must be a number 0...32")
        XCTAssertEqual(reason("10.0.0.0/08"), "the prefix length must be a number 0...32")
        XCTAssertEqual(reason("10.0.0.0/+8"), "the prefix length must be a number 0...32")
        XCTAssertEqual(reason("10.0.0.0/8/8"), "the prefix length must be a number 0...32")
        XCTAssertEqual(reason("10.0.0/8"), "'10.0.0' is not an IPv4 or IPv6 address")
        XCTAssertEqual(reason("fe80::/10x"), "the prefix length must be a number 0...128")
        XCTAssertEqual(reason("2001:db8::1/32"), "bits are set after the /32 prefix")
        XCTAssertNil(reason("fe80::/10"))
        XCTAssertNil(reason("0.0.0.0/0"))
    }

    func testPolicyTrustsOnlyListedClients() throws {
        var policy = ForwardingPolicy()
        XCTAssertFalse(policy.trusts("127.0.0.1"), "nobody is trusted by default")
        policy.trustedProxies = [try IPNetwork("10.0.0.0/8"), try IPNetwork("fd00::/8")]
        XCTAssertTrue(policy.trusts("10.2.3.4"))
        XCTAssertTrue(policy.trusts("fd12::1"))
        XCTAssertFalse(policy.trusts("11.0.0.1"))
        XCTAssertFalse(policy.trusts("not an address"))
    }

    func testConfigurationKeys() throws {
        func parse(_ extra: String) throws -> GatewayConfiguration {
            try GatewayConfiguration.parse(Array("{\(extra), \"services\": {}, \"routes\": []}".utf8), file: "g.json")
        }
        let c = try parse(#""trustedProxies": ["10.0.0.0/8", "::1"], "underscoresInHeaders": true, "allowEncodedSlashes": true"#)
        XCTAssertEqual(c.forwarding.trustedProxies.map(\.text), ["10.0.0.0/8", "::1"])
        XCTAssertTrue(c.forwarding.underscoresInHeaders)
        XCTAssertTrue(c.server.limits.allowEncodedSlashes)
        let d = try parse(#""name": "x""#)
        XCTAssertTrue(d.forwarding.trustedProxies.isEmpty)
        XCTAssertFalse(d.forwarding.underscoresInHeaders)
        XCTAssertFalse(d.server.limits.allowEncodedSlashes)
        XCTAssertThrowsError(try parse(#""trustedProxies": ["10.0.0.1/8", 5, "x"], "underscoresInHeaders": "no", "allowEncodedSlashes": 1"#)) { error in
            XCTAssertEqual((error as? ConfigurationError)?.issues.map(\.description), [
                "g.json: $.allowEncodedSlashes: expected true or false, found number",
                "g.json: $.underscoresInHeaders: expected true or false, found string",
                "g.json: $.trustedProxies[0]: '10.0.0.1/8' is not a network: bits are set after the /8 prefix",
                "g.json: $.trustedProxies[1]: expected a CIDR string such as \"10.0.0.0/8\", found number",
                "g.json: $.trustedProxies[2]: 'x' is not a network: 'x' is not an IPv4 or IPv6 address",
            ])
        }
        XCTAssertThrowsError(try parse(#""trustedProxies": "10.0.0.0/8""#))
    }
}
