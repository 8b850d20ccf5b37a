/// Where a provider's JWK Set is fetched from (`jwksUrl`) and how often: a plain value, read and checked
/// when the configuration is loaded.
///
/// Only `http://` to a loopback host (`127.0.0.0/8`, `::1`, `localhost`) for now: the gateway has no
/// TLS to upstreams yet, and keys fetched in the clear from another machine could be replaced on the
/// way (whoever does that mints tokens). A sidecar or a local agent serving the issuer's keys is the
/// supported shape until `https` arrives.
public struct JWKSEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Path and query, as sent in the request line (`/.well-known/jwks.json`).
    public var target: String
    /// Nanoseconds between scheduled refreshes of a good set. Default 300 s.
    public var refreshInterval: UInt64
    /// Nanoseconds that must pass between two fetches of any kind (a token with an unknown `kid` fetches
    /// only once this has passed since the last fetch; a failed fetch is retried after it). Default 10 s.
    public var minimumInterval: UInt64
    /// Nanoseconds a fetch may take (connect, request, whole response). Default 5 s.
    public var timeout: UInt64
    /// Largest response body accepted (bytes). Default 256 KiB.
    public var maximumBytes: Int

    public static let defaultRefreshInterval: UInt64 = 300_000_000_000
    public static let defaultMinimumInterval: UInt64 = 10_000_000_000
    public static let defaultTimeout: UInt64 = 5_000_000_000
    public static let defaultMaximumBytes = 256 * 1024

    public init(host: String, port: Int, target: String, refreshInterval: UInt64 = defaultRefreshInterval,
                minimumInterval: UInt64 = defaultMinimumInterval, timeout: UInt64 = defaultTimeout, maximumBytes: Int = defaultMaximumBytes) {
        self.host = host
        self.port = port
        self.target = target
        self.refreshInterval = refreshInterval
        self.minimumInterval = minimumInterval
        self.timeout = timeout
        self.maximumBytes = maximumBytes
    }

    /// `http://host[:port][/path[?query]]` with a loopback host; anything else (another scheme, user
    /// info, a fragment, a remote host) is refused with the reason.
    public static func parse(url: String) throws(JWKSURLError) -> (host: String, port: Int, target: String) {
        let bytes = Array(url.utf8)
        guard !bytes.contains(where: { $0 <= 32 || $0 >= 127 }) else { throw JWKSURLError("spaces, control characters and non-ASCII bytes must be percent-encoded") }
        let lower = url.lowercased()
        if lower.hasPrefix("https://") {
            throw JWKSURLError("https needs TLS to upstreams, which the gateway does not have yet: serve the keys on a loopback http address (a sidecar), or use keys")
        }
        guard lower.hasPrefix("http://") else { throw JWKSURLError("expected an http:// URL") }
        let rest = url.dropFirst(7)
        guard !rest.contains("#") else { throw JWKSURLError("a fragment (#) is not allowed") }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if target.isEmpty { target = "/" } else if target.hasPrefix("?") { target = "/" + target }
        guard !authority.contains("@") else { throw JWKSURLError("user information (user@) is not allowed") }
        var host: Substring
        var portText: Substring? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw JWKSURLError("an unclosed [ in the host") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw JWKSURLError("unexpected characters after the host") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        var port = 80
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let p = Int(portText), (1...65535).contains(p) else {
                throw JWKSURLError("the port must be a number in 1...65535")
            }
            port = p
        }
        guard !host.isEmpty else { throw JWKSURLError("no host") }
        guard isLoopback(host) else {
            throw JWKSURLError("only a loopback host (127.0.0.1, ::1, localhost) until the gateway has TLS to upstreams: keys fetched in the clear from another machine could be swapped on the way")
        }
        return (host.lowercased() == "localhost" ? "127.0.0.1" : String(host), port, target)
    }

    /// `127.0.0.0/8`, `::1` or `localhost`.
    static func isLoopback(_ host: Substring) -> Bool {
        if host.lowercased() == "localhost" { return true }
        if let v4 = IPAddress.parseIPv4(host) { return v4[0] == 127 }
        if let v6 = IPAddress.parseIPv6(host) { return v6 == [UInt8](repeating: 0, count: 15) + [1] }
        return false
    }
}

/// A `jwksUrl` that is refused, and why (safe to show: no secrets are in such a URL).
public struct JWKSURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
