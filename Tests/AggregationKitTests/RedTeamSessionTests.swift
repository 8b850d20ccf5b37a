import XCTest
import Foundation
import Synchronization
@testable import AggregationKit

/// An attacker's and a misbehaving neighbour's view of the session layer (issue 8), over real sockets:
/// the gateway on 127.0.0.1 with either the well-behaved test identity service or a raw-socket one
/// (`ScriptedUpstream`) that answers slowly or wrongly. Time is a `ManualClock` (locks never expire by
/// themselves during a test).
final class RedTeamSessionTests: XCTestCase {
    static let origin = "https://app.example"
    var identity: TestIdentityService?
    var scripted: ScriptedUpstream?
    var downstream: Downstream!
    var gateway: TestGateway!
    var clock: ManualClock!
    var logPath: String!
    var logWriter: LogWriter!

    override func setUpWithError() throws {
        downstream = try Downstream()
        clock = ManualClock()
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("redteam-sessions-\(UUID().uuidString).log").path
        logWriter = try LogWriter.appending(toFile: logPath)
    }

    override func tearDown() {
        gateway?.stop()
        downstream?.stop()
        identity?.stop()
        scripted?.stop()
        if let logPath { try? FileManager.default.removeItem(atPath: logPath) }
    }

    /// Starts the gateway against `identityPort` (the test identity service when nil).
    func start(mode: String = "cookie", identityPort: Int? = nil, identityTimeoutMs: Int = 2000, accountThreshold: Int = 3,
               clientThreshold: Int = 100, threads: Int = 1, redisURL: String? = nil) throws {
        gateway = try TestGateway(configuration: try configuration(mode: mode, identityPort: identityPort, identityTimeoutMs: identityTimeoutMs,
                                                                   accountThreshold: accountThreshold, clientThreshold: clientThreshold,
                                                                   redisURL: redisURL),
                                  threads: threads, clock: clock,
                                  logging: LogStreams(application: Logger(threshold: .debug, writer: logWriter), access: nil))
    }

    func configuration(mode: String = "cookie", identityPort: Int? = nil, identityTimeoutMs: Int = 2000, accountThreshold: Int = 3,
                       clientThreshold: Int = 100, redisURL: String? = nil, extra: String = "") throws -> GatewayConfiguration {
        let port: Int
        if let identityPort { port = identityPort } else {
            identity = try TestIdentityService()
            port = identity!.port
        }
        let text = """
        {
          "listen": {"host": "127.0.0.1", "port": 0},
          \(redisURL.map { #""redis": {"url": "\#($0)", "commandTimeoutMs": 2000},"# } ?? "")
          "services": {"identity": {"instances": ["127.0.0.1:\(port)"], "connectTimeoutMs": 500, "responseTimeoutMs": 5000},
                       "down": {"instances": ["127.0.0.1:\(downstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "auth": {"sessions": {"mode": "\(mode)", "identity": {"service": "identity", "timeoutMs": \(identityTimeoutMs)},
                                \(mode == "cookie" ? #""allowedOrigins": ["\#(Self.origin)"],"# : "")
                                "lockout": {"account": {"threshold": \(accountThreshold)}, "client": {"threshold": \(clientThreshold)}} \(extra)}},
          "routes": [
            {"name": "me", "path": "/api/me", "proxy": {"service": "down", "path": "/echo"},
             "policy": {"auth": {"provider": "session", "claimsToHeaders": {"sub": "X-User-Id"}}}}
          ]
        }
        """
        return try GatewayConfiguration.parse(Array(text.utf8), file: "test.json")
    }

    /// A raw-socket identity service answering every call with `status` and `body` after `delayMs`.
    func scriptedIdentity(status: Int = 401, body: String = #"{"error":"invalid"}"#, delayMs: Int = 0,
                          extraSteps: [ScriptedUpstream.Step] = []) throws -> Int {
        let head = "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
        let service = try ScriptedUpstream { _ in
            (delayMs > 0 ? [.pause(milliseconds: delayMs)] : []) + [.send(head + body)] + extraSteps
        }
        scripted = service
        return service.port
    }

    // MARK: Helpers

