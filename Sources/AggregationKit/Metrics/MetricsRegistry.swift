import Synchronization

/// The gateway's metric families, and their Prometheus exposition.
///
///     start-up:  registry.counter(…) ─▶ family.series(["web", "user", "GET", "2xx"]) ─▶ CounterSeries
///     request:   series.increment(shard: loop.index)        (relaxed load + store of the loop's own cell)
///     scrape:    registry.exposition()                      (sums every shard, sorts, renders text 0.0.4)
///
/// Sharded per event loop: every series has one cell (or one block of cells) per loop, written only by
/// that loop's thread, plus one shared shard for threads that are not loops, written with atomic adds.
/// A scrape sums the shards with relaxed atomic loads, so it never stops a loop, and a recording never
/// takes a lock, allocates or touches a string.
///
/// Names and label names are fixed at registration and checked against the exposition format's rules
/// (see `MetricsRegistrationError`); label values come from bounded sets, with a per-family cap as the
/// safety net (see `MetricFamilyCore`). Families are never removed.
public final class MetricsRegistry: Sendable {
    /// The `Content-Type` of `exposition()`.
    public static let contentType = PrometheusText.contentType

    /// Shards `0..<loopShards` belong to one event loop each; the shared shard comes after them.
    public let loopShards: Int
    /// The most distinct label sets a family keeps before sending new ones to its overflow series.
    public let seriesLimit: Int

    private struct State: Sendable {
        var families: [String: any ExposedFamily] = [:]
        /// Every sample name in use (a histogram takes four), to refuse collisions.
        var sampleNames: Set<String> = []
    }
    private let state = Mutex(State())
    private let droppedSeries: CounterFamily

    /// - Parameters:
    ///   - loopShards: the number of event loops (shard indexes are loop indexes); at least 1.
    ///   - seriesLimit: the per-family cap on distinct label sets.
    ///   - droppedSeriesName: the counter of label sets sent to an overflow series, labelled by family.
    public init(loopShards: Int, seriesLimit: Int = 2000, droppedSeriesName: String = "metrics_series_dropped_total") {
        precondition(loopShards >= 1 && seriesLimit >= 1)
        self.loopShards = loopShards
        self.seriesLimit = seriesLimit
        let core = MetricFamilyCore(name: droppedSeriesName,
                                    help: "Label sets refused because their family reached its series limit (counted in the family's overflow series instead).",
                                    type: .counter, labelNames: ["family"], cellsPerShard: 1, loopShards: loopShards,
                                    seriesLimit: Int.max, dropped: nil)
        droppedSeries = CounterFamily(core)
        precondition(PrometheusText.isValidMetricName(droppedSeriesName) && droppedSeriesName.hasSuffix("_total"))
        state.withLock { state in
            state.families[droppedSeriesName] = droppedSeries
            state.sampleNames.insert(droppedSeriesName)
        }
    }

    // MARK: Registration

    /// Registers a counter family. The name ends in `_total`.
    public func counter(_ name: String, help: String, labels: [String] = []) throws(MetricsRegistrationError) -> CounterFamily {
        let core = try makeCore(name, help: help, type: .counter, labels: labels, cellsPerShard: 1)
        let family = CounterFamily(core)
        try add(family, sampleNames: [name])
        return family
    }

    /// Registers a gauge family moved by the gateway per shard.
    public func gauge(_ name: String, help: String, labels: [String] = []) throws(MetricsRegistrationError) -> GaugeFamily {
        let core = try makeCore(name, help: help, type: .gauge, labels: labels, cellsPerShard: 1)
        let family = GaugeFamily(core)
        try add(family, sampleNames: [name])
        return family
    }

    /// Registers a histogram family.
    /// - Parameters:
    ///   - buckets: upper bounds in the base unit (seconds, bytes), finite and ascending; `+Inf` is implied.
    ///   - unitsPerBaseUnit: how many recording units make one base unit: observations are integers in the
    ///     recording unit (1_000_000_000 to record nanoseconds and expose seconds). Each bound must be a
    ///     whole number of recording units, so that `le` compares exactly.
    public func histogram(_ name: String, help: String, labels: [String] = [], buckets: [Double],
                          unitsPerBaseUnit: UInt64 = 1) throws(MetricsRegistrationError) -> HistogramFamily {
        let core = try makeCore(name, help: help, type: .histogram, labels: labels, cellsPerShard: buckets.count + 2)
        guard !buckets.isEmpty, unitsPerBaseUnit > 0 else { throw .invalidBuckets.naming(name) }
        var thresholds: [UInt64] = []
        for bound in buckets {
            let scaled = bound * Double(unitsPerBaseUnit)
            let whole = scaled.rounded()
            guard bound.isFinite, bound > 0, whole < 1.8e19, abs(scaled - whole) <= 1e-6 * max(1, whole),
                  thresholds.last.map({ UInt64(whole) > $0 }) ?? true else {
                throw .invalidBuckets.naming("\(name) bound \(bound)")
            }
            thresholds.append(UInt64(whole))
        }
        let family = HistogramFamily(core, bounds: thresholds, boundTexts: buckets.map(PrometheusText.format),
                                     unitsPerBaseUnit: unitsPerBaseUnit)
        try add(family, sampleNames: [name, name + "_bucket", name + "_sum", name + "_count"])
        return family
    }

