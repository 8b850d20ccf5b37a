import Foundation
import Synchronization
import XCTest
@testable import AggregationKit

// Red-team findings against the issue 6 fixes: each test here FAILS on the branch it was written on
// (redteam, = main after the hard-client / hard-proxy / hard-json merges) and describes what an outside
// auditor would still get through. Fixing the product code should make them pass unchanged.

// MARK: - An upstream that answers before it has read the request body

/// A raw-socket upstream with a tiny receive buffer. A `POST` is answered at once, as soon as its head
/// has arrived (as servers do for 401/413, or any handler that answers before reading the body), and the
/// body is then read and discarded exactly as its `Content-Length` says (what a correct keep-alive server
/// does). Anything else is answered `second`.
private final class EarlyAnswerUpstream: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let stopped = Atomic<Bool>(false)
    private let state = Mutex<(accepted: Int, heads: [String])>((0, []))

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        // Inherited by accepted sockets: the gateway cannot push the whole body into our buffers.
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, 4)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else { close(fd); throw TestError("cannot listen") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        listener = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread { [self] in
            while !stopped.load(ordering: .acquiring) {
                let c = accept(listener, nil, nil)
                if c < 0 { if errno == EINTR { continue }; return }
                state.withLock { $0.accepted += 1 }
                Thread { [self] in serve(c) }.start()
            }
        }.start()
    }

    var accepted: Int { state.withLock { $0.accepted } }
    /// Request lines seen, in order.
    var heads: [String] { state.withLock { $0.heads } }

    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        func fill() -> Bool {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
        while true {
            var end: Int? = nil
            while end == nil {
                if buffer.count >= 4 {
                    for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 { end = i; break }
                }
                if end == nil && !fill() { return }
            }
            let head = String(decoding: buffer[0..<end!], as: UTF8.self)
            buffer.removeFirst(end! + 4)
            let lines = head.components(separatedBy: "\r\n")
            state.withLock { $0.heads.append(lines[0]) }
            var length = 0
            for line in lines.dropFirst() where line.lowercased().hasPrefix("content-length:") {
                length = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0
            }
            if lines[0].hasPrefix("POST") {
                sendAll(Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly".utf8), to: fd)
                // Let the gateway pass the answer on and take its next request before we read on.
                usleep(400_000)
                while buffer.count < length { if !fill() { return } }
                buffer.removeFirst(length)
            } else {
                sendAll(Array("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond".utf8), to: fd)
            }
        }
    }
}

/// Item 1, a timing the fix did not cover: the response completes while the gateway is still writing the
/// request body. The connection is released as reusable with part of the body unsent; the next request
/// is written in its place (`UpstreamConnection.send` empties `outgoing`), so the upstream reads the next
/// request's head as the rest of the previous body: a desynchronised connection.
final class RedTeamEarlyResponseTests: XCTestCase {
    func testAnAnswerBeforeTheBodyIsWrittenDoesNotLeaveTheConnectionOutOfStep() throws {
        let upstream = try EarlyAnswerUpstream()
        defer { upstream.stop() }
        // A body larger than loopback's socket buffers can take at once (about 3 MB here).
        let config = proxyConfig(port: upstream.port, pool: "\"maxConnections\": 1")
            .replacingOccurrences(of: "\"services\": {", with: "\"limits\": {\"maxBodyBytes\": 16777216}, \"services\": {")
        let gateway = try TestGateway(config)
        defer { gateway.stop() }

        let body = String(repeating: "b", count: 8_000_000)
        let a = try RawClient(port: gateway.port, timeoutSeconds: 15)
        a.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        let first = try XCTUnwrap(a.readResponse())
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first.text, "early")

