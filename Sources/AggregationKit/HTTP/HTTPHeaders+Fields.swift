#if canImport(Glibc)
import Glibc
#endif
/// Byte-level field access for the pipeline's stages, which run on every request: find, compare and
/// copy fields without making Strings.
extension HTTPHeaders {
    /// The index of the first field called `name` (ASCII case-insensitive), or nil.
    func firstIndex(of name: String) -> Int? {
        let length = name.utf8.count
        for i in fieldList.indices where Int(fieldList[i].nameLength) == length && nameEquals(at: i, name) { return i }
        return nil
    }

    /// The index of the only field called `name`; nil when there is none or more than one.
    func onlyIndex(of name: String) -> Int? {
        let length = name.utf8.count
        var found: Int? = nil
        for i in fieldList.indices where Int(fieldList[i].nameLength) == length && nameEquals(at: i, name) {
            if found != nil { return nil }
            found = i
        }
        return found
    }

    /// The index of the first field called `name`, a lower-case literal, or nil. No String to open.
    func firstIndex(named name: StaticString) -> Int? {
        for i in fieldList.indices where nameIs(at: i, name) { return i }
        return nil
    }

    /// The index of the only field called `name`, a lower-case literal; nil when there is none or more
    /// than one. No String to open (see `nameIs(at:_:)`).
    func onlyIndex(of name: StaticString) -> Int? {
        var found: Int? = nil
        for i in fieldList.indices where nameIs(at: i, name) {
            if found != nil { return nil }
            found = i
        }
        return found
    }

    /// Whether field `i`'s name equals field `j`'s name in `other` (ASCII case-insensitive).
    func nameEquals(at i: Int, nameAt j: Int, of other: HTTPHeaders) -> Bool {
        let f = fieldList[i], g = other.fieldList[j]
        guard f.nameLength == g.nameLength else { return false }
        return storage.withUnsafeBufferPointer { s in
            other.storage.withUnsafeBufferPointer { o in
                String.asciiFold(UnsafeBufferPointer(rebasing: s[Int(f.nameStart)..<Int(f.nameStart + f.nameLength)]),
                                 UnsafeBufferPointer(rebasing: o[Int(g.nameStart)..<Int(g.nameStart + g.nameLength)]))
            }
        }
    }

    /// Whether field `i`'s name is `bytes` (ASCII case-insensitive). Same bytes are checked first, with
    /// `memcmp` (an origin as browsers send it, against the lower-cased rule), then case by case.
    func nameEquals(at i: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let f = fieldList[i]
        guard Int(f.nameLength) == bytes.count else { return false }
        return storage.withUnsafeBufferPointer { s in
            let name = UnsafeBufferPointer(rebasing: s[Int(f.nameStart)..<Int(f.nameStart + f.nameLength)])
            if name.isEmpty || memcmp(name.baseAddress!, bytes.baseAddress!, name.count) == 0 { return true }
            return String.asciiFold(name, bytes)
        }
    }

    /// Appends every field of `other`, in order, byte for byte: one copy of its bytes, whatever the
    /// number of fields (a stage's constant fields, compiled once into an `HTTPHeaders`).
    mutating func append(fieldsOf other: HTTPHeaders) {
        guard other.count > 0 else { return }
        let base = Int32(storage.count)
        storage.append(contentsOf: other.storage)
        for f in other.fieldList {
            fieldList.append(Field(nameStart: f.nameStart + base, nameLength: f.nameLength, valueStart: f.valueStart + base,
                                   valueLength: f.valueLength))
        }
    }

