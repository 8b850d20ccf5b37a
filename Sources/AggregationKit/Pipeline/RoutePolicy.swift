/// A route's effective policy: `defaults.policy` of `gateway.json`, overridden per proxy route
/// (`routes.<name>.policy`) and per composite endpoint (the contract's `policy`). Each section is nil
/// when not set. Compiled into the route's pipeline once, at start.
public struct RoutePolicy: Sendable {
    /// `methods`: the methods the route accepts (405 with `Allow` for others).
    public var methods: [String]?
    /// `maxBodyBytes`: a request body larger than this gets 413 (before it is read, when
    /// `Content-Length` says so).
    public var maxBodyBytes: Int?
    /// `timeoutMs`: the request's deadline, in nanoseconds once compiled.
    public var timeout: UInt64?

    public init() {}
}
