#if canImport(Glibc)
import Glibc
#endif
/// A JSON value that keeps what a round trip must keep: object key order and each number's exact text,
/// so a 64-bit id or `1.10` comes out as it went in.
///
/// Equality and hashing are JSON's, exactly: strings and keys by code points, numbers by their exact
/// decimal value (see `JSONNumber`), objects ignoring member order. An object never holds two members
/// with the same key (see `JSONObject`), so no stage can read one copy while the client reads another.
public enum JSONValue: Sendable, Hashable {
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
    /// canonical equivalence, under which NFC and NFD forms are equal), numbers by exact value (`1 == 1.0`,
    /// `9007199254740992 != 9007199254740993`), objects ignoring member order.
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return JSONObject.sameKey(x, y)
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x == y
        default: return false
        }
    }

    /// Consistent with `==`: strings by their UTF-8 bytes, numbers by exact value, objects independent of order.
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0 as UInt8)
        case .bool(let b): hasher.combine(1 as UInt8); hasher.combine(b)
        case .number(let n): hasher.combine(2 as UInt8); hasher.combine(n)
        case .string(let s): hasher.combine(3 as UInt8); JSONObject.hashKey(s, into: &hasher)
        case .array(let items):
            hasher.combine(4 as UInt8)
            hasher.combine(items.count)
            for item in items { hasher.combine(item) }
        case .object(let o): hasher.combine(5 as UInt8); hasher.combine(o)
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

/// An object's members in order, each key at most once.
///
/// A key given more than once (valid JSON: RFC 8259 only says names "SHOULD be unique") is collapsed when
/// the object is made: one member, at the position of the first occurrence, with the value of the last
/// (what JavaScript's `JSON.parse` does). Collapsing here rather than in each stage means a lookup, a
/// `$omit` or a schema check and the serializer all see the same single member: a deny-listed field
/// cannot survive as an earlier copy, and what the gateway checks is what the client gets.
///
/// Objects come from downstreams, so their size is not ours to choose: an object of more than
/// `indexThreshold` members keeps a key → position index, so that a lookup or an insert is O(1) and a loop
/// over another object's members (a `$merge`, `==`) is linear, not quadratic (a 30 000-key merge took
/// seconds with a linear lookup). Small objects, nearly all of them, are scanned: no index to build.
///
/// An object read by `JSONParser` from a `[UInt8]` document may also keep its `canonicalText`: its own
/// bytes in that document, when they are exactly what `JSONSerializer` would write for it. A composite
/// response is mostly downstream objects passed on unchanged, and copying their text is several times
/// cheaper than walking their members again. Every mutation drops the text, so it can never disagree
/// with the members.
public struct JSONObject: Sendable, Hashable {
    public private(set) var entries: [(key: String, value: JSONValue)]
    /// Each key's position in `entries`; present exactly when `entries.count > indexThreshold`.
    private var positions: [ExactKey: Int]?
    /// The serializer's output for this object, if known (see above); nil after any change.
    private(set) var canonicalText: CanonicalText?

    /// Up to this many members a linear scan is cheaper than hashing the key.
    static let indexThreshold = 16

    /// Members in order; duplicate keys are collapsed (first position, last value).
    public init(_ entries: [(key: String, value: JSONValue)] = []) {
        self.entries = entries
        positions = nil
        if entries.count > 1 { collapseDuplicates() }
    }

    /// For members whose keys are known to be distinct (a compiled template's keys, groups made with an
    /// index): skips the duplicate check.
    init(uniqueEntries: [(key: String, value: JSONValue)]) {
        entries = uniqueEntries
        positions = nil
        if entries.count > Self.indexThreshold { buildIndex() }
    }

    /// For the parser: distinct keys, and the object's text when it is canonical (see `CanonicalText`).
    init(uniqueEntries: [(key: String, value: JSONValue)], canonicalText: CanonicalText?) {
        self.init(uniqueEntries: uniqueEntries)
        self.canonicalText = canonicalText
    }

    public var count: Int { entries.count }
    public var keys: [String] { entries.map(\.key) }

    /// Exact equality of code points (not `==`, which also equates canonically equivalent spellings).
    /// Lengths first: most keys of one object differ there, and the check is on every object parsed.
    @inline(__always) static func sameKey(_ a: String, _ b: String) -> Bool {
        let x = a.utf8, y = b.utf8
        guard x.count == y.count else { return false }
        if let equal = x.withContiguousStorageIfAvailable({ p in
            y.withContiguousStorageIfAvailable { q in p.count == 0 || memcmp(p.baseAddress!, q.baseAddress!, p.count) == 0 }
        }), let equal { return equal }
        return x.elementsEqual(y)
    }

