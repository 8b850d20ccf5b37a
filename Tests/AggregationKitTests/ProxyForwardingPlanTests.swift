import XCTest
@testable import AggregationKit

/// The proxy writes its forwarding fields straight into the upstream request's bytes from a plan over the
/// client's own fields (`ProxyHandler.forwardingPlan`). It must put on the wire exactly what building the
/// forwarded field list (`forwardedHeaders`) and serializing it puts there, for every mix of fields.
final class ProxyForwardingPlanTests: XCTestCase {
    private static let pool: [(String, String)] = [
        ("Host", "app.example.com"), ("host", "other.example.com:8080"), ("Accept", "application/json"),
        ("Via", "1.1 edge"), ("via", "1.0 old-proxy"), ("X-Forwarded-For", "203.0.113.9"), ("x-forwarded-for", "10.0.0.7, 10.0.0.8"),
        ("Forwarded", "for=198.51.100.1;proto=https"), ("X-Real-IP", "198.51.100.2"), ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Port", "443"), ("X-Request-ID", "client-chosen-id"),
        ("Expect", "100-continue"), ("Connection", "keep-alive"), ("Connection", "close, X-Secret"), ("X-Secret", "hop"),
        ("TE", "trailers"), ("Upgrade", "websocket"), ("Proxy-Authorization", "Basic Zm9vOmJhcg=="), ("Keep-Alive", "timeout=5"),
        ("X_Underscored", "1"), ("Authorization", "Bearer abc"), ("Cookie", "a=b; c=d"), ("X-Empty", ""),
        ("Content-Length", "5"), ("Transfer-Encoding", "chunked"), ("User-Agent", "wrk"), ("Trailer", "X-T"),
    ]

    private func handler(group: EventLoopGroup, trusted: Bool, underscores: Bool, preserveHost: Bool) throws -> ProxyHandler {
        let origin = try UpstreamOrigin(host: "127.0.0.1", port: 9, connectTimeout: 1_000_000_000, responseTimeout: 1_000_000_000)
        let upstream = Upstream(name: "s", instances: [UpstreamInstance(index: 0, origin: origin)], group: group)
        var forwarding = ForwardingPolicy()
        if trusted { forwarding.trustedProxies = [try IPNetwork("10.0.0.0/8")] }
        forwarding.underscoresInHeaders = underscores
        var proxy = ProxyConfiguration(service: "s")
        proxy.preserveHost = preserveHost
        return ProxyHandler(service: upstream, configuration: proxy, via: "bff-test", forwarding: forwarding)
    }

