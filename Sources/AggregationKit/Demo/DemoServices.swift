/// Small downstream services with realistic, deterministic data, served on loopback by our own server,
/// so `--demo` shows real responses with no setup:
///
/// | service   | endpoints |
/// |-----------|-----------|
/// | users     | `GET /users/{id}` (1...500; others 404) |
/// | orders    | `GET /orders?userId=N&limit=K`, `GET /orders/{id}` |
/// | catalog   | `GET /products/{id}`, `GET /products?ids=1,2,3`, `GET /recommendations?userId=N` |
/// | notifications | `GET /notifications?userId=N` |
/// | legacy    | any method, any path: echoes the request (method, path, query, headers, body) as JSON |
/// | identity  | `POST /verify` `{"username","password"}` → `{"sub","roles"}` or 401 (the users below) |
///
/// Demo accounts of `identity` (their ids are users of the `users` service):
///
/// | username | password | sub | roles |
/// |----------|----------|-----|-------|
/// | alice    | wonderland | 1 | user |
/// | bob      | builder    | 2 | user |
/// | admin    | change-me-admin | 3 | admin |
///
/// `/recommendations` is the slow one (150 ms). Services named in `failing` answer every request with
/// 503, so a newcomer can watch a partial response (`--demo-fail notifications`).
public final class DemoServices: Sendable {
    public let group: EventLoopGroup
    public let servers: [String: HTTPServer]
    /// Port of each service on 127.0.0.1.
    public let ports: [String: Int]

    public static func start(threads: Int = 1, failing: Set<String> = [], logging: LogStreams = .standard) throws -> DemoServices {
        let group = try EventLoopGroup(threads: threads, logging: logging)
        var servers: [String: HTTPServer] = [:]
        var ports: [String: Int] = [:]
        let handlers: [String: any HTTPHandler] = [
            "users": try DemoUsers.handler(),
            "orders": try DemoOrders.handler(),
            "catalog": try DemoCatalog.handler(),
            "notifications": try DemoNotifications.handler(),
            "legacy": ClosureHandler { request, _ in DemoLegacy.echo(request) },
            "identity": try DemoIdentity.handler(),
        ]
        for (name, realHandler) in handlers {
            let handler: any HTTPHandler = failing.contains(name)
                ? ClosureHandler { _, _ in HTTPError(status: 503, code: "demo_failure", detail: "the demo service '\(name)' was told to fail").response(requestID: nil) }
                : realHandler
            var config = ServerConfiguration()
            config.host = "127.0.0.1"
            config.port = 0
            config.accessLog = false
            config.name = "demo-\(name)"
            let server = HTTPServer(configuration: config, group: group, handler: handler)
            ports[name] = try server.start()
            servers[name] = server
        }
        return DemoServices(group: group, servers: servers, ports: ports)
    }

    private init(group: EventLoopGroup, servers: [String: HTTPServer], ports: [String: Int]) {
        self.group = group
        self.servers = servers
        self.ports = ports
    }

    public func shutdown() {
        for server in servers.values { server.shutdown() }
        group.shutdown()
    }
}

/// Routes a demo service's requests.
struct DemoRouter: HTTPHandler {
    let router: Router<@Sendable (HTTPRequest, [(name: String, value: String)]) -> HTTPResponse>

    func handle(_ request: HTTPRequest, context: RequestContext) async throws -> HTTPResponse {
        switch router.lookup(method: request.method, path: request.path) {
        case .matched(let m): return m.value(request, m.parameters)
        case .methodNotAllowed: throw HTTPError(status: 405, code: "method_not_allowed", detail: "not allowed")
        case .notFound: throw HTTPError.notFound()
        }
    }
}

enum Demo {
    static func json(_ value: JSONValue, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "application/json")]), body: JSONSerializer.serialize(value))
    }

    static func object(_ entries: [(String, JSONValue)]) -> JSONValue { .object(JSONObject(entries.map { (key: $0.0, value: $0.1) })) }
    static func num(_ i: Int) -> JSONValue { .number(JSONNumber(i)) }
    static func money(_ cents: Int) -> JSONValue { .number(JSONNumber(text: "\(cents / 100).\(cents % 100 < 10 ? "0" : "")\(cents % 100)")) }
    static func str(_ s: String) -> JSONValue { .string(s) }

    static func query(_ request: HTTPRequest, _ name: String) -> String? {
        EvaluationScope.parseQuery(request.query)[name]
    }

    static func notFound(_ what: String) -> HTTPResponse {
        HTTPError(status: 404, code: "not_found", detail: "\(what) not found").response(requestID: nil)
    }

    static let firstNames = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Linus", "Radia", "Ken", "Frances", "John"]
    static let lastNames = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Torvalds", "Perlman", "Thompson", "Allen", "McCarthy"]
    static let cities = [("Berlin", "DE"), ("Lisbon", "PT"), ("Toronto", "CA"), ("Osaka", "JP"), ("Austin", "US"), ("Lyon", "FR")]
    static let products = ["Mechanical Keyboard", "USB-C Hub", "Noise-Cancelling Headphones", "4K Monitor", "Ergonomic Mouse",
                           "Laptop Stand", "Webcam", "Desk Lamp", "Standing Desk Mat", "Portable SSD", "Microphone", "Cable Organizer"]
    static let categories = ["peripherals", "audio", "displays", "storage", "office"]

    static func date(day: Int) -> String {
        let d = day % 28 + 1, m = (day / 28) % 12 + 1
        return "2026-\(m < 10 ? "0" : "")\(m)-\(d < 10 ? "0" : "")\(d)T\(10 + day % 12):\(day % 6)5:00Z"
    }
}

