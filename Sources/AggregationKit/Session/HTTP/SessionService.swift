/// One gateway's session machinery at run time: the configuration (issuer, store, throttle), the
/// identity service's upstream, and each loop's cache of session liveness. Built once per gateway
/// (`Gateway.buildRouter`); its endpoints are `SessionEndpoint`s, its routes' tokens are checked by
/// `AuthStage` with this service attached.
public final class SessionService: Sendable {
    public let configuration: SessionConfiguration
    let identity: Upstream
    /// The gateway's security events (logged and counted in `bff_security_events_total`).
    let events: SecurityEvents
    private let liveness = LoopSlots<LivenessShard>()

    /// Entries a loop remembers; at the bound, expired ones go, then all (a burst of sessions then costs
    /// one store lookup each, never memory).
    static let livenessCapacity = 16_384

    public init(configuration: SessionConfiguration, identity: Upstream, events: SecurityEvents = .unmetered) {
        self.configuration = configuration
        self.identity = identity
        self.events = events
    }

    public var issuer: AccessTokenIssuer { configuration.issuer }
    var isCookieMode: Bool { configuration.mode == .cookie }

    /// Wall-clock seconds on the request's loop clock (a manual one in tests).
    func now(_ context: RequestContext) -> Int64 { context.loop.clock.wallClockNanoseconds() / 1_000_000_000 }

    // MARK: Liveness (revocation seen before exp)

    final class LivenessShard {
        struct Entry { var live: Bool; var until: UInt64 }
        var entries: [String: Entry] = [:]
    }

    enum Liveness { case live, ended, unknown }

    /// What this loop knows about session `sid` (loop thread only): `unknown` when it must ask the store.
    /// Always `live` when `revocationCheckMs` is 0 (tokens are then trusted until `exp`).
    func cachedLiveness(of sid: String, on loop: EventLoop) -> Liveness {
        guard configuration.revocationCheck > 0 else { return .live }
        guard let shard = liveness.existingValue(on: loop), let entry = shard.entries[sid],
              entry.until > loop.clock.monotonicNanoseconds() else { return .unknown }
        return entry.live ? .live : .ended
    }

    /// Asks the store and remembers the answer on this loop for `revocationCheckMs`.
    func checkLiveness(of sid: String, context: RequestContext) async throws(SessionStoreError) -> Bool {
        let live = try await configuration.store.isLive(sessionID: sid, now: now(context))
        remember(sid, live: live, on: context.loop)
        return live
    }

    private func remember(_ sid: String, live: Bool, on loop: EventLoop) {
        let shard = liveness.value(on: loop) { LivenessShard() }
        let now = loop.clock.monotonicNanoseconds()
        if shard.entries[sid] == nil, shard.entries.count >= Self.livenessCapacity {
            shard.entries = shard.entries.filter { $0.value.until > now }
            if shard.entries.count >= Self.livenessCapacity { shard.entries.removeAll(keepingCapacity: true) }
        }
        shard.entries[sid] = LivenessShard.Entry(live: live, until: now + configuration.revocationCheck)
    }

    /// A session ended through this loop: its tokens stop here at once (other loops and instances within
    /// `revocationCheckMs`).
    func ended(_ sid: String, on loop: EventLoop) {
        guard configuration.revocationCheck > 0 else { return }
        remember(sid, live: false, on: loop)
    }
}
