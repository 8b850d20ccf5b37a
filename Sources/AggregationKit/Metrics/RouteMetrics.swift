/// One route's request metrics, made once when the route is compiled: `bff_requests_total` by method
/// and status class, and `bff_request_duration_seconds`.
///
/// `record` costs two table reads, two cell bumps and a bucket scan of at most 14 bounds: no lock, no
/// allocation, no dictionary, no string work (a method's label is a `switch` over short strings, or pass
/// a `MethodLabel` kept from earlier). The requests series of a method and status class appears on its
/// first request (see `LazySeriesTable`); the duration series exists from the start.
public final class RouteMetrics: Sendable {
    public let client: String
    public let route: String
    private let requests: LazySeriesTable
    private let requestsStride: Int
    private let loopShards: Int
    private let duration: HistogramSeries
    /// Keeps the families (and so the cells the handles point to) alive as long as this route.
    private let durationFamily: HistogramFamily

    init(client: String, route: String, requests: CounterFamily, duration: HistogramFamily) {
        self.client = client
        self.route = route
        self.requests = LazySeriesTable(core: requests.core, count: MethodLabel.count * StatusClassLabel.count) { slot in
            [client, route, MethodLabel.values[slot / StatusClassLabel.count], StatusClassLabel.values[slot % StatusClassLabel.count]]
        }
        requestsStride = ShardedCells.stride(cellsPerShard: requests.core.cellsPerShard)
        loopShards = requests.core.loopShards
        durationFamily = duration
        self.duration = duration.series([client, route])
    }

    /// Counts one answered request and its duration (from the request's arrival to its response),
    /// on loop `shard`'s cells. Loop thread `shard` only.
    @inline(__always)
    public func record(method: MethodLabel, status: Int, durationNanos: UInt64, shard: Int) {
        checkLoopShard(shard, loopShards)
        let cells = requests.cells(method.index &* StatusClassLabel.count &+ StatusClassLabel.index(of: status))
        bumpOwnedCell(cells + shard &* requestsStride, by: 1)
        duration.observe(durationNanos, shard: shard)
    }

    /// `record(method: MethodLabel(method), …)`.
    @inline(__always)
    public func record(method: String, status: Int, durationNanos: UInt64, shard: Int) {
        record(method: MethodLabel(method), status: status, durationNanos: durationNanos, shard: shard)
    }

    /// The same from a thread that is not a loop (atomic adds on the shared shard).
    public func record(method: MethodLabel, status: Int, durationNanos: UInt64) {
        let cells = requests.cells(method.index &* StatusClassLabel.count &+ StatusClassLabel.index(of: status))
        CounterSeries(cells: cells, stride: requestsStride, loopShards: loopShards).add(1)
        duration.observe(durationNanos)
    }
}