    private func bytes(_ request: UpstreamRequest, close: Bool) -> String {
        var out: [UInt8] = []
        request.serialize(authority: "127.0.0.1:9", closeConnection: close, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func testThePlanWritesWhatTheBuiltFieldsWrite() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        var generator = SystemRandomNumberGenerator()
        var planned = 0, built = 0
        for trusted in [false, true] {
            for underscores in [false, true] {
                for preserveHost in [false, true] {
                    let proxy = try handler(group: group, trusted: trusted, underscores: underscores, preserveHost: preserveHost)
                    for round in 0..<400 {
                        var fields: [(String, String)] = []
                        for _ in 0..<Int.random(in: 0...9, using: &generator) {
                            fields.append(Self.pool.randomElement(using: &generator)!)
                        }
                        let request = HTTPRequest(method: "GET", target: "/a/b?c=d", versionMinor: round % 5 == 0 ? 0 : 1,
                                                  headers: HTTPHeaders(fields))
                        for client in ["10.1.2.3", "192.0.2.44", "2001:db8::1"] {
                            let context = RequestContext(requestID: "gw-0-\(round)", loop: group.loops[0], clientAddress: client, startNanos: 0)
                            let reference = UpstreamRequest(method: "GET", target: "/a/b?c=d",
                                                            headers: proxy.forwardedHeaders(request, context: context))
                            guard let plan = proxy.forwardingPlan(request, context: context) else {
                                built += 1
                                // Only a trusted proxy's forwarding fields (or more than 64 fields) need the built list.
                                XCTAssertTrue(trusted && client == "10.1.2.3", "\(fields) from \(client)")
                                continue
                            }
                            planned += 1
                            var fast = UpstreamRequest(method: "GET", target: "/a/b?c=d", headers: request.headers)
                            fast.forwarding = plan
                            for close in [false, true] {
                                XCTAssertEqual(bytes(fast, close: close), bytes(reference, close: close),
                                               "\(fields) from \(client), trusted \(trusted), underscores \(underscores), preserveHost \(preserveHost)")
                            }
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(planned, 5_000)
        XCTAssertGreaterThan(built, 100)
    }

    func testMoreThan64FieldsAreBuilt() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let proxy = try handler(group: group, trusted: false, underscores: false, preserveHost: false)
        let request = HTTPRequest(method: "GET", target: "/", headers: HTTPHeaders((0..<65).map { ("X-F\($0)", "v") }))
        let context = RequestContext(requestID: "id", loop: group.loops[0], clientAddress: "192.0.2.1", startNanos: 0)
        XCTAssertNil(proxy.forwardingPlan(request, context: context))
        let fewer = HTTPRequest(method: "GET", target: "/", headers: HTTPHeaders((0..<64).map { ("X-F\($0)", "v") }))
        XCTAssertNotNil(proxy.forwardingPlan(fewer, context: context))
    }
}

final class RequestIDFormatTests: XCTestCase {
    func testRequestIDsAreThePrefixAndTheCounterInHex() {
        for prefix in ["0123456789ab-1-", "", "a-much-longer-prefix-than-fifteen-bytes-"] {
            for counter: UInt64 in [0, 1, 9, 10, 15, 16, 255, 256, 0xabcdef, 0x1234_5678_9abc_def0, UInt64.max] {
                let id = RequestID(prefix: prefix, counter: counter)
                let expected = prefix + String(counter, radix: 16)
                XCTAssertEqual(id.string, expected)
                XCTAssertEqual(id.utf8Count, expected.utf8.count)
                var written: [UInt8] = []
                written.append(head: WrittenID(id: id))
                XCTAssertEqual(String(decoding: written, as: UTF8.self), expected)
            }
        }
        XCTAssertEqual(RequestID("client-id").string, "client-id")
        XCTAssertEqual(RequestID("client-id").utf8Count, 9)
    }

    private struct WrittenID: MessageHead {
        let id: RequestID
        var maxByteCount: Int { id.utf8Count }
        func write<Sink: ByteSink>(to sink: inout Sink) { id.write(to: &sink) }
    }
}

final class HopByHopTests: XCTestCase {
    /// The length switch of `HopByHop.isNamed` (through `isHopByHop`) names exactly the fields of
    /// `HopByHop.names`, in any case; the configuration reserves every one of them.
    func testTheSwitchAgreesWithTheList() {
        let listed = HopByHop.names.map { $0.description }
        XCTAssertTrue(Set(listed).isSubset(of: PolicyConfiguration.reservedHeaders))
        var names = listed + listed.map { $0.uppercased() } + ["Via", "Host", "TEE", "T", "Trailers", "Upgrade-Insecure-Requests",
                                                                "Proxy-Authorization2", "Keep-Alive-X", "Connectio", "X-Connection"]
        names += listed.map { String($0.dropLast()) }
        for name in names {
            let headers = HTTPHeaders([(name, "v")])
            let expected = listed.contains(name.lowercased())
            XCTAssertEqual(ProxyHandler.isHopByHop(headers, 0, connectionTokens: []), expected, name)
        }
        let named = HTTPHeaders([("X-Secret", "1")])
        XCTAssertTrue(ProxyHandler.isHopByHop(named, 0, connectionTokens: ["x-secret"]))
    }
}

/// On a route with no stage, `passBack` leaves its edits of the upstream's fields to the serializer
/// (`HTTPResponse.viaHop`); the client must get exactly the bytes the edited response serializes to.
final class PassBackInSerializerTests: XCTestCase {
    private static let pool: [(String, String)] = [
        ("Content-Type", "application/json"), ("Content-Length", "2"), ("Date", "Mon, 02 Nov 2026 10:00:00 GMT"),
        ("Via", "1.1 upstream-proxy"), ("via", "1.0 old"), ("Via", ""), ("Connection", "keep-alive"), ("Connection", "close"),
        ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "chunked"), ("TE", "trailers"), ("Trailer", "X-T"),
        ("Upgrade", "h2c"), ("Proxy-Connection", "keep-alive"), ("Proxy-Authenticate", "Basic"), ("Proxy-Authorization", "x"),
        ("X-Request-ID", "upstream-id"), ("Server", "nginx"), ("Set-Cookie", "a=b"), ("ETag", "\"v1\""), ("X-Empty", ""),
        ("VIA", "2 third"), ("Connection", "X-Drop"), ("X-Drop", "named by Connection"),
    ]

    func testTheSerializerWritesWhatTheEditedResponseWrites() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let origin = try UpstreamOrigin(host: "127.0.0.1", port: 9, connectTimeout: 1_000_000_000, responseTimeout: 1_000_000_000)
        let upstream = Upstream(name: "s", instances: [UpstreamInstance(index: 0, origin: origin)], group: group)
        let proxy = ProxyHandler(service: upstream, configuration: ProxyConfiguration(service: "s"), via: "bff-test")
        proxy.compiled(behind: [])
        var generator = SystemRandomNumberGenerator()
        var deferred = 0, edited = 0
        for round in 0..<3000 {
            var fields: [(String, String)] = []
            for _ in 0..<Int.random(in: 0...10, using: &generator) { fields.append(Self.pool.randomElement(using: &generator)!) }
            let status = [200, 201, 204, 304, 404, 500, 502][round % 7]
            let response = HTTPResponse(status: status, reason: "Whatever", headers: HTTPHeaders(fields), body: Array("ok".utf8))
            let fast = proxy.passBack(response)
            if fast.viaHop != nil { deferred += 1 } else { edited += 1 }
            let slow = proxy.editedForClient(response)
            XCTAssertNil(slow.viaHop)
            for (head, close, id) in [(false, false, "gw-1"), (true, false, "gw-2"), (false, true, nil as String?)] {
                var a: [UInt8] = [], b: [UInt8] = []
                HTTPResponseSerializer.serialize(fast, headRequest: head, close: close, date: "Fri, 27 Nov 2026 07:00:00 GMT", requestID: id, into: &a)
                HTTPResponseSerializer.serialize(slow, headRequest: head, close: close, date: "Fri, 27 Nov 2026 07:00:00 GMT", requestID: id, into: &b)
                XCTAssertEqual(String(decoding: a, as: UTF8.self), String(decoding: b, as: UTF8.self), "\(fields) \(status) head \(head)")
            }
        }
        XCTAssertGreaterThan(deferred, 1000)
        XCTAssertGreaterThan(edited, 100, "a Connection naming fields takes the edit")
    }

    /// Behind stages that leave the hop fields alone (CORS, headers without `Via`, methods), the deferral
    /// holds: the stages see the upstream's fields before the hop edits, and the client still gets the
    /// bytes of the edited response run through the same stages.
    func testBehindStagesThatLeaveHopFieldsAloneTheBytesAreTheSame() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let origin = try UpstreamOrigin(host: "127.0.0.1", port: 9, connectTimeout: 1_000_000_000, responseTimeout: 1_000_000_000)
        let upstream = Upstream(name: "s", instances: [UpstreamInstance(index: 0, origin: origin)], group: group)
        var headers = HeaderPolicy()
        headers.response.set = [("X-Served-By", try HeaderTemplate("gateway"))]
        headers.response.remove = ["Server", "X-Request-ID"]
        headers.response.add = [("Vary", try HeaderTemplate("Accept")), ("X-Id", try HeaderTemplate("{requestId}"))]
        let cors = CORSStage(policy: CORSPolicy(allowOrigins: [try PolicyConfiguration.originRule("https://app.example.com").get()],
                                                allowMethods: ["GET"], allowHeaders: [], exposeHeaders: ["ETag"],
                                                allowCredentials: true, maxAgeSeconds: 600))
        let stages: [any RequestStage] = [MethodsStage(methods: ["GET"]), cors, HeadersStage(policy: headers)]
        XCTAssertTrue(stages.allSatisfy(\.leavesHopFieldsAlone))
        let proxy = ProxyHandler(service: upstream, configuration: ProxyConfiguration(service: "s"), via: "bff-test")
        proxy.compiled(behind: stages)
        let pool = Self.pool + [("Access-Control-Allow-Origin", "*"), ("Vary", "Accept-Encoding"), ("Vary", "*"),
                                ("Connection", "Vary"), ("Server", "x"), ("X-Served-By", "upstream")]
        var generator = SystemRandomNumberGenerator()
        var deferred = 0
        for round in 0..<2000 {
            var fields: [(String, String)] = []
            for _ in 0..<Int.random(in: 0...10, using: &generator) { fields.append(pool.randomElement(using: &generator)!) }
            let status = [200, 204, 304, 404, 502][round % 5]
            let response = HTTPResponse(status: status, reason: "Whatever", headers: HTTPHeaders(fields), body: Array("ok".utf8))
            let origins = [[("Origin", "https://app.example.com")], [("Origin", "https://evil.example")], []][round % 3]
            let request = HTTPRequest(method: "GET", target: "/x", headers: HTTPHeaders([("Host", "gw")] + origins))
            let (fast, slow) = loop.execute(sync: { () -> (HTTPResponse, HTTPResponse) in
                let context = RequestContext(requestID: "req-\(round)", loop: loop, clientAddress: "127.0.0.1", startNanos: loop.now)
                var fast = proxy.passBack(response), slow = proxy.editedForClient(response)
                for stage in stages.reversed() {
                    stage.processResponse(&fast, request: request, context: context)
                    stage.processResponse(&slow, request: request, context: context)
                }
                return (fast, slow)
            })
            if fast.viaHop != nil { deferred += 1 }
            XCTAssertNil(slow.viaHop)
            var a: [UInt8] = [], b: [UInt8] = []
            HTTPResponseSerializer.serialize(fast, headRequest: false, close: false, date: "Fri, 27 Nov 2026 07:00:00 GMT", requestID: "gw-1", into: &a)
            HTTPResponseSerializer.serialize(slow, headRequest: false, close: false, date: "Fri, 27 Nov 2026 07:00:00 GMT", requestID: "gw-1", into: &b)
            // Our `Via` comes last of the upstream's fields on one path and before the stages' on the other:
            // the order of fields of different names carries no meaning (RFC 9110 §5.3), so `Via` is
            // compared apart; everything else, in order, byte for byte.
            XCTAssertEqual(Self.viaLast(a), Self.viaLast(b), "\(fields) \(status) \(origins)")
        }
        XCTAssertGreaterThan(deferred, 500)
    }

    /// The serialized response with its `Via` lines moved to the end of the head (kept in their order).
    private static func viaLast(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return text }
        let lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        let via = lines.filter { $0.lowercased().hasPrefix("via:") }
        return (lines.filter { !$0.lowercased().hasPrefix("via:") } + via).joined(separator: "\r\n") + String(text[end.lowerBound...])
    }

    /// A handler also used behind a stage that may read or edit the hop fields never defers.
    func testAHandlerBehindStagesEditsTheFields() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let origin = try UpstreamOrigin(host: "127.0.0.1", port: 9, connectTimeout: 1_000_000_000, responseTimeout: 1_000_000_000)
        let upstream = Upstream(name: "s", instances: [UpstreamInstance(index: 0, origin: origin)], group: group)
        let response = HTTPResponse(status: 200, headers: HTTPHeaders([("Via", "1.1 a"), ("TE", "x")]))
        let alone = ProxyHandler(service: upstream, configuration: ProxyConfiguration(service: "s"), via: "gw")
        alone.compiled(behind: [])
        XCTAssertNotNil(alone.passBack(response).viaHop)
        let both = ProxyHandler(service: upstream, configuration: ProxyConfiguration(service: "s"), via: "gw")
        both.compiled(behind: [])
        var viaEdit = HeaderPolicy()
        viaEdit.response.remove = ["via"]
        XCTAssertFalse(HeadersStage(policy: viaEdit).leavesHopFieldsAlone)
        XCTAssertTrue(MethodsStage(methods: ["GET"]).leavesHopFieldsAlone)
        XCTAssertFalse(TraceStage(name: "t").leavesHopFieldsAlone, "a stage that says nothing")
        both.compiled(behind: [MethodsStage(methods: ["GET"]), HeadersStage(policy: viaEdit)])
        let edited = both.passBack(response)
        XCTAssertNil(edited.viaHop)
        XCTAssertEqual(edited.headers.count, 1)
        XCTAssertEqual(edited.headers["via"], "1.1 a, 1.1 gw")
        let never = ProxyHandler(service: upstream, configuration: ProxyConfiguration(service: "s"), via: "gw")
        XCTAssertNil(never.passBack(response).viaHop, "not told of any pipeline: edits")
    }
}

