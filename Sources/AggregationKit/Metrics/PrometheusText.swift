/// The Prometheus text exposition format, version 0.0.4: the pieces every family renders with.
///
///     # HELP bff_requests_total Requests answered, by route, method and status class.
///     # TYPE bff_requests_total counter
///     bff_requests_total{client="web",route="user",method="GET",status="2xx"} 42
///
/// Label values escape `\`, `"` and line feed; help text escapes `\` and line feed; values are integers
/// where they are whole numbers, otherwise the shortest text that reads back as the same double, with
/// `NaN`, `+Inf` and `-Inf` spelled as the format wants.
public enum PrometheusText {
    /// The `Content-Type` of a scrape response.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Whether `name` is a metric name we accept: snake_case `[a-z_][a-z0-9_]*`. Prometheus also allows
    /// upper case and `:`, but `promtool check metrics` flags camelCase, and `:` is for recording rules.
    static func isValidMetricName(_ name: String) -> Bool { isSnakeCase(name) }

    /// Whether `name` is a label name we accept: `[a-z_][a-z0-9_]*`, not starting with `__` (reserved).
    static func isValidLabelName(_ name: String) -> Bool { isSnakeCase(name) && !name.hasPrefix("__") }

    private static func isSnakeCase(_ name: String) -> Bool {
        var first = true
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "_"): break
            case UInt8(ascii: "0")...UInt8(ascii: "9"): if first { return false }
            default: return false
            }
            first = false
        }
        return !first
    }

    /// Appends `value` escaped for a label value (between the double quotes).
    static func appendLabelValue(_ value: String, to out: inout String) {
        var plain = true
        for byte in value.utf8 where byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\n") {
            plain = false
            break
        }
        if plain { out += value; return }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
    }

    /// Appends help text escaped (`\` and line feed; quotes stay as they are).
    static func appendHelp(_ help: String, to out: inout String) {
        for scalar in help.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
    }

    /// Appends the `# HELP` and `# TYPE` lines of a family.
    static func appendHeader(name: String, help: String, type: String, to out: inout String) {
        out += "# HELP "
        out += name
        out += " "
        appendHelp(help, to: &out)
        out += "\n# TYPE "
        out += name
        out += " "
        out += type
        out += "\n"
    }

    /// Appends `{name="value",…}`, with `extra` (already escaped) last, or nothing when there are no labels.
    static func appendLabels(names: [String], values: [String], extra: (name: String, value: String)? = nil, to out: inout String) {
        if names.isEmpty && extra == nil { return }
        out += "{"
        for i in names.indices {
            if i > 0 { out += "," }
            out += names[i]
            out += "=\""
            appendLabelValue(values[i], to: &out)
            out += "\""
        }
        if let extra {
            if !names.isEmpty { out += "," }
            out += extra.name
            out += "=\""
            out += extra.value
            out += "\""
        }
        out += "}"
    }

    /// A sample value as text: `3`, `0.25`, `1e-05`, `NaN`, `+Inf`.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == .infinity { return "+Inf" }
        if value == -.infinity { return "-Inf" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    static func format(_ value: UInt64) -> String { String(value) }
    static func format(_ value: Int64) -> String { String(value) }
}