    /// Appends a field whose name and value are literals.
    mutating func add(_ name: StaticString, _ value: StaticString) {
        add(name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount),
            value: UnsafeRawBufferPointer(start: value.utf8Start, count: value.utf8CodeUnitCount))
    }

    /// Appends a field called `name`, a literal, whose value is field `i`'s value in `other`.
    mutating func add(_ name: StaticString, valueOfFieldAt i: Int, in other: HTTPHeaders) {
        other.withValueBytes(at: i) { value in
            add(name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value: UnsafeRawBufferPointer(value))
        }
    }

    /// Calls `body` with the bytes of field `i`'s value.
    func withValueBytes<R>(at i: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let f = fieldList[i]
        return storage.withUnsafeBufferPointer { s in body(UnsafeBufferPointer(rebasing: s[Int(f.valueStart)..<Int(f.valueStart + f.valueLength)])) }
    }

    /// Whether field `i`'s name starts with `prefix` (ASCII case-insensitive).
    func nameHasPrefix(at i: Int, _ prefix: StaticString) -> Bool {
        let f = fieldList[i]
        let count = prefix.utf8CodeUnitCount
        guard Int(f.nameLength) >= count else { return false }
        return storage.withUnsafeBufferPointer { s in
            String.asciiFold(UnsafeBufferPointer(rebasing: s[Int(f.nameStart)..<Int(f.nameStart) + count]),
                             UnsafeBufferPointer(start: prefix.utf8Start, count: count))
        }
    }

    /// Appends a field called `name` whose value is field `i`'s value in `other`, byte for byte.
    mutating func add(_ name: String, valueOfFieldAt i: Int, in other: HTTPHeaders) {
        var name = name
        other.withValueBytes(at: i) { value in
            name.withUTF8 { n in add(name: UnsafeRawBufferPointer(n), value: UnsafeRawBufferPointer(value)) }
        }
    }

    /// Replaces the value of field `i`, keeping its name and its place.
    mutating func replaceValue(at i: Int, with value: String) {
        var value = value
        let start = Int32(storage.count)
        value.withUTF8 { storage.append(contentsOf: $0) }
        fieldList[i].valueStart = start
        fieldList[i].valueLength = Int32(storage.count) - start
    }

    /// Whether field `i`'s value, a comma-separated list, has `token` as an element (ASCII
    /// case-insensitive, optional whitespace around elements ignored).
    func valueHasToken(at i: Int, _ token: StaticString) -> Bool {
        let t = UnsafeBufferPointer(start: token.utf8Start, count: token.utf8CodeUnitCount)
        return withValueBytes(at: i) { v in
            var start = 0
            while start <= v.count {
                var end = start
                while end < v.count && v[end] != UInt8(ascii: ",") { end += 1 }
                var a = start, b = end
                while a < b && (v[a] == 32 || v[a] == 9) { a += 1 }
                while b > a && (v[b - 1] == 32 || v[b - 1] == 9) { b -= 1 }
                if String.asciiFold(UnsafeBufferPointer(rebasing: v[a..<b]), t) { return true }
                start = end + 1
            }
            return false
        }
    }
}

/// The fields of an `HTTPHeaders` over raw pointers, valid only inside `HTTPHeaders.withRawFields`. A loop
/// over every field through the `HTTPHeaders` methods opens the two arrays once per call (a retain and a
/// release of each buffer, some 30 per serialized head); this view opens them once for the whole loop.
struct RawHeaderFields {
    let storage: UnsafeRawPointer
    /// The bytes of `storage`.
    let storageCount: Int
    let fields: UnsafeBufferPointer<HTTPHeaders.Field>

    var count: Int { fields.count }

    @inline(__always) func nameLength(at i: Int) -> Int { Int(fields[i].nameLength) }

    @inline(__always) func name(at i: Int) -> UnsafeRawBufferPointer {
        let f = fields[i]
        return UnsafeRawBufferPointer(start: storage + Int(f.nameStart), count: Int(f.nameLength))
    }

    @inline(__always) func value(at i: Int) -> UnsafeRawBufferPointer {
        let f = fields[i]
        return UnsafeRawBufferPointer(start: storage + Int(f.valueStart), count: Int(f.valueLength))
    }

