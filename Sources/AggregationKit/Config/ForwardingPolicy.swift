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
}
