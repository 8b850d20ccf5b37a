/// A request's ID: the client's own `X-Request-ID` (when short and plain), or one the gateway makes from a
/// per-loop prefix and a counter. A made one becomes text only when something reads it as a String (the
/// access log, a problem document, a stage); the serializers write its bytes straight into the output,
/// which saves a String allocation per proxied request.
struct RequestID: Sendable {
    private enum Storage: Sendable {
        case text(String)
        case generated(prefix: String, counter: UInt64)
    }
    private let storage: Storage

    init(_ text: String) { storage = .text(text) }
    init(prefix: String, counter: UInt64) { storage = .generated(prefix: prefix, counter: counter) }

    /// The number of hex digits of `counter` (at least one).
    private static func digits(_ counter: UInt64) -> Int { max(1, (64 - counter.leadingZeroBitCount + 3) / 4) }

    /// The ID as text.
    var string: String {
        switch storage {
        case .text(let text): return text
        case .generated:
            return String(unsafeUninitializedCapacity: utf8Count) { buffer in
                var writer = ByteWriter(UnsafeMutableRawBufferPointer(buffer))
                write(to: &writer)
                return writer.count
            }
        }
    }

    /// The length of the text in bytes.
    var utf8Count: Int {
        switch storage {
        case .text(let text): return text.utf8.count
        case .generated(let prefix, let counter): return prefix.utf8.count + Self.digits(counter)
        }
    }

    /// Writes the text's bytes.
    func write<Sink: ByteSink>(to sink: inout Sink) {
        switch storage {
        case .text(let text): sink.write(text)
        case .generated(let prefix, let counter):
            sink.write(prefix)
            let digits = Self.digits(counter)
            var bytes: (UInt64, UInt64) = (0, 0)  // 16 bytes: any UInt64 in hex
            withUnsafeMutableBytes(of: &bytes) { raw in
                var v = counter
                var k = digits
                repeat {
                    k -= 1
                    let d = UInt8(truncatingIfNeeded: v & 15)
                    raw[k] = d < 10 ? 48 + d : 87 + d
                    v >>= 4
                } while v > 0
                sink.write(UnsafeRawBufferPointer(rebasing: raw[0..<digits]))
            }
        }
    }
}
