/// The responder of one built-in session route. The JWK Set is answered on the loop; the others take a
/// task (the store, the throttle and the identity service are awaited), bounded by their own timeouts:
/// the identity call's `timeoutMs`, the store's (Redis) timeout. Store failures answer 503 (fail closed).
///
///     POST /auth/login     Origin (cookie) ─▶ JSON {username, password} ─▶ throttle ─▶ identity service
///                          ─▶ 401 invalid_credentials (failure counted) | session + tokens
///     POST /auth/refresh   CSRF (cookie) ─▶ refresh token ─▶ store.rotate ─▶ rotated: new tokens
///                          reused: family revoked, 401, security event | invalid: 401
///     POST /auth/logout    CSRF (cookie) ─▶ store.revoke(token) ─▶ 204, cookies cleared
///     GET  /auth/sessions          access token ─▶ the caller's sessions
///     DELETE /auth/sessions/{id}   access token (+ CSRF) ─▶ revoke one of the caller's, else 404
///     GET  /.well-known/jwks.json  the issuer's public keys
public struct SessionEndpoint: Responder {
    public enum Kind: Sendable { case login, refresh, logout, list, revoke, jwks }

    let kind: Kind
    let service: SessionService

    public init(_ kind: Kind, service: SessionService) {
        self.kind = kind
        self.service = service
    }

    public func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
        if kind == .jwks {
            // HEAD: the server sends the head of this response without its body.
            return completion(HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "application/jwk-set+json"),
                                                                             ("Cache-Control", "public, max-age=300")]),
                                           body: service.issuer.jwksDocument), nil)
        }
        let kind = self.kind, service = self.service
        nonisolated(unsafe) let context = context
        context.runTask(completion: completion) {
            var response: HTTPResponse
            do {
                switch kind {
                case .login: response = try await service.login(request, context)
                case .refresh: response = try await service.refresh(request, context)
                case .logout: response = try await service.logout(request, context)
                case .list: response = try await service.list(request, context)
                case .revoke: response = try await service.revoke(request, context)
                case .jwks: preconditionFailure("answered on the loop")
                }
            } catch var refusal as HTTPError {
                // Refusals too: a 401 that clears the cookies or a 429 is about one user's session.
                refusal.extraHeaders.set("Cache-Control", "no-store")
                throw refusal
            }
            // Token responses must not be stored by any cache (RFC 6749 §5.1); none of these should be.
            response.headers.set("Cache-Control", "no-store")
            return response
        }
    }
}

extension SessionService {
    // MARK: Problems (stable codes)

    static let invalidCredentials = HTTPError(status: 401, code: "invalid_credentials", detail: "the user name or password is wrong")
    static let storeUnavailable = HTTPError(status: 503, code: "session_store_unavailable", detail: "sessions are unavailable; try again later")
    static let identityUnavailable = HTTPError(status: 503, code: "identity_unavailable", detail: "credentials cannot be checked now; try again later")
    /// Bounds of an identity service's answer: its size, and the roles a session carries into every
    /// access token (64 names, 2 KiB in all, so a token stays far below `maxTokenBytes` and a cookie's 4 KiB).
    static let maximumIdentityAnswerBytes = 65_536
    static let maximumRoles = 64
    static let maximumRoleBytes = 2048

    static let identityInvalid = HTTPError(status: 502, code: "identity_invalid_response", detail: "the identity service gave an answer the gateway does not understand")
    static let sessionNotFound = HTTPError(status: 404, code: "session_not_found", detail: "you have no session with this id")

    static func tooManyAttempts(retryAfter: Int64) -> HTTPError {
        HTTPError(status: 429, code: "too_many_attempts", detail: "too many failed logins; try again later",
                  headers: HTTPHeaders([("Retry-After", String(max(1, retryAfter)))]))
    }

    static func badRequest(_ detail: String) -> HTTPError { HTTPError(status: 400, code: "invalid_request", detail: detail) }

    /// 401 for a refresh token that does not (or no longer) open a session. In cookie mode the browser's
    /// cookies are cleared with it, so the page stops retrying and shows the login.
    func invalidRefresh() -> HTTPError {
        var headers = HTTPHeaders()
        if isCookieMode { for cookie in SessionCookies.cleared { headers.add("Set-Cookie", cookie) } }
        return HTTPError(status: 401, code: "invalid_refresh_token", detail: "the refresh token is not valid; log in again", headers: headers)
    }

