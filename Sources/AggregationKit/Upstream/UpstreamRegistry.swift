/// Every configured service's `Upstream`, built once at start from `services`, in configuration order.
/// Immutable; `shutdown()` is the lifecycle's last step for upstreams.
public final class UpstreamRegistry: Sendable {
    /// In configuration order; `upstreams[i].index == i`.
    public let upstreams: [Upstream]
    private let byName: [String: Upstream]
    private let loops: [EventLoop]

    /// Builds one `Upstream` per service of `configuration`, for the loops of `group`. `observers` hear
    /// the outcome of every call to every upstream (they tell upstreams apart by `Upstream.index`/`name`).
    public init(configuration: GatewayConfiguration, group: EventLoopGroup, observers: [any UpstreamObserver] = []) throws {
        var upstreams: [Upstream] = []
        for service in configuration.services {
            upstreams.append(try Upstream(configuration: service, index: upstreams.count, group: group,
                                          responseBudget: configuration.server.responseBudget, observers: observers))
        }
        self.upstreams = upstreams
        byName = Dictionary(upstreams.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        loops = group.loops
    }

    /// The upstream of service `name`.
    public subscript(name: String) -> Upstream? { byName[name] }

    /// Shuts every upstream down (see `Upstream.shutdown()`) with one visit per loop; returns when done.
    /// Any thread but one of the loops'.
    public func shutdown() {
        precondition(!loops.contains { $0.inEventLoop }, "UpstreamRegistry.shutdown() would wait on its own loop")
        let upstreams = self.upstreams
        for loop in loops {
            _ = loop.tryExecute(sync: { for upstream in upstreams { upstream.shutdown(on: loop) } })
        }
    }
}
