/// Where a Redis server is and how to log in: from a `redis://` or `unix://` URL, strictly read.
///
///     redis://[user:password@]host[:port][/db]       port 6379 by default, db 0 by default
///     redis://:password@host:port/db                  a password alone (the `default` user)
///     unix://[user:password@]/path/to/redis.sock[?db=N]
///
/// `host` is a name, an IPv4 address or a bracketed IPv6 address. User and password are
/// percent-decoded (`%40` for `@`); anything else a URL could carry (a query on `redis://`, a fragment,
/// query keys other than `db`, a user without a `:`) is refused with the reason, never ignored.
/// `rediss://` (TLS) is refused until the client speaks TLS. `description` hides the password.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var address: Address
    /// nil: the `default` user (`AUTH password`).
    public var user: String?
    public var password: String?
    public var database: Int

    public static let defaultPort = 6379

    public init(address: Address, user: String? = nil, password: String? = nil, database: Int = 0) {
        self.address = address
        self.user = user
        self.password = password
        self.database = database
    }

    public init(url: String) throws(RedisURLError) {
        let bytes = Array(url.utf8)
        guard !bytes.contains(where: { $0 <= 32 || $0 >= 127 }) else {
            throw RedisURLError("spaces, control characters and non-ASCII bytes must be percent-encoded")
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), bytes[colon...].starts(with: Array("://".utf8)) else {
            throw RedisURLError("no scheme (expected redis:// or unix://)")
        }
        let scheme = String(decoding: bytes[..<colon], as: UTF8.self).lowercased()
        var rest = String(decoding: bytes[(colon + 3)...], as: UTF8.self)
        guard !rest.contains("#") else { throw RedisURLError("a fragment (#) is not allowed") }
        switch scheme {
        case "redis":
            guard !rest.contains("?") else { throw RedisURLError("a query is not allowed in a redis:// URL") }
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            var authority = String(rest[..<authorityEnd])
            let path = String(rest[authorityEnd...])
            (user, password) = try Self.userInfo(&authority)
            address = try Self.hostAndPort(authority)
            switch path {
            case "", "/": database = 0
            default: database = try Self.database(String(path.dropFirst()), what: "the path")
            }
        case "unix":
            var query = ""
            if let q = rest.firstIndex(of: "?") {
                query = String(rest[rest.index(after: q)...])
                rest = String(rest[..<q])
            }
            guard let slash = rest.firstIndex(of: "/") else { throw RedisURLError("no socket path (expected unix:///path/to/redis.sock)") }
            var authority = String(rest[..<slash])
            (user, password) = try Self.userInfo(&authority)
            guard authority.isEmpty else { throw RedisURLError("a unix:// URL has no host (expected unix:///path/to/redis.sock)") }
            let path = try Self.percentDecoded(String(rest[slash...]), what: "the socket path")
            guard path.utf8.count <= 107 else { throw RedisURLError("the socket path is longer than 107 bytes") }
            guard !path.hasSuffix("/") else { throw RedisURLError("the socket path names a directory") }
            address = .unix(path: path)
            database = 0
            var seen = false
            for item in query.split(separator: "&", omittingEmptySubsequences: false) where !query.isEmpty {
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, parts[0] == "db" else {
                    throw RedisURLError("unknown query parameter '\(parts[0].prefix(32))' (allowed: db)")
                }
                guard !seen else { throw RedisURLError("db is given twice") }
                seen = true
                database = try Self.database(String(parts[1]), what: "db")
            }
        case "rediss":
            throw RedisURLError("rediss:// (TLS) is not supported yet: use redis:// on a trusted network or unix://")
        default:
            throw RedisURLError("unknown scheme '\(scheme.prefix(16))' (expected redis:// or unix://)")
        }
    }

    /// Takes `user:password@` off the front of `authority`.
    private static func userInfo(_ authority: inout String) throws(RedisURLError) -> (String?, String?) {
        let ats = authority.filter { $0 == "@" }.count
        guard ats > 0 else { return (nil, nil) }
        guard ats == 1 else { throw RedisURLError("more than one '@' (write '@' in a password as %40)") }
        let at = authority.firstIndex(of: "@")!
        let info = authority[..<at]
        authority = String(authority[authority.index(after: at)...])
        guard let colon = info.firstIndex(of: ":") else {
            throw RedisURLError("credentials without ':' (write 'user:password@', or ':password@' for the default user)")
        }
        let user = try percentDecoded(String(info[..<colon]), what: "the user")
        let password = try percentDecoded(String(info[info.index(after: colon)...]), what: "the password")
        guard !password.isEmpty else { throw RedisURLError("an empty password") }
        return (user.isEmpty ? nil : user, password)
    }

    private static func hostAndPort(_ authority: String) throws(RedisURLError) -> Address {
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw RedisURLError("an IPv6 address without ']'") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw RedisURLError("unexpected text after the IPv6 address") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw RedisURLError("a malformed IPv6 address")
            }
        } else {
            if let colon = authority.firstIndex(of: ":") {
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority[...]
            }
            guard !host.isEmpty else { throw RedisURLError("no host") }
            guard host.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) || $0 == 45 || $0 == 46 || $0 == 95 }) else {
                throw RedisURLError("the host has characters a host name cannot have")
            }
        }
        guard host.utf8.count <= 253 else { throw RedisURLError("the host is longer than 253 characters") }
        var port = defaultPort
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(portText), p >= 1, p <= 65535 else {
                throw RedisURLError("the port must be a number from 1 to 65535")
            }
            port = p
        }
        return .tcp(host: String(host), port: port)
    }

    private static func database(_ text: String, what: String) throws(RedisURLError) -> Int {
        guard !text.isEmpty, text.count <= 10, text.allSatisfy({ $0.isASCII && $0.isNumber }), text == "0" || !text.hasPrefix("0"),
              let n = Int(text), n <= Int(Int32.max) else {
            throw RedisURLError("\(what) must be a database number (0, 1, 2, …)")
        }
        return n
    }

    /// `%XX` decoded strictly (two hex digits); the result must be UTF-8.
    private static func percentDecoded(_ text: String, what: String) throws(RedisURLError) -> String {
        guard text.contains("%") else { return text }
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case 48...57: b - 48
            case 65...70: b - 55
            case 97...102: b - 87
            default: nil
            }
        }
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) else {
                    throw RedisURLError("a malformed %-escape in \(what)")
                }
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        guard let s = String(validating: out, as: UTF8.self), !out.contains(0) else {
            throw RedisURLError("\(what) is not valid UTF-8 once decoded")
        }
        return s
    }

    /// The URL with the password replaced by `***`: safe to log.
    public var description: String {
        var credentials = ""
        if password != nil { credentials = "\(user ?? ""):***@" }
        switch address {
        case .tcp(let host, let port):
            let h = host.contains(":") ? "[\(host)]" : host
            return "redis://\(credentials)\(h):\(port)/\(database)"
        case .unix(let path):
            return "unix://\(credentials)\(path)?db=\(database)"
        }
    }
}
