import Synchronization

/// The Prometheus type of a family, as written after `# TYPE`.
enum MetricType: String, Sendable {
    case counter, gauge, histogram
}

/// A family the registry can render: it writes its `# HELP`, `# TYPE` and sample lines.
protocol ExposedFamily: AnyObject, Sendable {
    var name: String { get }
    func render(into out: inout String)
}

/// What families of every type share: the name, help and label names fixed at registration, and the
/// series created so far, keyed by label values, each with its sharded cells.
///
/// Label values must come from bounded sets (route names, status classes, configured services), never
/// from request data. The family still guards against a mistake: past `seriesLimit` distinct label sets,
/// a new one gets the family's overflow series (every label `other`) and the registry's dropped-series
/// counter grows by one for each such lookup, so memory and scrape size stay bounded and the mistake is
/// visible. Lookups are meant for start-up (route compilation); they take a lock.
final class MetricFamilyCore: Sendable {
    /// The label value of the overflow series.
    static let overflowLabelValue = "other"

    let name: String
    let help: String
    let type: MetricType
    let labelNames: [String]
    let cellsPerShard: Int
    let loopShards: Int
    let seriesLimit: Int
    /// Counts lookups sent to the overflow series; nil for the dropped-series family itself.
    let dropped: CounterSeries?

    private struct State: Sendable {
        var series: [[String]: ShardedCells] = [:]
        /// Whether `series` holds the overflow series (it does not count against the limit).
        var overflowCreated = false
    }
    private let state = Mutex(State())

    init(name: String, help: String, type: MetricType, labelNames: [String], cellsPerShard: Int,
         loopShards: Int, seriesLimit: Int, dropped: CounterSeries?) {
        self.name = name
        self.help = help
        self.type = type
        self.labelNames = labelNames
        self.cellsPerShard = cellsPerShard
        self.loopShards = loopShards
        self.seriesLimit = seriesLimit
        self.dropped = dropped
    }

    /// The cells of the series with these label values, created on first use (or the overflow series).
    func cells(for labelValues: [String]) -> ShardedCells {
        precondition(labelValues.count == labelNames.count,
                     "\(name) has labels \(labelNames), given \(labelValues.count) values")
        return state.withLock { state in
            if let existing = state.series[labelValues] { return existing }
            let regular = state.series.count - (state.overflowCreated ? 1 : 0)
            if regular < seriesLimit {
                let created = ShardedCells(cellsPerShard: cellsPerShard, loopShards: loopShards)
                state.series[labelValues] = created
                return created
            }
            dropped?.add(1)
            let overflowKey = Array(repeating: Self.overflowLabelValue, count: labelNames.count)
            if let overflow = state.series[overflowKey] { return overflow }
            let overflow = ShardedCells(cellsPerShard: cellsPerShard, loopShards: loopShards)
            state.series[overflowKey] = overflow
            state.overflowCreated = true
            return overflow
        }
    }

    /// The series so far, in a stable order (by label values), for a scrape.
    func sortedSeries() -> [(labels: [String], cells: ShardedCells)] {
        let all = state.withLock { state in state.series.map { (labels: $0.key, cells: $0.value) } }
        return all.sorted { $0.labels.lexicographicallyPrecedes($1.labels) }
    }

    func renderHeader(into out: inout String) {
        PrometheusText.appendHeader(name: name, help: help, type: type.rawValue, to: &out)
    }

    /// The header, then one line per series with the sum of its first cell over the shards, written by
    /// `value` (counters and gauges differ only there).
    func renderSingleValueSeries(into out: inout String, _ value: (UInt64) -> String) {
        renderHeader(into: &out)
        for (labels, cells) in sortedSeries() {
            out += name
            PrometheusText.appendLabels(names: labelNames, values: labels, to: &out)
            out += " "
            out += value(cells.sum(cell: 0))
            out += "\n"
        }
    }
}

/// A counter family: `series(labelValues)` once at start, `increment(shard:)` per event.
public final class CounterFamily: ExposedFamily {
    let core: MetricFamilyCore
    var name: String { core.name }

    init(_ core: MetricFamilyCore) { self.core = core }

    /// The handle of the series with these label values (in the order of the family's label names),
    /// created on first use. Takes a lock: resolve handles at start-up, not per request.
    public func series(_ labelValues: [String] = []) -> CounterSeries {
        CounterSeries(core.cells(for: labelValues))
    }

    func render(into out: inout String) {
        core.renderSingleValueSeries(into: &out) { PrometheusText.format($0) }
    }
}

/// A gauge family whose series the gateway moves per shard (in-flight requests, open connections).
public final class GaugeFamily: ExposedFamily {
    let core: MetricFamilyCore
    var name: String { core.name }

