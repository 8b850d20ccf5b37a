/// One configured instance of a service: where it is, its share of the calls, and where it runs.
/// Immutable; `Upstream.instances[i].index == i`.
public final class UpstreamInstance: Sendable {
    /// Its position in the service's `instances` (configuration order): the index a `Balancer` returns
    /// and an `UpstreamOutcome` names.
    public let index: Int
    public let origin: UpstreamOrigin
    /// Its relative share of the calls (1…1000, default 1): weight 5 beside two of weight 1 gets 5 of
    /// every 7 calls.
    public let weight: Int
    /// Where it runs (`eu-1`), for zone-aware balancing later; nil when not configured.
    public let zone: String?

    public init(index: Int, origin: UpstreamOrigin, weight: Int = 1, zone: String? = nil) {
        precondition(weight >= 1, "an instance's weight is at least 1")
        self.index = index
        self.origin = origin
        self.weight = weight
        self.zone = zone
    }

    /// `host:port`.
    public var authority: String { origin.authority }
}
