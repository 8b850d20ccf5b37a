/// The process's two log streams, given to every loop of a group (`EventLoopGroup(threads:logging:)`):
///
///     application events ─▶ Logger (threshold: --log-level / BFF_LOG_LEVEL) ─▶ LogWriter ─▶ stdout
///     one line per request ─▶ loop.log (per-loop batch) ──────────────────▶ LogWriter ─▶ stdout or accessLog.path
///
/// Both streams write the same JSON lines (`time`, `level`, `msg`, `request_id`, fields) through the same
/// machinery: a bounded queue per writer, a writer thread, lines past the queue dropped and counted.
public struct LogStreams: Sendable {
    /// Start-up, shutdown and failures; a loop's copy is `loop.logger`.
    public var application: Logger
    /// Where the access log goes (`loop.log`); nil: nowhere.
    public var access: LogWriter?

    public init(application: Logger, access: LogWriter?) {
        self.application = application
        self.access = access
    }

    /// Both streams on standard output, application lines from `info` up.
    public static let standard = LogStreams(application: Logger(threshold: .info, writer: .standardOutput), access: .standardOutput)
    /// Nothing written (the contract test runner's gateway, whose output is the report).
    public static let disabled = LogStreams(application: .disabled, access: nil)

    /// The distinct writers behind the streams (one when both go to standard output).
    public var writers: [LogWriter] {
        var result: [LogWriter] = []
        for writer in [application.writer, access] {
            if let writer, !result.contains(where: { $0 === writer }) { result.append(writer) }
        }
        return result
    }

    /// Lines dropped since the start because an output did not keep up, over all the streams' writers
    /// (for the `log lines dropped` metric).
    public var droppedLines: Int { writers.reduce(0) { $0 + $1.droppedLines } }

    /// Waits until each writer has written what it was given, sharing `timeout` nanoseconds among them.
    /// Returns whether all of it was written.
    @discardableResult
    public func flush(timeout: UInt64) -> Bool {
        let deadline = MonotonicClock.now() + timeout
        var complete = true
        for writer in writers {
            let now = MonotonicClock.now()
            complete = writer.flush(timeout: deadline > now ? deadline - now : 0) && complete
        }
        return complete
    }
}
