/// `policy.auth`: authenticates the request's bearer token and authorizes it against the route's
/// `require`, synchronously on the loop (static keys: a signature check is CPU work, and a repeated
/// token is a cache lookup).
///
///     Authorization ─▶ exactly one field, `Bearer <b64token>`            else 401
///                   ─▶ SHA-256 of the token ─▶ this loop's cache  ── hit ──┐
///                   ─▶ miss: verify (JWSVerifier), claims (loop clock) ─┐  │  else 401 invalid_token
///                                              remember until exp+leeway ┴──┤
///                   ─▶ require: any alternative satisfied               ◀──┘  else 403 insufficient_scope
///                   ─▶ remove spoofable claim headers (and Authorization unless forwardToken),
///                      add the claim headers, fill context.identity ─▶ next stage
///
/// With a JWK Set URL (`jwksUrl`), the fetched keys are tried first; a token whose `kid` no key has
/// makes the stage suspend (a path that takes a task) when a refresh is allowed
/// (`JWKSRefreshSchedule`: at most one fetch per `minimumInterval`), wait for the fetch and retry once;
/// when it is not allowed the token is refused at once (`kid_unknown`).
///
/// Refusals carry RFC 6750 `WWW-Authenticate` challenges and a problem document; the description is
/// the verifier's or validator's fixed sentence, never token content. Each refusal is logged as a
/// security event (code, route, client, request id; never the token).
public struct AuthStage: RequestStage {
    public var name: String { "auth" }
    /// No `processResponse`.
    public var leavesHopFieldsAlone: Bool { true }

    let policy: AuthPolicy
    let caches: LoopSlots<AuthCaches.Shard>
    /// The provider's JWK Set client in this gateway (nil: static keys only).
    let jwks: JWKSClient?
    /// Lower-cased names removed from the request: the claim headers, and `authorization` unless the
    /// token is forwarded.
    let removedNames: [String]
    let events: SecurityEvents

    /// The gateway's own sessions, when this route's provider is their issuer's (`session`): their
    /// tokens are also refused once the session has ended (see `SessionService.cachedLiveness`).
    let sessions: SessionService?
    /// Cookie mode of `session` routes: the token comes from the access cookie, unsafe methods need the
    /// CSRF token, the gateway's cookies are removed and the token goes on as `Authorization: Bearer`.
    let cookieMode: Bool

    public init(policy: AuthPolicy, caches: AuthCaches = AuthCaches(), sessions: SessionService? = nil) {
        self.policy = policy
        events = caches.events
        self.caches = caches.slots(for: policy.provider)
        jwks = caches.jwksClient(for: policy.provider)
        let own = sessions.flatMap { $0.issuer.provider === policy.provider ? $0 : nil }
        self.sessions = own
        cookieMode = own?.configuration.mode == .cookie
        var removed = policy.claimsToHeaders.map { $0.header.lowercased() }
        // In cookie mode a client's own Authorization never goes on: the gateway attaches the session's token.
        if !policy.forwardToken || cookieMode { removed.append("authorization") }
        removedNames = removed
    }

    /// What `processAsync` needs after a liveness check: the verified token and, in cookie mode, the
    /// `Authorization` value to attach.
    struct PendingSession: StageStorageKey {
        typealias Value = (token: JWTProvider.Authenticated, sessionID: String, bearer: String?)
    }

