import XCTest
import Foundation
@testable import AggregationKit

/// Hostile clients against proxy routes, over real sockets: what reaches the upstream (Python's echo
/// server, which answers with the target and headers it received) and what the client sees.
final class ProxyHardeningTests: XCTestCase {
    var downstream: Downstream!
    var gateways: [Gateway] = []

    override func setUpWithError() throws {
        downstream = try Downstream()
    }

    override func tearDown() {
        for g in gateways { g.shutdown(); g.group.shutdown() }
        downstream?.stop()
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Admin session credentials (header lines) for the shipped web gateway's user routes (set by `webGateway`).
    var adminFields: String?
    private var authorization: String { adminFields ?? "" }

    /// The shipped web gateway (`contracts/web`), every service pointed at the echo server; its session
    /// credentials of an admin session (`adminFields`) pass its owner-or-admin routes.
    private func webGateway() throws -> Int {
        var (config, fields) = try ShippedContracts.load("web")
        adminFields = fields
        for i in config.services.indices { config.services[i].instances = [InstanceConfiguration(host: "127.0.0.1", port: downstream.port)] }
        return try start(config)
    }

    private func gateway(_ json: String) throws -> Int {
        try start(try GatewayConfiguration.parse(Array(json.utf8), file: "test.json"))
    }

    private func start(_ configuration: GatewayConfiguration) throws -> Int {
        var config = configuration
        config.server.port = 0
        LogBuffer.enabled = false
        let g = try Gateway(configuration: config, group: try EventLoopGroup(threads: 1))
        gateways.append(g)
        return try g.start()
    }

    private func send(_ port: Int, _ request: String) throws -> HTTPResponse {
        let c = try RawClient(port: port)
        c.send(request)
        return try XCTUnwrap(c.readResponse(), "no response to \(request.debugDescription)")
    }

    /// The target the upstream received for a `GET` of `target`.
    private func upstreamTarget(_ port: Int, _ target: String, headers: String = "") throws -> String? {
        let r = try send(port, "GET \(target) HTTP/1.1\r\nHost: shop.example\r\n\(authorization)\(headers)\r\n")
        XCTAssertEqual(r.status, 200, "\(target): \(r.text)")
        return r.json?["path"]?.stringValue
    }

    /// The headers the upstream received, names lower-cased, values of repeated names joined by "|".
    private func upstreamHeaders(_ port: Int, _ headers: String) throws -> [String: String] {
        let r = try send(port, "GET /echo HTTP/1.1\r\nHost: shop.example\r\n\(headers)\r\n")
        XCTAssertEqual(r.status, 200, r.text)
        var sent: [String: String] = [:]
        for pair in r.json?["headers"]?.arrayValue ?? [] {
            let name = pair.arrayValue![0].stringValue!.lowercased(), value = pair.arrayValue![1].stringValue!
            sent[name] = sent[name].map { $0 + "|" + value } ?? value
        }
        return sent
    }

    // MARK: Path templates

    func testTemplateValueCannotInjectQueryParameters() throws {
        let port = try webGateway()
        XCTAssertEqual(try upstreamTarget(port, "/api/web/users/7&limit=50/orders"), "/orders?userId=7%26limit%3D50")
        XCTAssertEqual(try upstreamTarget(port, "/api/web/users/7%26limit%3D50/orders"), "/orders?userId=7%26limit%3D50")
        XCTAssertEqual(try upstreamTarget(port, "/api/web/users/1+1/orders"), "/orders?userId=1%2B1", "a path's '+' is a plus")
        XCTAssertEqual(try upstreamTarget(port, "/api/web/users/7/orders?limit=5"), "/orders?userId=7&limit=5", "the client's own query follows")
        // Into a path segment: characters that would end the segment or start the query are encoded.
        XCTAssertEqual(try upstreamTarget(port, "/api/web/users/7?x=1"), "/users/7?x=1")
        XCTAssertEqual(try upstreamTarget(port, "/api/web/users/a;b=c,d"), "/users/a%3Bb%3Dc%2Cd")
        XCTAssertEqual(try upstreamTarget(port, "/api/web/users/%7e%41"), "/users/~A", "escapes of unreserved characters are decoded")
        XCTAssertEqual(try upstreamTarget(port, "/api/web/users/caf%C3%A9"), "/users/caf%C3%A9")
    }

    func testWildcardRestKeepsSegmentsAndEncodesEach() throws {
        let port = try gateway(proxyConfig(port: downstream.port, routes: """
            [{"name": "files", "path": "/files/*", "proxy": {"service": "down", "path": "/store/{*}?v=1"}}]
            """))
        XCTAssertEqual(try upstreamTarget(port, "/files/a/b%20c/d&e"), "/store/a/b%20c/d%26e?v=1")
        XCTAssertEqual(try upstreamTarget(port, "/files/a/b?q=1"), "/store/a/b?v=1&q=1")
    }

    // MARK: Absolute-form

    func testAbsoluteFormIsForwardedInOriginForm() throws {
        let port = try webGateway()
        XCTAssertEqual(try upstreamTarget(port, "http://169.254.169.254/latest/meta-data/"), "/latest/meta-data/")
        XCTAssertEqual(try upstreamTarget(port, "http://169.254.169.254/api/web/catalog/products/1?x=2"), "/products/1?x=2",
                       "stripPrefix applies to absolute-form as to origin-form")
        XCTAssertEqual(try upstreamTarget(port, "http://10.0.0.1/api/web/users/7/orders"), "/orders?userId=7")
        XCTAssertEqual(try upstreamTarget(port, "http://10.0.0.1"), "/")
        XCTAssertEqual(try upstreamTarget(port, "http://10.0.0.1?a=b"), "/?a=b")
        let traversal = try send(port, "GET http://10.0.0.1/api/..%2f..%2fadmin HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(traversal.status, 400)
    }

    // MARK: Traversal

    func testTraversalLookingSegmentsAreRefused() throws {
        let port = try webGateway()
        for target in ["/a/..%2F/b", "/a/%2e%2e%2fb", "/a/..;/b", "/a/..\\b", "/a/b%2Fc", "/a/b%2fc", "/a/b%5Cc", "/a/b\\c",
                       "/a/%2e%2E/b", "/a/.%2e;x/b", "/a/.;/b", "/a/%2e%3B/b", "/a/..", "/a/./b", "/api/web/users/%2e%2e",
                       "/a/b%00c", "/api/web/users/7#x/orders"] {
            let r = try send(port, "GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(r.status, 400, target)
            XCTAssertEqual(r.headers["content-type"], "application/problem+json", target)
            XCTAssertFalse(r.text.contains("\"path\""), "\(target) must not reach the upstream")
        }
        // Dots that are not whole segments are ordinary names.
        XCTAssertEqual(try upstreamTarget(port, "/a/.../b..c/.d"), "/a/.../b..c/.d")
        XCTAssertEqual(try upstreamTarget(port, "/a/b?x=..%2F..&y=a\\b"), "/a/b?x=..%2F..&y=a\\b", "the query is not a path")
    }

    func testEncodedSlashesCanBeAllowed() throws {
        let config = proxyConfig(port: downstream.port, routes: """
            [{"name": "p", "path": "/p/{id}", "proxy": {"service": "down", "path": "/q/{id}?id={id}"}},
             {"name": "all", "path": "/*", "proxy": {"service": "down"}}]
            """).replacingOccurrences(of: "\"listen\"", with: "\"allowEncodedSlashes\": true, \"listen\"")
        let port = try gateway(config)
        XCTAssertEqual(try upstreamTarget(port, "/p/a%2Fb"), "/q/a%2Fb?id=a%2Fb", "a decoded '/' stays encoded in the segment")
        XCTAssertEqual(try upstreamTarget(port, "/x/a%2fb"), "/x/a%2fb")
        XCTAssertEqual(try send(port, "GET /x/..%2F HTTP/1.1\r\nHost: t\r\n\r\n").status, 400, "dot segments stay refused")
        XCTAssertEqual(try send(port, "GET /x/a%5Cb HTTP/1.1\r\nHost: t\r\n\r\n").status, 400, "backslashes stay refused")
    }

    // MARK: Header names with '_'

    func testHeaderNamesWithUnderscoresAreDropped() throws {
        let port = try webGateway()
        let sent = try upstreamHeaders(port, "Transfer_Encoding: chunked\r\nX_Forwarded_Host: evil.example\r\nX-Kept: 1\r\n")
        XCTAssertNil(sent["transfer_encoding"])
        XCTAssertNil(sent["x_forwarded_host"])
        XCTAssertEqual(sent["x-kept"], "1")
        XCTAssertEqual(sent["x-forwarded-host"], "shop.example")
    }

    func testHeaderNamesWithUnderscoresCanBeAllowed() throws {
        let port = try gateway(proxyConfig(port: downstream.port).replacingOccurrences(of: "\"listen\"", with: "\"underscoresInHeaders\": true, \"listen\""))
        let sent = try upstreamHeaders(port, "X_Custom: 1\r\n")
        XCTAssertEqual(sent["x_custom"], "1")
    }

    // MARK: Forwarding headers

    private let spoofed = "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nForwarded: for=6.6.6.6;host=evil.example\r\nX-Real-IP: 6.6.6.6\r\n"

    func testClientForwardingHeadersAreOverwrittenFromAnUntrustedClient() throws {
        let port = try gateway(proxyConfig(port: downstream.port).replacingOccurrences(of: "\"listen\"", with: "\"trustedProxies\": [\"10.0.0.0/8\", \"::1/128\"], \"listen\""))
        let sent = try upstreamHeaders(port, spoofed)
        XCTAssertEqual(sent["x-forwarded-for"], "127.0.0.1")
        XCTAssertEqual(sent["x-forwarded-proto"], "http")
        XCTAssertEqual(sent["x-forwarded-host"], "shop.example")
        XCTAssertNil(sent["forwarded"])
        XCTAssertNil(sent["x-real-ip"])
        let plain = try upstreamHeaders(try webGateway(), spoofed)
        XCTAssertEqual(plain["x-forwarded-for"], "127.0.0.1", "no trusted proxies configured: nobody is trusted")
        XCTAssertNil(plain["forwarded"])
    }

    func testForwardingHeadersFromATrustedProxyAreExtended() throws {
        let port = try gateway(proxyConfig(port: downstream.port).replacingOccurrences(of: "\"listen\"", with: "\"trustedProxies\": [\"127.0.0.0/8\"], \"listen\""))
        let sent = try upstreamHeaders(port, spoofed)
        XCTAssertEqual(sent["x-forwarded-for"], "6.6.6.6, 127.0.0.1")
        XCTAssertEqual(sent["x-forwarded-proto"], "https")
        XCTAssertEqual(sent["x-forwarded-host"], "evil.example")
        XCTAssertEqual(sent["forwarded"], "for=6.6.6.6;host=evil.example, for=127.0.0.1;proto=http")
        XCTAssertEqual(sent["x-real-ip"], "6.6.6.6")
        let bare = try upstreamHeaders(port, "")
        XCTAssertEqual(bare["x-forwarded-for"], "127.0.0.1")
        XCTAssertEqual(bare["x-forwarded-proto"], "http")
        XCTAssertEqual(bare["x-forwarded-host"], "shop.example")
    }

    func testOtherXForwardedHeadersPassOnlyFromATrustedProxy() throws {
        let extra = "X-Forwarded-Port: 8443\r\nX-Forwarded-Prefix: /shop\r\nx-forwarded-ssl: on\r\nConnection: x-forwarded-server\r\nX-Forwarded-Server: a\r\n"
        let trusted = try gateway(proxyConfig(port: downstream.port).replacingOccurrences(of: "\"listen\"", with: "\"trustedProxies\": [\"127.0.0.0/8\"], \"listen\""))
        let sent = try upstreamHeaders(trusted, extra)
        XCTAssertEqual(sent["x-forwarded-port"], "8443")
        XCTAssertEqual(sent["x-forwarded-prefix"], "/shop")
        XCTAssertEqual(sent["x-forwarded-ssl"], "on")
        XCTAssertNil(sent["x-forwarded-server"], "named by Connection: hop-by-hop even from a trusted proxy")
        XCTAssertEqual(sent["x-forwarded-for"], "127.0.0.1")
        let untrusted = try upstreamHeaders(try webGateway(), extra + "X-FORWARDED-PROTO: https\r\n")
        XCTAssertEqual(untrusted.keys.filter { $0.hasPrefix("x-forwarded-") }.sorted(), ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"])
        XCTAssertEqual(untrusted["x-forwarded-proto"], "http")
    }

    // MARK: Second audit: query pollution, empty segments, asterisk-form, response names

    func testAQueryParameterTheTemplateSetsIsRefusedWith400() throws {
        let port = try webGateway()
        for target in ["/api/web/users/7/orders?userId=8", "/api/web/users/7/orders?USERID=8", "/api/web/users/7/orders?user%49d=8",
                       "/api/web/users/7/orders?x=1;userId=8", "/api/web/users/7/orders?limit=5&userId"] {
            let r = try send(port, "GET \(target) HTTP/1.1\r\nHost: t\r\n\(authorization)\r\n")
            XCTAssertEqual(r.status, 400, target)
            XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:invalid_query", target)
            XCTAssertEqual(r.headers["Content-Type"], "application/problem+json")
        }
        XCTAssertEqual(try upstreamTarget(port, "/api/web/users/7/orders?limit=5&userIds=1"), "/orders?userId=7&limit=5&userIds=1")
    }

    func testEmptySegmentsAreRefusedBeforeRouting() throws {
        let port = try webGateway()
        for target in ["//169.254.169.254/latest/meta-data/", "/api/web/catalog//x", "/static//a", "http://h//169.254.169.254/x", "/echo//"] {
            let r = try send(port, "GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(r.status, 400, target)
            XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:invalid_path", target)
        }
        XCTAssertEqual(try upstreamTarget(port, "/echo/?next=//evil.example"), "/echo/?next=//evil.example", "the query is not a path")
    }

    func testAsteriskFormIsAnsweredByTheGateway() throws {
        let upstream = try ScriptedUpstream { _ in [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")] }
        defer { upstream.stop() }
        let port = try gateway(proxyConfig(port: upstream.port))
        let options = try send(port, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(options.status, 200)
        XCTAssertEqual(options.body, [])
        let search = try send(port, "M-SEARCH * HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(search.status, 400)
        XCTAssertEqual(search.json?["type"]?.stringValue, "urn:bff-gateway:problem:invalid_target")
        XCTAssertEqual(try send(port, "OPTIONS /x HTTP/1.1\r\nHost: t\r\n\r\n").status, 200, "OPTIONS on a path is forwarded as before")
        XCTAssertEqual(upstream.requests.map(\.target), ["/x"])
    }

    /// Names with `_` are dropped from requests (`underscoresInHeaders`), not from responses: a client
    /// reading them cannot confuse the gateway or an upstream (as nginx, which filters only requests).
    func testUpstreamResponseHeaderNamesWithUnderscoresArePassedBack() throws {
        let upstream = try ScriptedUpstream { _ in [.send("HTTP/1.1 200 OK\r\nX_Upstream_Name: a\r\nContent-Length: 2\r\n\r\nok")] }
        defer { upstream.stop() }
        let r = try send(try gateway(proxyConfig(port: upstream.port)), "GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["X_Upstream_Name"], "a")
    }

    // MARK: Error details

    func testUpstreamFailureDetailNamesTheServiceOnly() throws {
        let probe = try HTTPServer(configuration: { var c = ServerConfiguration(); c.port = 0; return c }(), group: EventLoopGroup(threads: 1), handler: ClosureHandler { _, _ in HTTPResponse(status: 200) })
        let closed = try probe.start()
        probe.shutdown()
        probe.group.shutdown()
        let port = try gateway(proxyConfig(port: closed))
        let r = try send(port, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(r.status, 502)
        XCTAssertEqual(r.json?["type"]?.stringValue, "urn:bff-gateway:problem:upstream_connect_failed")
        let detail = try XCTUnwrap(r.json?["detail"]?.stringValue)
        XCTAssertTrue(detail.contains("'down'"), detail)
        XCTAssertFalse(detail.contains("127.0.0.1"), detail)
        XCTAssertFalse(detail.contains("\(closed)"), detail)
        XCTAssertFalse(detail.lowercased().contains("errno"), detail)
        XCTAssertFalse(r.text.contains("refused"), r.text)
    }
}
