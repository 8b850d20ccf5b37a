import Synchronization

/// The embedded default session store: one process, one lock, bounded.
///
/// Bounds: `maximumSessions` families in total (at the bound, expired families are swept, then the
/// create fails `full`); `maximumSessionsPerSubject` per user (the oldest is revoked); each family
/// remembers its last `spentTokensPerFamily` spent tokens for reuse detection (an older spent token is
/// simply unknown: `invalid`, not `reused`).
public final class InMemorySessionStore: SessionStore {
    public struct Limits: Sendable {
        public var maximumSessions = 100_000
        public var maximumSessionsPerSubject = 10
        public var spentTokensPerFamily = 64
        public init() {}
    }

    private struct Family {
        var record: SessionRecord
        var current: RefreshTokenHash
        /// Oldest first.
        var spent: [RefreshTokenHash]
    }

    private struct State {
        var families: [String: Family] = [:]
        /// Token digest → family id, for current and remembered spent tokens.
        var tokens: [RefreshTokenHash: String] = [:]
        /// Subject → family ids, oldest first.
        var bySubject: [String: [String]] = [:]

        mutating func remove(_ id: String) -> SessionRecord? {
            guard let family = families.removeValue(forKey: id) else { return nil }
            tokens[family.current] = nil
            for hash in family.spent { tokens[hash] = nil }
            if var ids = bySubject[family.record.subject] {
                ids.removeAll { $0 == id }
                bySubject[family.record.subject] = ids.isEmpty ? nil : ids
            }
            return family.record
        }

        func isLive(_ family: Family, now: Int64, idleSeconds: Int64?) -> Bool {
            if now >= family.record.expiresAt { return false }
            if let idleSeconds, now - family.record.lastRefreshedAt > idleSeconds { return false }
            return true
        }

        mutating func sweep(now: Int64) {
            for (id, family) in families where now >= family.record.expiresAt { _ = remove(id) }
        }
    }

    public let limits: Limits
    private let state = Mutex(State())

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Number of sessions held (live or not yet swept), for tests and gauges.
    public var count: Int { state.withLock { $0.families.count } }

    public func create(_ session: SessionRecord, token: RefreshTokenHash, now: Int64) throws(SessionStoreError) {
        let limits = self.limits
        let result: Bool = state.withLock { state in
            if state.families.count >= limits.maximumSessions { state.sweep(now: now) }
            var ids = state.bySubject[session.subject] ?? []
            while ids.count >= limits.maximumSessionsPerSubject, let oldest = ids.first {
                _ = state.remove(oldest)
                ids = state.bySubject[session.subject] ?? []
            }
            guard state.families.count < limits.maximumSessions else { return false }
            state.families[session.id] = Family(record: session, current: token, spent: [])
            state.tokens[token] = session.id
            state.bySubject[session.subject, default: []].append(session.id)
            return true
        }
        guard result else { throw SessionStoreError(.full, "the in-memory session store holds \(limits.maximumSessions) sessions") }
    }

    public func rotate(_ presented: RefreshTokenHash, to next: RefreshTokenHash, now: Int64, idleSeconds: Int64) -> RotationResult {
        let keep = limits.spentTokensPerFamily
        return state.withLock { state in
            guard let id = state.tokens[presented], var family = state.families[id] else { return .invalid }
            guard family.current == presented else {
                // A spent token: whoever holds it is not the family's rightful owner, or the owner was robbed.
                let record = state.remove(id)!
                return .reused(record)
            }
            guard state.isLive(family, now: now, idleSeconds: idleSeconds) else {
                _ = state.remove(id)
                return .invalid
            }
            family.spent.append(presented)
            if family.spent.count > keep {
                let dropped = family.spent.removeFirst()
                state.tokens[dropped] = nil
            }
            family.current = next
            family.record.lastRefreshedAt = now
            state.tokens[next] = id
            state.families[id] = family
            return .rotated(family.record)
        }
    }

    public func revoke(token: RefreshTokenHash, now: Int64) -> SessionRecord? {
        state.withLock { state in
            guard let id = state.tokens[token] else { return nil }
            return state.remove(id)
        }
    }

    public func revoke(sessionID: String, subject: String, now: Int64) -> Bool {
        state.withLock { state in
            guard let family = state.families[sessionID], family.record.subject == subject else { return false }
            _ = state.remove(sessionID)
            return true
        }
    }

    public func sessions(subject: String, now: Int64) -> [SessionRecord] {
        state.withLock { state in
            (state.bySubject[subject] ?? []).reversed().compactMap { id in
                guard let family = state.families[id], state.isLive(family, now: now, idleSeconds: nil) else { return nil }
                return family.record
            }
        }
    }

    public func isLive(sessionID: String, now: Int64) -> Bool {
        state.withLock { state in
            guard let family = state.families[sessionID] else { return false }
            return state.isLive(family, now: now, idleSeconds: nil)
        }
    }
}
