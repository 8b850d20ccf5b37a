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

    /// Structural equality as JSON defines it: strings and keys compare by code points (not by Swift's
    /// canonical equivalence, under which NFC and NFD forms are equal), numbers by value, objects
    /// ignoring member order.
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x.utf8.elementsEqual(y.utf8)
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x == y
        default: return false
        }
    }

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
            for entry in entries.reversed() where entry.key.utf8.elementsEqual(key.utf8) { return entry.value }
            return nil
        }
        set {
            if let i = entries.lastIndex(where: { $0.key.utf8.elementsEqual(key.utf8) }) {
                if let newValue { entries[i].value = newValue } else { entries.removeAll { $0.key.utf8.elementsEqual(key.utf8) } }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    /// Object equality ignores member order; with duplicate keys, the last of each is what counts.
    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        if a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy({ $0.key.utf8.elementsEqual($1.key.utf8) && $0.value == $1.value }) {
            return true
        }
        let ka = Set(a.entries.map { Array($0.key.utf8) }), kb = Set(b.entries.map { Array($0.key.utf8) })
        guard ka == kb else { return false }
        for entry in a.entries where b[entry.key] != a[entry.key] { return false }
        return true
    }
}
