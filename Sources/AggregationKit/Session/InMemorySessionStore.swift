import Synchronization

/// The embedded default session store: one process, one lock, bounded, every operation O(1) apart from
/// small per-subject and per-family lists (at most `maximumSessionsPerSubject` and
/// `spentTokensPerFamily` long).
///
/// Bounds (`SessionStoreLimits`): `maximumSessions` families in total (at the bound, expired families
/// are swept — a full scan, at most once per second of the caller's clock — then the create fails
/// `full`); `maximumSessionsPerSubject` per user (expired ones are dropped first, then the oldest is
/// revoked); each family remembers its last `spentTokensPerFamily` spent tokens for reuse detection.
/// The token map therefore holds at most `maximumSessions · (1 + spentTokensPerFamily)` entries.
///
/// Semantics are the protocol's, with the boundaries of `SessionRecord.isExpired`/`isIdle`; the Redis
/// store passes the same conformance tests (`SessionStoreConformance`).
public final class InMemorySessionStore: SessionStore {
    public typealias Limits = SessionStoreLimits

    /// A refresh-token digest as four words: a 32-byte dictionary key without a heap-allocated string.
    private struct TokenKey: Hashable {
        let a, b, c, d: UInt64

        init(_ hash: RefreshTokenHash) {
            var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            var index = 0
            for byte in hash.hex.utf8 {
                // `RefreshTokenHash` holds 64 lower-case hex digits.
                let nibble = UInt64(byte <= 0x39 ? byte &- 0x30 : byte &- 0x61 &+ 10)
                switch index >> 4 {
                case 0: words.0 = words.0 << 4 | nibble
                case 1: words.1 = words.1 << 4 | nibble
                case 2: words.2 = words.2 << 4 | nibble
                default: words.3 = words.3 << 4 | nibble
                }
                index += 1
            }
            (a, b, c, d) = words
        }
    }

    /// A subject compared byte for byte. Swift's `String` equality is Unicode canonical equivalence
    /// (`"\u{E9}" == "e\u{301}"`), but an identity service may hand out both as two users' ids:
    /// as `String` keys they would share one session list (listing, revoking and evicting each other's
    /// sessions). Redis compares bytes; so does this.
    private struct SubjectKey: Hashable {
        let bytes: [UInt8]
        init(_ subject: String) { bytes = Array(subject.utf8) }
    }

    private struct Family {
        var record: SessionRecord
        var current: TokenKey
        /// Oldest first, at most `spentTokensPerFamily`.
        var spent: [TokenKey]
    }

    private struct State {
        var families: [String: Family] = [:]
        /// Token digest → family id, for current and remembered spent tokens.
        var tokens: [TokenKey: String] = [:]
        /// Subject → family ids, oldest first.
        var bySubject: [SubjectKey: [String]] = [:]
        /// The caller's second of the last full sweep (at the total bound): at most one per second.
        var lastSweep: Int64?

        mutating func remove(_ id: String) -> SessionRecord? {
            guard let family = families.removeValue(forKey: id) else { return nil }
            if tokens[family.current] == id { tokens[family.current] = nil }
            for key in family.spent where tokens[key] == id { tokens[key] = nil }
            if var ids = bySubject[SubjectKey(family.record.subject)] {
                ids.removeAll { $0 == id }
                bySubject[SubjectKey(family.record.subject)] = ids.isEmpty ? nil : ids
            }
            return family.record
        }

        mutating func sweep(now: Int64) {
            guard lastSweep != now else { return }
            lastSweep = now
            for (id, family) in families where family.record.isExpired(now: now) { _ = remove(id) }
        }
    }

    public let limits: Limits
    private let state = Mutex(State())

    public init(limits: Limits = Limits()) {
        precondition(limits.isValid, "InMemorySessionStore: limits out of range")
        self.limits = limits
    }

    /// Number of sessions held (live or not yet swept), for tests and gauges.
    public var count: Int { state.withLock { $0.families.count } }