enum DemoUsers {
    static func user(_ id: Int) -> JSONValue {
        let first = Demo.firstNames[id % Demo.firstNames.count], last = Demo.lastNames[(id * 7) % Demo.lastNames.count]
        let (city, country) = Demo.cities[id % Demo.cities.count]
        return Demo.object([
            ("id", Demo.num(id)),
            ("username", Demo.str("\(first.lowercased()).\(last.lowercased())\(id)")),
            ("name", Demo.str("\(first) \(last)")),
            ("email", Demo.str("\(first.lowercased()).\(last.lowercased())@example.com")),
            ("avatarUrl", Demo.str("https://cdn.example.com/avatars/\(id)/512.jpg")),
            ("tier", Demo.str(["free", "plus", "pro"][id % 3])),
            ("createdAt", Demo.str(Demo.date(day: id * 3))),
            ("address", Demo.object([("street", Demo.str("\(id * 3) Main Street")), ("city", Demo.str(city)), ("country", Demo.str(country)), ("postalCode", Demo.str(String(10000 + id * 37)))])),
            ("preferences", Demo.object([("language", Demo.str(["en", "de", "pt", "ja", "fr"][id % 5])), ("newsletter", .bool(id % 2 == 0)), ("theme", Demo.str(id % 3 == 0 ? "dark" : "light"))])),
            ("internal", Demo.object([("riskScore", Demo.num(id * 13 % 100)), ("accountManager", Demo.str("am-\(id % 9)"))])),
        ])
    }

    static func handler() throws -> any HTTPHandler {
        var r = Router<@Sendable (HTTPRequest, [(name: String, value: String)]) -> HTTPResponse>()
        try r.add(method: "GET", template: "/users/{id}") { _, p in
            guard let id = Int(p[0].value), (1...500).contains(id) else { return Demo.notFound("user \(p[0].value)") }
            return Demo.json(user(id))
        }
        return DemoRouter(router: r)
    }
}

enum DemoCatalog {
    static func product(_ id: Int) -> JSONValue {
        Demo.object([
            ("id", Demo.num(id)),
            ("sku", Demo.str("SKU-\(100000 + id)")),
            ("name", Demo.str(Demo.products[id % Demo.products.count])),
            ("category", Demo.str(Demo.categories[id % Demo.categories.count])),
            ("price", Demo.money(1999 + id * 250)),
            ("currency", Demo.str("EUR")),
            ("inStock", .bool(id % 4 != 0)),
            ("rating", .number(JSONNumber(text: "\(3 + id % 3).\(id % 10)"))),
            ("images", .array([
                Demo.object([("size", Demo.str("small")), ("url", Demo.str("https://cdn.example.com/products/\(id)/160.jpg"))]),
                Demo.object([("size", Demo.str("large")), ("url", Demo.str("https://cdn.example.com/products/\(id)/1024.jpg"))]),
            ])),
            ("description", Demo.str("The \(Demo.products[id % Demo.products.count]) is built to last, with a two-year warranty.")),
            ("supplierCost", Demo.money(999 + id * 100)),
        ])
    }

    static func handler() throws -> any HTTPHandler {
        var r = Router<@Sendable (HTTPRequest, [(name: String, value: String)]) -> HTTPResponse>()
        try r.add(method: "GET", template: "/products/{id}") { _, p in
            guard let id = Int(p[0].value), (1...1000).contains(id) else { return Demo.notFound("product \(p[0].value)") }
            return Demo.json(product(id))
        }
        try r.add(method: "GET", template: "/products") { request, _ in
            let ids = (Demo.query(request, "ids") ?? "").split(separator: ",").compactMap { Int($0) }.filter { (1...1000).contains($0) }
            return Demo.json(Demo.object([("products", .array(ids.prefix(100).map(product)))]))
        }
        try r.add(method: "GET", template: "/recommendations") { request, _ in
            let user = Int(Demo.query(request, "userId") ?? "") ?? 1
            let ids = (0..<6).map { (user * 17 + $0 * 31) % 1000 + 1 }
            return Demo.json(Demo.object([("userId", Demo.num(user)), ("items", .array(ids.map { id in
                Demo.object([("productId", Demo.num(id)), ("score", .number(JSONNumber(text: "0.\(90 - (id % 40))"))), ("reason", Demo.str("bought together"))])
            }))]))
        }
        let router = DemoRouter(router: r)
        return ClosureHandler { request, context in
            // The slow endpoint of the demo (without holding the loop).
            if request.path == "/recommendations" { try? await Task.sleep(nanoseconds: 150_000_000) }
            return try await router.handle(request, context: context)
        }
    }
}

