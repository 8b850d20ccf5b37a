/// A JSON value that keeps what a round trip must keep: object key order (and duplicate keys, where the
/// last one wins on lookup) and each number's exact text, so a 64-bit id or `1.10` comes out as it went in.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o }; return nil }
    public var numberValue: JSONNumber? { if case .number(let n) = self { return n }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// The JSON type name, for error messages: `object`, `array`, `string`, `number`, `boolean`, `null`.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// A number as its JSON text.
public struct JSONNumber: Sendable, Equatable, CustomStringConvertible {
    public let text: String
    public init(text: String) { self.text = text }
    public init(_ value: Int) { text = String(value) }
    public var description: String { text }
    public var doubleValue: Double { Double(text) ?? .nan }
    /// The value as an integer, if it is one exactly (`3`, `3.0`, `3e0`), within Int's range.
    public var intValue: Int? {
        if let i = Int(text) { return i }
        let d = doubleValue
        guard d.isFinite, d == d.rounded(), abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }
    /// Compares by numeric value (`1 == 1.0`), as JSON Schema's `enum`/`const` do.
    public static func == (a: JSONNumber, b: JSONNumber) -> Bool {
        a.text == b.text || a.doubleValue == b.doubleValue
    }
}

/// An object's members in order.
public struct JSONObject: Sendable, Equatable {
    public var entries: [(key: String, value: JSONValue)]

    public init(_ entries: [(key: String, value: JSONValue)] = []) { self.entries = entries }

    public var count: Int { entries.count }
    public var keys: [String] { entries.map(\.key) }

    public subscript(key: String) -> JSONValue? {
        get {
            for entry in entries.reversed() where entry.key == key { return entry.value }
            return nil
        }
        set {
            if let i = entries.lastIndex(where: { $0.key == key }) {
                if let newValue { entries[i].value = newValue } else { entries.removeAll { $0.key == key } }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    /// Object equality ignores member order.
    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        guard a.entries.count == b.entries.count else { return false }
        for entry in a.entries where b[entry.key] != entry.value { return false }
        return true
    }
}
