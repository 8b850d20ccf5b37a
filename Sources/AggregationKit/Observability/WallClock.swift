#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock text for the `Date` header and log lines, recomputed at most once a second per loop.
final class WallClock {
    private var cachedSecond: Int = -1
    private var cachedHTTPDate = ""
    private var cachedISOPrefix = ""
    private var cachedISOPrefixBytes: [UInt8] = []
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private func refresh(_ second: Int) {
        guard second != cachedSecond else { return }
        cachedSecond = second
        var t = time_t(second)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        cachedHTTPDate = "\(Self.days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(Self.months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) \(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
        cachedISOPrefix = "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))"
        cachedISOPrefixBytes.removeAll(keepingCapacity: true)
        LogTime.appendPrefix(seconds: second, into: &cachedISOPrefixBytes)
    }

    /// IMF-fixdate (RFC 9110 §5.6.7).
    func httpDate() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        refresh(Int(ts.tv_sec))
        return cachedHTTPDate
    }

    /// RFC 3339 UTC with milliseconds.
    func iso8601() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        refresh(Int(ts.tv_sec))
        let ms = Int(ts.tv_nsec) / 1_000_000
        let msText = ms < 10 ? "00\(ms)" : (ms < 100 ? "0\(ms)" : "\(ms)")
        return "\(cachedISOPrefix).\(msText)Z"
    }

    /// RFC 3339 UTC with milliseconds, appended to a log line being built (no string made).
    func appendISO8601(into out: inout [UInt8]) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        refresh(Int(ts.tv_sec))
        out.append(contentsOf: cachedISOPrefixBytes)
        LogTime.appendMilliseconds(Int(ts.tv_nsec) / 1_000_000, into: &out)
    }
}
