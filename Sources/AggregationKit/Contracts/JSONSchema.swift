/// The JSON Schema subset the contracts use (draft 2020-12 semantics): `type` (a name or an array of
/// names, `integer` included), `properties`, `required`, `additionalProperties` (boolean or schema),
/// `items`, `enum`, `const`, `minItems`/`maxItems`, `minLength`/`maxLength` (code points),
/// `minimum`/`maximum`, `pattern` (unanchored), `format: date-time` (an assertion, RFC 3339), and the
/// boolean schemas `true`/`false`. Annotations (`$schema`, `$id`, `title`, `description`, `$comment`,
/// `examples`, `default`, `deprecated`, `readOnly`, `writeOnly`) are allowed and ignored; any other
/// keyword is a compile error, so a contract never silently relies on a check that is not made.
/// Compiled once; validation is pure and thread-safe.
public final class JSONSchema: Sendable {
    public struct CompileError: Error, Sendable, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// One violation: where in the instance, which keyword, why.
    public struct Violation: Sendable, CustomStringConvertible, Equatable {
        public let instancePath: String
        public let keyword: String
        public let message: String
        public var description: String { "\(instancePath): \(message) (\(keyword))" }
    }

    enum Kind: String, Sendable, CaseIterable { case null, boolean, object, array, number, string, integer }

    private let alwaysValid: Bool?
    private let types: [Kind]?
    private let properties: [(String, JSONSchema)]
    private let required: [String]
    private let additionalProperties: JSONSchema?
    private let items: JSONSchema?
    private let enumValues: [JSONValue]?
    private let constValue: JSONValue?
    private let minItems: Int?, maxItems: Int?
    private let minLength: Int?, maxLength: Int?
    private let minimum: JSONNumber?, maximum: JSONNumber?
    private let pattern: PatternBox?
    private let dateTime: Bool

    static let annotations: Set<String> = ["$schema", "$id", "title", "description", "$comment", "examples", "default", "deprecated", "readOnly", "writeOnly"]

    public convenience init(_ value: JSONValue) throws(CompileError) {
        try self.init(value, path: "$")
    }

