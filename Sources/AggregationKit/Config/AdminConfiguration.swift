/// The admin listener: a second HTTP listener that serves `GET /metrics` (Prometheus text format) and
/// nothing of the public routes, so metrics never leak through the public port.
///
/// ```json
/// "admin": { "enabled": true, "host": "127.0.0.1", "port": 9080 }
/// ```
public struct AdminConfiguration: Sendable {
    /// Off: no admin listener and no metrics are recorded (the gateway's hot path skips them).
    public var enabled = true
    /// Loopback by default: scraping from elsewhere is a deliberate choice.
    public var host = "127.0.0.1"
    /// nil: the public listen port + 1000 (9080 for BFFWeb's 8080), or an ephemeral port when the public
    /// port is 0. `--admin-port` overrides it.
    public var port: Int?

    public init() {}

    /// The port to bind for a public listener on `publicPort`: the configured one, or `publicPort + 1000`
    /// (0 stays 0, ephemeral). Nil when the default would be past 65535 (`admin.port` must then be set).
    public func effectivePort(publicPort: Int) -> Int? {
        if let port { return port }
        if publicPort == 0 { return 0 }
        return publicPort + 1000 <= 65535 ? publicPort + 1000 : nil
    }
}
