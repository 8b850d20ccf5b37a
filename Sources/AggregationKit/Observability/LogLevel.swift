/// How much an application log line matters, lowest first. The names are the ones written in the `level`
/// field and accepted by `--log-level` / `BFF_LOG_LEVEL` (swift-log's seven levels).
public enum LogLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case trace, debug, info, notice, warning, error, critical

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    /// The name written in the `level` field.
    public var name: String {
        switch self {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        case .critical: "critical"
        }
    }

    public var description: String { name }

    /// The level of a name, ignoring case (`INFO` in an environment variable is common); nil for anything
    /// else: an unknown level is a usage error, never a silent default.
    public init?(name: String) {
        let lowered = name.lowercased()
        guard let level = Self.allCases.first(where: { $0.name == lowered }) else { return nil }
        self = level
    }

    /// The accepted names, for usage messages: "trace, debug, info, notice, warning, error or critical".
    public static var namesForUsage: String {
        let names = allCases.map(\.name)
        return names.dropLast().joined(separator: ", ") + " or " + names.last!
    }
}