    static func hashKey(_ s: String, into hasher: inout Hasher) {
        var s = s
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    func index(of key: String) -> Int? {
        if let positions { return positions[ExactKey(key)] }
        return entries.firstIndex { Self.sameKey($0.key, key) }
    }

    public subscript(key: String) -> JSONValue? {
        get { index(of: key).map { entries[$0].value } }
        set {
            canonicalText = nil
            if let i = index(of: key) {
                if let newValue { entries[i].value = newValue } else { remove(at: i) }
            } else if let newValue {
                entries.append((key, newValue))
                if positions != nil {
                    positions![ExactKey(key)] = entries.count - 1
                } else if entries.count > Self.indexThreshold {
                    buildIndex()
                }
            }
        }
    }

    /// Removes the member named `key`, if there is one.
    public mutating func removeValue(forKey key: String) {
        if let i = index(of: key) { remove(at: i) }
    }

    /// Renames a member in place. A member already named `newKey` is dropped: the renamed one is the one asked for.
    public mutating func renameKey(_ oldKey: String, to newKey: String) {
        guard var i = index(of: oldKey), !Self.sameKey(oldKey, newKey) else { return }
        canonicalText = nil
        if let j = index(of: newKey) {
            remove(at: j)
            if j < i { i -= 1 }
        }
        entries[i].key = newKey
        if positions != nil {
            positions![ExactKey(oldKey)] = nil
            positions![ExactKey(newKey)] = i
        }
    }

    /// O(n) like the array's own removal; the members after `i` move down one place.
    private mutating func remove(at i: Int) {
        canonicalText = nil
        let removed = entries.remove(at: i)
        guard positions != nil else { return }
        if entries.count <= Self.indexThreshold { positions = nil; return }
        positions![ExactKey(removed.key)] = nil
        for j in i..<entries.count { positions![ExactKey(entries[j].key)] = j }
    }

    private mutating func buildIndex() {
        var index: [ExactKey: Int] = [:]
        index.reserveCapacity(entries.count)
        for (i, entry) in entries.enumerated() { index[ExactKey(entry.key)] = i }
        positions = index
    }

    /// Object equality ignores member order.
    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        guard a.entries.count == b.entries.count else { return false }
        if zip(a.entries, b.entries).allSatisfy({ sameKey($0.key, $1.key) && $0.value == $1.value }) { return true }
        for entry in a.entries {
            guard let other = b[entry.key], other == entry.value else { return false }
        }
        return true
    }

    /// Independent of member order: the members' hashes are summed.
    public func hash(into hasher: inout Hasher) {
        var sum = 0
        for entry in entries {
            var h = Hasher()
            Self.hashKey(entry.key, into: &h)
            h.combine(entry.value)
            sum &+= h.finalize()
        }
        hasher.combine(entries.count)
        hasher.combine(sum)
    }

    /// Small objects (nearly all of them) are checked pairwise, which allocates nothing; large ones with
    /// the index they keep.
    private mutating func collapseDuplicates() {
        let n = entries.count
        if n <= Self.indexThreshold {
            var hasDuplicate = false
            outer: for i in 1..<n {
                for j in 0..<i where Self.sameKey(entries[i].key, entries[j].key) { hasDuplicate = true; break outer }
            }
            guard hasDuplicate else { return }
        }
        var firstIndex: [ExactKey: Int] = [:]
        firstIndex.reserveCapacity(n)
        var out: [(key: String, value: JSONValue)] = []
        out.reserveCapacity(n)
        for entry in entries {
            if let i = firstIndex[ExactKey(entry.key)] {
                out[i].value = entry.value
            } else {
                firstIndex[ExactKey(entry.key)] = out.count
                out.append(entry)
            }
        }
        entries = out
        positions = out.count > Self.indexThreshold ? firstIndex : nil
    }

    /// An object's bytes in the document it was parsed from, kept only when they are byte for byte what
    /// `JSONSerializer` writes for its members: no whitespace anywhere inside, no escape sequence in any
    /// key or string (the serializer writes every other character as it is, and keeps numbers' text), no
    /// repeated key (collapsing one changes the text). The document is shared, not copied (one reference
    /// to the response body's array); offsets are 32-bit to keep `JSONValue` small (larger documents keep
    /// no text).
    struct CanonicalText: Sendable {
        let document: [UInt8]
        let start: UInt32
        let end: UInt32

        var count: Int { Int(end &- start) }

        func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
            document.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[Int(start)..<Int(end)])) }
        }
    }

    /// A key hashed and compared by its code points.
    struct ExactKey: Hashable {
        let text: String
        init(_ text: String) { self.text = text }
        static func == (a: ExactKey, b: ExactKey) -> Bool { JSONObject.sameKey(a.text, b.text) }
        func hash(into hasher: inout Hasher) { JSONObject.hashKey(text, into: &hasher) }
    }
}
