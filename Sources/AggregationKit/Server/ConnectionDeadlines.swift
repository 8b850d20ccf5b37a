/// The timers of one server connection and what their running out means. Pure: the connection feeds
/// it the times things happened and asks, with `now`, what to do; tests drive it with a manual clock.
///
///     reading, nothing received yet ─ idle timeout ─▶ close (draining: close at once)
///     reading, head incomplete ───── header timeout (from the first byte) ─▶ 408, close
///     reading, body incomplete ───── body timeout (from the end of the head) ─▶ 408, close
///     any stage, output stuck ────── write timeout (since the last progress) ─▶ drop
///     lingering close ────────────── 2 s after the half-close ─▶ close
struct ConnectionDeadlines: Sendable, Equatable {
    enum Stage: Sendable { case reading, processing, lingering, closed }

    enum Verdict: Sendable, Equatable {
        case keep
        case headerTimeout
        case bodyTimeout
        /// Close quietly: idle keep-alive connection, a drained idle connection, a finished linger.
        case close
        /// Drop at once: the peer does not take our output.
        case writeStalled
    }

    /// Monotonic ns; 0 = not running.
    var requestStartedAt: UInt64 = 0
    var bodyStartedAt: UInt64 = 0
    var lastActivity: UInt64
    var writeProgressAt: UInt64 = 0
    var lingerUntil: UInt64 = 0

    init(now: UInt64) { lastActivity = now }

    func verdict(now: UInt64, stage: Stage, awaitingBody: Bool, draining: Bool, writePending: Bool,
                 configuration c: ServerConfiguration) -> Verdict {
        switch stage {
        case .reading:
            if writePending && now &- writeProgressAt > c.writeTimeout { return .writeStalled }
            if awaitingBody {
                return bodyStartedAt != 0 && now &- bodyStartedAt > c.bodyTimeout ? .bodyTimeout : .keep
            }
            if requestStartedAt != 0 {
                return now &- requestStartedAt > c.headerTimeout ? .headerTimeout : .keep
            }
            if draining || now &- lastActivity > c.idleTimeout { return .close }
            return .keep
        case .processing:
            return writePending && now &- writeProgressAt > c.writeTimeout ? .writeStalled : .keep
        case .lingering:
            return now > lingerUntil ? .close : .keep
        case .closed:
            return .keep
        }
    }
}