    /// Runs a store or throttle call; its failure is a 503 (sessions fail closed) and a log line.
    func guarded<T>(_ operation: String, _ context: RequestContext, _ body: () async throws(SessionStoreError) -> T) async throws(HTTPError) -> T {
        do { return try await body() } catch {
            var refusal = Self.storeUnavailable
            refusal.internalDetail = "\(operation): \(error)"
            throw refusal
        }
    }

    // MARK: Request parts

    /// The body as a JSON object, when the request says it is JSON (a cross-site form cannot say so
    /// without a CORS preflight, which is one more reason a page elsewhere cannot log someone in).
    func jsonObject(_ request: HTTPRequest) throws(HTTPError) -> JSONObject {
        let type = request.headers["content-type"] ?? ""
        let media = type.split(separator: ";", maxSplits: 1).first.map { $0.trimmingHTTPWhitespace() } ?? ""
        guard media.asciiCaseInsensitiveEquals("application/json") else {
            throw HTTPError(status: 415, code: "unsupported_media_type", detail: "send the body as application/json")
        }
        guard let value = try? JSONParser.parse(request.body, maxDepth: 4, duplicateKeys: .reject), let object = value.objectValue else {
            throw Self.badRequest("the body is not a JSON object")
        }
        return object
    }

    /// A string member: present, a string, 1…`limit` bytes.
    func member(_ object: JSONObject, _ name: String, limit: Int) throws(HTTPError) -> String {
        guard let text = object[name]?.stringValue, !text.isEmpty, text.utf8.count <= limit else {
            throw Self.badRequest("\(name) must be a non-empty string of at most \(limit) bytes")
        }
        return text
    }

    /// The CSRF rule for state-changing session requests in cookie mode (a refusal is a security event).
    func requireCSRF(_ request: HTTPRequest, _ context: RequestContext) throws(HTTPError) {
        if let refusal = csrfRefusal(request, context) { throw refusal }
    }

    /// The refusal of a request that breaks the CSRF rule (recorded as a security event), nil when it
    /// passes or in bearer mode. The built-in endpoints and the auth stage both ask here.
    func csrfRefusal(_ request: HTTPRequest, _ context: RequestContext) -> HTTPError? {
        guard isCookieMode, let refusal = SessionCookies.checkCSRF(request.headers, allowed: configuration.allowedOrigins) else { return nil }
        events.record(.csrfRefused, "state-changing request refused", level: .notice, context: context, client: events.client(request.headers, context),
                      [.string("code", refusal.code)])
        return refusal
    }

    /// The caller of `GET/DELETE /auth/sessions`: a valid access token of this issuer (cookie or bearer,
    /// per mode) whose session is still live.
    func caller(_ request: HTTPRequest, _ context: RequestContext) async throws(HTTPError) -> (subject: String, sessionID: String) {
        let reading = isCookieMode ? SessionCookies.read(request.headers, name: SessionCookies.access) : BearerCredentials.read(request.headers)
        guard case .token(let field, let range) = reading else {
            throw reading == .missing || reading == .otherScheme ? AuthStage.authenticationRequired : AuthStage.invalidRequest("the credentials are not usable")
        }
        let bytes = request.headers.withValueBytes(at: field) { Array($0[range]) }
        let token: JWTProvider.Authenticated
        do { token = try issuer.provider.authenticate(bytes, now: now(context)) } catch {
            throw AuthStage.invalidToken(code: error.code, error.description)
        }
        guard let subject = token.identity.principal, let sid = token.identity.claims["sid"]?.stringValue else {
            throw AuthStage.invalidToken(code: "claim_missing", "the token names no session")
        }
        let live = try await guarded("isLive", context) { () async throws(SessionStoreError) -> Bool in
            try await configuration.store.isLive(sessionID: sid, now: now(context))
        }
        guard live else { throw AuthStage.invalidToken(code: "session_ended", "the session has ended") }
        return (subject, sid)
    }

    // MARK: Tokens out

