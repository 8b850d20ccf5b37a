/// The timers of one server connection and what their running out means. Pure: the connection feeds
/// it the times things happened and asks, with `now`, what to do; tests drive it with a manual clock.
///
///     reading, nothing received yet ─ idle timeout ─▶ close (draining: close at once)
///     reading, head incomplete ───── header timeout (from the first byte) ─▶ 408, close
///     reading, body incomplete ───── body timeout (from the end of the head) ─▶ 408, close
///     any stage, output stuck ────── write timeout (since the last progress) ─▶ drop
///     any stage, output trickling ── under minSendBytesPerSecond over a send-rate window ─▶ drop
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
    /// The current send-rate window (0 = no output waiting) and the bytes sent in it.
    private(set) var sendWindowStart: UInt64 = 0
    private(set) var sendWindowBytes = 0
    /// A finished window was under the minimum rate.
    private(set) var sendTooSlow = false

    init(now: UInt64) { lastActivity = now }

    /// Output started waiting in user space (the socket was full): the rate is measured from now.
    mutating func outputBlocked(now: UInt64) {
        if sendWindowStart == 0 { sendWindowStart = now; sendWindowBytes = 0 }
    }

    /// `bytes` more reached the kernel. A window that has run its length is judged and a new one starts.
    ///
    ///     window 10 s, minimum 1024 B/s: 10,240 bytes in the window keep the connection, 10,239 drop it
    mutating func sent(_ bytes: Int, now: UInt64, configuration c: ServerConfiguration) {
        writeProgressAt = now
        guard sendWindowStart != 0 else { return }
        sendWindowBytes += bytes
        let elapsed = now &- sendWindowStart
        if elapsed >= c.sendRateWindow {
            if Self.underRate(sendWindowBytes, elapsed: elapsed, c) { sendTooSlow = true }
            sendWindowStart = now
            sendWindowBytes = 0
        }
    }

    /// Nothing waits in user space any more: no window runs.
    mutating func outputDrained() {
        sendWindowStart = 0
        sendWindowBytes = 0
        // A slow window judged on the write that finished the output is forgiven: resetting now would
        // throw away the end of a response that is already in the kernel.
        sendTooSlow = false
    }

    private static func underRate(_ bytes: Int, elapsed: UInt64, _ c: ServerConfiguration) -> Bool {
        c.minSendBytesPerSecond > 0 && Double(bytes) * 1e9 < Double(c.minSendBytesPerSecond) * Double(elapsed)
    }

    private func tooSlow(now: UInt64, writePending: Bool, _ c: ServerConfiguration) -> Bool {
        guard writePending else { return false }
        if sendTooSlow { return true }
        guard sendWindowStart != 0 else { return false }
        let elapsed = now &- sendWindowStart
        return elapsed >= c.sendRateWindow && Self.underRate(sendWindowBytes, elapsed: elapsed, c)
    }

    func verdict(now: UInt64, stage: Stage, awaitingBody: Bool, draining: Bool, writePending: Bool,
                 configuration c: ServerConfiguration) -> Verdict {
        if stage != .closed && stage != .lingering && tooSlow(now: now, writePending: writePending, c) { return .writeStalled }
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
