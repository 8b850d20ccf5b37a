/// A typed field of a log line. Values are typed so the line can be written without guessing: a string
/// is always quoted and escaped, a number never is.
public struct LogField: Sendable {
    public enum Value: Sendable {
        case string(String)
        case int(Int)
        case double(Double)
        case bool(Bool)
        /// Text from outside that may not be valid UTF-8 (invalid sequences are written as U+FFFD).
        case bytes([UInt8])
        case null
    }

    public let key: String
    public let value: Value

    public init(_ key: String, _ value: Value) {
        self.key = key
        self.value = value
    }

    /// A string, or `null` when nil.
    public static func string(_ key: String, _ value: String?) -> LogField { LogField(key, value.map(Value.string) ?? .null) }
    public static func int(_ key: String, _ value: Int) -> LogField { LogField(key, .int(value)) }
    public static func double(_ key: String, _ value: Double) -> LogField { LogField(key, .double(value)) }
    public static func bool(_ key: String, _ value: Bool) -> LogField { LogField(key, .bool(value)) }
    public static func bytes(_ key: String, _ value: [UInt8]) -> LogField { LogField(key, .bytes(value)) }
}

/// The application log: JSON lines (`time`, `level`, `msg`, `request_id` when set, then the fields) at or
/// above a threshold, handed to a `LogWriter`.
///
///     logger.warning("response schema violation", [.string("endpoint", name), .int("violations", n)])
///
/// A call below the threshold costs a comparison: the message and the fields are autoclosures, evaluated
/// only when the line is written. Writing never blocks the caller on the output: the line is encoded on
/// the calling thread and queued to the writer's thread (one short lock); when the queue is full it is
/// dropped and counted (`LogWriter.droppedLines`). Any thread; a value, cheap to copy.
public struct Logger: Sendable {
    /// Lines below this level are not written.
    public let threshold: LogLevel
    /// Where lines go; nil: nowhere (`Logger.disabled`).
    public let writer: LogWriter?
    /// Written as `request_id` on every line of this logger (see `with(requestID:)`).
    public private(set) var requestID: String?

    public init(threshold: LogLevel = .info, writer: LogWriter?) {
        self.threshold = threshold
        self.writer = writer
    }

    /// Writes nothing, evaluates nothing.
    public static let disabled = Logger(threshold: .critical, writer: nil)

    /// This logger, with `request_id` on its lines.
    public func with(requestID: String?) -> Logger {
        var copy = self
        copy.requestID = requestID
        return copy
    }

    /// Whether a line at `level` would be written: for work a call's arguments cannot defer.
    @inline(__always)
    public func isEnabled(_ level: LogLevel) -> Bool { writer != nil && level >= threshold }

    /// Writes one line at `level` if it is at or above the threshold. A field named like one of the fixed
    /// keys (`time`, `level`, `msg`, `request_id`) or like an earlier field gets a `_` prefix, so a line
    /// never holds a key twice (our own JSON parser rejects that, and so do careful log pipelines).
    public func log(_ level: LogLevel, _ message: @autoclosure () -> String, _ fields: @autoclosure () -> [LogField] = []) {
        guard level >= threshold, let writer else { return }
        writer.submit(Self.encode(level: level, message: message(), requestID: requestID, fields: fields(), time: LogTime.appendNow), lines: 1)
    }

    public func trace(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [LogField] = []) {
        log(.trace, message(), fields())
    }

    public func debug(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [LogField] = []) {
        log(.debug, message(), fields())
    }

    public func info(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [LogField] = []) {
        log(.info, message(), fields())
    }

    public func notice(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [LogField] = []) {
        log(.notice, message(), fields())
    }

    public func warning(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [LogField] = []) {
        log(.warning, message(), fields())
    }

    public func error(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [LogField] = []) {
        log(.error, message(), fields())
    }

    public func critical(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [LogField] = []) {
        log(.critical, message(), fields())
    }

    /// The bytes of one line, newline included. Pure given `time`.
    static func encode(level: LogLevel, message: String, requestID: String?, fields: [LogField],
                       time: (inout [UInt8]) -> Void) -> [UInt8] {
        var line = LogLine()
        line.bytes.reserveCapacity(128 + message.utf8.count)
        line.begin(level: level, message: message, requestID: requestID, time: time)
        var used: Set<String> = []
        for field in fields {
            var key = field.key
            while LogLine.reservedKeys.contains(key) || used.contains(key) { key = "_" + key }
            used.insert(key)
            line.field(LogField(key, field.value))
        }
        line.end()
        return line.bytes
    }
}