    init(_ core: MetricFamilyCore) { self.core = core }

    /// The handle of the series with these label values, created on first use. Takes a lock.
    public func series(_ labelValues: [String] = []) -> GaugeSeries {
        GaugeSeries(core.cells(for: labelValues))
    }

    func render(into out: inout String) {
        core.renderSingleValueSeries(into: &out) { PrometheusText.format(Int64(bitPattern: $0)) }
    }
}

/// A histogram family with fixed buckets, shared by all its series.
public final class HistogramFamily: ExposedFamily, @unchecked Sendable {
    let core: MetricFamilyCore
    /// The upper bounds in the recording unit (ascending), and as written in `le`.
    let bounds: UnsafeMutablePointer<UInt64>
    let boundTexts: [String]
    /// Recording units per base unit (1e9 for nanoseconds recorded, seconds exposed).
    let unitsPerBaseUnit: UInt64
    var name: String { core.name }

    init(_ core: MetricFamilyCore, bounds: [UInt64], boundTexts: [String], unitsPerBaseUnit: UInt64) {
        self.core = core
        self.bounds = .allocate(capacity: bounds.count)
        self.bounds.initialize(from: bounds, count: bounds.count)
        self.boundTexts = boundTexts
        self.unitsPerBaseUnit = unitsPerBaseUnit
    }

    deinit { bounds.deallocate() }

    /// The handle of the series with these label values, created on first use. Takes a lock.
    public func series(_ labelValues: [String] = []) -> HistogramSeries {
        HistogramSeries(core.cells(for: labelValues), bounds: bounds, boundCount: boundTexts.count)
    }

    func render(into out: inout String) {
        core.renderHeader(into: &out)
        let n = boundTexts.count
        for (labels, cells) in core.sortedSeries() {
            var cumulative: UInt64 = 0
            for b in 0...n {
                cumulative &+= cells.sum(cell: b)
                out += core.name
                out += "_bucket"
                PrometheusText.appendLabels(names: core.labelNames, values: labels,
                                            extra: ("le", b < n ? boundTexts[b] : "+Inf"), to: &out)
                out += " "
                out += PrometheusText.format(cumulative)
                out += "\n"
            }
            out += core.name
            out += "_sum"
            PrometheusText.appendLabels(names: core.labelNames, values: labels, to: &out)
            out += " "
            out += PrometheusText.format(Double(cells.sum(cell: n + 1)) / Double(unitsPerBaseUnit))
            out += "\n"
            out += core.name
            out += "_count"
            PrometheusText.appendLabels(names: core.labelNames, values: labels, to: &out)
            out += " "
            out += PrometheusText.format(cumulative)
            out += "\n"
        }
    }
}

/// One sample a callback family reports at scrape: label values (in the family's label order) and a value.
public struct MetricSample: Sendable, Equatable {
    public var labelValues: [String]
    public var value: Double

    public init(_ labelValues: [String] = [], _ value: Double) {
        self.labelValues = labelValues
        self.value = value
    }
}

/// A counter or gauge whose samples a closure computes at each scrape (pool sizes, dropped log lines,
/// process memory): nothing on the hot path. The closure runs on the scraping thread and must be cheap
/// and thread-safe. Its samples are sorted; repeated label sets keep the first; past the series limit the
/// rest are left out and counted as dropped.
final class CallbackFamily: ExposedFamily {
    let name: String
    let help: String
    let type: MetricType
    let labelNames: [String]
    let seriesLimit: Int
    let dropped: CounterSeries
    let sample: @Sendable () -> [MetricSample]

    init(name: String, help: String, type: MetricType, labelNames: [String], seriesLimit: Int, dropped: CounterSeries,
         sample: @escaping @Sendable () -> [MetricSample]) {
        self.name = name
        self.help = help
        self.type = type
        self.labelNames = labelNames
        self.seriesLimit = seriesLimit
        self.dropped = dropped
        self.sample = sample
    }

    func render(into out: inout String) {
        PrometheusText.appendHeader(name: name, help: help, type: type.rawValue, to: &out)
        let samples = sample().sorted { $0.labelValues.lexicographicallyPrecedes($1.labelValues) }
        var previous: [String]? = nil
        var written = 0
        for s in samples {
            precondition(s.labelValues.count == labelNames.count, "\(name) has labels \(labelNames), sampled \(s.labelValues.count) values")
            if s.labelValues == previous { continue }
            previous = s.labelValues
            if written == seriesLimit {
                dropped.add(1)
                continue
            }
            written += 1
            out += name
            PrometheusText.appendLabels(names: labelNames, values: s.labelValues, to: &out)
            out += " "
            out += PrometheusText.format(s.value)
            out += "\n"
        }
    }
}
