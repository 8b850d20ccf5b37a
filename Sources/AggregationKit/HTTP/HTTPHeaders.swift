/// An ordered list of header fields. Names keep the case they arrived in; lookups ignore case.
/// A value type: safe to share between threads.
public struct HTTPHeaders: Sendable, Sequence, Equatable {
    public typealias Element = (name: String, value: String)
    @usableFromInline var fields: [Element] = []

    public init() {}
    public init(_ fields: [(String, String)]) { self.fields = fields.map { (name: $0.0, value: $0.1) } }

    public var count: Int { fields.count }
    public func makeIterator() -> IndexingIterator<[Element]> { fields.makeIterator() }

    public mutating func add(_ name: String, _ value: String) { fields.append((name: name, value: value)) }

    /// Replaces every field called `name` with one field.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        fields.append((name: name, value: value))
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name.asciiCaseInsensitiveEquals(name) }
    }

    public mutating func removeAll(where predicate: (Element) -> Bool) { fields.removeAll(where: predicate) }

    /// The first value of `name`, or nil.
    public subscript(_ name: String) -> String? {
        for field in fields where field.name.asciiCaseInsensitiveEquals(name) { return field.value }
        return nil
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { $0.name.asciiCaseInsensitiveEquals(name) }.map(\.value)
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    /// How many fields are called `name`.
    public func count(of name: String) -> Int {
        var n = 0
        for field in fields where field.name.asciiCaseInsensitiveEquals(name) { n += 1 }
        return n
    }

    /// The comma-separated tokens of every `name` field, lower-cased and trimmed (e.g. `Connection`).
    public func tokens(_ name: String) -> [String] {
        var out: [String] = []
        for value in values(name) {
            for part in value.split(separator: ",") {
                let token = part.trimmingHTTPWhitespace().lowercased()
                if !token.isEmpty { out.append(token) }
            }
        }
        return out
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

extension StringProtocol {
    /// ASCII case-insensitive comparison, the rule for header names and tokens.
    @inlinable
    public func asciiCaseInsensitiveEquals<S: StringProtocol>(_ other: S) -> Bool {
        let a = self.utf8, b = other.utf8
        guard a.count == b.count else { return false }
        let fast = a.withContiguousStorageIfAvailable { pa in
            b.withContiguousStorageIfAvailable { pb in Self.asciiFold(pa, pb) }
        }
        if let result = fast ?? nil { return result }
        var i = a.startIndex, j = b.startIndex
        while i != a.endIndex {
            let x = a[i], y = b[j]
            if x != y {
                let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
                let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
                if lx != ly { return false }
            }
            a.formIndex(after: &i)
            b.formIndex(after: &j)
        }
        return true
    }

    @inlinable
    static func asciiFold(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        for k in 0..<a.count {
            let x = a[k], y = b[k]
            if x != y {
                let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
                let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
                if lx != ly { return false }
            }
        }
        return true
    }

    /// Drops leading and trailing spaces and tabs (HTTP's OWS).
    public func trimmingHTTPWhitespace() -> String {
        var bytes = Substring(self).utf8[...]
        while let f = bytes.first, f == 32 || f == 9 { bytes = bytes.dropFirst() }
        while let l = bytes.last, l == 32 || l == 9 { bytes = bytes.dropLast() }
        return String(Substring(bytes))
    }
}
