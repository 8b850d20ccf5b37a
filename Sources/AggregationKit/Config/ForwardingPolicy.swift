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
        return trustedProxies.contains { $0.contains(a) }
    }

    /// The address of the client that made the request, for decisions keyed by client (login lockout,
    /// invalid-credential bursts): the connection's peer, unless the peer is a trusted proxy and the
    /// request carries exactly one `X-Forwarded-For` field — then the right-most address of that list
    /// that is not itself a trusted proxy (nginx's `real_ip_recursive on`), or its first entry when every
    /// hop is trusted. A malformed list (an entry that is not an IP address) is not believed: the peer.
    /// Behind a load balancer this keeps one user's failures from locking out everyone it serves.
    public func originalClient(peer: String, headers: HTTPHeaders) -> String {
        guard trusts(peer) else { return peer }
        let fields = headers.values("x-forwarded-for")
        guard fields.count == 1 else { return peer }
        let entries = fields[0].split(separator: ",", omittingEmptySubsequences: false).map { entry in
            String(String(entry.drop(while: { $0 == " " || $0 == "\t" }).reversed()).drop(while: { $0 == " " || $0 == "\t" }).reversed())
        }
        guard entries.count <= 32, entries.allSatisfy({ IPAddress($0) != nil }) else { return peer }
        for entry in entries.reversed() where !trusts(entry) { return IPAddress(entry)!.description }
        return IPAddress(entries[0])!.description
    }
}
