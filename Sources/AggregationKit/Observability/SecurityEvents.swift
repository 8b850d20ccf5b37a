import Synchronization

/// The security events of one gateway: each is one structured log line (`event`, request id, client
/// address, route, and the event's own fields) and one increment of `bff_security_events_total{event}`.
///
/// What never goes into an event: a token, a password, a full API key, a refresh-token digest. Callers
/// pass identifiers that are safe to show (a key id, a session id, a stable refusal code).
///
/// Invalid-token *bursts* are derived here: every `unauthenticated` event with an invalid credential is
/// also fed to an `InvalidCredentialBursts` detector, and a client that crosses its threshold within a
/// window gets one `auth.invalid_token_burst` event per window (a scanner or a broken client shows up as
/// one warning line, not as noise in thousands of notices).
public final class SecurityEvents: Sendable {
    /// The bounded set of events (the metric's label values).
    public enum Kind: String, CaseIterable, Sendable {
        /// No credential, or one that does not verify (bad signature, expired, revoked API key, …).
        case unauthenticated = "auth.unauthenticated"
        /// A valid identity that the route's `require` does not admit.
        case forbidden = "auth.forbidden"
        /// A client crossed the invalid-credential threshold within the window.
        case invalidTokenBurst = "auth.invalid_token_burst"
        /// A login with wrong credentials (known or unknown account alike).
        case loginFailed = "auth.login_failed"
        /// An account or client address was locked out after repeated failures.
        case lockout = "auth.lockout"
        /// A spent refresh token was presented again: its family is revoked.
        case refreshReuse = "auth.refresh_reuse"
        /// A state-changing request without a matching CSRF token or from a foreign origin.
        case csrfRefused = "auth.csrf_refused"
        /// A login refused without checking the credentials, because of a running lockout.
        case loginThrottled = "auth.login_throttled"
        /// A refresh with an unknown, expired or revoked token (not reuse).
        case refreshInvalid = "auth.refresh_invalid"
        /// A session opened, closed by logout, or revoked by its user (`DELETE /auth/sessions/{id}`).
        case login = "auth.login"
        case logout = "auth.logout"
        case sessionRevoked = "auth.session_revoked"
        /// An API key was created, revoked or rotated (the `keys` command).
        case apiKeyCreated = "apikey.created"
        case apiKeyRevoked = "apikey.revoked"
        case apiKeyRotated = "apikey.rotated"
    }

    private let counters: [Kind: CounterSeries]
    public let bursts: InvalidCredentialBursts
    /// Which proxies' `X-Forwarded-For` names the client (see `client(_:_:)`).
    public let forwarding: ForwardingPolicy

    /// `metrics` nil: events are logged, not counted.
    public init(metrics: MetricsRegistry?, bursts: InvalidCredentialBursts = InvalidCredentialBursts(), forwarding: ForwardingPolicy = ForwardingPolicy()) {
        self.forwarding = forwarding
        var counters: [Kind: CounterSeries] = [:]
        if let metrics, let family = try? metrics.counter("bff_security_events_total",
                                                          help: "Security events (refused credentials, denials, login failures, lockouts, token reuse, key changes), by event.",
                                                          labels: ["event"]) {
            for kind in Kind.allCases { counters[kind] = family.series([kind.rawValue]) }
        }
        self.counters = counters
        self.bursts = bursts
    }

    /// A gateway without metrics and with default bursts (tests, tools).
    public static let unmetered = SecurityEvents(metrics: nil)

    /// The client a request's events are about: the peer, or behind a trusted proxy the address its
    /// `X-Forwarded-For` names (`ForwardingPolicy.originalClient`).
    public func client(_ headers: HTTPHeaders, _ context: RequestContext) -> String {
        forwarding.originalClient(peer: context.clientAddress, headers: headers)
    }

