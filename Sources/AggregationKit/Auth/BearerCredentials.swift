/// Reads RFC 6750 §2.1 credentials, `Authorization: Bearer <b64token>`, from a request's fields,
/// without making Strings.
enum BearerCredentials {
    enum Reading: Equatable {
        /// No `Authorization` field.
        case missing
        /// Credentials of another scheme (`Basic`, `ApiKey`): no bearer token was offered.
        case otherScheme
        /// More than one `Authorization` field: which one counts would be a guess (and a proxy in front
        /// may have picked the other), so neither does.
        case duplicate
        /// `Bearer` without a token, or a token with characters b64token does not allow.
        case malformed
        /// The token is at `range` of the field's value (field `field`).
        case token(field: Int, range: Range<Int>)
    }

    static func read(_ headers: HTTPHeaders) -> Reading {
        var field = -1
        for i in 0..<headers.count where headers.nameLength(at: i) == 13 && headers.nameEquals(at: i, "authorization") {
            if field >= 0 { return .duplicate }
            field = i
        }
        guard field >= 0 else { return .missing }
        return headers.withValueBytes(at: field) { parse($0, field: field) }
    }

    /// `credentials = auth-scheme 1*SP token68` (RFC 9110 §11.4); the scheme is case-insensitive.
    static func parse(_ value: UnsafeBufferPointer<UInt8>, field: Int) -> Reading {
        var start = 0, end = value.count
        while start < end, value[start] == 0x20 || value[start] == 0x09 { start += 1 }
        while end > start, value[end - 1] == 0x20 || value[end - 1] == 0x09 { end -= 1 }
        var schemeEnd = start
        while schemeEnd < end, value[schemeEnd] != 0x20 { schemeEnd += 1 }
        let scheme = "bearer".utf8
        let isBearer = schemeEnd - start == 6 && zip(value[start..<schemeEnd], scheme).allSatisfy { ($0 | 0x20) == $1 }
        guard isBearer else { return start == end ? .malformed : .otherScheme }
        var tokenStart = schemeEnd
        while tokenStart < end, value[tokenStart] == 0x20 { tokenStart += 1 }
        guard tokenStart < end else { return .malformed }
        var i = tokenStart
        while i < end, isToken68(value[i]) { i += 1 }
        while i < end, value[i] == UInt8(ascii: "=") { i += 1 }
        guard i == end else { return .malformed }
        return .token(field: field, range: tokenStart..<end)
    }

    /// ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"
    @inline(__always) static func isToken68(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
            || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E || b == 0x2B || b == 0x2F
    }
}