enum DemoOrders {
    static func order(_ id: Int, user: Int) -> JSONValue {
        let count = id % 3 + 1
        let items: [JSONValue] = (0..<count).map { k in
            let pid = (id * 5 + k * 11) % 1000 + 1
            return Demo.object([("productId", Demo.num(pid)), ("quantity", Demo.num(k + 1)), ("unitPrice", Demo.money(1999 + pid * 250))])
        }
        let total = (0..<count).reduce(0) { sum, k in let pid = (id * 5 + k * 11) % 1000 + 1; return sum + (k + 1) * (1999 + pid * 250) }
        return Demo.object([
            ("id", Demo.num(id)),
            ("userId", Demo.num(user)),
            ("status", Demo.str(["placed", "shipped", "delivered", "cancelled"][id % 4])),
            ("placedAt", Demo.str(Demo.date(day: id))),
            ("total", Demo.money(total)),
            ("currency", Demo.str("EUR")),
            ("items", .array(items)),
            ("shippingAddressId", Demo.num(user * 10 + 1)),
            ("fraudCheck", Demo.object([("score", Demo.num(id % 100)), ("reviewedBy", .null)])),
        ])
    }

    static func handler() throws -> any HTTPHandler {
        var r = Router<@Sendable (HTTPRequest, [(name: String, value: String)]) -> HTTPResponse>()
        try r.add(method: "GET", template: "/orders") { request, _ in
            guard let user = Int(Demo.query(request, "userId") ?? ""), (1...500).contains(user) else {
                return HTTPError(status: 400, code: "bad_request", detail: "userId query parameter required").response(requestID: nil)
            }
            let limit = min(50, max(1, Int(Demo.query(request, "limit") ?? "") ?? 10))
            let orders = (0..<limit).map { order(user * 1000 + $0 + 1, user: user) }
            return Demo.json(Demo.object([("userId", Demo.num(user)), ("orders", .array(orders))]))
        }
        try r.add(method: "GET", template: "/orders/{id}") { _, p in
            guard let id = Int(p[0].value), id > 1000, id / 1000 <= 500 else { return Demo.notFound("order \(p[0].value)") }
            return Demo.json(order(id, user: id / 1000))
        }
        return DemoRouter(router: r)
    }
}

enum DemoNotifications {
    static func handler() throws -> any HTTPHandler {
        var r = Router<@Sendable (HTTPRequest, [(name: String, value: String)]) -> HTTPResponse>()
        try r.add(method: "GET", template: "/notifications") { request, _ in
            let user = Int(Demo.query(request, "userId") ?? "") ?? 1
            let kinds = [("order_shipped", "Your order has shipped"), ("price_drop", "A product on your wishlist is cheaper"),
                         ("review_request", "How was your last order?"), ("security", "New sign-in from a new device")]
            let items: [JSONValue] = (0..<(user % 4 + 2)).map { i in
                let (kind, text) = kinds[(user + i) % kinds.count]
                return Demo.object([("id", Demo.str("n-\(user)-\(i)")), ("kind", Demo.str(kind)), ("text", Demo.str(text)),
                                    ("read", .bool(i > 1)), ("createdAt", Demo.str(Demo.date(day: user + i)))])
            }
            return Demo.json(Demo.object([("userId", Demo.num(user)), ("unread", Demo.num(min(2, items.count))), ("items", .array(items))]))
        }
        return DemoRouter(router: r)
    }
}

enum DemoLegacy {
    static func echo(_ request: HTTPRequest) -> HTTPResponse {
        let headers = JSONValue.array(request.headers.map { Demo.object([("name", .string($0.name)), ("value", .string($0.value))]) })
        return Demo.json(Demo.object([
            ("service", Demo.str("legacy-monolith")),
            ("method", .string(request.method)),
            ("path", .string(String(request.path))),
            ("query", request.query.map { .string(String($0)) } ?? .null),
            ("headers", headers),
            ("body", .string(String(decoding: request.body, as: UTF8.self))),
        ]))
    }
}