    /// Records an event of a request: logs it (notice, or `level`) on the request's loop with its request
    /// id, route and client address, counts it, and feeds the burst detector when `invalidCredential`.
    /// `client`: the address from `client(_:_:)` when the caller has the request (else the peer).
    public func record(_ kind: Kind, _ message: String, level: LogLevel = .notice, context: RequestContext, client: String? = nil,
                       invalidCredential: Bool = false, _ fields: [LogField] = []) {
        let client = client ?? context.clientAddress
        let shard = context.loop.index
        counters[kind]?.increment(shard: shard)
        let logger = context.loop.logger.with(requestID: context.requestID)
        if logger.isEnabled(level) {
            var line: [LogField] = [.string("event", kind.rawValue), .string("route", context.route), .string("client", client)]
            if client != context.clientAddress { line.append(.string("peer", context.clientAddress)) }
            logger.log(level, message, line + fields)
        }
        guard invalidCredential else { return }
        let now = context.loop.clock.source.monotonicNanoseconds() / 1_000_000_000
        if let count = bursts.record(client: ForwardingPolicy.clientKey(client), now: Int64(now)) {
            counters[.invalidTokenBurst]?.increment(shard: shard)
            if logger.isEnabled(.warning) {
                logger.warning("invalid credentials burst", [.string("event", Kind.invalidTokenBurst.rawValue),
                                                             .string("client", client), .int("count", count),
                                                             .int("window_seconds", Int(bursts.windowSeconds))])
            }
        }
    }

    /// The `account` field of login events: the first 12 hex digits of SHA-256 of the normalized user
    /// name. Enough to correlate failures on one account; no user name in the logs (people type
    /// passwords there).
    static func account(_ normalizedName: String) -> LogField {
        .string("account", String(Digest.hex(Digest.sha256(Array(normalizedName.utf8))).prefix(12)))
    }

    /// Records an event outside a request (the `keys` command, a background refresher).
    public func record(_ kind: Kind, _ message: String, level: LogLevel = .notice, logger: Logger, _ fields: [LogField] = []) {
        counters[kind]?.add(1)
        if logger.isEnabled(level) { logger.log(level, message, [.string("event", kind.rawValue)] + fields) }
    }
}

/// Counts invalid credentials per client address in fixed windows and says when a client crosses the
/// threshold (once per window). Pure apart from its lock; times are passed in (monotonic seconds).
///
/// Bounded: at most `maximumClients` addresses are tracked; at the bound, finished windows are dropped,
/// and if none has finished the new address is not tracked (counted in `untracked`) rather than evicting
/// one that may be about to cross: an attacker spraying from many addresses cannot make one noisy client
/// vanish. Invalid credentials are the rare path, so one lock here costs the valid path nothing.
public final class InvalidCredentialBursts: Sendable {
    public let threshold: Int
    public let windowSeconds: Int64
    public let maximumClients: Int

    private struct Window {
        var start: Int64
        var count: Int
    }
    private struct State {
        var windows: [String: Window] = [:]
        var untracked: UInt64 = 0
        /// When the table is full: the earliest time a window can have finished (sweeping sooner frees nothing).
        var nextSweep: Int64 = .min
        var sweeps: UInt64 = 0
    }
    private let state = Mutex(State())

    public init(threshold: Int = 20, windowSeconds: Int64 = 60, maximumClients: Int = 10_000) {
        precondition(threshold >= 1 && windowSeconds >= 1 && maximumClients >= 1)
        self.threshold = threshold
        self.windowSeconds = windowSeconds
        self.maximumClients = maximumClients
    }

    /// Counts one invalid credential from `client` at `now`; returns the count when this one reached the
    /// threshold (the moment to report), else nil.
    public func record(client: String, now: Int64) -> Int? {
        state.withLock { state in
            if var window = state.windows[client] {
                if now - window.start >= windowSeconds { window = Window(start: now, count: 0) }
                window.count += 1
                state.windows[client] = window
                return window.count == threshold ? window.count : nil
            }
            if state.windows.count >= maximumClients {
                // Sweep only when a window can have finished: a full table of live windows under a spray
                // of new addresses costs one comparison per refusal, not a rebuild of the table.
                if now >= state.nextSweep {
                    state.sweeps &+= 1
                    state.windows = state.windows.filter { now - $0.value.start < windowSeconds }
                    // No window starts earlier than the earliest kept one (restarts and newcomers start later).
                    state.nextSweep = (state.windows.values.map(\.start).min() ?? now) + windowSeconds
                }
                if state.windows.count >= maximumClients {
                    state.untracked &+= 1
                    return nil
                }
            }
            state.windows[client] = Window(start: now, count: 1)
            return threshold == 1 ? 1 : nil
        }
    }

    /// Times the full table was swept (for tests).
    var sweeps: UInt64 { state.withLock { $0.sweeps } }

    /// Addresses currently tracked.
    public var trackedClients: Int { state.withLock { $0.windows.count } }
    /// Invalid credentials not tracked because the table was full of live windows.
    public var untracked: UInt64 { state.withLock { $0.untracked } }
}
