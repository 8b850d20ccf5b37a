/// Why a metric family could not be registered. Registration happens once, at start, from names written
/// in code, so these mean a bug; they are errors (not traps) so the rules can be tested.
public struct MetricsRegistrationError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case invalidMetricName, invalidLabelName, duplicateLabelName, reservedLabelName, duplicateMetricName
        case missingHelp, counterSuffix, invalidBuckets
    }

    private let code: Code
    /// What was wrong, naming the metric (for the start-up error).
    public let detail: String

    private init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { detail }
    public static func == (a: Self, b: Self) -> Bool { a.code == b.code }

    /// The metric name is not snake_case `[a-z_][a-z0-9_]*`, or has a suffix reserved for another type.
    public static let invalidMetricName = Self(.invalidMetricName, "invalid metric name")
    /// A label name is not `[a-z_][a-z0-9_]*` or starts with `__` (reserved by Prometheus).
    public static let invalidLabelName = Self(.invalidLabelName, "invalid label name")
    public static let duplicateLabelName = Self(.duplicateLabelName, "label name used twice")
    /// `le` and `quantile` belong to histograms and summaries.
    public static let reservedLabelName = Self(.reservedLabelName, "reserved label name")
    /// Another family already exposes this name (a histogram also owns `_bucket`, `_sum` and `_count`).
    public static let duplicateMetricName = Self(.duplicateMetricName, "metric name already registered")
    public static let missingHelp = Self(.missingHelp, "metric without help text")
    /// Counters end in `_total`, other types do not (the Prometheus naming rules `promtool` checks).
    public static let counterSuffix = Self(.counterSuffix, "a counter's name ends in _total and only a counter's does")
    /// Histogram bounds must be finite, positive and strictly increasing in the recording unit.
    public static let invalidBuckets = Self(.invalidBuckets, "invalid histogram buckets")

    func naming(_ what: String) -> Self { Self(code, "\(detail): \(what)") }
}
