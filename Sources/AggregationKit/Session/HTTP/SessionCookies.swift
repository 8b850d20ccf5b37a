/// The gateway's session cookies (cookie mode, BFFWeb), pure: names, `Set-Cookie` values, reading one
/// from `Cookie` without making Strings, removing them before a request is forwarded, and the CSRF rule.
///
///     __Host-bff-access   the access token (JWT)      HttpOnly  Max-Age = access TTL
///     __Host-bff-refresh  the refresh token (opaque)  HttpOnly  Max-Age = what is left of the session
///     __Host-bff-csrf     the CSRF token (random)     readable by the page's script (double submit)
///
/// All three are `__Host-`: `Secure`, `Path=/`, no `Domain`, so a sibling subdomain cannot set or
/// overwrite them (cookie tossing), and `SameSite=Strict`: a cross-site request carries none of them.
public enum SessionCookies {
    public static let access = "__Host-bff-access"
    public static let refresh = "__Host-bff-refresh"
    public static let csrf = "__Host-bff-csrf"
    public static let all = [access, refresh, csrf]
    /// The request field a page copies the CSRF cookie into on every state-changing request.
    public static let csrfHeader = "x-csrf-token"

    /// A `Set-Cookie` value. `httpOnly` false only for the CSRF cookie.
    public static func setCookie(_ name: String, _ value: String, maxAge: Int64, httpOnly: Bool = true) -> String {
        "\(name)=\(value); Path=/; Max-Age=\(max(0, maxAge)); Secure;\(httpOnly ? " HttpOnly;" : "") SameSite=Strict"
    }

    /// The three `Set-Cookie` values that end a browser session (Max-Age=0).
    public static var cleared: [String] {
        [setCookie(access, "", maxAge: 0), setCookie(refresh, "", maxAge: 0), setCookie(csrf, "", maxAge: 0, httpOnly: false)]
    }

    /// Finds cookie `name` in the request's `Cookie` fields: missing, more than once (which one is the
    /// real one would be a guess: refused), empty or not a cookie-octet string (malformed), or where its value is.
    static func read(_ headers: HTTPHeaders, name: String) -> BearerCredentials.Reading {
        var found: BearerCredentials.Reading = .missing
        for i in 0..<headers.count where headers.nameLength(at: i) == 6 && headers.nameEquals(at: i, "cookie") {
            let reading = headers.withValueBytes(at: i) { value -> BearerCredentials.Reading in
                var result = BearerCredentials.Reading.missing
                forEachPair(value) { nameRange, valueRange in
                    guard nameRange.count == name.utf8.count, name.utf8.elementsEqual(value[nameRange]) else { return }
                    if result != .missing { result = .duplicate; return }
                    var start = valueRange.lowerBound, end = valueRange.upperBound
                    // RFC 6265 §4.1.1 allows the value in double quotes.
                    if end - start >= 2, value[start] == 0x22, value[end - 1] == 0x22 { start += 1; end -= 1 }
                    if start == end || !value[start..<end].allSatisfy(isCookieOctet) { result = .malformed; return }
                    result = .token(field: i, range: start..<end)
                }
                return result
            }
            switch (found, reading) {
            case (_, .missing): continue
            case (.missing, _): found = reading
            default: return .duplicate
            }
            if found == .duplicate { return .duplicate }
        }
        return found
    }

    /// The value of cookie `name` as a String, when it is there exactly once and well-formed.
    static func value(_ headers: HTTPHeaders, name: String) -> String? {
        guard case .token(let field, let range) = read(headers, name: name) else { return nil }
        return headers.withValueBytes(at: field) { String(decoding: $0[range], as: UTF8.self) }
    }

