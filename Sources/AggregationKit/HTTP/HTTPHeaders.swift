#if canImport(Glibc)
import Glibc
#endif
/// An ordered list of header fields. Names keep the case they arrived in; lookups ignore case.
/// A value type: safe to share between threads.
///
/// Storage is one byte buffer plus a list of (name, value) ranges into it, so the parsers add fields
/// without making Strings, and the proxy copies fields and serializes them as bytes. Strings are made
/// only when a caller asks for a name or a value.
public struct HTTPHeaders: Sendable, Sequence, Equatable {
    public typealias Element = (name: String, value: String)

    @usableFromInline struct Field: Sendable {
        var nameStart: Int32
        var nameLength: Int32
        var valueStart: Int32
        var valueLength: Int32
    }

    @usableFromInline var storage: [UInt8] = []
    @usableFromInline var fieldList: [Field] = []

    public init() {}
    public init(_ fields: [(String, String)]) {
        for (n, v) in fields { add(n, v) }
    }

    public var count: Int { fieldList.count }

    public struct Iterator: IteratorProtocol {
        let headers: HTTPHeaders
        var index = 0
        public mutating func next() -> Element? {
            guard index < headers.fieldList.count else { return nil }
            defer { index += 1 }
            return (headers.name(at: index), headers.value(at: index))
        }
    }

    public func makeIterator() -> Iterator { Iterator(headers: self) }

    // MARK: Bytes