    /// Whether field `i` is called `name`, a lower-case literal (ASCII case-insensitive).
    @inline(__always) func nameIs(at i: Int, _ name: StaticString) -> Bool {
        let f = fields[i]
        guard Int(f.nameLength) == name.utf8CodeUnitCount else { return false }
        return String.asciiFold(UnsafeBufferPointer(start: storage.assumingMemoryBound(to: UInt8.self) + Int(f.nameStart), count: Int(f.nameLength)),
                                UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    /// Writes field `i` as `name: value\r\n`. A field a parser read as exactly that (one space after the
    /// colon, CR LF right after the value: what nginx, wrk and most clients send) is those very bytes of
    /// the stored head, written in one copy; any other in four pieces.
    @inline(__always) func write<Sink: ByteSink>(fieldAt i: Int, to sink: inout Sink) {
        let f = fields[i]
        let nameEnd = Int(f.nameStart) + Int(f.nameLength), valueEnd = Int(f.valueStart) + Int(f.valueLength)
        if Int(f.valueStart) == nameEnd + 2 && valueEnd + 2 <= storageCount
            && storage.load(fromByteOffset: nameEnd, as: UInt8.self) == UInt8(ascii: ":")
            && storage.load(fromByteOffset: nameEnd + 1, as: UInt8.self) == UInt8(ascii: " ")
            && storage.load(fromByteOffset: valueEnd, as: UInt8.self) == 13
            && storage.load(fromByteOffset: valueEnd + 1, as: UInt8.self) == 10 {
            return sink.write(UnsafeRawBufferPointer(start: storage + Int(f.nameStart), count: valueEnd + 2 - Int(f.nameStart)))
        }
        sink.write(name(at: i))
        sink.write(": ")
        sink.write(value(at: i))
        sink.write("\r\n")
    }
}

extension HTTPHeaders {
    /// The length in bytes of field `i`'s value.
    @inline(__always) func valueLength(at i: Int) -> Int { Int(fieldList[i].valueLength) }

    /// The bytes `name: value\r\n` of every field take, summed: a bound for a serializer's buffer.
    var serializedFieldBytes: Int {
        fieldList.withUnsafeBufferPointer { fields in
            var total = 0
            for f in fields { total += Int(f.nameLength) + Int(f.valueLength) + 4 }
            return total
        }
    }

    /// Calls `body` with the fields over raw pointers (see `RawHeaderFields`).
    @inline(__always) func withRawFields<R>(_ body: (RawHeaderFields) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { s in
            try fieldList.withUnsafeBufferPointer { f in
                // An empty storage has no base address; then there are no fields either (or only empty ones).
                try body(RawHeaderFields(storage: s.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, storageCount: s.count, fields: f))
            }
        }
    }
}

/// A field list whose names can be asked about by index with no String opened: `HTTPHeaders`, and the
/// serializer's raw view of it.
protocol FieldNames {
    func nameLength(at i: Int) -> Int
    /// Whether field `i` is called `name`, a lower-case literal (ASCII case-insensitive).
    func nameIs(at i: Int, _ name: StaticString) -> Bool
}

extension HTTPHeaders: FieldNames {}
extension RawHeaderFields: FieldNames {}

/// The hop-by-hop fields (RFC 9110 §7.6.1), never forwarded in either direction: the one list the proxy's
/// edits (`ProxyHandler.isHopByHop`), the serializer's (`HTTPResponse.viaHop`) and the configuration's
/// reserved names (`PolicyConfiguration.reservedHeaders`) are made from.
enum HopByHop {
    static let names: [StaticString] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authorization", "proxy-authenticate",
    ]

    /// Whether field `i` has one of `names`: by length first, one or two comparisons per field rather than
    /// nine (`HopByHopTests` checks it against the list).
    @inline(__always) static func isNamed<Fields: FieldNames>(_ fields: Fields, _ i: Int) -> Bool {
        switch fields.nameLength(at: i) {
        case 2: return fields.nameIs(at: i, "te")
        case 7: return fields.nameIs(at: i, "trailer") || fields.nameIs(at: i, "upgrade")
        case 10: return fields.nameIs(at: i, "connection") || fields.nameIs(at: i, "keep-alive")
        case 16: return fields.nameIs(at: i, "proxy-connection")
        case 17: return fields.nameIs(at: i, "transfer-encoding")
        case 18: return fields.nameIs(at: i, "proxy-authenticate")
        case 19: return fields.nameIs(at: i, "proxy-authorization")
        default: return false
        }
    }
}
