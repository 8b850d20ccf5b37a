/// Which request headers the gateway believes and passes on (gateway.json, top level):
///
/// ```json
/// { "trustedProxies": ["10.0.0.0/8", "fd00::/8"], "underscoresInHeaders": false }
/// ```
public struct ForwardingPolicy: Sendable {
    /// Clients whose `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host`, `Forwarded` and
    /// `X-Real-IP` are believed: from them these are kept and extended. From anyone else they are
    /// replaced by what the gateway saw itself, since a client can write anything there. Empty (the
    /// default): nobody is trusted.
    public var trustedProxies: [IPNetwork] = []
    /// Whether header names containing `_` are passed on (to proxy upstreams and composite `header.*`).
    /// Off by default, as nginx (`underscores_in_headers off`): some servers read `X_Forwarded_Host` as
    /// `X-Forwarded-Host`, which would let a client slip past the gateway's own header handling.
    public var underscoresInHeaders = false

    public init() {}

    /// Whether the client at `address` (text as the server reports it) is a trusted proxy.
    public func trusts(_ address: String) -> Bool {
        guard !trustedProxies.isEmpty, let a = IPAddress(address) else { return false }
        return trusts(a)
    }

    func trusts(_ address: IPAddress) -> Bool { trustedProxies.contains { $0.contains(address) } }

    /// The address of the client that made the request, for decisions keyed by client (login lockout,
    /// invalid-credential bursts): the connection's peer, unless the peer is a trusted proxy — then the
    /// right-most `X-Forwarded-For` address that is not itself a trusted proxy (nginx's
    /// `real_ip_recursive on`), or the left-most one when every hop is trusted.
    ///
    /// Several `X-Forwarded-For` fields are one list in order (RFC 9110 §5.3: HAProxy adds its own field
    /// rather than extending the client's). Only the hops walked from the right are read: what lies left
    /// of the first untrusted hop was written by the client and is never looked at, so a client that
    /// prepends garbage or 40 entries cannot make its failures count against the proxy's own address
    /// (shared by everyone behind it). A hop may carry a port (`1.2.3.4:80`, `[2001:db8::1]:443`, as
    /// some load balancers write it). An unreadable hop reached in the walk (written by a trusted
    /// proxy), or more than 32 trusted hops, is not believed: the peer.
    public func originalClient(peer: String, headers: HTTPHeaders) -> String {
        guard trusts(peer) else { return peer }
        let fields = headers.values("x-forwarded-for")
        guard !fields.isEmpty else { return peer }
        var walked = 0
        var leftMost: IPAddress? = nil
        for field in fields.reversed() {
            for entry in field.split(separator: ",", omittingEmptySubsequences: false).reversed() {
                walked += 1
                guard walked <= 32, let address = Self.hopAddress(entry) else { return peer }
                if !trusts(address) { return address.description }
                leftMost = address
            }
        }
        return leftMost?.description ?? peer
    }

    /// One `X-Forwarded-For` hop: an address, optionally with a port (`a.b.c.d:port`, `[v6]`,
    /// `[v6]:port`), between optional spaces and tabs; nil when it is anything else.
    static func hopAddress(_ entry: Substring) -> IPAddress? {
        var text = entry.drop(while: { $0 == " " || $0 == "\t" })
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let after = text[text.index(after: close)...]
            guard after.isEmpty || (after.first == ":" && isPort(after.dropFirst())) else { return nil }
            return IPAddress(ipv6: text[text.index(after: text.startIndex)..<close])
        }
        if let colon = text.firstIndex(of: ":"), text[..<colon].contains(".") {
            guard isPort(text[text.index(after: colon)...]) else { return nil }
            return IPAddress(ipv4: text[..<colon])
        }
        return IPAddress(text)
    }

    private static func isPort(_ text: Substring) -> Bool {
        !text.isEmpty && text.count <= 5 && text.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// The key that counts a client address for lockouts and bursts: an IPv4 address as it is, an IPv6
    /// address by its /64 prefix (`2001:db8:1:2::/64`). One IPv6 subscriber usually holds a whole /64
    /// (RFC 6177), so counting single addresses would give an attacker 2^64 fresh counts; a text that is
    /// not an address is kept as it is.
    public static func clientKey(_ address: String) -> String {
        guard let ip = IPAddress(address), !ip.isIPv4 else { return address }
        let prefix = stride(from: 0, to: 8, by: 2).map { String(UInt16(ip.bytes[$0]) << 8 | UInt16(ip.bytes[$0 + 1]), radix: 16) }
        return prefix.joined(separator: ":") + "::/64"
    }
}
