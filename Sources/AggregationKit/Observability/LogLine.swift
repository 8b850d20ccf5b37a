#if canImport(Glibc)
import Glibc
#endif

/// One JSON log line, written straight into bytes:
///
///     {"time":"2025-05-01T12:00:00.123Z","level":"info","msg":"listening","request_id":"…","port":8080}\n
///      └─ begin: time, level, msg, request_id (when there is one) ──────────────────┘ └─ fields ─┘ end
///
/// Every string (keys included) goes through the JSON escaper, so no value (a quote, a newline, a control
/// byte, invalid UTF-8 from the wire) can end the line early or make it invalid JSON. Doubles that JSON
/// cannot write (NaN, infinities) are written as `null`. Used by `Logger` and, for the access log, by the
/// loop's `LogBuffer`, which lends its batch so the line is encoded in place.
public struct LogLine {
    var bytes: [UInt8]

    init(bytes: [UInt8] = []) { self.bytes = bytes }

    /// The keys `begin` writes; a field with one of these names is renamed (see `Logger`).
    static let reservedKeys: Set<String> = ["time", "level", "msg", "request_id"]

    /// Opens the line: `{"time":…,"level":…,"msg":…` and `"request_id":…` when given. `time` appends
    /// the RFC 3339 text (without quotes).
    mutating func begin(level: LogLevel, message: String, requestID: String?, time: (inout [UInt8]) -> Void) {
        literal("{\"time\":\"")
        time(&bytes)
        literal("\",\"level\":\"")
        var name = level.name
        name.withUTF8 { bytes.append(contentsOf: $0) }
        literal("\",\"msg\":")
        JSONSerializer.writeString(message, into: &bytes)
        if let requestID {
            literal(",\"request_id\":")
            JSONSerializer.writeString(requestID, into: &bytes)
        }
    }

    /// Closes the line with `}` and a newline.
    mutating func end() {
        bytes.append(UInt8(ascii: "}"))
        bytes.append(10)
    }

    // MARK: Typed fields. Keys must differ from each other and from the four `begin` writes.

    public mutating func field(_ key: String, _ value: String) {
        self.key(key)
        JSONSerializer.writeString(value, into: &bytes)
    }

    public mutating func field(_ key: String, _ value: Substring) {
        self.key(key)
        var copy = value
        copy.withUTF8 { JSONSerializer.writeString(utf8: $0, into: &bytes) }
    }

    /// A string, or `null` when nil.
    public mutating func field(_ key: String, _ value: String?) {
        guard let value else { return null(key) }
        field(key, value)
    }

    public mutating func field(_ key: String, _ value: Int) {
        self.key(key)
        appendDecimal(value)
    }

    public mutating func field(_ key: String, _ value: Double) {
        self.key(key)
        guard value.isFinite else { return literal("null") }
        var text = value.description
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    public mutating func field(_ key: String, _ value: Bool) {
        self.key(key)
        value ? literal("true") : literal("false")
    }

    /// Bytes that should be UTF-8 text but come from outside (a request line, a header): invalid
    /// sequences are written as U+FFFD, so the line stays valid UTF-8 and valid JSON.
    public mutating func field(_ key: String, utf8 value: some Collection<UInt8>) {
        self.key(key)
        var text = String(decoding: value, as: UTF8.self)
        text.withUTF8 { JSONSerializer.writeString(utf8: $0, into: &bytes) }
    }

    public mutating func null(_ key: String) {
        self.key(key)
        literal("null")
    }

    mutating func field(_ field: LogField) {
        switch field.value {
        case .string(let v): self.field(field.key, v)
        case .int(let v): self.field(field.key, v)
        case .double(let v): self.field(field.key, v)
        case .bool(let v): self.field(field.key, v)
        case .bytes(let v): self.field(field.key, utf8: v)
        case .null: null(field.key)
        }
    }

    // MARK: Bytes

    private mutating func key(_ key: String) {
        bytes.append(UInt8(ascii: ","))
        JSONSerializer.writeString(key, into: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    private mutating func literal(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    private mutating func appendDecimal(_ value: Int) {
        var text = String(value)
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }
}

/// RFC 3339 UTC timestamps with milliseconds (`2025-05-01T12:00:00.123Z`) for log lines.
enum LogTime {
    /// Appends the time `seconds` (since 1970, UTC) and `milliseconds` (0...999). Pure: tests give fixed
    /// times.
    static func append(seconds: Int, milliseconds: Int, into out: inout [UInt8]) {
        appendPrefix(seconds: seconds, into: &out)
        appendMilliseconds(milliseconds, into: &out)
    }

    /// `2025-05-01T12:00:00`, the part that changes once a second (the loops' `WallClock` caches it).
    static func appendPrefix(seconds: Int, into out: inout [UInt8]) {
        var t = time_t(seconds)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        digits(Int(tm.tm_year) + 1900, 4, into: &out)
        out.append(UInt8(ascii: "-"))
        digits(Int(tm.tm_mon) + 1, 2, into: &out)
        out.append(UInt8(ascii: "-"))
        digits(Int(tm.tm_mday), 2, into: &out)
        out.append(UInt8(ascii: "T"))
        digits(Int(tm.tm_hour), 2, into: &out)
        out.append(UInt8(ascii: ":"))
        digits(Int(tm.tm_min), 2, into: &out)
        out.append(UInt8(ascii: ":"))
        digits(Int(tm.tm_sec), 2, into: &out)
    }

    /// `.123Z`
    static func appendMilliseconds(_ milliseconds: Int, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "."))
        digits(milliseconds, 3, into: &out)
        out.append(UInt8(ascii: "Z"))
    }

    /// The wall-clock time now.
    static func appendNow(into out: inout [UInt8]) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        append(seconds: Int(ts.tv_sec), milliseconds: Int(ts.tv_nsec) / 1_000_000, into: &out)
    }

    /// `value` in exactly `count` decimal digits, zero-padded (the year 10000 is not our problem).
    private static func digits(_ value: Int, _ count: Int, into out: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<count { divisor *= 10 }
        var rest = value % (divisor * 10)
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}