    /// The answer to a login or a refresh: cookies (cookie mode) or the token response (bearer mode).
    func tokens(for record: SessionRecord, refreshToken: String, now: Int64, csrf: String?) throws -> HTTPResponse {
        let access = try issuer.issue(subject: record.subject, roles: record.roles, sessionID: record.id, now: now)
        let remaining = record.expiresAt - now
        var body = JSONObject()
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("Pragma", "no-cache")])
        switch configuration.mode {
        case .cookie:
            headers.add("Set-Cookie", SessionCookies.setCookie(SessionCookies.access, access.token, maxAge: issuer.timeToLive))
            headers.add("Set-Cookie", SessionCookies.setCookie(SessionCookies.refresh, refreshToken, maxAge: remaining))
            if let csrf { headers.add("Set-Cookie", SessionCookies.setCookie(SessionCookies.csrf, csrf, maxAge: remaining, httpOnly: false)) }
            body["sub"] = .string(record.subject)
            body["roles"] = .array(record.roles.map { .string($0) })
            body["session_id"] = .string(record.id)
            body["expires_in"] = .number(JSONNumber(Int(issuer.timeToLive)))
            if let csrf { body["csrf_token"] = .string(csrf) }
        case .bearer:
            body["access_token"] = .string(access.token)
            body["refresh_token"] = .string(refreshToken)
            body["token_type"] = .string("Bearer")
            body["expires_in"] = .number(JSONNumber(Int(issuer.timeToLive)))
            body["refresh_expires_in"] = .number(JSONNumber(Int(remaining)))
            body["session_id"] = .string(record.id)
        }
        return HTTPResponse(status: 200, headers: headers, body: JSONSerializer.serialize(.object(body)))
    }

    // MARK: Endpoints

    func login(_ request: HTTPRequest, _ context: RequestContext) async throws -> HTTPResponse {
        if isCookieMode, let refusal = SessionCookies.checkOrigin(request.headers, allowed: configuration.allowedOrigins) {
            events.record(.csrfRefused, "login from a foreign origin refused", level: .notice, context: context, client: events.client(request.headers, context), [.string("code", refusal.code)])
            throw refusal
        }
        let object = try jsonObject(request)
        let username = try member(object, "username", limit: 256)
        let password = try member(object, "password", limit: 1024)
        if username.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { throw Self.badRequest("username must not contain control characters") }
        // One account however its name is cased, spelled in full width or padded with spaces: an attacker
        // gets no fresh count from `Alice`, `ＡＬＩＣＥ` or ` alice` after `alice`.
        let account = LoginThrottleKey.normalizedAccount(username)
        // The lockout's per-address count is the real client's (behind a trusted proxy, not the proxy's).
        let client = events.client(request.headers, context)
        // Counted per address, an IPv6 client per /64 (one subscriber's block).
        let clientKey = ForwardingPolicy.clientKey(client)
        let now = now(context)
        let throttle = configuration.throttle
        // Checked and counted in one step (counted as a failure until the answer says otherwise), so
        // parallel guesses cannot all pass the check before the first failure is recorded.
        let attempt = try await guarded("throttle", context) { () async throws(SessionStoreError) -> LoginAttempt in
            try await throttle.beginAttempt(account: account, client: clientKey, now: now)
        }
        let lock: Int64?
        switch attempt {
        case .allowed(let started): lock = started
        case .refused(let wait):
            events.record(.loginThrottled, "login refused during a lockout", level: .notice, context: context, client: client,
                          [SecurityEvents.account(account), .int("retry_after", Int(wait))])
            throw Self.tooManyAttempts(retryAfter: wait)
        }

        let credentials: (String, [String])?
        do {
            credentials = try await checkCredentials(username: username, password: password, context)
        } catch is CancellationError {
            throw CancellationError()  // the client went away: the attempt stays counted
        } catch {
            // The identity service failed, not the user: the attempt is taken back (an outage locks nobody out).
            _ = try? await throttle.refundAttempt(account: account, client: clientKey, now: now, succeeded: false)
            throw error
        }
        guard let (subject, roles) = credentials else {
            events.record(.loginFailed, "login failed", level: .notice, context: context, client: client, [SecurityEvents.account(account)])
            if let lock {
                events.record(.lockout, "logins locked out after repeated failures", level: .warning, context: context, client: client,
                                   [SecurityEvents.account(account), .int("lock_seconds", Int(lock))])
            }
            throw Self.invalidCredentials
        }
        try await guarded("throttle", context) { () async throws(SessionStoreError) in
            try await throttle.refundAttempt(account: account, client: clientKey, now: now, succeeded: true)
        }

        let (refreshToken, hash) = try RefreshTokenHash.generate()
        let userAgent = request.headers["user-agent"].map { String(decoding: $0.utf8.prefix(200), as: UTF8.self) } ?? ""
        let record = SessionRecord(id: try SessionRecord.generateID(), subject: subject, roles: roles,
                                   client: isCookieMode ? "web" : "mobile", userAgent: userAgent,
                                   createdAt: now, lastRefreshedAt: now, expiresAt: now + configuration.sessionLifetimeSeconds)
        let store = configuration.store
        try await guarded("create", context) { () async throws(SessionStoreError) in try await store.create(record, token: hash, now: now) }
        events.record(.login, "session opened", level: .info, context: context, client: client, [.string("session", record.id), .string("subject", subject)])
        return try tokens(for: record, refreshToken: refreshToken, now: now,
                          csrf: isCookieMode ? Base64URL.encode(try SecureRandom.bytes(32)) : nil)
    }

    /// Asks the identity service: the subject and roles for good credentials, nil for a 401. Anything
    /// else is never a login: 503 when it cannot be reached in time, 502 for any other answer.
    func checkCredentials(username: String, password: String, _ context: RequestContext) async throws -> (String, [String])? {
        let body = JSONSerializer.serialize(.object(JSONObject([("username", .string(username)), ("password", .string(password))])))
        let call = UpstreamRequest(method: "POST", target: configuration.identityPath,
                                   headers: HTTPHeaders([("Content-Type", "application/json"), ("Accept", "application/json"),
                                                         ("X-Request-Id", context.requestID)]), body: body)
        let response: HTTPResponse
        do {
            response = try await identity.execute(call, on: context.loop, timeout: configuration.identityTimeout).response
        } catch {
            if error.kind == .cancelled { throw CancellationError() }
            var refusal = Self.identityUnavailable
            refusal.internalDetail = "identity service: \(error)"
            throw refusal
        }
        switch response.status {
        case 200:
            // Duplicate members refused: which `sub` or `roles` counts would be a guess (and a parser
            // differential with the identity service's own JSON writer).
            guard response.body.count <= Self.maximumIdentityAnswerBytes,
                  let object = (try? JSONParser.parse(response.body, maxDepth: 4, duplicateKeys: .reject))?.objectValue,
                  let subject = object["sub"]?.stringValue, !subject.isEmpty, subject.utf8.count <= 256,
                  !subject.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                var refusal = Self.identityInvalid
                refusal.internalDetail = "identity service: 200 without a usable sub"
                throw refusal
            }
            var roles: [String] = []
            switch object["roles"] {
            case nil, .null?: break
            case .array(let items)?:
                // Bounded: every role goes into each access token (and the session record), which must
                // stay well under the verifier's token size limit and a cookie's 4 KiB.
                var seen = Set<String>(), bytes = 0
                for item in items {
                    guard let role = item.stringValue, !role.isEmpty, role.utf8.count <= 128, !role.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                        var refusal = Self.identityInvalid
                        refusal.internalDetail = "identity service: roles must be an array of names"
                        throw refusal
                    }
                    guard seen.insert(role).inserted else { continue }
                    bytes += role.utf8.count
                    guard roles.count < Self.maximumRoles, bytes <= Self.maximumRoleBytes else {
                        var refusal = Self.identityInvalid
                        refusal.internalDetail = "identity service: more than \(Self.maximumRoles) roles or \(Self.maximumRoleBytes) bytes of them"
                        throw refusal
                    }
                    roles.append(role)
                }
            default:
                var refusal = Self.identityInvalid
                refusal.internalDetail = "identity service: roles must be an array of names"
                throw refusal
            }
            return (subject, roles)
        case 401:
            return nil
        default:
            var refusal = Self.identityInvalid
            refusal.internalDetail = "identity service answered \(response.status)"
            throw refusal
        }
    }

    func refresh(_ request: HTTPRequest, _ context: RequestContext) async throws -> HTTPResponse {
        let presented: String
        if isCookieMode {
            try requireCSRF(request, context)
            guard let token = SessionCookies.value(request.headers, name: SessionCookies.refresh) else { throw invalidRefresh() }
            presented = token
        } else {
            presented = try member(try jsonObject(request), "refresh_token", limit: 512)
        }
        let now = now(context)
        let (next, nextHash) = try RefreshTokenHash.generate()
        let store = configuration.store, idle = configuration.refreshIdleSeconds
        let result = try await guarded("rotate", context) { () async throws(SessionStoreError) -> RotationResult in
            try await store.rotate(RefreshTokenHash(token: presented), to: nextHash, now: now, idleSeconds: idle)
        }
        switch result {
        case .rotated(let record):
            return try tokens(for: record, refreshToken: next, now: now, csrf: nil)
        case .reused(let record):
            ended(record.id, on: context.loop)
            events.record(.refreshReuse, "a spent refresh token was presented again: the session is revoked", level: .warning, context: context, client: events.client(request.headers, context),
                               [.string("session", record.id), .string("subject", record.subject)])
            throw invalidRefresh()
        case .invalid:
            events.record(.refreshInvalid, "refresh with an unknown or expired token", level: .info, context: context, client: events.client(request.headers, context), invalidCredential: true)
            throw invalidRefresh()
        }
    }

    func logout(_ request: HTTPRequest, _ context: RequestContext) async throws -> HTTPResponse {
        let presented: String?
        if isCookieMode {
            try requireCSRF(request, context)
            presented = SessionCookies.value(request.headers, name: SessionCookies.refresh)
        } else {
            presented = try member(try jsonObject(request), "refresh_token", limit: 512)
        }
        if let presented {
            let now = now(context), store = configuration.store
            let revoked = try await guarded("revoke", context) { () async throws(SessionStoreError) -> SessionRecord? in
                try await store.revoke(token: RefreshTokenHash(token: presented), now: now)
            }
            if let revoked {
                ended(revoked.id, on: context.loop)
                events.record(.logout, "session closed", level: .info, context: context, [.string("session", revoked.id), .string("subject", revoked.subject)])
            }
        }
        // Idempotent: an unknown token is already logged out.
        var response = HTTPResponse(status: 204)
        if isCookieMode { for cookie in SessionCookies.cleared { response.headers.add("Set-Cookie", cookie) } }
        return response
    }

    func list(_ request: HTTPRequest, _ context: RequestContext) async throws -> HTTPResponse {
        let (subject, current) = try await caller(request, context)
        let now = now(context), store = configuration.store
        let sessions = try await guarded("sessions", context) { () async throws(SessionStoreError) -> [SessionRecord] in
            try await store.sessions(subject: subject, now: now)
        }
        let items: [JSONValue] = sessions.map { record in
            .object(JSONObject([
                ("id", .string(record.id)), ("client", .string(record.client)), ("userAgent", .string(record.userAgent)),
                ("createdAt", .number(JSONNumber(Int(record.createdAt)))), ("lastRefreshedAt", .number(JSONNumber(Int(record.lastRefreshedAt)))),
                ("expiresAt", .number(JSONNumber(Int(record.expiresAt)))), ("current", .bool(record.id == current)),
            ]))
        }
        return HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "application/json")]),
                            body: JSONSerializer.serialize(.object(JSONObject([("sessions", .array(items))]))))
    }

    func revoke(_ request: HTTPRequest, _ context: RequestContext) async throws -> HTTPResponse {
        try requireCSRF(request, context)
        let (subject, current) = try await caller(request, context)
        let id = context.pathParameter("id") ?? ""
        let now = now(context), store = configuration.store
        let revoked = try await guarded("revoke", context) { () async throws(SessionStoreError) -> Bool in
            try await store.revoke(sessionID: id, subject: subject, now: now)
        }
        guard revoked else { throw Self.sessionNotFound }
        ended(id, on: context.loop)
        events.record(.sessionRevoked, "session revoked by its user", level: .info, context: context,
                           [.string("session", id), .string("subject", subject)])
        var response = HTTPResponse(status: 204)
        if id == current && isCookieMode { for cookie in SessionCookies.cleared { response.headers.add("Set-Cookie", cookie) } }
        return response
    }
}
