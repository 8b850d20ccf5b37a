import Foundation
import Synchronization
@testable import AggregationKit

/// A stand-in identity service on loopback (our own server): `POST /verify` with `{"username","password"}`
/// answers 200 `{"sub","roles"}` for its two users and 401 otherwise; `mode` makes it misbehave.
final class TestIdentityService: Sendable {
    enum Mode: String, Sendable { case normal, garbage, serverError }

    final class State: Sendable {
        let mode = Mutex(Mode.normal)
        let calls = Atomic<Int>(0)
    }

    static let users: [String: (password: String, roles: [String])] = ["alice": ("wonderland", ["user"]), "bob": ("builder", ["admin"])]

    let server: HTTPServer
    let port: Int
    let state = State()

    init() throws {
        var config = ServerConfiguration()
        config.port = 0
        config.accessLog = false
        let state = self.state
        server = HTTPServer(configuration: config, group: try EventLoopGroup(threads: 1, logging: .disabled), handler: ClosureHandler { request, _ in
            state.calls.add(1, ordering: .relaxed)
            switch state.mode.withLock({ $0 }) {
            case .garbage: return HTTPResponse(status: 200, contentType: "application/json", body: #"{"user": 42}"#)
            case .serverError: return HTTPResponse(status: 500, contentType: "text/plain", body: "boom")
            case .normal: break
            }
            guard request.method == "POST", request.path == "/verify",
                  let o = (try? JSONParser.parse(request.body))?.objectValue,
                  let name = o["username"]?.stringValue, let password = o["password"]?.stringValue,
                  let user = Self.users[name], user.password == password else {
                return HTTPResponse(status: 401, contentType: "application/json", body: #"{"error":"invalid"}"#)
            }
            let roles = user.roles.map { "\"\($0)\"" }.joined(separator: ",")
            return HTTPResponse(status: 200, contentType: "application/json", body: #"{"sub":"\#(name)","roles":[\#(roles)]}"#)
        })
        port = try server.start()
    }

    func set(_ mode: Mode) { state.mode.withLock { $0 = mode } }
    var calls: Int { state.calls.load(ordering: .relaxed) }

    func stop() {
        server.shutdown()
        server.group.shutdown()
    }
}

/// A browser's view of the gateway's cookies: what `Set-Cookie` gave it (with attributes) and the
/// `Cookie` field it sends back.
struct CookieJar {
    var values: [String: String] = [:]
    /// The attributes of the last `Set-Cookie` of each name (`Path=/; Max-Age=300; Secure; …`).
    var attributes: [String: String] = [:]

    mutating func absorb(_ response: HTTPResponse) {
        for field in response.headers.values("Set-Cookie") {
            let parts = field.split(separator: ";", maxSplits: 1)
            let pair = parts[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0]), value = pair.count > 1 ? String(pair[1]) : ""
            attributes[name] = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            if attributes[name]!.contains("Max-Age=0") { values[name] = nil } else { values[name] = value }
        }
    }

    var header: String { values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
    var csrf: String? { values[SessionCookies.csrf] }
    var access: String? { values[SessionCookies.access] }
    var refresh: String? { values[SessionCookies.refresh] }
}

/// A session store whose every call fails as an unreachable Redis would.
struct UnavailableSessionStore: SessionStore {
    private static let down = SessionStoreError(.unavailable, "test: the store is down")
    func create(_ session: SessionRecord, token: RefreshTokenHash, now: Int64) async throws(SessionStoreError) { throw Self.down }
    func rotate(_ presented: RefreshTokenHash, to next: RefreshTokenHash, now: Int64, idleSeconds: Int64) async throws(SessionStoreError) -> RotationResult { throw Self.down }
    func revoke(token: RefreshTokenHash, now: Int64) async throws(SessionStoreError) -> SessionRecord? { throw Self.down }
    func revoke(sessionID: String, subject: String, now: Int64) async throws(SessionStoreError) -> Bool { throw Self.down }
    func sessions(subject: String, now: Int64) async throws(SessionStoreError) -> [SessionRecord] { throw Self.down }
    func isLive(sessionID: String, now: Int64) async throws(SessionStoreError) -> Bool { throw Self.down }
}