    /// Number of token digests held (current and remembered spent ones), for tests and gauges.
    public var tokenCount: Int { state.withLock { $0.tokens.count } }

    public func create(_ session: SessionRecord, token: RefreshTokenHash, now: Int64) throws(SessionStoreError) {
        let limits = self.limits
        let key = TokenKey(token)
        let created: Bool = state.withLock { state in
            // Ids are random 128-bit values; a repeated one replaces its session rather than linking two.
            _ = state.remove(session.id)
            // The subject's expired sessions go first, so a dead one never costs the user a live one.
            for id in state.bySubject[SubjectKey(session.subject)] ?? [] where state.families[id]?.record.isExpired(now: now) ?? true {
                _ = state.remove(id)
            }
            while let ids = state.bySubject[SubjectKey(session.subject)], ids.count >= limits.maximumSessionsPerSubject {
                _ = state.remove(ids[0])
            }
            if state.families.count >= limits.maximumSessions { state.sweep(now: now) }
            guard state.families.count < limits.maximumSessions else { return false }
            state.families[session.id] = Family(record: session, current: key, spent: [])
            state.tokens[key] = session.id
            state.bySubject[SubjectKey(session.subject), default: []].append(session.id)
            return true
        }
        guard created else { throw SessionStoreError(.full, "the in-memory session store holds \(limits.maximumSessions) sessions") }
    }

    public func rotate(_ presented: RefreshTokenHash, to next: RefreshTokenHash, now: Int64, idleSeconds: Int64) -> RotationResult {
        let limits = self.limits
        let presentedKey = TokenKey(presented)
        let nextKey = TokenKey(next)
        return state.withLock { state in
            guard let id = state.tokens[presentedKey], var family = state.families[id] else { return .invalid }
            if family.record.isExpired(now: now) {
                _ = state.remove(id)
                return .invalid
            }
            guard family.current == presentedKey else {
                // A spent token: either its rightful owner was robbed, or the one presenting it is the thief.
                if limits.reuseGraceSeconds > 0, family.spent.last == presentedKey,
                   now - family.record.lastRefreshedAt < limits.reuseGraceSeconds {
                    return .invalid
                }
                _ = state.remove(id)
                return .reused(family.record)
            }
            if family.record.isIdle(now: now, idleSeconds: idleSeconds) {
                _ = state.remove(id)
                return .invalid
            }
            // `next` must be fresh; one the store already knows would link two families (a caller bug).
            guard state.tokens[nextKey] == nil else { return .invalid }
            family.spent.append(presentedKey)
            if family.spent.count > limits.spentTokensPerFamily {
                state.tokens[family.spent.removeFirst()] = nil
            }
            family.current = nextKey
            family.record.lastRefreshedAt = now
            state.tokens[nextKey] = id
            state.families[id] = family
            return .rotated(family.record)
        }
    }

    public func revoke(token: RefreshTokenHash, now: Int64) -> SessionRecord? {
        let key = TokenKey(token)
        return state.withLock { state in
            guard let id = state.tokens[key], let record = state.remove(id) else { return nil }
            return record.isExpired(now: now) ? nil : record
        }
    }

    public func revoke(sessionID: String, subject: String, now: Int64) -> Bool {
        state.withLock { state in
            guard let family = state.families[sessionID], family.record.subject.utf8.elementsEqual(subject.utf8) else { return false }
            _ = state.remove(sessionID)
            return !family.record.isExpired(now: now)
        }
    }

    public func sessions(subject: String, now: Int64) -> [SessionRecord] {
        state.withLock { state in
            (state.bySubject[SubjectKey(subject)] ?? []).reversed().compactMap { id in
                guard let record = state.families[id]?.record, !record.isExpired(now: now) else { return nil }
                return record
            }
        }
    }

    public func isLive(sessionID: String, now: Int64) -> Bool {
        state.withLock { state in
            guard let record = state.families[sessionID]?.record else { return false }
            return !record.isExpired(now: now)
        }
    }
}