    func send(_ method: String, _ path: String, _ headers: [(String, String)] = [], body: String? = nil) throws -> HTTPResponse {
        let c = try RawClient(port: gateway.port, timeoutSeconds: 15)
        c.send(request(method, path, headers, body: body))
        return try XCTUnwrap(c.readResponse(), "no response to \(method) \(path)")
    }

    func request(_ method: String, _ path: String, _ headers: [(String, String)] = [], body: String? = nil) -> String {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: gw\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n\r\n" + body } else { text += "\r\n" }
        return text
    }

    static let jsonHeaders = [("Content-Type", "application/json"), ("Origin", origin)]

    func loginBody(_ user: String, _ password: String) -> String {
        JSONSerializer.string(.object(JSONObject([("username", .string(user)), ("password", .string(password))])))
    }

    func login(_ user: String, _ password: String) throws -> HTTPResponse {
        try send("POST", "/auth/login", Self.jsonHeaders, body: loginBody(user, password))
    }

    func browser() throws -> CookieJar {
        let r = try login("alice", "wonderland")
        XCTAssertEqual(r.status, 200, r.text)
        var jar = CookieJar()
        jar.absorb(r)
        return jar
    }

    func post(_ path: String, _ jar: CookieJar, method: String = "POST", extra: [(String, String)] = []) throws -> HTTPResponse {
        try send(method, path, [("Cookie", jar.header), ("X-CSRF-Token", jar.csrf ?? ""), ("Origin", Self.origin)] + extra)
    }

    func logText() throws -> String {
        XCTAssertTrue(logWriter.flush(timeout: 5_000_000_000))
        return try String(contentsOfFile: logPath, encoding: .utf8)
    }

    // MARK: Brute force

    /// Many wrong passwords at once: each used to pass the lockout check before any failure was
    /// recorded, so an attacker with N parallel connections got N guesses instead of `threshold`.
    func testParallelWrongPasswordsCannotOutrunTheLockout() throws {
        let port = try scriptedIdentity(status: 401, delayMs: 400)
        try start(identityPort: port, accountThreshold: 3)
        let clients = try (0..<12).map { _ in try RawClient(port: gateway.port, timeoutSeconds: 15) }
        for c in clients { c.send(request("POST", "/auth/login", Self.jsonHeaders, body: loginBody("alice", "guess"))) }
        let statuses = clients.map { $0.readResponse()?.status ?? 0 }
        XCTAssertEqual(statuses.filter { $0 == 401 }.count, 3, "\(statuses)")
        XCTAssertEqual(statuses.filter { $0 == 429 }.count, 9, "\(statuses)")
        XCTAssertEqual(scripted!.requests.count, 3, "the identity service checked more guesses than the threshold allows")
    }

    /// Two instances sharing a Redis lockout: parallel guesses spread over both still get `threshold`.
    func testParallelGuessesOverTwoInstancesShareOneRedisLockout() throws {
        let redis = try RedisServer()
        defer { redis.remove() }
        let port = try scriptedIdentity(status: 401, delayMs: 400)
        try start(mode: "bearer", identityPort: port, accountThreshold: 3, redisURL: redis.url)
        let other = try TestGateway(configuration: try configuration(mode: "bearer", identityPort: port, accountThreshold: 3, redisURL: redis.url),
                                    clock: clock, logging: .disabled)
        defer { other.stop() }
        let clients = try (0..<12).map { i in try RawClient(port: i % 2 == 0 ? gateway.port : other.port, timeoutSeconds: 15) }
        for c in clients { c.send(request("POST", "/auth/login", [("Content-Type", "application/json")], body: loginBody("alice", "guess"))) }
        let statuses = clients.map { $0.readResponse()?.status ?? 0 }
        XCTAssertEqual(statuses.filter { $0 == 429 }.count, 9, "\(statuses)")
        XCTAssertEqual(scripted!.requests.count, 3)
    }