        let b = try RawClient(port: gateway.port, timeoutSeconds: 15)
        b.send("GET /second HTTP/1.1\r\nHost: t\r\n\r\n")
        let second = try XCTUnwrap(b.readResponse())
        // Today: 504 after the response timeout: the upstream swallowed `GET /second` as body bytes of the
        // POST (its body was cut short by the gateway) and waits for the rest.
        XCTAssertEqual(second.status, 200, second.text)
        XCTAssertEqual(second.text, "second")
        XCTAssertEqual(upstream.heads.last, "GET /second HTTP/1.1")
    }
}

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

    /// The shipped web gateway, every service pointed at the echo server.
    private func webGateway() throws -> Int {
        var config = try GatewayConfiguration.load(directory: Self.root.appendingPathComponent("contracts/web").path)
        for i in config.services.indices { config.services[i].instances = [("127.0.0.1", downstream.port)] }
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
        let r = try send(port, "GET \(target) HTTP/1.1\r\nHost: shop.example\r\n\(headers)\r\n")
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

// MARK: - Response templates over downstream data

final class RedTeamTemplateTests: XCTestCase {
    /// Also-close, `$omit` with a dotted path: the fix made duplicate keys collapse, but a dotted path still
    /// stops at the first array. `$omit: ["cards.number"]` on a user whose `cards` is an array leaves every
    /// card number in the answer, while the same `$omit` on a top-level array reaches each element. A
    /// deny-list that silently does nothing for arrays is a leak waiting for a downstream to change shape.
    func testOmitWithADottedPathReachesIntoArrays() throws {
        let scope = EvaluationScope(pathParameters: [:], query: [:], headers: HTTPHeaders(), results: [
            "user": try JSONParser.parse(#"{"id":7,"cards":[{"number":"4111111111111111","last4":"1111"},{"number":"5500000000000004","last4":"0004"}],"profile":{"ssn":"078-05-1120"}}"#),
        ])
        let template = try ResponseTemplate.compile(try JSONParser.parse(#"{"$select":"user","$omit":["cards.number","profile.ssn"]}"#))
        let out = JSONSerializer.string(try template.evaluate(scope))
        XCTAssertFalse(out.contains("4111111111111111"), out)
        XCTAssertFalse(out.contains("5500000000000004"), out)
        XCTAssertFalse(out.contains("078-05-1120"), out)
    }

    /// Also-close, quadratic work on downstream-sized data: `$groupBy` looks each key up in a list of
    /// groups (`groups.firstIndex`), and `$merge` inserts each member of the second object with
    /// `JSONObject`'s linear subscript. A downstream answering 30 000 distinct keys (about 400 KB, far below
    /// `limits.maxResponseBytes`) keeps a thread of the gateway busy for seconds (a debug build: groupBy
    /// 20 000 items 6 s, merge of two 20 000-key objects 17 s); 16 MiB makes it minutes. The parser and
    /// `$omit`, which use a hash index, take milliseconds on the same data.
    func testGroupByAndMergeStayLinearOnLargeDownstreamData() throws {
        let n = 30_000
        let items = "[" + (0..<n).map { "{\"k\":\($0)}" }.joined(separator: ",") + "]"
        let object = "{" + (0..<n).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
        let scope = EvaluationScope(results: ["a": try JSONParser.parse(items), "o": try JSONParser.parse(object), "p": try JSONParser.parse(object)])
        for text in [#"{"$select":"a","$groupBy":"k"}"#, #"{"$merge":["$o","$p"],"$collision":"last"}"#] {
            let template = try ResponseTemplate.compile(try JSONParser.parse(text))
            let done = DispatchSemaphore(value: 0)
            // On its own thread, so a quadratic run fails the test after the deadline instead of holding it.
            Thread { _ = try? template.evaluate(scope); done.signal() }.start()
            // Linear work takes well under a second even on a loaded machine; quadratic takes about 15 s (groupBy)
            // and 40 s (merge) here.
            XCTAssertEqual(done.wait(timeout: .now() + 8), .success, "\(text) on \(n) downstream items/keys took longer than 8 s")
        }
    }

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
