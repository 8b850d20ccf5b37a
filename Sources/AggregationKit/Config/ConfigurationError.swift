/// One problem in a configuration file: where (file and JSON path) and why.
public struct ConfigurationIssue: Sendable, CustomStringConvertible, Equatable {
    public let file: String
    public let path: String
    public let reason: String
    public init(file: String, path: String, reason: String) {
        self.file = file
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(file): \(path): \(reason)" }
}

/// Every problem found in a configuration; the gateway refuses to start (exit code 2).
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let issues: [ConfigurationIssue]
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// Reads typed values out of a parsed JSON document, recording an issue (with its JSON path) for every
/// wrong type, bad value or unknown key instead of stopping at the first.
final class ConfigReader {
    let file: String
    private(set) var issues: [ConfigurationIssue] = []

    init(file: String) { self.file = file }

    func issue(_ path: String, _ reason: String) {
        issues.append(ConfigurationIssue(file: file, path: path, reason: reason))
    }

    func object(_ value: JSONValue?, _ path: String, allowed: [String]) -> JSONObject? {
        guard let value else { return nil }
        guard case .object(let o) = value else {
            issue(path, "expected an object, found \(value.typeName)")
            return nil
        }
        for key in o.keys where !allowed.contains(key) {
            issue("\(path).\(key)", "unknown key (allowed: \(allowed.joined(separator: ", ")))")
        }
        return o
    }

    func string(_ o: JSONObject?, _ key: String, _ path: String, required: Bool = false) -> String? {
        guard let v = o?[key] else {
            if required { issue("\(path).\(key)", "required") }
            return nil
        }
        guard case .string(let s) = v else {
            issue("\(path).\(key)", "expected a string, found \(v.typeName)")
            return nil
        }
        return s
    }

    func int(_ o: JSONObject?, _ key: String, _ path: String, range: ClosedRange<Int>, required: Bool = false) -> Int? {
        guard let v = o?[key] else {
            if required { issue("\(path).\(key)", "required") }
            return nil
        }
        guard case .number(let n) = v, let i = n.intValue else {
            issue("\(path).\(key)", "expected an integer, found \(v.typeName == "number" ? "a fraction" : v.typeName)")
            return nil
        }
        guard range.contains(i) else {
            issue("\(path).\(key)", "\(i) is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return i
    }

    func bool(_ o: JSONObject?, _ key: String, _ path: String) -> Bool? {
        guard let v = o?[key] else { return nil }
        guard case .bool(let b) = v else {
            issue("\(path).\(key)", "expected true or false, found \(v.typeName)")
            return nil
        }
        return b
    }

    func array(_ o: JSONObject?, _ key: String, _ path: String, required: Bool = false) -> [JSONValue]? {
        guard let v = o?[key] else {
            if required { issue("\(path).\(key)", "required") }
            return nil
        }
        guard case .array(let a) = v else {
            issue("\(path).\(key)", "expected an array, found \(v.typeName)")
            return nil
        }
        return a
    }

    /// Line and column of a byte offset, for JSON syntax errors.
    static func lineAndColumn(_ bytes: [UInt8], offset: Int) -> (Int, Int) {
        var line = 1, column = 1
        for b in bytes.prefix(offset) {
            if b == 10 { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }
}
