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
/// makes the stage suspend (the only path that takes a task) when a refresh is allowed
/// (`JWKSRefreshSchedule`: at most one fetch per `minimumInterval`), wait for the fetch and retry once;
/// when it is not allowed the token is refused at once (`kid_unknown`).
///
/// Refusals carry RFC 6750 `WWW-Authenticate` challenges and a problem document; the description is
/// the verifier's or validator's fixed sentence, never token content. Each refusal is logged as a
/// security event (code, route, client, request id; never the token).
public struct AuthStage: RequestStage {
    public var name: String { "auth" }

    let policy: AuthPolicy
    let caches: LoopSlots<AuthCaches.Shard>
    /// The provider's JWK Set client in this gateway (nil: static keys only).
    let jwks: JWKSClient?
    /// Lower-cased names removed from the request: the claim headers, and `authorization` unless the
    /// token is forwarded.
    let removedNames: [String]

    public init(policy: AuthPolicy, caches: AuthCaches = AuthCaches()) {
        self.policy = policy
        self.caches = caches.slots(for: policy.provider)
        jwks = caches.jwksClient(for: policy.provider)
        var removed = policy.claimsToHeaders.map { $0.header.lowercased() }
        if !policy.forwardToken { removed.append("authorization") }
        removedNames = removed
    }

    public func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        let provider = policy.provider
        let shard = caches.value(on: context.loop) { AuthCaches.Shard(capacity: provider.cacheEntries) }
        let reading = BearerCredentials.read(request.headers)
        let field: Int, range: Range<Int>
        switch reading {
        case .missing, .otherScheme:
            return deny(Self.authenticationRequired, code: "token_missing", context)
        case .duplicate:
            return deny(Self.invalidRequest("more than one Authorization field"), code: "authorization_duplicate", context)
        case .malformed:
            return deny(Self.invalidRequest("the Authorization field is not Bearer credentials"), code: "authorization_malformed", context)
        case .token(let f, let r):
            field = f
            range = r
        }
        guard range.count <= provider.verifier.maximumTokenBytes else {
            return deny(Self.invalidToken(code: JWSError.tokenTooLarge.code, JWSError.tokenTooLarge.description), code: JWSError.tokenTooLarge.code, context)
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
                return deny(Self.invalidToken(code: error.code, error.description), code: error.code, context)
            }
            shard.cache.insert(digest, token, expiresAt: token.expiresAt, now: Double(now))
        }
        return admit(token, &request, context)
    }

    /// After a suspension for an unknown `kid`: waits for the key set fetch (bounded by its timeout),
    /// then checks the token once more against the keys it brought.
    public func processAsync(_ request: inout HTTPRequest, context: RequestContext) async throws -> HTTPResponse? {
        if let fetch = context.storage[PendingKeySetFetch.self] {
            context.storage[PendingKeySetFetch.self] = nil
            await fetch.value
        }
        guard case .token(let field, let range) = BearerCredentials.read(request.headers) else {
            throw Self.authenticationRequired
        }
        let provider = policy.provider
        let now = context.loop.clock.source.wallClockNanoseconds() / 1_000_000_000
        let bytes = request.headers.withValueBytes(at: field) { Array($0[range]) }
        let token: JWTProvider.Authenticated
        do {
            token = try provider.authenticate(bytes, now: now, fetched: jwks?.verifier)
        } catch {
            if case .fail(let refusal) = deny(Self.invalidToken(code: error.code, error.description), code: error.code, context) { throw refusal }
            return nil
        }
        // The task runs on the request's loop, so this loop's cache is ours to touch.
        let shard = caches.value(on: context.loop) { AuthCaches.Shard(capacity: provider.cacheEntries) }
        let digest = request.headers.withValueBytes(at: field) { TokenDigest(of: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[range]))) }
        shard.cache.insert(digest, token, expiresAt: token.expiresAt, now: Double(now))
        switch admit(token, &request, context) {
        case .fail(let refusal): throw refusal
        case .respond(let response): return response
        case .proceed, .suspend: return nil
        }
    }

    /// A verified token: authorization, the claim headers, the identity.
    private func admit(_ token: JWTProvider.Authenticated, _ request: inout HTTPRequest, _ context: RequestContext) -> StageDecision {
        if !policy.require.isEmpty, !policy.require.contains(where: { $0.isSatisfied(by: token, pathParameters: context.pathParameters) }) {
            return deny(Self.insufficientScope, code: "access_denied", context)
        }

        // Checked before anything is edited, so a refused request is left as it came.
        for (claim, _) in policy.claimsToHeaders {
            if let text = ClaimText.headerText(claim.value(in: token.identity.claims)), text.utf8.contains(where: HeaderTemplate.isControl) {
                return .fail(HTTPError(status: 400, code: "invalid_header_value",
                                       detail: "the token's \(claim) claim contains a control character, which cannot go into a header"))
            }
        }
        removeFields(&request.headers)
        for (claim, header) in policy.claimsToHeaders {
            if let text = ClaimText.headerText(claim.value(in: token.identity.claims)) { request.headers.add(header, text) }
        }
        context.identity = token.identity
        return .proceed
    }

    /// Removes the claim headers a client sent (it cannot speak for the token) and the token itself.
    private func removeFields(_ headers: inout HTTPHeaders) {
        var found = false
        for i in 0..<headers.count where isRemoved(headers, i) { found = true; break }
        guard found else { return }
        let snapshot = headers
        headers.keepFields { !isRemoved(snapshot, $0) }
    }

    @inline(__always) private func isRemoved(_ headers: HTTPHeaders, _ i: Int) -> Bool {
        let length = headers.nameLength(at: i)
        for name in removedNames where name.utf8.count == length && headers.nameEquals(at: i, name) { return true }
        return false
    }

    /// Logs the refusal as a security event and answers it.
    private func deny(_ error: HTTPError, code: String, _ context: RequestContext) -> StageDecision {
        let logger = context.loop.logger
        if logger.isEnabled(.notice) {
            logger.with(requestID: context.requestID).notice(error.status == 403 ? "authorization denied" : "authentication failed", [
                .string("event", error.status == 403 ? "auth.forbidden" : "auth.unauthenticated"), .string("code", code),
                .string("provider", policy.provider.name), .string("route", context.route), .string("client", context.clientAddress),
            ])
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
