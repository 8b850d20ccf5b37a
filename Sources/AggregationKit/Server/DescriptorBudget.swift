/// How many client connections a process may hold so that upstream connections always keep their share
/// of file descriptors. Pure.
///
/// Every proxied request needs one upstream descriptor besides its client's, and a composite request
/// needs several; idle keep-alive clients need none. With a limit of 1024 and no cap, a thousand idle
/// clients left nothing for upstream calls and every call failed with `EMFILE`. So clients get at most
/// three quarters of what is left after a fixed reserve (listeners, epoll and event descriptors, the
/// log, the demo services), and the configured `limits.maxConnections` applies within that. Three
/// quarters, not half: idle keep-alive clients far outnumber calls in flight, and with the common hard
/// limit of 20000 half would refuse the 10,000 idle clients a gateway is expected to hold.
///
///     limit 1024: (1024 − 64) × 3 / 4 = 720 clients, at least 240 descriptors for upstreams
///     limit 20000: 14952 clients, 4984 for upstreams
///     limit 1048576: the configured 16384 applies
public struct DescriptorBudget: Sendable, Equatable {
    /// Descriptors kept for everything that is neither a client nor an upstream connection.
    public static let reserve = 64

    public let descriptorLimit: Int
    public let configuredConnections: Int
    public let clientConnections: Int

    public init(descriptorLimit: Int, configuredConnections: Int) {
        self.descriptorLimit = descriptorLimit
        self.configuredConnections = configuredConnections
        let share = max(1, (descriptorLimit - Self.reserve) * 3 / 4)
        clientConnections = min(configuredConnections, share)
    }

    public var isCapped: Bool { clientConnections < configuredConnections }
}
