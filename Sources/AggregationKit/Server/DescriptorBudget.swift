/// How many client connections a process may hold so that upstream connections always keep their share
/// of file descriptors. Pure.
///
/// Every proxied request needs one upstream descriptor besides its client's, and a composite request
/// needs several; idle keep-alive clients need none. With a limit of 1024 and no cap, a thousand idle
/// clients left nothing for upstream calls and every call failed with `EMFILE`. So clients get at most
/// half of what is left after a fixed reserve (listeners, epoll and event descriptors, the log, the
/// demo services), and the configured `limits.maxConnections` applies within that.
///
///     limit 1024: (1024 − 64) / 2 = 480 clients, at least 480 descriptors for upstreams
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
        let share = max(1, (descriptorLimit - Self.reserve) / 2)
        clientConnections = min(configuredConnections, share)
    }

    public var isCapped: Bool { clientConnections < configuredConnections }
}