/// The demo's identity service: checks a username and password against a few fixed accounts and says who
/// that is. The gateway's `/auth/login` calls it (the API is fixed: `POST /verify`, 200 `{"sub","roles"}`,
/// 401 `{"error":"invalid_credentials"}`).
///
///     body (≤ 4 KiB, JSON object with exactly "username" and "password", both strings) ─▶ account by name
///       ─▶ PBKDF2-HMAC-SHA256 of the password with the account's salt (a dummy account's when the name is
///          unknown, so both cost the same) ─▶ constant-time comparison with the stored hash
///
/// Only salted hashes are stored here. The work factor is low (10 000 iterations) because this is a demo
/// whose passwords the README prints, and a login benchmark should measure the gateway, not this
/// service; a real store uses a far higher one (OWASP: 600 000 for PBKDF2-SHA256) or Argon2id.
enum DemoIdentity {
    struct Account: Sendable {
        let username: String
        let sub: String
        let roles: [String]
        let salt: [UInt8]
        let hash: [UInt8]
    }

    static let iterations = 10_000
    static let maxBodyBytes = 4096

    private static func hex(_ text: String) -> [UInt8] {
        guard let bytes = APIKeyFileStore.bytes(hex: text) else { preconditionFailure("bad hex in a demo account") }
        return bytes
    }

    /// alice / wonderland, bob / builder, admin / change-me-admin (PBKDF2-HMAC-SHA256, 10 000 iterations,
    /// 16-byte random salts).
    static let accounts: [Account] = [
        Account(username: "alice", sub: "1", roles: ["user"], salt: hex("3bc35d89368a87aa0a5d9912c74d0d80"),
                hash: hex("d65455fb2d1d9761fc8b6d30ad58a7060e925e583bbe479e37362f25000e14da")),
        Account(username: "bob", sub: "2", roles: ["user"], salt: hex("cc8df1d542a5baf57d880607b359939d"),
                hash: hex("5a3be1e310abf7a91989ba8d07ec9dca5bb03aa63f61907bec1e0094ef9c4967")),
        Account(username: "admin", sub: "3", roles: ["admin"], salt: hex("0553939558c86e6f13e33dae1d9c43da"),
                hash: hex("e4ce924726177d1df56369b17eb274c036cddb1e3b7e7561e4deca1d3dedc252")),
    ]

    /// Checked for an unknown username, so a miss costs what a wrong password costs (its password is
    /// random and unknown to anyone).
    static let nobody = Account(username: "", sub: "", roles: [], salt: hex("327933992e435778ac3ed5e4b9e50744"),
                                hash: hex("9c191805042902a9cc82c0ae09649a835fe12bb395786bd0b7fd2a6713a91fb7"))

    /// The account whose password this is, or nil. Same work whether or not the username exists.
    static func account(username: String, password: String) -> Account? {
        let candidate = accounts.first { $0.username == username }
        let account = candidate ?? nobody
        guard let derived = try? PBKDF2.derive(password: Array(password.utf8), salt: account.salt, iterations: iterations,
                                                 length: account.hash.count) else { return nil }
        // HMAC pads its key with zeros, so `pw` and `pw\u{0}` derive the same hash: a password with a
        // control byte is never one of ours (checked after the work, so it costs the same).
        let plain = !password.utf8.contains { $0 < 0x20 || $0 == 0x7F }
        guard ConstantTime.equals(derived, account.hash), candidate != nil, plain else { return nil }
        return account
    }

    static func error(_ status: Int, _ code: String) -> HTTPResponse {
        Demo.json(Demo.object([("error", Demo.str(code))]), status: status)
    }

    /// The answer to `POST /verify`.
    static func verify(_ request: HTTPRequest) -> HTTPResponse {
        if let type = request.headers["content-type"],
           type.split(separator: ";", maxSplits: 1).first.map({ $0.trimmingHTTPWhitespace().lowercased() }) != "application/json" {
            return error(415, "unsupported_media_type")
        }
        guard request.body.count <= maxBodyBytes else { return error(413, "body_too_large") }
        // Strict: one JSON object, no duplicate members, exactly the two string members.
        guard let value = try? JSONParser.parse(request.body, duplicateKeys: .reject), case .object(let o) = value, o.count == 2,
              case .string(let username)? = o["username"], case .string(let password)? = o["password"] else {
            return error(400, "invalid_request")
        }
        guard let account = account(username: username, password: password) else { return error(401, "invalid_credentials") }
        return Demo.json(Demo.object([("sub", Demo.str(account.sub)), ("roles", .array(account.roles.map(JSONValue.string)))]))
    }

    static func handler() throws -> any HTTPHandler {
        var r = Router<@Sendable (HTTPRequest, [(name: String, value: String)]) -> HTTPResponse>()
        try r.add(method: "POST", template: "/verify") { request, _ in verify(request) }
        return DemoRouter(router: r)
    }
}