    /// The same for password spraying from one address: many accounts at once must not outrun the
    /// per-client threshold.
    func testParallelSprayingCannotOutrunTheClientLockout() throws {
        let port = try scriptedIdentity(status: 401, delayMs: 400)
        try start(identityPort: port, accountThreshold: 100, clientThreshold: 4)
        let clients = try (0..<12).map { _ in try RawClient(port: gateway.port, timeoutSeconds: 15) }
        for (i, c) in clients.enumerated() { c.send(request("POST", "/auth/login", Self.jsonHeaders, body: loginBody("user\(i)", "password1"))) }
        let statuses = clients.map { $0.readResponse()?.status ?? 0 }
        XCTAssertEqual(scripted!.requests.count, 4, "\(statuses)")
        XCTAssertEqual(statuses.filter { $0 == 429 }.count, 8, "\(statuses)")
    }

    /// An identity service that answers 5xx or times out is not the user's fault: those attempts are
    /// not left counted (else an outage locks everyone out), and a successful login from an address
    /// does not count against it.
    func testIdentityOutagesAndSuccessesDoNotCountAsFailures() throws {
        let port = try scriptedIdentity(status: 500, body: "{}")
        try start(identityPort: port, accountThreshold: 2, clientThreshold: 2)
        for _ in 0..<6 { XCTAssertEqual(try login("alice", "x").status, 502) }
        XCTAssertEqual(scripted!.requests.count, 6, "no lockout from an outage")
    }

    func testSuccessfulLoginsDoNotLockTheirAddress() throws {
        try start(accountThreshold: 2, clientThreshold: 3)
        for _ in 0..<8 { XCTAssertEqual(try login("alice", "wonderland").status, 200) }
        XCTAssertEqual(try login("bob", "wrong").status, 401)
        XCTAssertEqual(try login("bob", "builder").status, 200)
    }

    /// Lockout evasion through spellings of one account name: an identity service that maps widths and
    /// case (PRECIS UsernameCaseMapped, RFC 8265) or trims spaces sees one account; so must the lockout.
    func testSpellingsOfOneAccountShareItsLockout() throws {
        let port = try scriptedIdentity(status: 401)
        try start(identityPort: port, accountThreshold: 3)
        for _ in 0..<3 { XCTAssertEqual(try login("alice", "guess").status, 401) }
        for spelling in ["alice", "ALICE", "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}", "\u{FF21}lice", " alice", "alice\t", "alice\u{00A0}"] {
            let r = try login(spelling, "guess")
            XCTAssertEqual(r.status, spelling.utf8.contains(0x09) ? 400 : 429, "\(Array(spelling.unicodeScalars)): \(r.text)")
        }
        XCTAssertEqual(scripted!.requests.count, 3)
    }

    // MARK: Subjects

    /// Two users whose ids are canonically equivalent Unicode (`é` precomposed and `e` + combining acute)
    /// are two users: neither sees, revokes or evicts the other's sessions. (Swift `String` keys merged them.)
    func testCanonicallyEquivalentSubjectsAreDifferentUsers() throws {
        var config = ServerConfiguration()
        config.port = 0
        config.accessLog = false
        let server = HTTPServer(configuration: config, group: try EventLoopGroup(threads: 1, logging: .disabled), handler: ClosureHandler { request, _ in
            let name = (try? JSONParser.parse(request.body))?.objectValue?["username"]?.stringValue
            let sub = name == "composed" ? "caf\u{E9}" : "cafe\u{301}"
            return HTTPResponse(status: 200, contentType: "application/json", body: JSONSerializer.string(.object(JSONObject([("sub", .string(sub))]))))
        })
        let port = try server.start()
        defer { server.shutdown(); server.group.shutdown() }
        try start(mode: "bearer", identityPort: port)
        let victim = try login("composed", "x")
        XCTAssertEqual(victim.status, 200, victim.text)
        let victimSession = try XCTUnwrap(victim.json?["session_id"]?.stringValue)
        let attacker = try login("decomposed", "x")
        let token = try XCTUnwrap(attacker.json?["access_token"]?.stringValue)
        let listed = try send("GET", "/auth/sessions", [("Authorization", "Bearer \(token)")])
        XCTAssertEqual(listed.status, 200)
        let ids = listed.json?["sessions"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } ?? []
        XCTAssertFalse(ids.contains(victimSession), "another user's session listed")
        XCTAssertEqual(ids.count, 1)
        XCTAssertEqual(try send("DELETE", "/auth/sessions/\(victimSession)", [("Authorization", "Bearer \(token)")]).status, 404)
        let victimToken = try XCTUnwrap(victim.json?["access_token"]?.stringValue)
        XCTAssertEqual(try send("GET", "/api/me", [("Authorization", "Bearer \(victimToken)")]).status, 200, "the victim's session lives")
    }