/// From the review: wide mixes (10 to 64 fields, so every skip bit is used), a POST with a body, generated
/// request IDs, and a `Connection` that names the forwarding fields themselves.
final class ProxyForwardingPlanWideTests: XCTestCase {
    func testWideMixes() throws {
        let group = try EventLoopGroup(threads: 1)
        defer { group.shutdown() }
        let pool: [(String, String)] = [("Host", "h.example"), ("Via", "1.1 a"), ("X-Forwarded-For", "1.2.3.4"), ("Forwarded", "for=x"),
            ("X-Forwarded-Host", "evil"), ("Connection", "Host, Via, X-Forwarded-For, X-Request-ID, Expect, Forwarded"),
            ("X-Request-ID", "c"), ("Expect", "100-continue"), ("Proxy-Connection", "x"), ("X_U", "1"), ("A", "b"),
            ("Content-Length", "3"), ("x-forwarded-", "short"), ("X-FORWARDED-PORT", "1"), ("Te", "x"), ("Keep-Alive", "1")]
        var generator = SystemRandomNumberGenerator()
        let origin = try UpstreamOrigin(host: "127.0.0.1", port: 9, connectTimeout: 1_000_000_000, responseTimeout: 1_000_000_000)
        let upstream = Upstream(name: "s", instances: [UpstreamInstance(index: 0, origin: origin)], group: group)
        for preserveHost in [false, true] {
            var configuration = ProxyConfiguration(service: "s")
            configuration.preserveHost = preserveHost
            let proxy = ProxyHandler(service: upstream, configuration: configuration, via: "gw", forwarding: ForwardingPolicy())
            for round in 0..<500 {
                var fields: [(String, String)] = []
                for _ in 0..<Int.random(in: 10...64, using: &generator) { fields.append(pool.randomElement(using: &generator)!) }
                let request = HTTPRequest(method: "POST", target: "/p", headers: HTTPHeaders(fields), body: Array("abc".utf8))
                let context = RequestContext(id: RequestID(prefix: "gw-0-", counter: UInt64(round) &* 0x9E37_79B9), loop: group.loops[0],
                                             clientAddress: "2001:db8::1", startNanos: 0)
                let reference = UpstreamRequest(method: "POST", target: "/p", headers: proxy.forwardedHeaders(request, context: context),
                                                body: request.body)
                guard let plan = proxy.forwardingPlan(request, context: context) else { XCTFail("no plan"); continue }
                var fast = UpstreamRequest(method: "POST", target: "/p", headers: request.headers, body: request.body)
                fast.forwarding = plan
                for close in [false, true] {
                    var a: [UInt8] = [], b: [UInt8] = []
                    fast.serialize(authority: "127.0.0.1:9", closeConnection: close, into: &a)
                    reference.serialize(authority: "127.0.0.1:9", closeConnection: close, into: &b)
                    XCTAssertEqual(String(decoding: a, as: UTF8.self), String(decoding: b, as: UTF8.self), "\(fields)")
                }
            }
        }
    }
}