    public func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        let provider = policy.provider
        let shard = caches.value(on: context.loop) { AuthCaches.Shard(capacity: provider.cacheEntries) }
        let reading: BearerCredentials.Reading
        if cookieMode, let sessions {
            if !SessionCookies.isSafe(request.method), let refusal = sessions.csrfRefusal(request, context) { return .fail(refusal) }
            reading = SessionCookies.read(request.headers, name: SessionCookies.access)
        } else {
            reading = BearerCredentials.read(request.headers)
        }
        let field: Int, range: Range<Int>
        switch reading {
        case .missing, .otherScheme:
            return deny(Self.authenticationRequired, code: "token_missing", context, headers: request.headers)
        case .duplicate:
            return deny(Self.invalidRequest(cookieMode ? "the session cookie is sent more than once" : "more than one Authorization field"),
                        code: "authorization_duplicate", context, headers: request.headers)
        case .malformed:
            return deny(Self.invalidRequest(cookieMode ? "the session cookie is malformed" : "the Authorization field is not Bearer credentials"),
                        code: "authorization_malformed", context, headers: request.headers)
        case .token(let f, let r):
            field = f
            range = r
        }
        guard range.count <= provider.verifier.maximumTokenBytes else {
            return deny(Self.invalidToken(code: JWSError.tokenTooLarge.code, JWSError.tokenTooLarge.description), code: JWSError.tokenTooLarge.code, context, headers: request.headers)
        }
        let wallNanoseconds = context.loop.clock.source.wallClockNanoseconds()
        let now = wallNanoseconds / 1_000_000_000
        let digest = request.headers.withValueBytes(at: field) { TokenDigest(of: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[range]))) }
        let token: JWTProvider.Authenticated
        if let cached = shard.cache.lookup(digest, now: Double(now)) {
            shard.hits &+= 1
            token = cached
        } else {
            shard.verifications &+= 1
            let bytes = request.headers.withValueBytes(at: field) { Array($0[range]) }
            do {
                token = try provider.authenticate(bytes, now: now, fetched: jwks?.verifier)
            } catch {
                if error.code == JWSError.unknownKeyID.code, let jwks, let fetch = jwks.refreshForUnknownKeyID() {
                    context.storage[PendingKeySetFetch.self] = fetch
                    return .suspend
                }
                return deny(Self.invalidToken(code: error.code, error.description), code: error.code, context, headers: request.headers)
            }
            shard.cache.insert(digest, token, expiresAt: token.expiresAt, now: Double(now))
        }
        return authorize(token, field: field, range: range, &request, context)
    }

    /// A verified token: authorization, the session's liveness (may suspend), then `admit`.
    private func authorize(_ token: JWTProvider.Authenticated, field: Int, range: Range<Int>, _ request: inout HTTPRequest,
                           _ context: RequestContext) -> StageDecision {
        if !policy.require.isEmpty, !policy.require.contains(where: { $0.isSatisfied(by: token, pathParameters: context.pathParameters) }) {
            return deny(Self.insufficientScope, code: "access_denied", context, headers: request.headers)
        }

        // Checked before anything is edited, so a refused request is left as it came.
        for (claim, _) in policy.claimsToHeaders {
            if let text = ClaimText.headerText(claim.value(in: token.identity.claims)), text.utf8.contains(where: HeaderTemplate.isControl) {
                return .fail(HTTPError(status: 400, code: "invalid_header_value",
                                       detail: "the token's \(claim) claim contains a control character, which cannot go into a header"))
            }
        }
        // The cookie's token goes on as the bearer token (read before any field is removed or moved).
        let bearer = cookieMode ? request.headers.withValueBytes(at: field) { "Bearer " + String(decoding: $0[range], as: UTF8.self) } : nil
        if let sessions {
            guard let sid = token.identity.claims["sid"]?.stringValue else {
                return deny(Self.invalidToken(code: "claim_missing", "the token names no session"), code: "claim_missing", context, headers: request.headers)
            }
            switch sessions.cachedLiveness(of: sid, on: context.loop) {
            case .live: break
            case .ended: return deny(Self.sessionEnded, code: "session_ended", context, headers: request.headers)
            case .unknown:
                context.storage[PendingSession.self] = (token, sid, bearer)
                return .suspend
            }
        }
        admit(token, bearer: bearer, &request, context)
        return .proceed
    }

    /// Only after `.suspend`: the session's liveness from the store (a 503 when it cannot answer: sessions
    /// fail closed), then the request goes on as `process` would have let it.
    ///
    /// After a suspension for an unknown `kid`: waits for the key set fetch (bounded by its timeout),
    /// then checks the token once more against the keys it brought (and may go on to the liveness check).
    public func processAsync(_ request: inout HTTPRequest, context: RequestContext) async throws -> HTTPResponse? {
        if let fetch = context.storage[PendingKeySetFetch.self] {
            context.storage[PendingKeySetFetch.self] = nil
            await fetch.value
            let reading = cookieMode ? SessionCookies.read(request.headers, name: SessionCookies.access) : BearerCredentials.read(request.headers)
            guard case .token(let field, let range) = reading else { throw Self.authenticationRequired }
            let provider = policy.provider
            let now = context.loop.clock.source.wallClockNanoseconds() / 1_000_000_000
            let bytes = request.headers.withValueBytes(at: field) { Array($0[range]) }
            let token: JWTProvider.Authenticated
            do {
                token = try provider.authenticate(bytes, now: now, fetched: jwks?.verifier)
            } catch {
                if case .fail(let refusal) = deny(Self.invalidToken(code: error.code, error.description), code: error.code, context, headers: request.headers) { throw refusal }
                return nil
            }
            // The task runs on the request's loop, so this loop's cache is ours to touch.
            let shard = caches.value(on: context.loop) { AuthCaches.Shard(capacity: provider.cacheEntries) }
            let digest = request.headers.withValueBytes(at: field) { TokenDigest(of: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[range]))) }
            shard.cache.insert(digest, token, expiresAt: token.expiresAt, now: Double(now))
            switch authorize(token, field: field, range: range, &request, context) {
            case .fail(let refusal): throw refusal
            case .respond(let response): return response
            case .proceed: return nil
            case .suspend: break  // the session's liveness, below
            }
        }
        guard let sessions, let pending = context.storage[PendingSession.self] else { return nil }
        context.storage[PendingSession.self] = nil
        let live: Bool
        do { live = try await sessions.checkLiveness(of: pending.sessionID, context: context) } catch {
            var refusal = SessionService.storeUnavailable
            refusal.internalDetail = "isLive: \(error)"
            throw refusal
        }
        guard live else {
            if case .fail(let refusal) = deny(Self.sessionEnded, code: "session_ended", context, headers: request.headers) { throw refusal }
            return nil
        }
        admit(pending.token, bearer: pending.bearer, &request, context)
        return nil
    }

    /// The request as the next stage gets it: spoofable and credential fields removed, claim headers
    /// and (cookie mode) the gateway's bearer token added, the identity in the context.
    private func admit(_ token: JWTProvider.Authenticated, bearer: String?, _ request: inout HTTPRequest, _ context: RequestContext) {
        removeFields(&request.headers)
        if cookieMode {
            SessionCookies.strip(&request.headers)
            if let bearer { request.headers.add("Authorization", bearer) }
        }
        for (claim, header) in policy.claimsToHeaders {
            if let text = ClaimText.headerText(claim.value(in: token.identity.claims)) { request.headers.add(header, text) }
        }
        context.identity = token.identity
    }

    /// A token of a session that was revoked, logged out or replaced (refresh-token reuse).
    static let sessionEnded = invalidToken(code: "session_ended", "the session has ended")

    /// Removes the claim headers a client sent (it cannot speak for the token) and the token itself.
    private func removeFields(_ headers: inout HTTPHeaders) {
        headers.keepFieldsInPlace { !isRemoved($0, $1) }
    }

    @inline(__always) private func isRemoved(_ headers: HTTPHeaders, _ i: Int) -> Bool {
        let length = headers.nameLength(at: i)
        for name in removedNames where name.utf8.count == length && headers.nameEquals(at: i, name) { return true }
        return false
    }

    /// Logs and counts the refusal as a security event (never the token) and answers it. Refused tokens
    /// (not missing ones) feed the per-client burst detector.
    private func deny(_ error: HTTPError, code: String, _ context: RequestContext, headers: HTTPHeaders) -> StageDecision {
        let client = events.client(headers, context)
        if error.status == 403 {
            events.record(.forbidden, "authorization denied", context: context, client: client,
                          [.string("code", code), .string("provider", policy.provider.name), .string("principal", context.identity.principal)])
        } else {
            events.record(.unauthenticated, "authentication failed", context: context, client: client, invalidCredential: code != "token_missing",
                          [.string("code", code), .string("provider", policy.provider.name)])
        }
        return .fail(error)
    }

    // MARK: Challenges (RFC 6750 §3)

    /// No bearer token: a challenge without an error code (§3.1: the client may not know it needs one).
    static let authenticationRequired = HTTPError(status: 401, code: "authentication_required", detail: "a bearer token is required",
                                                  headers: HTTPHeaders([("WWW-Authenticate", "Bearer")]))

    static let insufficientScope = HTTPError(status: 403, code: "insufficient_scope", detail: "the token does not grant access to this resource",
                                             headers: HTTPHeaders([("WWW-Authenticate", #"Bearer error="insufficient_scope""#)]))

    static func invalidToken(code: String, _ description: String) -> HTTPError {
        HTTPError(status: 401, code: "invalid_token", detail: description,
                  headers: HTTPHeaders([("WWW-Authenticate", challenge("invalid_token", description))]), extensions: [("reason", code)])
    }

    /// Two Authorization fields or credentials that are not `Bearer <token>`: 401 like any unusable
    /// credentials, so a client simply authenticates again (RFC 6750 would allow 400 here).
    static func invalidRequest(_ description: String) -> HTTPError {
        HTTPError(status: 401, code: "invalid_request", detail: description,
                  headers: HTTPHeaders([("WWW-Authenticate", challenge("invalid_request", description))]))
    }

    /// `Bearer error="…", error_description="…"`; the description keeps only the characters RFC 6750
    /// §3 allows there (printable ASCII but `"` and `\`).
    static func challenge(_ error: String, _ description: String) -> String {
        let safe = String(String.UnicodeScalarView(description.unicodeScalars.filter { $0.value >= 0x20 && $0.value <= 0x7E && $0 != "\"" && $0 != "\\" }))
        return "Bearer error=\"\(error)\", error_description=\"\(safe)\""
    }

    // MARK: For tests and metrics

    public struct Statistics: Sendable, Equatable {
        public var verifications: UInt64
        public var hits: UInt64
        public var entries: Int
    }

    /// This stage's provider's cache counters on `loop`. Loop thread only.
    public func statistics(on loop: EventLoop) -> Statistics {
        guard let shard = caches.existingValue(on: loop) else { return Statistics(verifications: 0, hits: 0, entries: 0) }
        return Statistics(verifications: shard.verifications, hits: shard.hits, entries: shard.cache.count)
    }
}

/// The key set fetch a request suspended for (see `AuthStage.processAsync`).
enum PendingKeySetFetch: StageStorageKey {
    typealias Value = Task<Void, Never>
}
