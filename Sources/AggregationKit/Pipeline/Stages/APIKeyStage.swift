/// `policy.auth` with `"apiKey": true`: a partner's API key, looked up by its SHA-256 digest in the key
/// store, synchronously on the loop.
///
///     X-API-Key / Authorization: ApiKey ─▶ exactly one            else 401 (missing / ambiguous)
///        ─▶ shape bffk_ + 43 base64url ─▶ SHA-256 ─▶ this loop's snapshot of the store
///        ─▶ known, active, not expired                            else 401 invalid_api_key
///        ─▶ require: the scopes of any one alternative           else 403 insufficient_scope
///        ─▶ remove X-API-Key and Authorization, fill context.identity (principal = partner) and
///           the tier (`APIKeyTier`) ─▶ next stage
///
/// Revocation: each loop looks at the key file's stamp (one `stat`) at most every `reloadInterval`
/// (200 ms) of its own clock, and takes the re-read snapshot when it changed; so a key revoked by the
/// command line is refused by every running instance within that interval plus the write.
/// No thread, no timer: an idle loop does not look at all, and catches up on its first request.
public struct APIKeyStage: RequestStage {
    public var name: String { "apiKey" }

    let policy: APIKeyPolicy
    let slots: LoopSlots<AuthCaches.KeyShard>
    let events: SecurityEvents

    public init(policy: APIKeyPolicy, caches: AuthCaches = AuthCaches()) {
        self.policy = policy
        events = caches.events
        slots = caches.keySlots(for: policy.store)
    }

    public func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        let store = policy.store
        let shard = slots.value(on: context.loop) { AuthCaches.KeyShard(snapshot: store.currentSnapshot()) }
        let monotonic = context.loop.clock.monotonicNanoseconds()
        if monotonic &- shard.checkedAt >= store.reloadInterval || shard.checkedAt == 0 {
            shard.checkedAt = monotonic
            if Syscall.fileStamp(store.path) != shard.snapshot.stamp { shard.snapshot = store.currentSnapshot() }
        }
        let field: Int, range: Range<Int>
        switch APIKeyCredentials.read(request.headers) {
        case .missing: return deny(Self.keyRequired, code: "api_key_missing", context)
        case .ambiguous: return deny(Self.invalidKey, code: "api_key_ambiguous", context)
        case .key(let f, let r): (field, range) = (f, r)
        }
        let now = context.loop.clock.wallClockNanoseconds() / 1_000_000_000
        let snapshot = shard.snapshot
        let found = request.headers.withValueBytes(at: field) {
            APIKeyFileStore.lookup(UnsafeBufferPointer(rebasing: $0[range]), in: snapshot, now: now)
        }
        guard let entry = found.entry, found.refusal == nil else {
            return deny(Self.invalidKey, code: "api_key_\(found.refusal!.rawValue)", context, keyID: found.entry?.record.id)
        }
        if !policy.require.isEmpty, !policy.require.contains(where: { $0.allSatisfy(entry.identity.scopes.contains) }) {
            return deny(Self.insufficientScope, code: "access_denied", context, keyID: entry.record.id)
        }
        request.headers.keepFieldsInPlace { headers, i in
            let length = headers.nameLength(at: i)
            return !((length == 9 && headers.nameEquals(at: i, "x-api-key")) || (length == 13 && headers.nameEquals(at: i, "authorization")))
        }
        context.identity = entry.identity
        context.storage[APIKeyTier.self] = entry.record.tier
        return .proceed
    }

    /// Logs and counts the refusal as a security event (never the key; the key id once it is known) and
    /// answers it. Presented but refused keys feed the per-client burst detector.
    private func deny(_ error: HTTPError, code: String, _ context: RequestContext, keyID: String? = nil) -> StageDecision {
        if error.status == 403 {
            events.record(.forbidden, "authorization denied", context: context, [.string("code", code), .string("key_id", keyID)])
        } else {
            events.record(.unauthenticated, "authentication failed", context: context, invalidCredential: code != "api_key_missing",
                          [.string("code", code), .string("key_id", keyID)])
        }
        return .fail(error)
    }

    static let keyRequired = HTTPError(status: 401, code: "authentication_required", detail: "an API key is required (X-API-Key)",
                                       headers: HTTPHeaders([("WWW-Authenticate", "ApiKey")]))
    /// One answer for unknown, revoked, expired and malformed keys: a client learns nothing about which
    /// keys exist (the log has the reason).
    static let invalidKey = HTTPError(status: 401, code: "invalid_api_key", detail: "the API key is not valid",
                                      headers: HTTPHeaders([("WWW-Authenticate", "ApiKey")]))
    static let insufficientScope = HTTPError(status: 403, code: "insufficient_scope", detail: "the API key does not grant access to this resource")
}

/// The partner's tier of the request's API key, in `context.storage`, for the rate-limit tiers.
public enum APIKeyTier: StageStorageKey {
    public typealias Value = String
}