    public func name(at i: Int) -> String {
        let f = fieldList[i]
        return storage.withUnsafeBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[Int(f.nameStart)..<Int(f.nameStart + f.nameLength)]), as: UTF8.self) }
    }

    public func value(at i: Int) -> String {
        let f = fieldList[i]
        return storage.withUnsafeBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[Int(f.valueStart)..<Int(f.valueStart + f.valueLength)]), as: UTF8.self) }
    }

    /// The length in bytes of field `i`'s name.
    @inline(__always) func nameLength(at i: Int) -> Int { Int(fieldList[i].nameLength) }

    /// Whether field `i` is called `name` (ASCII case-insensitive), without making a String.
    public func nameEquals(at i: Int, _ name: String) -> Bool {
        let f = fieldList[i]
        return bytes(Int(f.nameStart), Int(f.nameLength), equalIgnoringCase: name)
    }

    /// Whether field `i` is called `name`, a lower-case literal (ASCII case-insensitive). For the fixed
    /// names of the hot path: compared straight against the literal's bytes, with no String to retain and
    /// open (that was some 80 instructions per comparison, a dozen comparisons per proxied request).
    @inline(__always) func nameIs(at i: Int, _ name: StaticString) -> Bool {
        let f = fieldList[i]
        guard Int(f.nameLength) == name.utf8CodeUnitCount else { return false }
        return storage.withUnsafeBufferPointer { s in
            String.asciiFold(UnsafeBufferPointer(rebasing: s[Int(f.nameStart)..<Int(f.nameStart + f.nameLength)]),
                             UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        }
    }

    /// Whether field `i`'s name contains `byte`.
    func nameContains(_ byte: UInt8, at i: Int) -> Bool {
        let f = fieldList[i]
        return storage.withUnsafeBufferPointer { s in
            UnsafeBufferPointer(rebasing: s[Int(f.nameStart)..<Int(f.nameStart + f.nameLength)]).contains(byte)
        }
    }

    /// Whether field `i`'s value is `value` (ASCII case-insensitive).
    func valueEquals(at i: Int, ignoringCase value: String) -> Bool {
        let f = fieldList[i]
        return bytes(Int(f.valueStart), Int(f.valueLength), equalIgnoringCase: value)
    }

    private func bytes(_ start: Int, _ length: Int, equalIgnoringCase text: String) -> Bool {
        var text = text
        return text.withUTF8 { t in
            guard t.count == length else { return false }
            return storage.withUnsafeBufferPointer { s in String.asciiFold(UnsafeBufferPointer(rebasing: s[start..<start + length]), t) }
        }
    }

    /// Appends a field from raw bytes, stored as a head carries it (`name: value\r\n`): the serializer then
    /// writes it in one copy (`RawHeaderFields.write(fieldAt:)`), as it does a parsed field.
    mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let nameStart = Int32(storage.count)
        let valueStart = nameStart + Int32(name.count) + 2
        // In one append, through a temporary buffer (on the stack): each `Array.append(contentsOf:)` costs
        // about a hundred instructions of checks before its copy.
        let total = name.count + value.count + 4
        withUnsafeTemporaryAllocation(byteCount: total, alignment: 1) { line in
            let p = line.baseAddress!
            if let n = name.baseAddress, name.count > 0 { memcpy(p, n, name.count) }
            p.storeBytes(of: UInt8(ascii: ":"), toByteOffset: name.count, as: UInt8.self)
            p.storeBytes(of: UInt8(ascii: " "), toByteOffset: name.count + 1, as: UInt8.self)
            if let v = value.baseAddress, value.count > 0 { memcpy(p + name.count + 2, v, value.count) }
            p.storeBytes(of: 13, toByteOffset: total - 2, as: UInt8.self)
            p.storeBytes(of: 10, toByteOffset: total - 1, as: UInt8.self)
            storage.append(contentsOf: UnsafeRawBufferPointer(line))
        }
        fieldList.append(Field(nameStart: nameStart, nameLength: Int32(name.count), valueStart: valueStart, valueLength: Int32(value.count)))
    }

    /// Appends field `i` of `other`, byte for byte.
    mutating func append(fieldAt i: Int, of other: HTTPHeaders) {
        let f = other.fieldList[i]
        other.storage.withUnsafeBytes { raw in
            add(name: UnsafeRawBufferPointer(rebasing: raw[Int(f.nameStart)..<Int(f.nameStart + f.nameLength)]),
                value: UnsafeRawBufferPointer(rebasing: raw[Int(f.valueStart)..<Int(f.valueStart + f.valueLength)]))
        }
    }

    /// Writes field `i` as `name: value\r\n`.
    @inline(__always) func write<Sink: ByteSink>(fieldAt i: Int, to sink: inout Sink) {
        let f = fieldList[i]
        storage.withUnsafeBytes { s in
            sink.write(UnsafeRawBufferPointer(rebasing: s[Int(f.nameStart)..<Int(f.nameStart + f.nameLength)]))
            sink.write(": ")
            sink.write(UnsafeRawBufferPointer(rebasing: s[Int(f.valueStart)..<Int(f.valueStart + f.valueLength)]))
            sink.write("\r\n")
        }
    }

    /// Keeps only the fields for which `keep` is true (given their index in the current list).
    mutating func keepFields(where keep: (Int) -> Bool) {
        var kept: [Field] = []
        kept.reserveCapacity(fieldList.count)
        for i in fieldList.indices where keep(i) { kept.append(fieldList[i]) }
        fieldList = kept
    }

    /// Keeps only the fields for which `keep(headers, i)` is true, compacting the field list in place.
    /// `keep` reads the headers it is handed, not a copy captured beforehand: a captured copy shares the
    /// field list, and compacting it would then copy it first (an allocation per response on the proxy path).
    mutating func keepFieldsInPlace(where keep: (HTTPHeaders, Int) -> Bool) {
        let count = fieldList.count
        guard count <= 64 else {
            let snapshot = self
            guard (0..<count).contains(where: { !keep(snapshot, $0) }) else { return }
            return keepFields { keep(snapshot, $0) }
        }
        // Decide for every field first (reading `self`), then compact (writing it).
        var kept: UInt64 = 0
        for i in 0..<count where keep(self, i) { kept |= 1 << UInt64(i) }
        guard kept.nonzeroBitCount != count else { return }
        var j = 0
        for i in 0..<count where kept & (1 << UInt64(i)) != 0 {
            fieldList[j] = fieldList[i]
            j += 1
        }
        fieldList.removeLast(count - j)
    }

    /// Headers over a copy of a message head: `head` is copied once into the storage and the fields are
    /// the given ranges of it (name, value), so a parser records ranges and makes one allocation for the
    /// bytes rather than append each name and value. `spareBytes` leaves room for the fields a proxy adds (`Via`), so adding them does not grow the buffers.
    init(head: UnsafeRawBufferPointer, fields: [Field], spareBytes: Int = 0) {
        storage.reserveCapacity(head.count + spareBytes)
        storage.append(contentsOf: head)
        fieldList = fields
    }

    /// A field whose name and value are the given byte ranges of a head (see `init(head:fields:)`).
    @inline(__always) static func field(name: Range<Int>, value: Range<Int>) -> Field {
        Field(nameStart: Int32(name.lowerBound), nameLength: Int32(name.count), valueStart: Int32(value.lowerBound),
              valueLength: Int32(value.count))
    }

    // MARK: Strings

    public mutating func add(_ name: String, _ value: String) {
        name.withUTF8Bytes { n in value.withUTF8Bytes { v in add(name: n, value: v) } }
    }

    /// Appends a field whose name is a literal (the proxy's forwarding fields): no String to open for
    /// the name.
    mutating func add(_ name: StaticString, value: String) {
        value.withUTF8Bytes { add(name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value: $0) }
    }

    /// Replaces every field called `name` with one field.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        add(name, value)
    }

    public mutating func remove(_ name: String) {
        // Nothing to remove (the usual case of `set`): no new field list.
        guard fieldList.indices.contains(where: { nameEquals(at: $0, name) }) else { return }
        keepFieldsInPlace { headers, i in !headers.nameEquals(at: i, name) }
    }

    public mutating func removeAll(where predicate: (Element) -> Bool) {
        let snapshot = self
        keepFields { !predicate((snapshot.name(at: $0), snapshot.value(at: $0))) }
    }

    /// The first value of `name`, or nil.
    public subscript(_ name: String) -> String? {
        for i in fieldList.indices where nameEquals(at: i, name) { return value(at: i) }
        return nil
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        fieldList.indices.filter { nameEquals(at: $0, name) }.map { value(at: $0) }
    }

    public func contains(_ name: String) -> Bool {
        fieldList.indices.contains { nameEquals(at: $0, name) }
    }

    /// How many fields are called `name`.
    public func count(of name: String) -> Int {
        fieldList.indices.reduce(0) { $0 + (nameEquals(at: $1, name) ? 1 : 0) }
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
        lhs.count == rhs.count && zip(lhs, rhs).allSatisfy { $0.name == $1.name && $0.value == $1.value }
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
        guard a.count == b.count else { return false }
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
