import Foundation
import Synchronization
import XCTest
@testable import AggregationKit

// Red-team findings against the issue 6 fixes: each test here FAILS on the branch it was written on
// (redteam, = main after the hard-client / hard-proxy / hard-json merges) and describes what an outside
// auditor would still get through. Fixing the product code should make them pass unchanged.

// MARK: - Proxy targets

/// Hostile targets and headers against proxy routes, checked at Python's echo server (it answers with
/// the target and headers it received).
final class RedTeamProxyTests: XCTestCase {
    var downstream: Downstream!
    var gateways: [Gateway] = []

    override func setUpWithError() throws { downstream = try Downstream() }

    override func tearDown() {
        for g in gateways { g.shutdown(); g.group.shutdown() }
        downstream?.stop()
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Admin session credentials (header lines) for the shipped web gateway's user routes (set by `webGateway`).
    var adminFields: String?

    /// The shipped web gateway, every service pointed at the echo server; its session provider takes a key
    /// made for the test, and `adminFields` pass its owner-or-admin routes.
    private func webGateway() throws -> Int {
        var (config, fields) = try ShippedContracts.load("web")
        adminFields = fields
        for i in config.services.indices { config.services[i].instances = [InstanceConfiguration(host: "127.0.0.1", port: downstream.port)] }
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

    /// The target the echo upstream received, or nil when the gateway refused the request (4xx).
    private func upstreamTarget(_ port: Int, _ target: String, headers: String = "") throws -> String? {
        let authorization = adminFields ?? ""
        let r = try send(port, "GET \(target) HTTP/1.1\r\nHost: shop.example\r\n\(authorization)\(headers)\r\n")
        if r.status == 401 || r.status == 403 { XCTFail("\(target): refused by auth, not by the proxy: \(r.text)") }
        if (400..<500).contains(r.status) { return nil }
        XCTAssertEqual(r.status, 200, "\(target): \(r.text)")
        return r.json?["path"]?.stringValue
    }

    /// Item 2 / parameter pollution: the template sets `userId` from the path, and the client's own query
    /// is appended after it, so the client can send a second `userId`. Many frameworks take the last
    /// value of a repeated parameter (PHP, Rails, Spring's single-value binding takes the first, Express
    /// makes an array): the upstream can be made to read an id the route never captured. Where a template
    /// fills the id from a claim or a checked path segment, that is an authorization bypass.
    func testClientQueryCannotRepeatAParameterTheTemplateSets() throws {
        let port = try webGateway()
        for target in ["/api/web/users/7/orders?userId=8", "/api/web/users/7/orders?userid=8&userId=8",
                       "/api/web/users/7/orders?userId%3D8", "/api/web/users/7/orders?x=1&userId=8"] {
            guard let sent = try upstreamTarget(port, target) else { continue }  // refusing is fine
            let values = URLComponents(string: "http://h" + sent)?.queryItems?.filter { $0.name == "userId" }.map { $0.value ?? "" } ?? []
            XCTAssertEqual(values, ["7"], "\(target) reached the upstream as \(sent)")
        }
    }

    /// Item 3 / SSRF, another shape: an origin-form path starting with `//` is a network-path reference to
    /// most URL parsers (Python's `urlsplit`, Node's legacy `url.parse`, Go's `url.Parse` on a bare
    /// string, many routers and redirect helpers take `169.254.169.254` as the host). The gateway forwards
    /// it as it came: through a `/*` route, after `stripPrefix` (`/api/web/catalog//169.254.169.254/…`), and
    /// from absolute-form (`http://h//169.254.169.254/…` becomes `//169.254.169.254/…`). Seen at a raw
    /// upstream (Python's http.server, the echo server, collapses a leading `//` itself since 3.11 and hides
    /// it).
    func testATargetStartingWithTwoSlashesIsNotForwardedAsANetworkPathReference() throws {
        let upstream = try ScriptedUpstream { _ in [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")] }
        defer { upstream.stop() }
        let gateway = try TestGateway(proxyConfig(port: upstream.port, routes: """
            [{"name": "catalog", "path": "/api/web/catalog/*", "proxy": {"service": "down", "stripPrefix": "/api/web/catalog"}},
             {"name": "all", "path": "/*", "proxy": {"service": "down"}}]
            """))
        defer { gateway.stop() }
        for target in ["//169.254.169.254/latest/meta-data/", "/api/web/catalog//169.254.169.254/latest/meta-data/",
                       "http://10.0.0.1//169.254.169.254/latest/meta-data/"] {
            let before = upstream.requests.count
            let r = try gateway.get(target)
            if (400..<500).contains(r.status) { continue }  // refusing is fine
            XCTAssertEqual(r.status, 200, target)
            guard upstream.requests.count > before, let sent = upstream.requests.last?.target else { XCTFail("\(target): nothing reached the upstream"); continue }
            XCTAssertFalse(sent.hasPrefix("//"), "\(target) reached the upstream as \(sent)")
        }
    }

    /// Item 3, asterisk-form: `OPTIONS * HTTP/1.1` (and `M-SEARCH *`) is routed as `/` and then sent to the
    /// upstream as `*`, not in origin-form as the fix promises ("always send origin-form built from the
    /// routed path"). A route with `stripPrefix` or a catch-all forwards it; what an upstream does with a
    /// server-wide `OPTIONS *` (or an `M-SEARCH`, an SSDP method) is its own business, and routing it as
    /// `/` while forwarding `*` means the gateway checked one thing and sent another.
    func testAsteriskFormIsNotForwarded() throws {
        let upstream = try ScriptedUpstream { _ in [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")] }
        defer { upstream.stop() }
        let gateway = try TestGateway(proxyConfig(port: upstream.port))
        defer { gateway.stop() }
        for method in ["OPTIONS", "M-SEARCH"] {
            let c = try RawClient(port: gateway.port)
            c.send("\(method) * HTTP/1.1\r\nHost: t\r\n\r\n")
            _ = try XCTUnwrap(c.readResponse())
            let targets = upstream.requests.map(\.target)
            XCTAssertFalse(targets.contains("*"), "\(method) * reached the upstream in asterisk-form: \(targets)")
        }
    }

    /// Also-close, traversal: overlong UTF-8 forms of `.` and `/` (`%C0%AE`, `%E0%80%AE`, `%C0%AF`) pass the
    /// dot-segment and encoded-slash checks and reach the upstream as sent. Decoders that accept overlong
    /// forms (the classic IIS / Tomcat / JBoss traversals, CVE-2008-2938) read `%c0%ae%c0%ae` as `..` and
    /// `%c0%af` as `/`. The parser's own rule is to refuse what two readers could take differently; a path
    /// whose escapes decode to invalid UTF-8 is such a thing.
    func testOverlongUTF8DotsAndSlashesAreRefused() throws {
        let port = try webGateway()
        for target in ["/static/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", "/static/%e0%80%ae%e0%80%ae/admin",
                       "/static/..%c0%af..%c0%afetc/passwd", "/api/web/users/%c0%ae%c0%ae"] {
            let r = try send(port, "GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(r.status, 400, "\(target) reached the upstream as \(r.json?["path"]?.stringValue ?? r.text)")
        }
    }

    /// Also-close, spoofing: the issue lists `X-Forwarded-*`, but only `-For`, `-Proto` and `-Host` are
    /// replaced. `X-Forwarded-Port`, `-Prefix`, `-Scheme`, `-Ssl`, `-Server` from any client reach the
    /// upstream unchanged next to ours (Spring's ForwardedHeaderFilter, ASP.NET, Rails and Werkzeug's
    /// ProxyFix build redirect and absolute URLs from `-Port` and `-Prefix`; `-Ssl: on` flips the scheme).
    func testEveryXForwardedHeaderFromAnUntrustedClientIsDropped() throws {
        let port = try webGateway()
        let r = try send(port, "GET /echo HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-Port: 8443\r\nX-Forwarded-Prefix: /admin\r\n"
                         + "X-Forwarded-Scheme: https\r\nX-Forwarded-Ssl: on\r\nX-Forwarded-Server: evil.example\r\n\r\n")
        XCTAssertEqual(r.status, 200)
        let names = (r.json?["headers"]?.arrayValue ?? []).compactMap { $0.arrayValue?.first?.stringValue?.lowercased() }
        for spoofed in ["x-forwarded-port", "x-forwarded-prefix", "x-forwarded-scheme", "x-forwarded-ssl", "x-forwarded-server"] {
            XCTAssertFalse(names.contains(spoofed), "\(spoofed) from an untrusted client reached the upstream")
        }
    }
}


final class RedTeamTargetTemplateTests: XCTestCase {
    /// Item 4 / also-close, consistency: the request parser refuses a client path segment that is `.` or
    /// `..` before `;params` (`..;`, `.;x`, `%2e%3B`: servers that cut `;params` read them as dot segments),
    /// but the target template checks only for the exact text `.` and `..`. A value `..;` (from a client's
    /// query, a header or a downstream's data) is rendered as `/users/..%3B` and sent; a decode-then-strip
    /// upstream reads `..`.
    func testTemplateValuesThatAreDotSegmentsBeforeParametersAreRefused() throws {
        let template = try TargetTemplate.call("/users/{query.id}/orders")
        for value in ["..;", ".;x", "..;a=b"] {
            let result = template.render { _ in .text(value) }
            if case .success(let target) = result {
                XCTFail("value \(value.debugDescription) was rendered as \(target)")
            }
        }
    }
}

