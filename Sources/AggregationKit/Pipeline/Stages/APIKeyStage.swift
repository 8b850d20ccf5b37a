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
/// Revocation: each loop asks its source (`APIKeySource`) at most every `reloadInterval` (200 ms) of
/// its own clock for a newer snapshot: the key file's stamp (one `stat`), or the snapshot the Redis
/// store's poller keeps (a lock and a load). So a key revoked by the command line is refused by every
/// running instance within that interval plus the store's own delay. A snapshot the source no longer
/// vouches for (Redis unreachable past `maxStaleness`) refuses every key with 503
/// `api_key_store_unavailable`: no request path waits on Redis, and no revoked key keeps working.
/// No thread, no timer in the stage: an idle loop does not look at all, and catches up on its first request.
public struct APIKeyStage: RequestStage {
    public var name: String { "apiKey" }
    /// No `processResponse`.
    public var leavesHopFieldsAlone: Bool { true }

    let policy: APIKeyPolicy
    let source: any APIKeySource
    let slots: LoopSlots<AuthCaches.KeyShard>
    let events: SecurityEvents

    public init(policy: APIKeyPolicy, caches: AuthCaches = AuthCaches()) {
        self.policy = policy
        events = caches.events
        source = caches.apiKeySource(for: policy.store)
        slots = caches.keySlots(for: source)
    }

    public func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        let source = self.source
        let monotonic = context.loop.clock.monotonicNanoseconds()
        let shard = slots.value(on: context.loop) { AuthCaches.KeyShard(source.refreshed(nil)) }
        if monotonic &- shard.checkedAt >= source.reloadInterval || shard.checkedAt == 0 {
            shard.checkedAt = monotonic
            let refreshed = source.refreshed(shard.snapshot)
            shard.snapshot = refreshed.snapshot
            shard.usableUntil = refreshed.usableUntil
        }
        let field: Int, range: Range<Int>
        switch APIKeyCredentials.read(request.headers) {
        case .missing: return deny(Self.keyRequired, code: "api_key_missing", context, headers: request.headers)
        case .ambiguous: return deny(Self.invalidKey, code: "api_key_ambiguous", context, headers: request.headers)
        case .key(let f, let r): (field, range) = (f, r)
        }
        // After the credentials are read, so a request without a key still learns it needs one.
        guard monotonic < shard.usableUntil else { return deny(Self.storeUnavailable, code: "api_key_store_unavailable", context, headers: request.headers) }
        let now = context.loop.clock.wallClockNanoseconds() / 1_000_000_000
        let snapshot = shard.snapshot
        let found = request.headers.withValueBytes(at: field) {
            snapshot.lookup(UnsafeBufferPointer(rebasing: $0[range]), now: now)
        }
        guard let entry = found.entry, found.refusal == nil else {
            return deny(Self.invalidKey, code: "api_key_\(found.refusal!.rawValue)", context, keyID: found.entry?.record.id, headers: request.headers)
        }
        if !policy.require.isEmpty, !policy.require.contains(where: { $0.allSatisfy(entry.identity.scopes.contains) }) {
            return deny(Self.insufficientScope, code: "access_denied", context, keyID: entry.record.id, headers: request.headers)
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
    private func deny(_ error: HTTPError, code: String, _ context: RequestContext, keyID: String? = nil, headers: HTTPHeaders) -> StageDecision {
        let client = events.client(headers, context)
        if error.status == 503 {
            // The key store cannot be read: not the client's doing, not a security event.
            let logger = context.loop.logger
            if logger.isEnabled(.warning) {
                logger.with(requestID: context.requestID).warning("API keys unavailable", [
                    .string("event", "auth.unavailable"), .string("code", code), .string("route", context.route), .string("client", client),
                ])
            }
        } else if error.status == 403 {
            events.record(.forbidden, "authorization denied", context: context, client: client, [.string("code", code), .string("key_id", keyID)])
        } else {
            events.record(.unauthenticated, "authentication failed", context: context, client: client, invalidCredential: code != "api_key_missing",
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
    /// The key store cannot vouch for its keys (Redis unreachable for longer than `maxStaleness`): no key
    /// is trusted, and the client is told to try again rather than that its key is bad.
    static let storeUnavailable = HTTPError(status: 503, code: "api_key_store_unavailable", detail: "API keys cannot be checked right now",
                                            headers: HTTPHeaders([("Retry-After", "1")]))
    static let insufficientScope = HTTPError(status: 403, code: "insufficient_scope", detail: "the API key does not grant access to this resource")
}

/// The partner's tier of the request's API key, in `context.storage`, for the rate-limit tiers.
public enum APIKeyTier: StageStorageKey {
    public typealias Value = String
}