    /// Removes the gateway's cookies from the `Cookie` fields (a field left empty goes away): services
    /// behind the gateway never see the browser's tokens. Does nothing (no allocation) when none is there.
    static func strip(_ headers: inout HTTPHeaders) {
        var hasOurs = false
        for i in 0..<headers.count where headers.nameLength(at: i) == 6 && headers.nameEquals(at: i, "cookie") {
            if headers.withValueBytes(at: i, { containsGatewayCookie($0) }) { hasOurs = true; break }
        }
        guard hasOurs else { return }
        var rewritten: [String] = []
        var other = HTTPHeaders()
        for i in 0..<headers.count {
            guard headers.nameLength(at: i) == 6 && headers.nameEquals(at: i, "cookie") else { other.append(fieldAt: i, of: headers); continue }
            let kept: String = headers.withValueBytes(at: i) { value in
                var parts: [String] = []
                forEachPair(value) { nameRange, valueRange in
                    if isGatewayCookie(value[nameRange]) { return }
                    parts.append(String(decoding: value[nameRange.lowerBound..<valueRange.upperBound], as: UTF8.self))
                }
                return parts.joined(separator: "; ")
            }
            if !kept.isEmpty { rewritten.append(kept) }
        }
        for value in rewritten { other.add("Cookie", value) }
        headers = other
    }

    private static func containsGatewayCookie(_ value: UnsafeBufferPointer<UInt8>) -> Bool {
        var found = false
        forEachPair(value) { nameRange, _ in if !found, isGatewayCookie(value[nameRange]) { found = true } }
        return found
    }

    private static func isGatewayCookie(_ name: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        all.contains { $0.utf8.count == name.count && $0.utf8.elementsEqual(name) }
    }

    /// Calls `body` with the name and value ranges of each `name=value` pair of a `Cookie` value
    /// (pairs split at `;`, surrounding spaces trimmed; a pair without `=` is skipped).
    private static func forEachPair(_ value: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>, Range<Int>) -> Void) {
        var i = 0
        let n = value.count
        while i < n {
            var end = i
            while end < n, value[end] != UInt8(ascii: ";") { end += 1 }
            var start = i
            while start < end, value[start] == 0x20 || value[start] == 0x09 { start += 1 }
            var stop = end
            while stop > start, value[stop - 1] == 0x20 || value[stop - 1] == 0x09 { stop -= 1 }
            if let equals = value[start..<stop].firstIndex(of: UInt8(ascii: "=")) {
                body(start..<equals, (equals + 1)..<stop)
            }
            i = end + 1
        }
    }

    /// cookie-octet (RFC 6265 §4.1.1): printable ASCII but space, `"`, `,`, `;` and `\`.
    @inline(__always) static func isCookieOctet(_ b: UInt8) -> Bool {
        b == 0x21 || (b >= 0x23 && b <= 0x2B) || (b >= 0x2D && b <= 0x3A) || (b >= 0x3C && b <= 0x5B) || (b >= 0x5D && b <= 0x7E)
    }

    // MARK: CSRF

    /// Methods that change nothing (RFC 9110 §9.2.1): no CSRF token needed.
    static func isSafe(_ method: String) -> Bool { method == "GET" || method == "HEAD" || method == "OPTIONS" }

    /// The Origin rule: a request that names its origin must name an allowed one (a request without
    /// `Origin` is not from a modern browser's cross-site script, and still needs the CSRF token).
    static func checkOrigin(_ headers: HTTPHeaders, allowed: [String]) -> HTTPError? {
        let origins = headers.values("origin")
        if origins.isEmpty { return nil }
        guard origins.count == 1, let origin = SessionConfigurationReader.normalizedOrigin(origins[0]), allowed.contains(origin) else {
            return HTTPError(status: 403, code: "origin_not_allowed", detail: "requests from this origin are not accepted")
        }
        return nil
    }

    /// Double submit: the `X-CSRF-Token` field must equal the CSRF cookie (constant time), and the Origin
    /// rule must hold. A cross-site page can make the browser send the cookie, but cannot read it to
    /// copy it into the field.
    static func checkCSRF(_ headers: HTTPHeaders, allowed: [String]) -> HTTPError? {
        if let refusal = checkOrigin(headers, allowed: allowed) { return refusal }
        let sent = headers.values(csrfHeader)
        guard sent.count == 1, let cookie = value(headers, name: csrf) else {
            return HTTPError(status: 403, code: "csrf_token_missing", detail: "a state-changing request needs the X-CSRF-Token field (the value of the \(csrf) cookie)")
        }
        guard ConstantTime.equals(Array(sent[0].utf8), Array(cookie.utf8)) else {
            return HTTPError(status: 403, code: "csrf_token_mismatch", detail: "the X-CSRF-Token field does not match the \(csrf) cookie")
        }
        return nil
    }
}
