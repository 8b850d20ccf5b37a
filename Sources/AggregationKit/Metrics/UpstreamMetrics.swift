/// One service's upstream call metrics, made once when its `Upstream` is built:
/// `bff_upstream_requests_total` by instance and outcome, `bff_upstream_request_duration_seconds` by
/// instance. Instances are addressed by their index in the list given at creation; an index past it
/// counts as instance `other` (instances found later by discovery get a new handle).
// Unchecked: every stored property is immutable; `bounds` points at read-only memory of `durationFamily`.
public final class UpstreamMetrics: @unchecked Sendable {
    public let service: String
    public let instances: [String]
    private let calls: LazySeriesTable
    private let durations: LazySeriesTable
    private let callsStride: Int
    private let durationsStride: Int
    private let loopShards: Int
    private let instanceCount: Int
    private let bounds: UnsafePointer<UInt64>
    private let boundCount: Int
    /// Keeps the bounds (and the families) alive.
    private let durationFamily: HistogramFamily

    init(service: String, instances: [String], calls: CounterFamily, duration: HistogramFamily) {
        self.service = service
        self.instances = instances
        let names = instances + [MetricFamilyCore.overflowLabelValue]
        let outcomes = UpstreamCallOutcome.count
        self.calls = LazySeriesTable(core: calls.core, count: names.count * outcomes) { slot in
            [service, names[slot / outcomes], UpstreamCallOutcome.allCases[slot % outcomes].label]
        }
        durations = LazySeriesTable(core: duration.core, count: names.count) { slot in [service, names[slot]] }
        callsStride = ShardedCells.stride(cellsPerShard: calls.core.cellsPerShard)
        durationsStride = ShardedCells.stride(cellsPerShard: duration.core.cellsPerShard)
        loopShards = calls.core.loopShards
        durationFamily = duration
        instanceCount = instances.count
        bounds = UnsafePointer(duration.bounds)
        boundCount = duration.boundTexts.count
    }

    @inline(__always)
    private func instanceSlot(_ instance: Int) -> Int {
        UInt(bitPattern: instance) < UInt(bitPattern: instanceCount) ? instance : instanceCount
    }

    @inline(__always)
    private func durationSeries(_ instance: Int) -> HistogramSeries {
        HistogramSeries(cells: durations.cells(instanceSlot(instance)), stride: durationsStride, loopShards: loopShards,
                        bounds: bounds, boundCount: boundCount)
    }

    /// Counts one finished call to `instance` and its duration (from the request's start to the response
    /// or the failure). Loop thread `shard` only.
    @inline(__always)
    public func record(instance: Int, outcome: UpstreamCallOutcome, durationNanos: UInt64, shard: Int) {
        checkLoopShard(shard, loopShards)
        let cells = calls.cells(instanceSlot(instance) &* UpstreamCallOutcome.count &+ outcome.rawValue)
        bumpOwnedCell(cells + shard &* callsStride, by: 1)
        durationSeries(instance).observe(durationNanos, shard: shard)
    }

    /// The same from a thread that is not a loop (atomic adds on the shared shard).
    public func record(instance: Int, outcome: UpstreamCallOutcome, durationNanos: UInt64) {
        let cells = calls.cells(instanceSlot(instance) &* UpstreamCallOutcome.count &+ outcome.rawValue)
        CounterSeries(cells: cells, stride: callsStride, loopShards: loopShards).add(1)
        durationSeries(instance).observe(durationNanos)
    }
}
