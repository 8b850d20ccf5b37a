import XCTest
import Foundation
@testable import AggregationKit

/// Security events: the burst detector as a pure type (time by hand, its bound hit), and the counters a
/// scrape shows after known refusals over real sockets.
final class SecurityEventsTests: XCTestCase {
    // MARK: InvalidCredentialBursts

    func testBurstIsReportedOncePerWindowAtTheThreshold() {
        let bursts = InvalidCredentialBursts(threshold: 3, windowSeconds: 60)
        XCTAssertNil(bursts.record(client: "10.0.0.1", now: 100))
        XCTAssertNil(bursts.record(client: "10.0.0.1", now: 101))
        XCTAssertEqual(bursts.record(client: "10.0.0.1", now: 102), 3, "the third within the window crosses")
        XCTAssertNil(bursts.record(client: "10.0.0.1", now: 103), "reported once per window, not per failure")
        XCTAssertNil(bursts.record(client: "10.0.0.2", now: 103), "another client has its own count")
        // The window started at 100: at 159 it still runs, at 160 a new one starts.
        XCTAssertNil(bursts.record(client: "10.0.0.1", now: 159))
        XCTAssertNil(bursts.record(client: "10.0.0.1", now: 160))
        XCTAssertNil(bursts.record(client: "10.0.0.1", now: 161))
        XCTAssertEqual(bursts.record(client: "10.0.0.1", now: 162), 3, "a new window, a new report")
    }

    func testThresholdOfOneReportsTheFirst() {
        let bursts = InvalidCredentialBursts(threshold: 1, windowSeconds: 10)
        XCTAssertEqual(bursts.record(client: "a", now: 0), 1)
        XCTAssertNil(bursts.record(client: "a", now: 1))
    }

    func testTableIsBoundedAndKeepsLiveWindows() {
        let bursts = InvalidCredentialBursts(threshold: 2, windowSeconds: 60, maximumClients: 100)
        for i in 0..<100 { XCTAssertNil(bursts.record(client: "c\(i)", now: 0)) }
        XCTAssertEqual(bursts.trackedClients, 100)
        // Full of live windows: a newcomer is not tracked, and nobody is evicted.
        XCTAssertNil(bursts.record(client: "spray-1", now: 10))
        XCTAssertEqual(bursts.trackedClients, 100)
        XCTAssertEqual(bursts.untracked, 1)
        XCTAssertEqual(bursts.record(client: "c7", now: 11), 2, "a tracked client still crosses")
        // Once the windows have finished they are swept and newcomers tracked again.
        XCTAssertNil(bursts.record(client: "late", now: 60))
        XCTAssertEqual(bursts.trackedClients, 1)
        XCTAssertEqual(bursts.record(client: "late", now: 61), 2)
    }

    /// A spray of new addresses against a table full of live windows sweeps it once per window, not once
    /// per refusal (each sweep rebuilds the table under the lock every loop shares).
    func testAFullTableIsSweptOncePerWindowNotPerRefusal() {
        let bursts = InvalidCredentialBursts(threshold: 5, windowSeconds: 60, maximumClients: 1000)
        for i in 0..<1000 { _ = bursts.record(client: "c\(i)", now: 0) }
        for i in 0..<10_000 { XCTAssertNil(bursts.record(client: "spray-\(i)", now: 1 + Int64(i % 50))) }
        XCTAssertEqual(bursts.sweeps, 1, "one sweep finds every window live and knows none ends before 60")
        XCTAssertEqual(bursts.untracked, 10_000)
        XCTAssertNil(bursts.record(client: "new", now: 60))
        XCTAssertEqual(bursts.sweeps, 2)
        XCTAssertEqual(bursts.trackedClients, 1, "at 60 the first windows have finished")
    }

    // MARK: Over the wire

