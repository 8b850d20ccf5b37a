#if canImport(Glibc)
import Glibc
#endif

/// A loop's view of its `GatewayClock`: the readings (any thread), and the wall time as text for the
/// `Date` header and log lines, recomputed at most once a second (those two: loop thread only).
public final class LoopClock: @unchecked Sendable {
    /// The injected clock (a `ManualClock` in tests), to hand to anything that decides with time.
    public let source: any GatewayClock
    private var cachedSecond: Int64 = -1
    private var cachedHTTPDate = ""
    private var cachedISOPrefix = ""
    private var cachedISOPrefixBytes: [UInt8] = []
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    init(source: any GatewayClock) { self.source = source }

    /// A fresh monotonic reading (`EventLoop.now` is the cheaper one cached per iteration). Any thread.
    public func monotonicNanoseconds() -> UInt64 { source.monotonicNanoseconds() }
    /// Nanoseconds since the Unix epoch. Any thread.
    public func wallClockNanoseconds() -> Int64 { source.wallClockNanoseconds() }

    private func refresh(_ second: Int64) {
        guard second != cachedSecond else { return }
        cachedSecond = second
        var t = time_t(second)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        cachedHTTPDate = "\(Self.days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(Self.months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) \(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
        cachedISOPrefix = "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))"
        cachedISOPrefixBytes.removeAll(keepingCapacity: true)
        LogTime.appendPrefix(seconds: Int(second), into: &cachedISOPrefixBytes)
    }

    /// IMF-fixdate (RFC 9110 §5.6.7). Loop thread only.
    func httpDate() -> String {
        let wall = source.wallClockNanoseconds()
        refresh(wall / 1_000_000_000)
        return cachedHTTPDate
    }

    /// RFC 3339 UTC with milliseconds. Loop thread only.
    func iso8601() -> String {
        let wall = source.wallClockNanoseconds()
        refresh(wall / 1_000_000_000)
        let ms = Int(wall % 1_000_000_000) / 1_000_000
        let msText = ms < 10 ? "00\(ms)" : (ms < 100 ? "0\(ms)" : "\(ms)")
        return "\(cachedISOPrefix).\(msText)Z"
    }

    /// RFC 3339 UTC with milliseconds, appended to a log line being built (no string made). Loop thread only.
    func appendISO8601(into out: inout [UInt8]) {
        let wall = source.wallClockNanoseconds()
        refresh(wall / 1_000_000_000)
        out.append(contentsOf: cachedISOPrefixBytes)
        LogTime.appendMilliseconds(Int(wall % 1_000_000_000) / 1_000_000, into: &out)
    }
}