    /// Registers a counter whose samples `sample` computes at each scrape (e.g. log lines dropped, kept
    /// by the logger). The closure runs on the scraping thread.
    public func counter(_ name: String, help: String, labels: [String] = [],
                        sample: @escaping @Sendable () -> [MetricSample]) throws(MetricsRegistrationError) {
        try addCallback(name, help: help, type: .counter, labels: labels, sample: sample)
    }

    /// Registers a gauge whose samples `sample` computes at each scrape (pool sizes, process memory).
    public func gauge(_ name: String, help: String, labels: [String] = [],
                      sample: @escaping @Sendable () -> [MetricSample]) throws(MetricsRegistrationError) {
        try addCallback(name, help: help, type: .gauge, labels: labels, sample: sample)
    }

    private func addCallback(_ name: String, help: String, type: MetricType, labels: [String],
                             sample: @escaping @Sendable () -> [MetricSample]) throws(MetricsRegistrationError) {
        _ = try makeCore(name, help: help, type: type, labels: labels, cellsPerShard: 1)
        let family = CallbackFamily(name: name, help: help, type: type, labelNames: labels, seriesLimit: seriesLimit,
                                    dropped: droppedSeries.series([name]), sample: sample)
        try add(family, sampleNames: [name])
    }

    /// Checks the name, help and labels, and makes the family's shared part.
    private func makeCore(_ name: String, help: String, type: MetricType, labels: [String],
                          cellsPerShard: Int) throws(MetricsRegistrationError) -> MetricFamilyCore {
        guard PrometheusText.isValidMetricName(name) else { throw .invalidMetricName.naming(name) }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            throw .invalidMetricName.naming("\(name) (\(suffix) is a histogram's)")
        }
        guard name.hasSuffix("_total") == (type == .counter) else { throw .counterSuffix.naming(name) }
        guard !help.isEmpty else { throw .missingHelp.naming(name) }
        var seen: Set<String> = []
        for label in labels {
            guard PrometheusText.isValidLabelName(label) else { throw .invalidLabelName.naming("\(name) label \(label)") }
            guard label != "le" && label != "quantile" else { throw .reservedLabelName.naming("\(name) label \(label)") }
            guard seen.insert(label).inserted else { throw .duplicateLabelName.naming("\(name) label \(label)") }
        }
        return MetricFamilyCore(name: name, help: help, type: type, labelNames: labels, cellsPerShard: cellsPerShard,
                                loopShards: loopShards, seriesLimit: seriesLimit,
                                dropped: droppedSeries.series([name]))
    }

    private func add(_ family: any ExposedFamily, sampleNames: [String]) throws(MetricsRegistrationError) {
        let taken: String? = state.withLock { state in
            if let clash = sampleNames.first(where: state.sampleNames.contains) { return clash }
            state.families[family.name] = family
            state.sampleNames.formUnion(sampleNames)
            return nil
        }
        if let taken { throw .duplicateMetricName.naming(taken) }
    }

    // MARK: Exposition

    /// Every family in the text format 0.0.4, sorted by name, each family's series by label values.
    /// Safe from any thread; reads the loops' cells without stopping them.
    public func render() -> String {
        let families = state.withLock { state in Array(state.families.values) }.sorted { $0.name < $1.name }
        // The dropped-series counter last, so it includes what callback families dropped in this scrape.
        var texts = families.map { family -> String in
            var text = ""
            if family !== droppedSeries { family.render(into: &text) }
            return text
        }
        if let i = families.firstIndex(where: { $0 === droppedSeries }) { droppedSeries.render(into: &texts[i]) }
        return texts.joined()
    }

    /// `render()` as UTF-8 bytes, the body of a scrape response.
    public func exposition() -> [UInt8] { Array(render().utf8) }
}