    private init(_ value: JSONValue, path: String) throws(CompileError) {
        if case .bool(let b) = value {
            alwaysValid = b
            types = nil; properties = []; required = []; additionalProperties = nil; items = nil
            enumValues = nil; constValue = nil; minItems = nil; maxItems = nil; minLength = nil; maxLength = nil
            minimum = nil; maximum = nil; pattern = nil; dateTime = false
            return
        }
        guard case .object(let o) = value else { throw CompileError(path: path, reason: "a schema must be an object or a boolean") }
        alwaysValid = nil
        let known: Set<String> = ["type", "properties", "required", "additionalProperties", "items", "enum", "const",
                                  "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "pattern", "format"]
        for key in o.keys where !known.contains(key) && !Self.annotations.contains(key) {
            throw CompileError(path: "\(path).\(key)", reason: "unsupported keyword '\(key)'")
        }
        func count(_ key: String) throws(CompileError) -> Int? {
            guard let v = o[key] else { return nil }
            guard case .number(let n) = v, let i = n.intValue, i >= 0 else { throw CompileError(path: "\(path).\(key)", reason: "must be a non-negative integer") }
            return i
        }
        func number(_ key: String) throws(CompileError) -> JSONNumber? {
            guard let v = o[key] else { return nil }
            guard case .number(let n) = v else { throw CompileError(path: "\(path).\(key)", reason: "must be a number") }
            return n
        }
        switch o["type"] {
        case nil: types = nil
        case .string(let s)?:
            guard let k = Kind(rawValue: s) else { throw CompileError(path: "\(path).type", reason: "unknown type '\(s)'") }
            types = [k]
        case .array(let list)?:
            var ks: [Kind] = []
            for item in list {
                guard case .string(let s) = item, let k = Kind(rawValue: s) else { throw CompileError(path: "\(path).type", reason: "unknown type \(JSONSerializer.string(item))") }
                ks.append(k)
            }
            types = ks
        default: throw CompileError(path: "\(path).type", reason: "must be a type name or an array of them")
        }
        var props: [(String, JSONSchema)] = []
        if let p = o["properties"] {
            guard case .object(let po) = p else { throw CompileError(path: "\(path).properties", reason: "must be an object") }
            for (k, v) in po.entries { props.append((k, try JSONSchema(v, path: "\(path).properties.\(k)"))) }
        }
        properties = props
        if let r = o["required"] {
            guard case .array(let list) = r else { throw CompileError(path: "\(path).required", reason: "must be an array of strings") }
            var names: [String] = []
            for item in list {
                guard case .string(let s) = item else { throw CompileError(path: "\(path).required", reason: "must be an array of strings") }
                names.append(s)
            }
            required = names
        } else {
            required = []
        }
        additionalProperties = try o["additionalProperties"].map { v throws(CompileError) in try JSONSchema(v, path: "\(path).additionalProperties") }
        items = try o["items"].map { v throws(CompileError) in try JSONSchema(v, path: "\(path).items") }
        if let e = o["enum"] {
            guard case .array(let list) = e else { throw CompileError(path: "\(path).enum", reason: "must be an array") }
            enumValues = list
        } else {
            enumValues = nil
        }
        constValue = o["const"]
        minItems = try count("minItems"); maxItems = try count("maxItems")
        minLength = try count("minLength"); maxLength = try count("maxLength")
        minimum = try number("minimum"); maximum = try number("maximum")
        if let p = o["pattern"] {
            guard case .string(let s) = p else { throw CompileError(path: "\(path).pattern", reason: "must be a string") }
            do {
                pattern = PatternBox(source: s, regex: try Regex(s))
            } catch {
                throw CompileError(path: "\(path).pattern", reason: "invalid regular expression: \(error)")
            }
        } else {
            pattern = nil
        }
        switch o["format"] {
        case nil: dateTime = false
        case .string("date-time")?: dateTime = true
        case .string(let f)?: throw CompileError(path: "\(path).format", reason: "unsupported format '\(f)' (supported: date-time)")
        default: throw CompileError(path: "\(path).format", reason: "must be a string")
        }
    }

    public func isValid(_ value: JSONValue) -> Bool { validate(value, limit: 1).isEmpty }

    /// Why a value described by this schema can never have `steps` (nil if it can): used to refuse, when a
    /// contract is compiled, a selection into a call's declared response that can never exist.
    func impossibility(of steps: ArraySlice<SourcePath.Step>) -> String? {
        guard let step = steps.first else { return nil }
        if alwaysValid == false { return "the schema allows no value here" }
        if alwaysValid == true { return nil }
        switch step {
        case .key(let k):
            if let types, !types.contains(.object) { return "'\(k)' is read from a value that is \(types.map(\.rawValue).joined(separator: " or ")), never an object" }
            if let child = properties.first(where: { $0.0 == k })?.1 { return child.impossibility(of: steps.dropFirst()) }
            if additionalProperties?.alwaysValid == false { return "no property '\(k)' (allowed: \(properties.map(\.0).joined(separator: ", ")))" }
            return additionalProperties?.impossibility(of: steps.dropFirst())
        case .index, .each:
            if let types, !types.contains(.array) { return "indexed into a value that is \(types.map(\.rawValue).joined(separator: " or ")), never an array" }
            return items?.impossibility(of: steps.dropFirst())
        }
    }

    /// Every violation (up to `limit`), each with the instance path.
    public func validate(_ value: JSONValue, limit: Int = 100) -> [Violation] {
        var out: [Violation] = []
        check(value, path: "$", into: &out, limit: limit)
        return out
    }

    private func check(_ value: JSONValue, path: String, into out: inout [Violation], limit: Int) {
        guard out.count < limit else { return }
        if let always = alwaysValid {
            if !always { out.append(Violation(instancePath: path, keyword: "false", message: "no value is allowed here")) }
            return
        }
        if let types, !types.contains(where: { Self.matches(value, $0) }) {
            out.append(Violation(instancePath: path, keyword: "type", message: "expected \(types.map(\.rawValue).joined(separator: " or ")), found \(value.typeName)"))
            return
        }
        if let enumValues, !enumValues.contains(value) {
            out.append(Violation(instancePath: path, keyword: "enum", message: "\(Self.short(value)) is not one of the allowed values"))
        }
        if let constValue, constValue != value {
            out.append(Violation(instancePath: path, keyword: "const", message: "must equal \(Self.short(constValue))"))
        }
        switch value {
        case .object(let o):
            for name in required where o[name] == nil {
                out.append(Violation(instancePath: path, keyword: "required", message: "missing required property '\(name)'"))
            }
            for entry in o.entries {
                let childPath = "\(path).\(entry.key)"
                if let schema = properties.first(where: { $0.0.utf8.elementsEqual(entry.key.utf8) })?.1 {
                    schema.check(entry.value, path: childPath, into: &out, limit: limit)
                } else if let additionalProperties {
                    if additionalProperties.alwaysValid == false {
                        out.append(Violation(instancePath: childPath, keyword: "additionalProperties", message: "property '\(entry.key)' is not allowed"))
                    } else {
                        additionalProperties.check(entry.value, path: childPath, into: &out, limit: limit)
                    }
                }
            }
        case .array(let a):
            if let minItems, a.count < minItems { out.append(Violation(instancePath: path, keyword: "minItems", message: "\(a.count) items, at least \(minItems) required")) }
            if let maxItems, a.count > maxItems { out.append(Violation(instancePath: path, keyword: "maxItems", message: "\(a.count) items, at most \(maxItems) allowed")) }
            if let items { for (i, item) in a.enumerated() { items.check(item, path: "\(path)[\(i)]", into: &out, limit: limit) } }
        case .string(let s):
            if minLength != nil || maxLength != nil {
                let length = s.unicodeScalars.count
                if let minLength, length < minLength { out.append(Violation(instancePath: path, keyword: "minLength", message: "length \(length), at least \(minLength) required")) }
                if let maxLength, length > maxLength { out.append(Violation(instancePath: path, keyword: "maxLength", message: "length \(length), at most \(maxLength) allowed")) }
            }
            if let pattern, (try? pattern.regex.firstMatch(in: s)) == nil {
                out.append(Violation(instancePath: path, keyword: "pattern", message: "does not match /\(pattern.source)/"))
            }
            if dateTime && !Self.isRFC3339DateTime(s) {
                out.append(Violation(instancePath: path, keyword: "format", message: "not an RFC 3339 date-time"))
            }
        case .number(let n):
            // Exact decimal comparison: a bound of 9007199254740992 refuses 9007199254740993, which a Double cannot tell apart.
            if let minimum, JSONNumber.compare(n, minimum) == .less { out.append(Violation(instancePath: path, keyword: "minimum", message: "\(n.text) is less than \(minimum.text)")) }
            if let maximum, JSONNumber.compare(n, maximum) == .greater { out.append(Violation(instancePath: path, keyword: "maximum", message: "\(n.text) is greater than \(maximum.text)")) }
        default:
            break
        }
    }

    static func matches(_ value: JSONValue, _ kind: Kind) -> Bool {
        switch (kind, value) {
        case (.null, .null), (.boolean, .bool), (.object, .object), (.array, .array), (.number, .number), (.string, .string): return true
        case (.integer, .number(let n)):
            return n.isInteger
        default: return false
        }
    }

    static func short(_ value: JSONValue) -> String {
        let text = JSONSerializer.string(value)
        return text.count > 40 ? String(text.prefix(37)) + "..." : text
    }

    /// RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, `t`/`z` allowed, ASCII digits only,
    /// real calendar days, and a leap second only at 23:59:60 UTC.
    static func isRFC3339DateTime(_ s: String) -> Bool {
        let b = Array(s.utf8)
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for i in at..<at + n {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard b.count >= 20, let year = digits(0, 4), b[4] == 45, let month = digits(5, 2), b[7] == 45, let day = digits(8, 2),
              b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
              let hour = digits(11, 2), b[13] == 58, let minute = digits(14, 2), b[16] == 58, let second = digits(17, 2)
        else { return false }
        guard (1...12).contains(month), hour <= 23, minute <= 59, second <= 60 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...days).contains(day) else { return false }
        var i = 19
        if i < b.count && b[i] == 46 {
            i += 1
            let start = i
            while i < b.count && b[i] >= 48 && b[i] <= 57 { i += 1 }
            guard i > start else { return false }
        }
        var offsetMinutes = 0
        guard i < b.count else { return false }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == 43 || b[i] == 45 {
            guard let oh = digits(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let om = digits(i + 4, 2), oh <= 23, om <= 59 else { return false }
            offsetMinutes = (oh * 60 + om) * (b[i] == 43 ? 1 : -1)
            i += 6
        } else {
            return false
        }
        guard i == b.count else { return false }
        if second == 60 {
            let utc = ((hour * 60 + minute - offsetMinutes) % 1440 + 1440) % 1440
            return utc == 23 * 60 + 59
        }
        return true
    }
}

/// A compiled `pattern`. `Regex` is immutable once built; it is only read here.
final class PatternBox: @unchecked Sendable {
    let source: String
    let regex: Regex<AnyRegexOutput>
    init(source: String, regex: Regex<AnyRegexOutput>) {
        self.source = source
        self.regex = regex
    }
}