    /// Behind a trusted proxy, bursts are counted per real client: 10 + 10 refusals from two addresses
    /// are no burst (the proxy's address would have crossed 20), 10 more from one of them are.
    func testBurstsCountTheRealClientBehindATrustedProxy() throws {
        let mint = try TokenMint()
        let stub = try StubDownstream(["/x": .init(body: #"{"ok":true}"#)])
        defer { stub.stop() }
        let gw = try TestGateway("""
        {
          "listen": {"host": "127.0.0.1", "port": 0}, "trustedProxies": ["127.0.0.0/8"],
          "services": {"s": {"instances": ["127.0.0.1:\(stub.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "auth": {"jwt": {"providers": {"main": {"keys": [{"jwk": \(mint.publicJWK)}], "issuers": ["\(TokenMint.issuer)"],
                                                  "audiences": ["\(TokenMint.audience)"]}}}},
          "routes": [{"name": "open", "path": "/x", "proxy": {"service": "s"}, "policy": {"auth": {"provider": "main"}}}]
        }
        """)
        defer {
            gw.gateway.adminServer?.shutdown()
            gw.stop()
        }
        let adminPort = try XCTUnwrap(gw.gateway.adminServer).start()
        func refused(from address: String) throws {
            let c = try RawClient(port: gw.port)
            c.send("GET /x HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: \(address)\r\nAuthorization: Bearer not.a.token\r\n\r\n")
            XCTAssertEqual(try XCTUnwrap(c.readResponse()).status, 401)
        }
        func bursts() throws -> String? {
            let c = try RawClient(port: adminPort)
            c.send("GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n")
            let text = String(decoding: try XCTUnwrap(c.readResponse()).body, as: UTF8.self)
            return text.split(separator: "\n").first { $0.hasPrefix(#"bff_security_events_total{event="auth.invalid_token_burst"}"#) }
                .map { String($0.split(separator: " ").last!) }
        }
        for _ in 0..<10 { try refused(from: "198.51.100.1") }
        for _ in 0..<10 { try refused(from: "198.51.100.2") }
        XCTAssertEqual(try bursts(), "0", "two clients, ten each: no burst")
        for _ in 0..<10 { try refused(from: "198.51.100.1") }
        XCTAssertEqual(try bursts(), "1")
    }

    func testRefusalsAreCountedByEventAndBurstsDetected() throws {
        let mint = try TokenMint()
        let stub = try StubDownstream(["/x": .init(body: #"{"ok":true}"#)])
        defer { stub.stop() }
        let gw = try TestGateway("""
        {
          "listen": {"host": "127.0.0.1", "port": 0},
          "services": {"s": {"instances": ["127.0.0.1:\(stub.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "auth": {"jwt": {"providers": {"main": {"keys": [{"jwk": \(mint.publicJWK)}], "issuers": ["\(TokenMint.issuer)"],
                                                  "audiences": ["\(TokenMint.audience)"]}}}},
          "routes": [
            {"name": "open", "path": "/x", "proxy": {"service": "s"}, "policy": {"auth": {"provider": "main"}}},
            {"name": "admin", "path": "/admin", "proxy": {"service": "s", "path": "/x"},
             "policy": {"auth": {"require": {"scopes": ["admin"]}}}}
          ]
        }
        """)
        defer {
            gw.gateway.adminServer?.shutdown()
            gw.stop()
        }
        let adminPort = try XCTUnwrap(gw.gateway.adminServer).start()
        let now = Int64(Date().timeIntervalSince1970)
        let good = try mint.token(claims: TokenMint.claims(sub: "u1", exp: now + 300))
        let expired = try mint.token(claims: TokenMint.claims(sub: "u1", exp: now - 3600))

        func get(_ path: String, _ token: String?) throws -> Int {
            let c = try RawClient(port: gw.port)
            c.send("GET \(path) HTTP/1.1\r\nHost: t\r\n" + (token.map { "Authorization: Bearer \($0)\r\n" } ?? "") + "\r\n")
            return try XCTUnwrap(c.readResponse()).status
        }
        XCTAssertEqual(try get("/x", good), 200)
        XCTAssertEqual(try get("/x", nil), 401)
        XCTAssertEqual(try get("/admin", good), 403)
        // 20 refused tokens from one address (the default threshold): one burst.
        for _ in 0..<20 { XCTAssertEqual(try get("/x", expired), 401) }
        XCTAssertEqual(try get("/x", "not.a.token"), 401)

        let c = try RawClient(port: adminPort)
        c.send("GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n")
        let text = String(decoding: try XCTUnwrap(c.readResponse()).body, as: UTF8.self)
        func value(_ event: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix("bff_security_events_total{event=\"\(event)\"}") }
                .map { String($0.split(separator: " ").last!) }
        }
        XCTAssertEqual(value("auth.unauthenticated"), "22", text)
        XCTAssertEqual(value("auth.forbidden"), "1")
        XCTAssertEqual(value("auth.invalid_token_burst"), "1", "one burst: the missing token does not count, the 21st refusal is past the threshold")
        XCTAssertEqual(value("auth.login_failed"), "0", "every event has a series from the start")
    }
}

/// The client address behind trusted proxies (`ForwardingPolicy.originalClient`), and the login lockout
/// keyed by it over real sockets.
final class OriginalClientTests: XCTestCase {
    private func policy(_ networks: [String]) -> ForwardingPolicy {
        var p = ForwardingPolicy()
        p.trustedProxies = networks.map { try! IPNetwork($0) }
        return p
    }

    func testTheRightMostUntrustedHopIsTheClient() {
        let p = policy(["10.0.0.0/8", "fd00::/8"])
        func client(_ peer: String, _ fields: [String]) -> String {
            p.originalClient(peer: peer, headers: HTTPHeaders(fields.map { ("X-Forwarded-For", $0) }))
        }
        XCTAssertEqual(client("203.0.113.9", ["198.51.100.1"]), "203.0.113.9", "an untrusted peer's header is not believed")
        XCTAssertEqual(client("10.0.0.2", ["198.51.100.1"]), "198.51.100.1")
        XCTAssertEqual(client("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.1.1.1"]), "198.51.100.1", "a client cannot prepend a spoofed hop")
        XCTAssertEqual(client("10.0.0.2", ["10.9.9.9,10.1.1.1"]), "10.9.9.9", "every hop trusted: the first")
        XCTAssertEqual(client("10.0.0.2", []), "10.0.0.2")
        XCTAssertEqual(client("10.0.0.2", ["198.51.100.1", "198.51.100.2"]), "198.51.100.2", "two fields are one list (HAProxy adds its own field)")
        XCTAssertEqual(client("10.0.0.2", ["6.6.6.6", "198.51.100.2, 10.1.1.1"]), "198.51.100.2")
        XCTAssertEqual(client("10.0.0.2", ["198.51.100.1, unknown"]), "10.0.0.2", "an unreadable hop written by a trusted proxy: not believed")
        XCTAssertEqual(client("10.0.0.2", ["198.51.100.1,,10.1.1.1"]), "10.0.0.2")
        XCTAssertEqual(client("fd00::1", ["2001:db8::7"]), client("fd00::1", ["2001:DB8:0::0:7"]), "one spelling per address: no fresh count from another")
        XCTAssertEqual(client("10.0.0.2", [Array(repeating: "10.1.1.1", count: 40).joined(separator: ",")]), "10.0.0.2", "bounded")
    }

    /// Red team (issue 8): what a client writes left of the first untrusted hop is never read, so it
    /// cannot move its failures onto the proxy's own address (shared by everyone behind it); hops with
    /// ports, mapped addresses, tabs and zone ids.
    func testOnlyTheHopsWalkedFromTheRightAreRead() {
        let p = policy(["10.0.0.0/8", "fd00::/8"])
        func client(_ fields: [String], peer: String = "10.0.0.2") -> String {
            p.originalClient(peer: peer, headers: HTTPHeaders(fields.map { ("X-Forwarded-For", $0) }))
        }
        XCTAssertEqual(client(["unknown, 198.51.100.7"]), "198.51.100.7", "garbage the client prepended is not read")
        XCTAssertEqual(client(["<script>", "198.51.100.7"]), "198.51.100.7")
        XCTAssertEqual(client([Array(repeating: "6.6.6.6", count: 100).joined(separator: ",") + ", 198.51.100.7, 10.1.1.1"]), "198.51.100.7",
                       "a long spoofed prefix is not read")
        XCTAssertEqual(client(["198.51.100.7:5555"]), "198.51.100.7", "a port (Azure Application Gateway writes one)")
        XCTAssertEqual(client(["[2001:db8::7]:443"]), "2001:db8:0:0:0:0:0:7")
        XCTAssertEqual(client(["[2001:db8::7]"]), "2001:db8:0:0:0:0:0:7")
        XCTAssertEqual(client(["::ffff:198.51.100.7"]), "198.51.100.7", "mapped: the same key as the IPv4 spelling")
        XCTAssertEqual(client(["\t198.51.100.7\t"]), "198.51.100.7")
        XCTAssertEqual(client(["::ffff:10.1.1.1, 198.51.100.7"]), "198.51.100.7")
        XCTAssertEqual(client(["198.51.100.7, ::ffff:10.1.1.1"]), "198.51.100.7", "a mapped trusted hop is trusted")
        XCTAssertEqual(client(["fe80::1%eth0"]), "10.0.0.2", "zone ids are not addresses")
        XCTAssertEqual(client(["198.51.100.7:"]), "10.0.0.2")
        XCTAssertEqual(client(["198.51.100.7:123456"]), "10.0.0.2")
        XCTAssertEqual(client(["[2001:db8::7]x"]), "10.0.0.2")
        XCTAssertEqual(client(["1.2.3.4:80:80"]), "10.0.0.2")
        XCTAssertEqual(client(["0x7f.1"]), "10.0.0.2")
        XCTAssertEqual(client(["198.51.100.7"], peer: "::ffff:10.0.0.2"), "198.51.100.7", "a mapped peer is trusted like its IPv4 spelling")
        XCTAssertEqual(client(["198.51.100.7"], peer: "fe80::1%eth0"), "fe80::1%eth0")
        XCTAssertEqual(ForwardingPolicy().originalClient(peer: "10.0.0.2", headers: HTTPHeaders([("X-Forwarded-For", "1.2.3.4")])), "10.0.0.2",
                       "nobody trusted by default")
    }

    /// A gateway behind a trusted proxy (the test client on 127.0.0.1) whose logins lock an address out
    /// after 3 failures (accounts after 100), and a login through it with the given `X-Forwarded-For`
    /// fields; the status.
    private func proxiedLogins(_ body: ((_ user: String, _ password: String, _ forwardedFor: [String]) throws -> Int) throws -> Void) throws {
        let identity = try TestIdentityService()
        defer { identity.stop() }
        let gw = try TestGateway("""
        {
          "listen": {"host": "127.0.0.1", "port": 0}, "trustedProxies": ["127.0.0.1/32"],
          "services": {"identity": {"instances": ["127.0.0.1:\(identity.port)"], "connectTimeoutMs": 500, "responseTimeoutMs": 2000}},
          "auth": {"sessions": {"mode": "bearer", "identity": {"service": "identity"},
                                "lockout": {"account": {"threshold": 100}, "client": {"threshold": 3}}}},
          "routes": []
        }
        """)
        defer { gw.stop() }
        try body { user, password, fields in
            let c = try RawClient(port: gw.port)
            let json = #"{"username":"\#(user)","password":"\#(password)"}"#
            let xff = fields.map { "X-Forwarded-For: \($0)\r\n" }.joined()
            c.send("POST /auth/login HTTP/1.1\r\nHost: gw\r\n\(xff)Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)")
            return try XCTUnwrap(c.readResponse()).status
        }
    }

    /// Behind a trusted proxy, one address's failures lock that address out, not the proxy's other users.
    func testLockoutCountsTheRealClientBehindATrustedProxy() throws {
        try proxiedLogins { login in
            for i in 0..<3 { XCTAssertEqual(try login("user\(i)", "wrong", ["198.51.100.7"]), 401) }
            XCTAssertEqual(try login("alice", "wonderland", ["198.51.100.7"]), 429, "that address is locked out")
            XCTAssertEqual(try login("alice", "wonderland", ["198.51.100.8"]), 200, "another user behind the same proxy is not")

            // IPv6: one subscriber's /64 is one count (else every failure could come from a fresh address).
            for i in 1...3 { XCTAssertEqual(try login("user\(i)", "wrong", ["2001:db8:1:2::\(i)"]), 401) }
            XCTAssertEqual(try login("alice", "wonderland", ["2001:db8:1:2:ffff::9"]), 429, "the same /64 is locked out")
            XCTAssertEqual(try login("alice", "wonderland", ["2001:db8:1:3::1"]), 200, "the next /64 is not")
        }
    }

    func testIPv6ClientsAreCountedByTheirSlash64() {
        XCTAssertEqual(ForwardingPolicy.clientKey("198.51.100.7"), "198.51.100.7")
        XCTAssertEqual(ForwardingPolicy.clientKey("::ffff:198.51.100.7"), "::ffff:198.51.100.7", "IPv4-mapped stays per address")
        XCTAssertEqual(ForwardingPolicy.clientKey("2001:db8:1:2::1"), "2001:db8:1:2::/64")
        XCTAssertEqual(ForwardingPolicy.clientKey("2001:DB8:1:2:abcd:ef01:2345:6789"), "2001:db8:1:2::/64")
        XCTAssertEqual(ForwardingPolicy.clientKey("not-an-address"), "not-an-address")
    }

    /// Red team (issue 8): a client behind the proxy prepends garbage to its own X-Forwarded-For; its
    /// failures still count against its address (not the proxy's, which users whose hop carries a port
    /// or whose list comes in two fields would otherwise share with it).
    func testPrependedGarbageDoesNotMoveFailuresOntoTheProxy() throws {
        try proxiedLogins { login in
            for i in 0..<3 { XCTAssertEqual(try login("user\(i)", "wrong", ["unknown, 198.51.100.7"]), 401) }
            XCTAssertEqual(try login("alice", "wonderland", ["198.51.100.7"]), 429, "the attacker's own address is locked out")
            XCTAssertEqual(try login("alice", "wonderland", ["198.51.100.9:5555"]), 200, "a user whose hop has a port is not")
            XCTAssertEqual(try login("alice", "wonderland", ["192.0.2.1", "198.51.100.10"]), 200, "nor one whose list comes in two fields")
        }
    }
}