    /// Parallel logins of one user at the per-user cap (in memory and in Redis): exactly `cap` sessions
    /// survive, the list shows them, and only their refresh tokens work. (The thresholds are high: at
    /// most `threshold` attempts on one account are in flight at once, each counted until answered.)
    func testParallelLoginsAtThePerUserCap() throws {
        let redis = try RedisServer()
        defer { redis.remove() }
        for url in [nil, redis.url] {
            gateway?.stop()
            identity?.stop()
            identity = try TestIdentityService()
            gateway = try TestGateway(configuration: try configuration(mode: "bearer", identityPort: identity!.port, accountThreshold: 100, redisURL: url,
                                                                       extra: #", "maxSessionsPerUser": 3, "revocationCheckMs": 0"#),
                                      threads: 2, clock: clock, logging: .disabled)
            let clients = try (0..<12).map { _ in try RawClient(port: gateway.port, timeoutSeconds: 15) }
            for c in clients { c.send(request("POST", "/auth/login", [("Content-Type", "application/json")], body: loginBody("alice", "wonderland"))) }
            let answers = clients.compactMap { $0.readResponse() }
            XCTAssertEqual(answers.map(\.status), Array(repeating: 200, count: 12), "\(url ?? "memory")")
            var survivors: [String: String] = [:]   // session id → a fresh access token
            for answer in answers {
                let token = try XCTUnwrap(answer.json?["refresh_token"]?.stringValue)
                let r = try send("POST", "/auth/refresh", [("Content-Type", "application/json")], body: #"{"refresh_token":"\#(token)"}"#)
                if r.status == 200 { survivors[answer.json?["session_id"]?.stringValue ?? "-"] = r.json?["access_token"]?.stringValue }
            }
            let refreshed = survivors.count
            let access = try XCTUnwrap(survivors.values.first)
            let listed = try send("GET", "/auth/sessions", [("Authorization", "Bearer \(access)")])
            let ids = Set(listed.json?["sessions"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } ?? [])
            XCTAssertEqual(ids, Set(survivors.keys), "\(url ?? "memory"): \(listed.text)")
            XCTAssertEqual(refreshed, 3, url ?? "memory")
        }
    }

    // MARK: Response headers

    /// Every answer of /auth/* is `no-store`, refusals included (a 401 clearing the cookies, a 429 with
    /// Retry-After, a problem naming the session): nothing about a session in any cache.
    func testEveryAuthAnswerIsNoStore() throws {
        try start(accountThreshold: 1)
        let jar = try browser()
        var answers: [(String, HTTPResponse)] = []
        answers.append(("400", try send("POST", "/auth/login", Self.jsonHeaders, body: "[1]")))
        answers.append(("415", try send("POST", "/auth/login", [("Content-Type", "text/plain")], body: "{}")))
        answers.append(("403 origin", try send("POST", "/auth/login", [("Content-Type", "application/json"), ("Origin", "null")], body: "{}")))
        answers.append(("401 login", try login("bob", "wrong")))
        answers.append(("429", try login("bob", "wrong")))
        answers.append(("403 csrf", try send("POST", "/auth/refresh", [("Cookie", jar.header)])))
        var stale = jar
        stale.values[SessionCookies.refresh] = "not-a-token"
        answers.append(("401 refresh", try post("/auth/refresh", stale)))
        answers.append(("401 sessions", try send("GET", "/auth/sessions")))
        answers.append(("404 revoke", try post("/auth/sessions/nope", jar, method: "DELETE")))
        for (name, r) in answers {
            XCTAssertGreaterThanOrEqual(r.status, 400, name)
            XCTAssertEqual(r.headers.values("Cache-Control"), ["no-store"], "\(name): \(r.status) \(r.text)")
        }
    }

    // MARK: A misbehaving identity service

    func testIdentityAnswersThatAreNotOneCleanDocumentAreNeverALogin() throws {
        let bodies = [
            #"{"sub":"1","roles":["user"]}{"sub":"3","roles":["admin"]}"#,
            #"{"sub":"1","roles":["user"],"roles":["admin"]}"#,
            #"{"sub":"1","sub":"3"}"#,
            #"{"sub":"1","roles":"admin"}"#,
            #"{"sub":"1","roles":[1]}"#,
            #"{"sub":3}"#,
            #"{"sub":"1\u0000"}"#,
            #"{"sub":"a\nb"}"#,
            #"["sub","1"]"#,
            // Roles past the bounds: 65 names (each token would carry them), 17 names of 128 bytes (2 KiB+),
            // and an answer over 64 KiB.
            #"{"sub":"1","roles":[\#((0..<65).map { "\"r\($0)\"" }.joined(separator: ","))]}"#,
            #"{"sub":"1","roles":[\#((0..<17).map { "\"\(String(repeating: "r", count: 125))\($0 + 100)\"" }.joined(separator: ","))]}"#,
            #"{"sub":"1","roles":["user"],"pad":"\#(String(repeating: "x", count: 70_000))"}"#,
        ]
        for body in bodies {
            let port = try scriptedIdentity(status: 200, body: body)
            gateway?.stop()
            try start(identityPort: port)
            let r = try login("alice", "x")
            XCTAssertEqual(r.status, 502, "\(body.prefix(80)): \(r.text)")
            XCTAssertTrue(r.headers.values("Set-Cookie").isEmpty, body)
            scripted?.stop()
        }
    }

    /// A body that trickles in past the identity timeout: 503 within (about) that timeout, no session.
    func testSlowIdentityBodyEndsAtTheTimeout() throws {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"sub\":"
        let service = try ScriptedUpstream { _ in [.send(head)] + (0..<30).map { _ in .pause(milliseconds: 200) } + [.send("\"1\"}")] }
        scripted = service
        try start(identityPort: service.port, identityTimeoutMs: 500)
        // Upstream deadlines run on the gateway's (manual) clock: let it run meanwhile.
        let done = Atomic<Bool>(false)
        let clock = self.clock!
        Thread {
            while !done.load(ordering: .relaxed) {
                clock.advance(by: 100_000_000)
                usleep(100_000)
            }
        }.start()
        defer { done.store(true, ordering: .relaxed) }
        let started = Date()
        let r = try login("alice", "x")
        XCTAssertEqual(r.status, 503, r.text)
        XCTAssertEqual(r.problemCode, "identity_unavailable")
        XCTAssertLessThan(Date().timeIntervalSince(started), 4, "bounded by the identity timeout, not the trickle")
    }

    // MARK: CSRF and cookies

    func testCSRFBypassAttemptsAreRefused() throws {
        try start()
        let jar = try browser()
        let csrf = try XCTUnwrap(jar.csrf)
        let others = jar.values.filter { $0.key != SessionCookies.csrf }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
        let attempts: [(String, [(String, String)])] = [
            ("two X-CSRF-Token fields", [("Cookie", jar.header), ("X-CSRF-Token", csrf), ("X-CSRF-Token", csrf)]),
            ("CSRF cookie twice in one field", [("Cookie", jar.header + "; \(SessionCookies.csrf)=evil"), ("X-CSRF-Token", "evil")]),
            ("CSRF cookie in a second Cookie field", [("Cookie", jar.header), ("Cookie", "\(SessionCookies.csrf)=evil"), ("X-CSRF-Token", "evil")]),
            ("Origin null", [("Cookie", jar.header), ("X-CSRF-Token", csrf), ("Origin", "null")]),
            ("two Origins", [("Cookie", jar.header), ("X-CSRF-Token", csrf), ("Origin", Self.origin), ("Origin", "https://evil.example")]),
            ("Origin list", [("Cookie", jar.header), ("X-CSRF-Token", csrf), ("Origin", Self.origin + ", https://evil.example")]),
            ("empty cookie, empty field", [("Cookie", others + "; \(SessionCookies.csrf)="), ("X-CSRF-Token", "")]),
            ("quoted empty cookie", [("Cookie", others + "; \(SessionCookies.csrf)=\"\""), ("X-CSRF-Token", "")]),
            ("cookie name in other case", [("Cookie", others + "; __host-bff-csrf=evil"), ("X-CSRF-Token", "evil")]),
            ("cookie name with a space", [("Cookie", others + "; \(SessionCookies.csrf) =evil"), ("X-CSRF-Token", "evil")]),
            ("value with a comma", [("Cookie", others + "; \(SessionCookies.csrf)=a,b"), ("X-CSRF-Token", "a,b")]),
            ("field quoted", [("Cookie", jar.header), ("X-CSRF-Token", "\"\(csrf)\"")]),
            ("field with a space", [("Cookie", jar.header), ("X-CSRF-Token", csrf + " x")]),
        ]
        for (name, headers) in attempts {
            for path in ["/api/me", "/auth/refresh", "/auth/logout"] {
                let r = try send("POST", path, headers)
                XCTAssertEqual(r.status, 403, "\(name) on \(path): \(r.text)")
            }
            let d = try send("DELETE", "/auth/sessions/x", headers)
            XCTAssertEqual(d.status, 403, "\(name) on DELETE: \(d.text)")
        }
        XCTAssertEqual(try send("GET", "/api/me", [("Cookie", jar.header)]).status, 200, "the session is intact")
    }

    /// A planted refresh cookie is never adopted: login issues a fresh session whatever the browser sent.
    func testLoginNeverAdoptsAPlantedRefreshCookie() throws {
        try start()
        let planted = "planted-by-attacker"
        let r = try send("POST", "/auth/login", Self.jsonHeaders + [("Cookie", "\(SessionCookies.refresh)=\(planted); \(SessionCookies.csrf)=known")],
                         body: loginBody("alice", "wonderland"))
        XCTAssertEqual(r.status, 200)
        var jar = CookieJar()
        jar.absorb(r)
        XCTAssertNotEqual(jar.refresh, planted)
        XCTAssertNotEqual(jar.csrf, "known")
        var attacker = jar
        attacker.values[SessionCookies.refresh] = planted
        XCTAssertEqual(try post("/auth/refresh", attacker).status, 401)
    }

    // MARK: Tokens across modes and users

    /// Bearer mode: another user's refresh token and odd token shapes.
    func testRefreshTokenShapesInBearerMode() throws {
        try start(mode: "bearer")
        let a = try login("alice", "wonderland")
        XCTAssertEqual(a.status, 200, a.text)
        let refresh = try XCTUnwrap(a.json?["refresh_token"]?.stringValue)
        let json = [("Content-Type", "application/json")]
        XCTAssertEqual(try send("POST", "/auth/refresh", json, body: #"{"refresh_token":"\#(refresh)","refresh_token":"\#(refresh)"}"#).status, 400)
        XCTAssertEqual(try send("POST", "/auth/refresh", json, body: #"{"refresh_token":"\#(String(repeating: "A", count: 513))"}"#).status, 400)
        XCTAssertEqual(try send("POST", "/auth/refresh", json, body: #"{"refresh_token":["\#(refresh)"]}"#).status, 400)
        XCTAssertEqual(try send("POST", "/auth/refresh", json, body: #"{"refresh_token":"\#(refresh)\u0000"}"#).status, 401)
        XCTAssertEqual(try send("POST", "/auth/refresh", json, body: #"{"refresh_token":"\#(refresh)="}"#).status, 401)
        let rotated = try send("POST", "/auth/refresh", json, body: #"{"refresh_token":"\#(refresh)"}"#)
        XCTAssertEqual(rotated.status, 200, "the odd shapes did not spend it: \(rotated.text)")
        XCTAssertEqual(rotated.headers.values("Cache-Control"), ["no-store"])
        // No token in the log, at any level.
        let log = try logText()
        for token in [refresh, rotated.json?["refresh_token"]?.stringValue ?? "-", rotated.json?["access_token"]?.stringValue ?? "-",
                      a.json?["access_token"]?.stringValue ?? "-"] {
            XCTAssertFalse(log.contains(token), "a token in the log")
            XCTAssertFalse(log.contains(RefreshTokenHash(token: token).hex), "a digest in the log")
        }
        XCTAssertFalse(log.contains("wonderland"), "a password in the log")
    }
}
