import XCTest
import Foundation
@testable import AggregationKit

/// Web sessions over real sockets: the gateway on 127.0.0.1 with a test identity service and Python's
/// echoing downstream. Time is a `ManualClock` wherever expiry or lockouts decide.
final class SessionIntegrationTests: XCTestCase {
    static let origin = "https://app.example"
    var identity: TestIdentityService!
    var downstream: Downstream!
    var gateway: TestGateway!
    var clock: ManualClock!
    var logPath: String!
    var logWriter: LogWriter!

    func config(mode: String = "cookie", extra: String = "") -> String {
        """
        {
          "listen": {"host": "127.0.0.1", "port": 0},
          "services": {"identity": {"instances": ["127.0.0.1:\(identity.port)"], "connectTimeoutMs": 500, "responseTimeoutMs": 2000},
                       "down": {"instances": ["127.0.0.1:\(downstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "auth": {"sessions": {"mode": "\(mode)", "identity": {"service": "identity"},
                                \(mode == "cookie" ? #""allowedOrigins": ["\#(Self.origin)"],"# : "")
                                "lockout": {"account": {"threshold": 3}, "client": {"threshold": 100}} \(extra)}},
          "routes": [
            {"name": "me", "path": "/api/me", "proxy": {"service": "down", "path": "/echo"},
             "policy": {"auth": {"provider": "session", "claimsToHeaders": {"sub": "X-User-Id"}}}},
            {"name": "open", "path": "/open", "proxy": {"service": "down"}}
          ]
        }
        """
    }

    override func setUpWithError() throws {
        identity = try TestIdentityService()
        downstream = try Downstream()
        clock = ManualClock()
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("sessions-\(UUID().uuidString).log").path
        logWriter = try LogWriter.appending(toFile: logPath)
    }

    func start(mode: String = "cookie", extra: String = "", store: (any SessionStore)? = nil, threads: Int = 1) throws {
        var configuration = try GatewayConfiguration.parse(Array(config(mode: mode, extra: extra).utf8), file: "test.json")
        if let store { configuration.auth.sessions!.store = store }
        gateway = try TestGateway(configuration: configuration, threads: threads, clock: clock,
                                  logging: LogStreams(application: Logger(threshold: .info, writer: logWriter), access: nil))
    }

    override func tearDown() {
        gateway?.stop()
        downstream?.stop()
        identity?.stop()
        if let logPath { try? FileManager.default.removeItem(atPath: logPath) }
    }

    // MARK: Helpers

