/// When a provider's JWK Set is fetched, as a pure state machine: events in (with the monotonic time
/// `now`), decisions out. The shell (`JWKSClient`) performs the fetches; this type decides. Tested
/// without sockets.
///
/// Rules:
/// - **One fetch at a time.** While a fetch is in flight nothing starts another; a token with an
///   unknown `kid` waits for that one (`.join`).
/// - **At most one fetch per `minimumInterval`**, whatever asks: a flood of tokens with random `kid`s
///   costs one fetch, then each is refused at once (`.refuse`) until the interval has passed since the
///   last fetch started.
/// - **Scheduled refresh**: `refreshInterval` after the last fetch that succeeded; until a first success
///   (or after a failure), `minimumInterval` after the last attempt, so a provider that is down is
///   asked once per `minimumInterval`, not in a loop.
/// - **Last good set kept**: a failed fetch changes nothing but the time of the next attempt.
///
/// Worked example (refresh 300 s, minimum 10 s): a good fetch at 0 s; a token with kid `k9` at 4 s is
/// refused (the last fetch started < 10 s ago); one at 12 s starts a fetch, and 1,000 more arriving
/// while it runs join it; those after it returns are refused until 22 s; the next scheduled fetch is
/// at 312 s (300 s after the good one at 12 s).
public struct JWKSRefreshSchedule: Sendable, Equatable {
    public enum UnknownKeyIDDecision: Sendable, Equatable {
        /// Start a fetch now (call `fetchStarted`) and retry the token once it ends.
        case fetch
        /// A fetch is running: wait for it, then retry the token once.
        case join
        /// Too soon after the last fetch: refuse the token now.
        case refuse
    }

    public let refreshInterval: UInt64
    public let minimumInterval: UInt64
    /// Start time of the last fetch (nil: never).
    public private(set) var lastAttempt: UInt64?
    /// Start time of the last fetch that succeeded (nil: never).
    public private(set) var lastSuccess: UInt64?
    public private(set) var inFlight = false

    public init(refreshInterval: UInt64, minimumInterval: UInt64) {
        precondition(minimumInterval > 0 && refreshInterval >= minimumInterval)
        self.refreshInterval = refreshInterval
        self.minimumInterval = minimumInterval
    }

    /// Whether the minimum interval since the last fetch has passed (always, before the first).
    private func mayFetch(now: UInt64) -> Bool {
        guard let lastAttempt else { return true }
        return now &- lastAttempt >= minimumInterval
    }

    /// A token's `kid` is in no key of the current set.
    public mutating func unknownKeyID(now: UInt64) -> UnknownKeyIDDecision {
        if inFlight { return .join }
        guard mayFetch(now: now) else { return .refuse }
        inFlight = true
        lastAttempt = now
        return .fetch
    }

    /// When the next scheduled fetch is due (monotonic ns): at once before any attempt.
    public var nextScheduledFetch: UInt64 {
        guard let lastAttempt else { return 0 }
        if let lastSuccess, lastSuccess == lastAttempt { return lastSuccess &+ refreshInterval }
        return lastAttempt &+ minimumInterval
    }

    /// Whether a scheduled fetch should start now; if so it is recorded as started.
    public mutating func scheduledFetchDue(now: UInt64) -> Bool {
        guard !inFlight, now >= nextScheduledFetch, mayFetch(now: now) else { return false }
        inFlight = true
        lastAttempt = now
        return true
    }

    /// The fetch started at `lastAttempt` ended: with a usable set (`succeeded`) or not (the last good
    /// set stays).
    public mutating func fetchEnded(succeeded: Bool) {
        precondition(inFlight, "fetchEnded without a fetch in flight")
        inFlight = false
        if succeeded { lastSuccess = lastAttempt }
    }
}
