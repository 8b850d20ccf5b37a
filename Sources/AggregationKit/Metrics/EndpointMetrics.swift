/// One composite endpoint's metrics, made once when the endpoint is compiled, every series present
/// from the start (at zero): failed downstream calls by call name, partial responses, and responses that
/// broke the endpoint's contract. Calls are addressed by their index in the list given at creation.
public final class EndpointMetrics: Sendable {
    public let endpoint: String
    public let calls: [String]
    private let failedCalls: [CounterSeries]
    private let partial: CounterSeries
    private let violations: CounterSeries
    /// Keeps the families (and so the cells) alive.
    private let families: [CounterFamily]

    init(endpoint: String, calls: [String], failed: CounterFamily, partial: CounterFamily, violations: CounterFamily) {
        self.endpoint = endpoint
        self.calls = calls
        failedCalls = calls.map { failed.series([endpoint, $0]) }
        self.partial = partial.series([endpoint])
        self.violations = violations.series([endpoint])
        families = [failed, partial, violations]
    }

    /// A downstream call of this endpoint failed (error, timeout or unusable response). Loop `shard` only.
    @inline(__always)
    public func callFailed(call: Int, shard: Int) { failedCalls[call].increment(shard: shard) }

    /// The same from a thread that is not a loop.
    public func callFailed(call: Int) { failedCalls[call].add(1) }

    /// The endpoint answered with a partial response (some optional calls failed). Loop `shard` only.
    @inline(__always)
    public func partialResponse(shard: Int) { partial.increment(shard: shard) }

    public func partialResponse() { partial.add(1) }

    /// The endpoint's response did not match its contract's schema. Loop `shard` only.
    @inline(__always)
    public func contractViolation(shard: Int) { violations.increment(shard: shard) }

    public func contractViolation() { violations.add(1) }
}