    func send(_ method: String, _ path: String, _ headers: [(String, String)] = [], body: String? = nil) throws -> HTTPResponse {
        let c = try RawClient(port: gateway.port)
        var text = "\(method) \(path) HTTP/1.1\r\nHost: gw\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n\r\n" + body } else { text += "\r\n" }
        c.send(text)
        return try XCTUnwrap(c.readResponse(), "no response to \(method) \(path)")
    }

    func login(_ user: String, _ password: String, origin: String? = origin, userAgent: String = "test-browser") throws -> HTTPResponse {
        var headers = [("Content-Type", "application/json"), ("User-Agent", userAgent)]
        if let origin { headers.append(("Origin", origin)) }
        return try send("POST", "/auth/login", headers, body: #"{"username":"\#(user)","password":"\#(password)"}"#)
    }

    /// A browser that logged in as `user`.
    func browser(_ user: String = "alice", _ password: String = "wonderland", userAgent: String = "test-browser") throws -> CookieJar {
        let r = try login(user, password, userAgent: userAgent)
        XCTAssertEqual(r.status, 200, r.text)
        var jar = CookieJar()
        jar.absorb(r)
        return jar
    }

    /// A state-changing request as the web app sends it: cookies, the CSRF field, its Origin.
    func post(_ path: String, _ jar: CookieJar, method: String = "POST", csrf: String? = nil, origin: String? = origin) throws -> HTTPResponse {
        var headers = [("Cookie", jar.header)]
        if let token = csrf ?? jar.csrf { headers.append(("X-CSRF-Token", token)) }
        if let origin { headers.append(("Origin", origin)) }
        return try send(method, path, headers)
    }

    func received(_ r: HTTPResponse) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for pair in r.json?["headers"]?.arrayValue ?? [] { out[pair.arrayValue![0].stringValue!.lowercased(), default: []].append(pair.arrayValue![1].stringValue!) }
        return out
    }

    func logText() throws -> String {
        XCTAssertTrue(logWriter.flush(timeout: 5_000_000_000))
        return try String(contentsOfFile: logPath, encoding: .utf8)
    }

    /// A problem document without its request id (to compare two answers byte for byte).
    func withoutRequestID(_ r: HTTPResponse) -> String {
        var o = r.json?.objectValue ?? JSONObject()
        o["requestId"] = nil
        return JSONSerializer.string(.object(o))
    }

    // MARK: Cookie mode

    func testLoginSetsHostCookiesAndASessionRouteAttachesTheBearerToken() throws {
        try start()
        let r = try login("alice", "wonderland")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.headers["Cache-Control"], "no-store")
        var jar = CookieJar()
        jar.absorb(r)
        XCTAssertEqual(jar.attributes[SessionCookies.access], "Path=/; Max-Age=300; Secure; HttpOnly; SameSite=Strict")
        XCTAssertEqual(jar.attributes[SessionCookies.refresh], "Path=/; Max-Age=604800; Secure; HttpOnly; SameSite=Strict")
        XCTAssertEqual(jar.attributes[SessionCookies.csrf], "Path=/; Max-Age=604800; Secure; SameSite=Strict", "the page's script reads it")
        let access = try XCTUnwrap(jar.access), refresh = try XCTUnwrap(jar.refresh)
        XCTAssertFalse(r.text.contains(access) || r.text.contains(refresh), "no token in the body a script can read")
        XCTAssertEqual(r.json?["sub"]?.stringValue, "alice")
        XCTAssertEqual(r.json?["csrf_token"]?.stringValue, jar.csrf)

        let me = try send("GET", "/api/me", [("Cookie", jar.header + "; theme=dark"), ("Authorization", "Bearer spoofed")])
        XCTAssertEqual(me.status, 200, me.text)
        let headers = received(me)
        XCTAssertEqual(headers["authorization"], ["Bearer \(access)"], "the gateway attaches the session's access token")
        XCTAssertEqual(headers["cookie"], ["theme=dark"], "the gateway's cookies never reach a service")
        XCTAssertEqual(headers["x-user-id"], ["alice"])
        XCTAssertEqual(received(try send("GET", "/api/me", [("Cookie", jar.header)]))["cookie"], nil, "a Cookie field left empty goes away")

        let open = try send("GET", "/open", [("Cookie", "a=1; " + jar.header)])
        XCTAssertEqual(received(open)["cookie"], ["a=1"], "no route forwards the session cookies")

        XCTAssertEqual(try send("GET", "/api/me").status, 401)
        XCTAssertEqual(try send("GET", "/api/me", [("Authorization", "Bearer \(access)")]).status, 401, "cookie mode reads the cookie only")
    }

    func testJWKSDocumentVerifiesAnIssuedToken() throws {
        try start()
        let jar = try browser()
        let r = try send("GET", "/.well-known/jwks.json")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["Content-Type"], "application/jwk-set+json")
        XCTAssertFalse(r.text.contains("\"d\""))
        let set = try JWKSet.parse(r.body, requirement: .publicOnly)
        let verified = try JWSVerifier(keys: set.keys).verify(try XCTUnwrap(jar.access))
        XCTAssertEqual(verified.algorithm, .es256)
        XCTAssertEqual(try JSONParser.parse(verified.payload).objectValue?["sub"]?.stringValue, "alice")
        XCTAssertTrue(try logText().contains(#""event":"auth.ephemeral_signing_key""#))
        let c = try RawClient(port: gateway.port)
        c.send("HEAD /.well-known/jwks.json HTTP/1.1\r\nHost: gw\r\n\r\n")
        let head = try XCTUnwrap(c.readResponse(head: true))
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers.values("Content-Length"), [String(r.body.count)])
        XCTAssertTrue(head.body.isEmpty)
    }

    func testCSRFAndOriginChecks() throws {
        try start()
        let jar = try browser()
        XCTAssertEqual(try send("POST", "/api/me", [("Cookie", jar.header), ("Origin", Self.origin)]).problemCode, "csrf_token_missing")
        var noToken = jar
        noToken.values[SessionCookies.csrf] = nil
        XCTAssertEqual(try post("/api/me", noToken).status, 403, "no CSRF cookie")
        let wrong = try post("/api/me", jar, csrf: "x" + jar.csrf!)
        XCTAssertEqual(wrong.status, 403)
        XCTAssertEqual(wrong.problemCode, "csrf_token_mismatch")
        let foreign = try post("/api/me", jar, origin: "https://evil.example")
        XCTAssertEqual(foreign.status, 403)
        XCTAssertEqual(foreign.problemCode, "origin_not_allowed")
        XCTAssertEqual(try post("/api/me", jar).status, 200)
        XCTAssertEqual(try post("/api/me", jar, origin: nil).status, 200, "no Origin (not a browser's cross-site request): the token decides")
        XCTAssertEqual(try post("/api/me", jar, origin: "HTTPS://APP.EXAMPLE:443").status, 200, "origins compare as browsers serialize them")

        XCTAssertEqual(try login("alice", "wonderland", origin: "https://evil.example").status, 403, "login from another site")
        XCTAssertEqual(try login("alice", "wonderland", origin: "null").status, 403)
        XCTAssertEqual(try send("POST", "/auth/login", [("Content-Type", "text/plain")], body: #"{"username":"alice","password":"wonderland"}"#).status, 415)
        XCTAssertEqual(try post("/auth/refresh", jar, csrf: "nope").status, 403)
        XCTAssertEqual(try post("/auth/logout", jar, origin: "https://evil.example").status, 403)
        XCTAssertTrue(try logText().contains(#""event":"auth.csrf_refused""#))
    }

    func testRefreshRotatesAndReuseRevokesTheFamily() throws {
        try start()
        var jar = try browser()
        let first = jar
        let rotated = try post("/auth/refresh", jar)
        XCTAssertEqual(rotated.status, 200, rotated.text)
        jar.absorb(rotated)
        XCTAssertNotEqual(jar.refresh, first.refresh)
        XCTAssertNotEqual(jar.access, first.access)
        XCTAssertEqual(jar.csrf, first.csrf, "the CSRF token stays for the session")
        XCTAssertEqual(try send("GET", "/api/me", [("Cookie", jar.header)]).status, 200)

        // The spent token again: reuse. The family is revoked, the browser's cookies cleared.
        let reuse = try post("/auth/refresh", first)
        XCTAssertEqual(reuse.status, 401)
        XCTAssertEqual(reuse.problemCode, "invalid_refresh_token")
        var cleared = first
        cleared.absorb(reuse)
        XCTAssertTrue(cleared.values.isEmpty, "\(reuse.headers.values("Set-Cookie"))")
        XCTAssertEqual(try post("/auth/refresh", jar).status, 401, "the family's current token is refused too")
        let me = try send("GET", "/api/me", [("Cookie", jar.header)])
        XCTAssertEqual(me.status, 401, "the revoked session's access token stops at once on this loop")
        XCTAssertEqual(me.json?["reason"]?.stringValue, "session_ended")

        let log = try logText()
        let line = try XCTUnwrap(log.split(separator: "\n").first { $0.contains(#""event":"auth.refresh_reuse""#) }, log)
        XCTAssertTrue(line.contains(#""level":"warning""#), String(line))
        XCTAssertTrue(line.contains(#""subject":"alice""#) && line.contains(#""session":""#) && line.contains(#""client":"127.0.0.1"#), String(line))
        for token in [first.refresh!, jar.refresh!, first.access!, jar.access!] { XCTAssertFalse(log.contains(token), "no token in the log") }
    }

    /// Ten refreshes with one token, all sent before any answer is read, on two loops: exactly one
    /// rotates; the others are reuse, which revokes the family (so the winner's new token is dead too).
    func testConcurrentRefreshesHaveExactlyOneWinner() throws {
        try start(threads: 2)
        let jar = try browser()
        let clients = try (0..<10).map { _ in try RawClient(port: gateway.port) }
        let request = "POST /auth/refresh HTTP/1.1\r\nHost: gw\r\nCookie: \(jar.header)\r\nX-CSRF-Token: \(jar.csrf!)\r\nContent-Length: 0\r\n\r\n"
        for c in clients { c.send(request) }
        let statuses = clients.map { $0.readResponse()?.status ?? 0 }
        XCTAssertEqual(statuses.filter { $0 == 200 }.count, 1, "\(statuses)")
        XCTAssertEqual(statuses.filter { $0 == 401 }.count, 9, "\(statuses)")
    }

    func testAccessTokenExpiresOnTheClockAndRefreshRenewsIt() throws {
        try start()
        var jar = try browser()
        clock.advance(by: UInt64(300 + AccessTokenIssuer.leewaySeconds) * 1_000_000_000)
        let expired = try send("GET", "/api/me", [("Cookie", jar.header)])
        XCTAssertEqual(expired.status, 401)
        XCTAssertEqual(expired.json?["reason"]?.stringValue, "token_expired")
        let refreshed = try post("/auth/refresh", jar)
        XCTAssertEqual(refreshed.status, 200)
        jar.absorb(refreshed)
        XCTAssertEqual(try send("GET", "/api/me", [("Cookie", jar.header)]).status, 200)
        XCTAssertEqual(jar.attributes[SessionCookies.refresh]?.contains("Max-Age=\(604_800 - 305)"), true, jar.attributes[SessionCookies.refresh] ?? "")
        // Idle for longer than refreshIdleSeconds: the session is over.
        clock.advance(by: 86_401 * 1_000_000_000)
        XCTAssertEqual(try post("/auth/refresh", jar).status, 401)
    }

    func testLogoutClearsCookiesAndEndsTheSession() throws {
        try start()
        let jar = try browser()
        let out = try post("/auth/logout", jar)
        XCTAssertEqual(out.status, 204)
        var after = jar
        after.absorb(out)
        XCTAssertTrue(after.values.isEmpty)
        XCTAssertEqual(try post("/auth/refresh", jar).status, 401)
        XCTAssertEqual(try send("GET", "/api/me", [("Cookie", jar.header)]).status, 401)
        XCTAssertEqual(try post("/auth/logout", jar).status, 204, "logging out twice is fine")
    }

    func testSessionsAreListedAndRevokedOnlyByTheirOwner() throws {
        try start()
        let laptop = try browser(userAgent: "laptop")
        let phone = try browser(userAgent: "phone")
        let bob = try browser("bob", "builder")

        let list = try send("GET", "/auth/sessions", [("Cookie", laptop.header)])
        XCTAssertEqual(list.status, 200, list.text)
        let sessions = try XCTUnwrap(list.json?["sessions"]?.arrayValue)
        XCTAssertEqual(sessions.count, 2)
        XCTAssertEqual(Set(sessions.compactMap { $0["userAgent"]?.stringValue }), ["laptop", "phone"])
        XCTAssertEqual(sessions.filter { $0["current"]?.boolValue == true }.first?["userAgent"]?.stringValue, "laptop")
        XCTAssertEqual(sessions[0]["client"]?.stringValue, "web")
        XCTAssertNotNil(sessions[0]["createdAt"]?.numberValue)
        XCTAssertNotNil(sessions[0]["lastRefreshedAt"]?.numberValue)
        let phoneID = try XCTUnwrap(sessions.first { $0["userAgent"]?.stringValue == "phone" }?["id"]?.stringValue)
        let bobID = try XCTUnwrap(try send("GET", "/auth/sessions", [("Cookie", bob.header)]).json?["sessions"]?.arrayValue?.first?["id"]?.stringValue)

        XCTAssertEqual(try post("/auth/sessions/\(bobID)", laptop, method: "DELETE").status, 404, "someone else's session")
        XCTAssertEqual(try post("/auth/sessions/unknown", laptop, method: "DELETE").problemCode, "session_not_found")
        XCTAssertEqual(try send("DELETE", "/auth/sessions/\(phoneID)", [("Cookie", laptop.header)]).status, 403, "CSRF applies")
        XCTAssertEqual(try send("GET", "/auth/sessions").status, 401)
        XCTAssertEqual(try post("/auth/sessions/\(phoneID)", laptop, method: "DELETE").status, 204)
        XCTAssertEqual(try send("GET", "/auth/sessions", [("Cookie", laptop.header)]).json?["sessions"]?.arrayValue?.count, 1)
        XCTAssertEqual(try send("GET", "/api/me", [("Cookie", phone.header)]).status, 401, "the revoked device's access token is refused")
        XCTAssertEqual(try post("/auth/refresh", phone).status, 401)
        XCTAssertEqual(try send("GET", "/api/me", [("Cookie", bob.header)]).status, 200, "bob is untouched")
    }

    func testLockoutAnswersAlikeForKnownAndUnknownAccounts() throws {
        try start()
        var unknown: [HTTPResponse] = []
        var known: [HTTPResponse] = []
        for _ in 0..<3 {
            unknown.append(try login("mallory", "guess"))
            known.append(try login("alice", "guess"))
        }
        for r in unknown + known {
            XCTAssertEqual(r.status, 401)
            XCTAssertEqual(r.problemCode, "invalid_credentials")
            XCTAssertTrue(r.headers.values("Set-Cookie").isEmpty)
        }
        XCTAssertEqual(withoutRequestID(unknown[0]), withoutRequestID(known[0]), "a failure does not reveal whether the account exists")
        let lockedUnknown = try login("mallory", "guess")
        let lockedKnown = try login("alice", "wonderland")
        XCTAssertEqual(lockedUnknown.status, 429)
        XCTAssertEqual(lockedKnown.status, 429, "locked even with the right password")
        XCTAssertEqual(lockedUnknown.headers["Retry-After"], "1")
        XCTAssertEqual(lockedKnown.headers["Retry-After"], "1")
        XCTAssertEqual(withoutRequestID(lockedUnknown), withoutRequestID(lockedKnown))
        XCTAssertEqual(try login("ALICE", "wonderland").status, 429, "one account however it is cased")
        let callsBefore = identity.calls
        _ = try login("alice", "wonderland")
        XCTAssertEqual(identity.calls, callsBefore, "a locked account costs the identity service nothing")

        clock.advance(by: 2_000_000_000)
        XCTAssertEqual(try login("alice", "wonderland").status, 200)
        let log = try logText()
        XCTAssertTrue(log.contains(#""event":"auth.login_failed""#))
        XCTAssertTrue(log.contains(#""event":"auth.lockout""#))
        XCTAssertFalse(log.contains("wonderland") || log.contains("guess"), "no password in the log")
        XCTAssertFalse(log.contains("mallory"), "no user name in the log")
    }

    func testIdentityServiceFailuresNeverLogAnyoneIn() throws {
        try start()
        identity.set(.garbage)
        let garbage = try login("alice", "wonderland")
        XCTAssertEqual(garbage.status, 502)
        XCTAssertEqual(garbage.problemCode, "identity_invalid_response")
        identity.set(.serverError)
        XCTAssertEqual(try login("alice", "wonderland").status, 502)
        identity.stop()
        let down = try login("alice", "wonderland")
        XCTAssertEqual(down.status, 503)
        XCTAssertEqual(down.problemCode, "identity_unavailable")
        for r in [garbage, down] { XCTAssertTrue(r.headers.values("Set-Cookie").isEmpty) }
        XCTAssertEqual((gateway.gateway.configuration.auth.sessions!.store as! InMemorySessionStore).count, 0)
        identity = nil
    }

    func testStoreFailureFailsClosed() throws {
        try start(store: UnavailableSessionStore())
        let r = try login("alice", "wonderland")
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.problemCode, "session_store_unavailable")
        XCTAssertTrue(r.headers.values("Set-Cookie").isEmpty)
        var jar = CookieJar()
        jar.values = [SessionCookies.refresh: "x", SessionCookies.csrf: "c"]
        XCTAssertEqual(try post("/auth/refresh", jar).status, 503)
        // A valid access token of a session the store cannot confirm: refused, not waved through.
        let token = try gateway.gateway.configuration.auth.sessions!.issuer.issue(subject: "alice", roles: [], sessionID: "s1",
                                                                                  now: manualClockStartSeconds).token
        XCTAssertEqual(try send("GET", "/api/me", [("Cookie", "\(SessionCookies.access)=\(token)")]).status, 503)
    }

    /// Two loops, each with its own liveness cache: a session revoked through one loop is refused on
    /// every loop once `revocationCheckMs` (1 s) has passed, and the store is asked at most once per
    /// loop and interval while the session lives.
    func testRevocationReachesEveryLoopWithinTheCheckInterval() throws {
        try start(threads: 2)
        let laptop = try browser(userAgent: "laptop")
        let phone = try browser(userAgent: "phone")
        // Warm both loops' caches (connections go to the loops in turn).
        for _ in 0..<4 { XCTAssertEqual(try send("GET", "/api/me", [("Cookie", phone.header)]).status, 200) }
        let phoneID = try XCTUnwrap(try send("GET", "/auth/sessions", [("Cookie", laptop.header)]).json?["sessions"]?.arrayValue?
            .first { $0["userAgent"]?.stringValue == "phone" }?["id"]?.stringValue)
        XCTAssertEqual(try post("/auth/sessions/\(phoneID)", laptop, method: "DELETE").status, 204)
        clock.advance(by: 1_000_000_001)
        for _ in 0..<4 { XCTAssertEqual(try send("GET", "/api/me", [("Cookie", phone.header)]).status, 401) }
        for _ in 0..<4 { XCTAssertEqual(try send("GET", "/api/me", [("Cookie", laptop.header)]).status, 200) }
    }

    func testWithoutRevocationCheckTokensLiveUntilExp() throws {
        try start(extra: #", "revocationCheckMs": 0"#)
        let jar = try browser()
        XCTAssertEqual(try post("/auth/logout", jar).status, 204)
        XCTAssertEqual(try send("GET", "/api/me", [("Cookie", jar.header)]).status, 200, "documented trade-off: no store lookup, token valid until exp")
        clock.advance(by: UInt64(300 + AccessTokenIssuer.leewaySeconds) * 1_000_000_000)
        XCTAssertEqual(try send("GET", "/api/me", [("Cookie", jar.header)]).status, 401)
    }

    // MARK: Bearer mode (mobile)

    func testMobileBearerFlow() throws {
        try start(mode: "bearer")
        let r = try login("bob", "builder", origin: nil)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertTrue(r.headers.values("Set-Cookie").isEmpty, "no cookies for mobile")
        XCTAssertEqual(r.json?["token_type"]?.stringValue, "Bearer")
        XCTAssertEqual(r.json?["expires_in"]?.numberValue?.intValue, 300)
        let access = try XCTUnwrap(r.json?["access_token"]?.stringValue)
        let refresh = try XCTUnwrap(r.json?["refresh_token"]?.stringValue)
        XCTAssertNotNil(r.json?["session_id"]?.stringValue)

        let me = try send("GET", "/api/me", [("Authorization", "Bearer \(access)")])
        XCTAssertEqual(me.status, 200)
        XCTAssertEqual(received(me)["x-user-id"], ["bob"])
        XCTAssertEqual(try send("POST", "/api/me", [("Authorization", "Bearer \(access)")]).status, 200, "no CSRF for bearer tokens")

        let json = [("Content-Type", "application/json")]
        let rotated = try send("POST", "/auth/refresh", json, body: #"{"refresh_token":"\#(refresh)"}"#)
        XCTAssertEqual(rotated.status, 200, rotated.text)
        let next = try XCTUnwrap(rotated.json?["refresh_token"]?.stringValue)
        XCTAssertNotEqual(next, refresh)
        XCTAssertEqual(try send("POST", "/auth/refresh", json, body: #"{"refresh_token":"\#(refresh)"}"#).status, 401, "reuse")
        XCTAssertEqual(try send("POST", "/auth/refresh", json, body: #"{"refresh_token":"\#(next)"}"#).status, 401, "family revoked")
        XCTAssertEqual(try send("GET", "/api/me", [("Authorization", "Bearer \(access)")]).status, 401)

        let again = try login("bob", "builder", origin: nil)
        let access2 = try XCTUnwrap(again.json?["access_token"]?.stringValue)
        let refresh2 = try XCTUnwrap(again.json?["refresh_token"]?.stringValue)
        let list = try send("GET", "/auth/sessions", [("Authorization", "Bearer \(access2)")])
        XCTAssertEqual(list.json?["sessions"]?.arrayValue?.count, 1)
        XCTAssertEqual(list.json?["sessions"]?.arrayValue?.first?["client"]?.stringValue, "mobile")
        XCTAssertEqual(try send("POST", "/auth/logout", json, body: #"{"refresh_token":"\#(refresh2)"}"#).status, 204)
        XCTAssertEqual(try send("POST", "/auth/refresh", json, body: #"{"refresh_token":"\#(refresh2)"}"#).status, 401)
        XCTAssertEqual(try send("POST", "/auth/refresh", json, body: #"{"token":"x"}"#).status, 400)
    }

    /// Another method on a built-in path is 405 with `Allow`, even with a catch-all route: it never
    /// reaches a downstream service.
    func testOtherMethodsOnBuiltInPathsAre405NotTheCatchAll() throws {
        var configuration = try GatewayConfiguration.parse(Array(config().replacingOccurrences(of: #"{"name": "open", "path": "/open", "proxy": {"service": "down"}}"#,
                                                                                               with: #"{"name": "legacy", "path": "/*", "proxy": {"service": "down"}}"#).utf8), file: "test.json")
        configuration.server.port = 0
        gateway = try TestGateway(configuration: configuration, clock: clock)
        let cases: [(String, String, String)] = [("GET", "/auth/login", "POST"), ("PUT", "/auth/refresh", "POST"), ("GET", "/auth/logout", "POST"),
                                                 ("POST", "/auth/sessions", "GET, HEAD"), ("GET", "/auth/sessions/abc", "DELETE"),
                                                 ("DELETE", "/.well-known/jwks.json", "GET, HEAD")]
        for (method, path, allow) in cases {
            let r = try send(method, path)
            XCTAssertEqual(r.status, 405, "\(method) \(path): \(r.text)")
            XCTAssertEqual(r.headers["Allow"], allow, "\(method) \(path)")
            XCTAssertNil(r.json?["headers"], "\(method) \(path) reached the downstream")
        }
        XCTAssertEqual(try send("GET", "/auth/other").status, 200, "other paths still go to the catch-all")
        XCTAssertEqual(try send("GET", "/.well-known/jwks.json").status, 200)
    }
}
