#if canImport(Glibc)
import Glibc
#endif
/// Where a serializer writes a message head (`MessageHead`): a `ByteCounter` first (its exact size), then
/// a `ByteWriter` over that many bytes, appended to the output in one call.
///
///     head ─▶ ByteCounter (size) ─▶ temporary buffer of that size ─▶ ByteWriter ─▶ out.append (one memcpy)
///
/// Why: a head is some thirty small pieces (names, `: `, values, CRLFs), and each `Array.append(contentsOf:)`
/// costs about a hundred instructions of uniqueness, capacity and iterator checks before its copy; that
/// was 5 % of the instructions of a proxied request. The serializers are written once, generic over the
/// sink, so the two passes cannot disagree.
protocol ByteSink {
    mutating func write(_ bytes: UnsafeRawBufferPointer)
    mutating func write(byte: UInt8)
}

extension ByteSink {
    @inline(__always) mutating func write(_ text: StaticString) {
        write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always) mutating func write(_ text: String) {
        text.withUTF8Bytes { write($0) }
    }

    @inline(__always) mutating func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// `value` in decimal (no allocation, unlike `String(value)`).
    mutating func write(decimal value: Int) {
        precondition(value >= 0)
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for any Int
        withUnsafeMutableBytes(of: &digits) { raw in
            var v = value, i = raw.count
            repeat {
                i -= 1
                raw[i] = UInt8(truncatingIfNeeded: 48 + v % 10)
                v /= 10
            } while v > 0
            write(UnsafeRawBufferPointer(rebasing: raw[i...]))
        }
    }

    /// `name: value\r\n`.
    @inline(__always) mutating func writeField(_ name: StaticString, _ value: String) {
        write(name)
        write(": ")
        write(value)
        write("\r\n")
    }
}

/// Counts the bytes written.
struct ByteCounter: ByteSink {
    private(set) var count = 0
    @inline(__always) mutating func write(_ bytes: UnsafeRawBufferPointer) { count += bytes.count }
    @inline(__always) mutating func write(byte: UInt8) { count += 1 }
}

/// Writes into a buffer the counter sized; writing past its end is a programming error (trap).
/// Kept as raw pointers and written with `memcpy`: a head is some fifty small writes, and the buffer
/// pointer's `count` and `copyMemory` were calls into the runtime each time (about 20 instructions a write).
struct ByteWriter: ByteSink {
    private let start: UnsafeMutableRawPointer
    private let end: UnsafeMutableRawPointer
    private var cursor: UnsafeMutableRawPointer

    init(_ buffer: UnsafeMutableRawBufferPointer) {
        // A zero-byte buffer may have no base address: any non-null pointer will do, nothing is written.
        start = buffer.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 1)!
        end = start + buffer.count
        cursor = start
    }

    /// The bytes written so far.
    var count: Int { start.distance(to: cursor) }

    @inline(__always) mutating func write(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        precondition(n <= cursor.distance(to: end), "ByteWriter: more bytes than counted")
        if n > 0 { memcpy(cursor, bytes.baseAddress!, n) }
        cursor += n
    }

    @inline(__always) mutating func write(byte: UInt8) {
        precondition(cursor < end, "ByteWriter: more bytes than counted")
        cursor.storeBytes(of: byte, as: UInt8.self)
        cursor += 1
    }
}

/// A message head that writes itself to any sink (see `ByteSink`).
protocol MessageHead {
    /// At least as many bytes as `write(to:)` writes (an upper bound, cheap to compute: no pass over
    /// the bytes). A head that writes more traps in `ByteWriter`; debug builds check every head.
    var maxByteCount: Int { get }
    func write<Sink: ByteSink>(to sink: inout Sink)
}

extension Array where Element == UInt8 {
    /// Appends `head` in one pass: written into a temporary buffer of `maxByteCount` bytes (on the
    /// stack when small), then appended in one copy. (Counting the bytes first cost a second pass over
    /// the fields, a third of the serializer's time.)
    mutating func append(head: some MessageHead) {
        let bound = head.maxByteCount
        withUnsafeTemporaryAllocation(byteCount: bound, alignment: 1) { buffer in
            var writer = ByteWriter(buffer)
            head.write(to: &writer)
            append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<writer.count]))
        }
        assert({ var counter = ByteCounter(); head.write(to: &counter); return counter.count <= bound }(),
               "MessageHead.maxByteCount is below what the head writes")
    }
}

extension String {
    /// Calls `body` with the String's UTF-8 bytes: a native String's in place (a `var` copy for `withUTF8`
    /// costs a retain and a release), any other's through `withUTF8`.
    @inline(__always) func withUTF8Bytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let done = try utf8.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) { return done }
        var copy = self
        return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }
}

extension String {
    /// Whether this String is `literal`, byte for byte, its length compared first: a method (`GET`) against
    /// another literal (`CONNECT`) is then one integer comparison, where `==` between two different small
    /// Strings takes the runtime's slow path (some 25 instructions). For ASCII literals (methods, tokens).
    @inline(__always) func isExactly(_ literal: StaticString) -> Bool {
        utf8.count == literal.utf8CodeUnitCount && withUTF8Bytes { bytes in
            memcmp(bytes.baseAddress!, literal.utf8Start, literal.utf8CodeUnitCount) == 0
        }
    }
}
