// The HTTP/1.1 request and response parsers as they were before session 6's single-pass line scanning
// (HTTPRequestParser.swift, HTTPResponseParser.swift, HTTPWire.swift and ByteClasses.swift at e8659db),
// kept verbatim but renamed, as the reference `ParserDifferentialTests` compares the parsers against.
// Not to be edited: its value is that it is the old code.
#if canImport(Glibc)
import Glibc
#endif
@testable import AggregationKit

/// An incremental, strict HTTP/1.1 request parser (RFC 9112). Pure: bytes in, requests or an error out.
///
/// The caller keeps the unconsumed bytes in one buffer and passes all of them on every call; the parser
/// remembers how far it has looked, so each byte is examined once. When a request is complete the result
/// says how many bytes it used; the caller drops them and calls again for a pipelined request.
///
///     leading CRLFs ─▶ request line ─▶ header lines ─▶ CRLF ─▶ body (Content-Length | chunked + trailers)
///
/// Anything ambiguous is an error (400, or the status named in `HTTPParseError`), after which the
/// connection must be closed: the parser does not resynchronise.
struct ReferenceHTTPRequestParser: Sendable {
    enum Result: Sendable {
        case needMore
        case request(HTTPRequest, consumed: Int)
        case error(HTTPParseError)
    }

    private enum Framing: Sendable { case none, length(Int), chunked }
    private enum Phase: Sendable {
        case head
        case lengthBody(Int)
        case chunked
        case closed
        case upgraded
        case failed(HTTPParseError)
    }

    let limits: HTTPParserLimits
    private var phase: Phase = .head
    // Head scanning state (offsets into the caller's buffer).
    private var scanned = 0
    private var headStart = 0
    private var lineStart = 0
    // Body state.
    private var position = 0
    private var pending: HTTPRequest?
    private var chunked = ReferenceChunkedDecoder()

    init(limits: HTTPParserLimits = HTTPParserLimits()) { self.limits = limits }

    /// The request whose head is complete but whose body is still arriving (for `Expect: 100-continue`).
    var requestAwaitingBody: HTTPRequest? { pending }

    /// Whether the parser has seen any byte of a request that is not complete yet.
    var isMidRequest: Bool {
        if case .head = phase { return scanned > headStart }
        if case .closed = phase { return false }
        if case .upgraded = phase { return false }
        return true
    }

    mutating func parse(_ bytes: [UInt8]) -> Result {
        bytes.withUnsafeBytes { parse($0) }
    }

    mutating func parse(_ buffer: UnsafeRawBufferPointer) -> Result {
        let result = step(buffer)
        if case .error(let e) = result { phase = .failed(e) }
        return result
    }

    private mutating func step(_ buffer: UnsafeRawBufferPointer) -> Result {
        while true {
            switch phase {
            case .failed(let e):
                return .error(e)
            case .closed:
                return buffer.isEmpty ? .needMore : .error(.dataAfterClose)
            case .upgraded:
                // What follows belongs to another protocol; it is never parsed as HTTP/1.1.
                return .needMore
            case .head:
                switch scanHead(buffer) {
                case .needMore: return .needMore
                case .error(let e): return .error(e)
                case .request: break
                }
            case .lengthBody(let length):
                guard buffer.count - position >= length else { return .needMore }
                pending!.body = Array(UnsafeRawBufferPointer(rebasing: buffer[position..<position + length]))
                position += length
                return finish()
            case .chunked:
                var request = pending.take()!
                let outcome = chunked.decode(buffer, position: &position, body: &request.body, trailers: &request.trailers, limits: limits)
                pending = request
                switch outcome {
                case .needMore: return .needMore
                case .error(let e): return .error(e)
                case .done: chunked = ReferenceChunkedDecoder(); return finish()
                }
            }
        }
    }

    /// While a chunked body is arriving: how many bytes at the front of the caller's buffer are decoded
    /// and no longer needed. The caller drops them from its buffer before the next `parse`, so the raw
    /// buffer holds only undecoded bytes and the body limit applies to the decoded body: a valid body sent
    /// in 1-byte chunks (six bytes of framing per byte) fits as well as one sent in one chunk.
    mutating func discardDecodedPrefix() -> Int {
        guard case .chunked = phase else { return 0 }
        let n = position
        position = 0
        return n
    }

    private mutating func finish() -> Result {
        // Moved out, not copied: a copy of a request is a retain and a release of each of its buffers.
        let request = pending.take()!
        let consumed = position
        scanned = 0; headStart = 0; lineStart = 0; position = 0
        phase = request.isUpgrade ? .upgraded : (request.keepAlive ? .head : .closed)
        return .request(request, consumed: consumed)
    }

    // MARK: - Head

    private enum ScanResult { case needMore, request, error(HTTPParseError) }

    /// What the head has said so far; each line is checked as soon as its CRLF arrives, so a bad line is
    /// refused without waiting for the rest of the head.
    private struct HeadState: Sendable {
        var method = ""
        var target = ""
        var minor = 1
        var sawRequestLine = false
        /// The fields, as ranges relative to `headStart`: the head's bytes become the headers' storage in
        /// one copy when it is complete (they stay in the caller's buffer until then).
        var fields: [HTTPHeaders.Field] = []
        var contentLength: Int? = nil
        var transferCodings: [String] = []
        var sawTransferEncoding = false
        var hostCount = 0
        var connection = ReferenceHTTPWire.ConnectionOptions()
        var hasUpgrade = false
        var expectContinue = false
    }
    private var head = HeadState()

    /// Scans for the end of the head, rejecting bare CR and bare LF as it goes, handling each line as it ends.
    private mutating func scanHead(_ buffer: UnsafeRawBufferPointer) -> ScanResult {
        var i = scanned
        let count = buffer.count
        while i < count {
            if i == lineStart && head.sawRequestLine && (buffer[i] == 32 || buffer[i] == 9) { return .error(.obsFold) }
            // The next CR or LF, found with memchr (a byte loop cost some 8 instructions a byte): the bytes
            // between are the line's, looked at by `processLine`.
            let base = buffer.baseAddress!
            let cr = memchr(base + i, 13, count - i).map { base.distance(to: UnsafeRawPointer($0)) } ?? count
            let lf = memchr(base + i, 10, cr - i).map { base.distance(to: UnsafeRawPointer($0)) } ?? count
            if lf < cr {
                if !head.sawRequestLine, let e = checkRequestLinePrefix(buffer, headStart..<lf) { return .error(e) }
                return .error(.bareLF)
            }
            guard cr < count else { i = count; break }
            i = cr
            guard i + 1 < count else { break }
            guard buffer[i + 1] == 10 else {
                if !head.sawRequestLine, let e = checkRequestLinePrefix(buffer, headStart..<i) { return .error(e) }
                return .error(.bareCR)
            }
            if i == lineStart {
                if !head.sawRequestLine {
                    // RFC 9112 §2.2: ignore empty lines before the request line.
                    headStart = i + 2
                    lineStart = i + 2
                    if headStart > limits.maxHeaderBytes { return .error(.bad("leading_empty_lines", "too many empty lines before the request")) }
                    i += 2
                    continue
                }
                scanned = i
                switch finishHead(UnsafeRawBufferPointer(rebasing: buffer[headStart..<i])) {
                case .failure(let e): return .error(e)
                case .success(let framing):
                    position = i + 2
                    switch framing {
                    case .none: phase = .lengthBody(0)
                    case .length(let n): phase = .lengthBody(n)
                    case .chunked: phase = .chunked
                    }
                    return .request
                }
            }
            if let e = processLine(buffer, lineStart..<i) { return .error(e) }
            lineStart = i + 2
            i += 2
            continue
        }
        scanned = i
        if !head.sawRequestLine {
            if i - headStart > limits.maxRequestLineBytes { return .error(.uriTooLong) }
            if let e = checkRequestLinePrefix(buffer, headStart..<i) { return .error(e) }
        }
        if i > lineStart && i - headStart > limits.maxHeaderBytes { return .error(.headersTooLarge) }
        return .needMore
    }

    private static let knownMethods: Set<String> = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY",
        "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT",
        "MKACTIVITY", "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "PURGE",
        "MKCALENDAR", "LINK", "UNLINK", "BIND", "REBIND", "UNBIND", "ACL",
    ]

    /// Checks a request line, or the part of it received so far, in a fixed order (method bytes, the
    /// spacing, target bytes, version), so a request gets the same error however its bytes are split.
    private func checkRequestLinePrefix(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTPParseError? {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end && buffer[i] != 32 {
            if !ReferenceByteClass.isToken(buffer[i]) { return .invalidMethod }
            i += 1
        }
        guard i < end else { return nil }
        if i == range.lowerBound { return .invalidRequestLine }
        i += 1
        let targetStart = i
        while i < end && buffer[i] != 32 {
            if !ReferenceByteClass.isTargetByte(buffer[i]) { return .invalidTarget }
            i += 1
        }
        guard i < end else { return nil }
        if i == targetStart { return .invalidRequestLine }
        let v = i + 1
        let pattern: StaticString = "HTTP/d.d"
        for j in v..<end {
            let k = j - v
            guard k < pattern.utf8CodeUnitCount else { return .invalidVersion }
            let b = buffer[j], want = pattern.utf8Start[k]
            if want == UInt8(ascii: "d") { if !(b >= 48 && b <= 57) { return .invalidVersion } } else if b != want { return .invalidVersion }
        }
        if end - v == 8 && !(buffer[v + 5] == 49 && (buffer[v + 7] == 48 || buffer[v + 7] == 49)) {
            return .unsupportedVersion
        }
        return nil
    }

    private mutating func processLine(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTPParseError? {
        if range.upperBound - headStart > limits.maxHeaderBytes {
            return head.sawRequestLine ? .headersTooLarge : .uriTooLong
        }
        if !head.sawRequestLine {
            if range.count > limits.maxRequestLineBytes { return .uriTooLong }
            return parseRequestLine(buffer, range)
        }
        if head.fields.count >= limits.maxHeaderCount { return .tooManyHeaders }
        let name: Range<Int>, value: Range<Int>
        switch ReferenceHTTPWire.parseField(buffer, range) {
        case .failure(let e): return e
        case .success(let field): (name, value) = (field.name, field.value)
        }
        switch name.count {
        case 4 where buffer.referenceEqualsIgnoringCase(name, "host"):
            head.hostCount += 1
            if head.hostCount > 1 { return .multipleHost }
            if !Self.validHost(UnsafeRawBufferPointer(rebasing: buffer[value])) { return .invalidHost }
        case 14 where buffer.referenceEqualsIgnoringCase(name, "content-length"):
            guard let n = Self.parseContentLength(UnsafeRawBufferPointer(rebasing: buffer[value])) else { return .invalidContentLength }
            if head.contentLength != nil { return .duplicateContentLength }
            head.contentLength = n
        case 17 where buffer.referenceEqualsIgnoringCase(name, "transfer-encoding"):
            head.sawTransferEncoding = true
            for part in buffer.referenceString(value).split(separator: ",", omittingEmptySubsequences: false) {
                head.transferCodings.append(part.trimmingHTTPWhitespace().lowercased())
            }
        case 10 where buffer.referenceEqualsIgnoringCase(name, "connection"):
            head.connection.add(buffer, value)
        case 7 where buffer.referenceEqualsIgnoringCase(name, "upgrade"):
            head.hasUpgrade = true
        case 6 where buffer.referenceEqualsIgnoringCase(name, "expect"):
            guard buffer.referenceEqualsIgnoringCase(value, "100-continue") else { return .unsupportedExpectation }
            head.expectContinue = true
        default: break
        }
        if head.fields.isEmpty { head.fields.reserveCapacity(16) }
        head.fields.append(HTTPHeaders.field(name: name.lowerBound - headStart..<name.upperBound - headStart,
                                             value: value.lowerBound - headStart..<value.upperBound - headStart))
        return nil
    }

    /// request-line = method SP request-target SP HTTP-version
    private mutating func parseRequestLine(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTPParseError? {
        if let e = checkRequestLinePrefix(buffer, range) { return e }
        let lineEnd = range.upperBound
        var sp1 = range.lowerBound
        while sp1 < lineEnd && buffer[sp1] != 32 { sp1 += 1 }
        guard sp1 < lineEnd, sp1 > range.lowerBound else { return .invalidRequestLine }
        for j in range.lowerBound..<sp1 where !ReferenceByteClass.isToken(buffer[j]) { return .invalidMethod }
        var sp2 = sp1 + 1
        while sp2 < lineEnd && buffer[sp2] != 32 { sp2 += 1 }
        guard sp2 < lineEnd, sp2 > sp1 + 1 else { return .invalidRequestLine }
        for j in (sp1 + 1)..<sp2 where !ReferenceByteClass.isTargetByte(buffer[j]) { return .invalidTarget }
        // HTTP-version = "HTTP/" DIGIT "." DIGIT, exactly (case-sensitive).
        let v = sp2 + 1
        guard lineEnd - v == 8, buffer[v] == UInt8(ascii: "H"), buffer[v + 1] == UInt8(ascii: "T"),
              buffer[v + 2] == UInt8(ascii: "T"), buffer[v + 3] == UInt8(ascii: "P"), buffer[v + 4] == UInt8(ascii: "/"),
              buffer[v + 5] >= 48, buffer[v + 5] <= 57, buffer[v + 6] == UInt8(ascii: "."),
              buffer[v + 7] >= 48, buffer[v + 7] <= 57
        else { return .invalidVersion }
        guard buffer[v + 5] == UInt8(ascii: "1"), buffer[v + 7] == UInt8(ascii: "0") || buffer[v + 7] == UInt8(ascii: "1")
        else { return .unsupportedVersion }
        head.minor = Int(buffer[v + 7] - 48)
        head.method = buffer.referenceString(range.lowerBound..<sp1)
        switch head.method {
        case "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS": break
        default: guard Self.knownMethods.contains(head.method) else { return .unknownMethod }
        }
        head.target = buffer.referenceString((sp1 + 1)..<sp2)
        guard Self.validTargetForm(head.target, method: head.method) else { return .invalidTarget }
        if let e = Self.pathProblem(UnsafeRawBufferPointer(rebasing: buffer[(sp1 + 1)..<sp2]), allowEncodedSlashes: limits.allowEncodedSlashes) { return e }
        head.sawRequestLine = true
        return nil
    }

    /// Framing and semantics once the head is complete (RFC 9112 §6.3, §3.2). `headBytes`: the head, from
    /// the request line to the CR of its final CRLF CRLF.
    private mutating func finishHead(_ headBytes: UnsafeRawBufferPointer) -> Swift.Result<Framing, HTTPParseError> {
        let h = head
        head = HeadState()
        if h.minor == 1 && h.hostCount == 0 { return .failure(.missingHost) }
        var framing = Framing.none
        if h.sawTransferEncoding {
            if h.contentLength != nil { return .failure(.contentLengthAndTransferEncoding) }
            if h.minor == 0 { return .failure(.transferEncodingHTTP10) }
            guard h.transferCodings.last == "chunked",
                  h.transferCodings.filter({ $0 == "chunked" }).count == 1,
                  h.transferCodings.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(ReferenceByteClass.isToken) })
            else { return .failure(.invalidTransferEncoding) }
            if h.transferCodings.count > 1 { return .failure(.unsupportedTransferCoding) }
            framing = .chunked
        } else if let n = h.contentLength {
            if n > limits.maxBodyBytes { return .failure(.bodyTooLarge) }
            framing = .length(n)
        }
        let keepAlive = h.connection.close ? false : (h.minor == 1 || h.connection.keepAlive)
        let isUpgrade = h.method == "CONNECT" || (h.hasUpgrade && h.connection.upgrade)
        pending = HTTPRequest(method: h.method, target: h.target, versionMinor: h.minor,
                              headers: HTTPHeaders(head: headBytes, fields: h.fields),
                              keepAlive: keepAlive, isUpgrade: isUpgrade, expectsContinue: h.expectContinue)
        return .success(framing)
    }

    /// Content-Length = 1*DIGIT; at most 15 digits so it cannot overflow.
    static func parseContentLength(_ value: String) -> Int? {
        var v = value
        return v.withUTF8 { parseContentLength(UnsafeRawBufferPointer($0)) }
    }

    static func parseContentLength(_ value: UnsafeRawBufferPointer) -> Int? {
        guard !value.isEmpty, value.count <= 15 else { return nil }
        var n = 0
        for b in value {
            guard b >= 48 && b <= 57 else { return nil }
            n = n * 10 + Int(b - 48)
        }
        return n
    }

    static func validTargetForm(_ target: String, method: String) -> Bool {
        let utf8 = target.utf8
        if utf8.first == UInt8(ascii: "/") { return true }
        if target == "*" { return method == "OPTIONS" || method == "M-SEARCH" }
        if method == "CONNECT" { return target.contains(":") && !target.contains("/") }
        // absolute-form: scheme "://" ...
        guard let colon = target.firstIndex(of: ":"), target[colon...].hasPrefix("://") else { return false }
        let scheme = target[..<colon]
        return !scheme.isEmpty && scheme.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 43 || $0 == 45 || $0 == 46 }
    }

    /// Why the path of a target is refused, or nil. Upstreams disagree on how to read a path, so the gateway
    /// refuses anything two readers could take differently, rather than route on one reading and forward
    /// bytes an upstream resolves another way:
    ///
    /// - a fragment (`#`): not part of a request target (RFC 9112 §3.2), and what follows it would escape
    ///   the path checks below;
    /// - an empty segment (`//`): `//169.254.169.254/x` is a network-path reference to most URL parsers
    ///   (the host is `169.254.169.254`), and `/a//b` is `/a/b` to some servers and not to others;
    /// - `\` raw or as `%5C` (some servers take it as `/`), `%00`, a malformed `%` escape;
    /// - escapes that decode to invalid UTF-8: overlong forms (`%C0%AE` is `.` and `%C0%AF` is `/` to a
    ///   lenient decoder, the classic IIS / Tomcat traversals), surrogates, bytes that cannot start or
    ///   continue a sequence. (Raw bytes outside visible ASCII are refused earlier as `invalid_target`.)
    /// - `%2F` (one segment or two?) unless `allowEncodedSlashes`;
    /// - a segment that is `.` or `..` after percent-decoding and after cutting `;params` (`%2e%2e`, `..;`,
    ///   `.%2E;x`); with `allowEncodedSlashes`, also each part between decoded slashes (`..%2F`), and an
    ///   empty part (`/%2F`, `a%2F%2Fb`: decoded, that is `//` again).
    ///
    /// The query is not a path and is not checked. Costs one pass over the path; segments without `%`,
    /// `.`, `;` or `\` are not looked at twice.
    static func pathProblem(_ target: String, allowEncodedSlashes: Bool) -> HTTPParseError? {
        var target = target
        return target.withUTF8 { pathProblem(UnsafeRawBufferPointer($0), allowEncodedSlashes: allowEncodedSlashes) }
    }

    static func pathProblem(_ t: UnsafeRawBufferPointer, allowEncodedSlashes: Bool) -> HTTPParseError? {
        let count = t.count
        var i = 0
        if t.first != UInt8(ascii: "/") {
            // absolute-form: the path starts after `scheme://authority`; `*` and authority-form have none.
            var k = 0
            while k + 2 < count && !(t[k] == UInt8(ascii: ":") && t[k + 1] == UInt8(ascii: "/") && t[k + 2] == UInt8(ascii: "/")) { k += 1 }
            guard k + 2 < count else { return nil }
            k += 3
            while k < count && t[k] != UInt8(ascii: "/") && t[k] != UInt8(ascii: "?") && t[k] != UInt8(ascii: "#") { k += 1 }
            i = k
        }
        let pathStart = i
        var segmentStart = i
        var special = false
        while i < count {
            let b = t[i]
            if b == UInt8(ascii: "?") { break }
            switch b {
            case UInt8(ascii: "#"): return .fragmentInTarget
            case UInt8(ascii: "/"):
                // The path's first `/` opens the first segment; any later one right after a `/` closes an empty one.
                if i == segmentStart && i != pathStart { return .emptySegment }
                if special, let e = segmentProblem(t, segmentStart..<i, allowEncodedSlashes: allowEncodedSlashes) { return e }
                segmentStart = i + 1
                special = false
            case UInt8(ascii: "%"), UInt8(ascii: "."), UInt8(ascii: ";"), UInt8(ascii: "\\"):
                special = true
            default: break
            }
            i += 1
        }
        if special, let e = segmentProblem(t, segmentStart..<i, allowEncodedSlashes: allowEncodedSlashes) { return e }
        while i < count {
            if t[i] == UInt8(ascii: "#") { return .fragmentInTarget }
            i += 1
        }
        return nil
    }

    /// One path segment (`range` of `t`, between raw slashes), decoded as an upstream would; see
    /// `pathProblem`. The one rule for dot segments, shared with `TargetTemplate` (which checks the
    /// targets it builds): a part is a dot segment when, percent-decoded and cut at its first `;`, it is
    /// `.` or `..`; decoded slashes split parts.
    ///
    /// `dotsOnly` (for targets the gateway encoded itself, where `%2F`, `%5C` and any byte are data): only
    /// dot segments are reported, with decoded slashes splitting parts as with `allowEncodedSlashes`, and
    /// a malformed `%` is a plain byte.
    static func segmentProblem(_ t: UnsafeRawBufferPointer, _ range: Range<Int>, allowEncodedSlashes: Bool,
                               dotsOnly: Bool = false) -> HTTPParseError? {
        var k = range.lowerBound
        // Per part between (decoded) slashes: its length before any `;`, whether that is all dots, and
        // its length in all.
        var length = 0
        var allDots = true
        var inParameters = false
        var partBytes = 0
        // UTF-8 of the decoded bytes (RFC 3629 §4): continuation bytes still due, and the range the next
        // one must fall in (narrower after E0, ED, F0, F4: no overlong forms, surrogates, or > U+10FFFF).
        var due = 0
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        while k < range.upperBound {
            var b = t[k]
            var escaped = false
            if b == UInt8(ascii: "%") {
                if k + 2 < range.upperBound, let h = ReferenceByteClass.hexValue(t[k + 1]), let l = ReferenceByteClass.hexValue(t[k + 2]) {
                    b = UInt8(h * 16 + l)
                    escaped = true
                    k += 3
                } else if dotsOnly {
                    k += 1
                } else {
                    return .malformedPercentEncoding
                }
            } else {
                k += 1
            }
            if !dotsOnly {
                if b == UInt8(ascii: "\\") { return .backslashInPath }
                if b == 0 { return .nulInPath }
                if due > 0 {
                    guard b >= low && b <= high else { return .invalidUTF8 }
                    due -= 1
                    low = 0x80; high = 0xBF
                } else if b >= 0x80 {
                    guard let lead = ReferenceByteClass.utf8Lead(b) else { return .invalidUTF8 }
                    (due, low, high) = (lead.continuations, lead.low, lead.high)
                }
            }
            if escaped && b == UInt8(ascii: "/") {
                guard allowEncodedSlashes || dotsOnly else { return .encodedSlash }
                if allDots && (length == 1 || length == 2) { return .dotSegment }
                if !dotsOnly {
                    // `/%2F`, `a%2F%2Fb`, `a%2F/b`: decoded, an empty segment.
                    let nextIsSlash = k == range.upperBound && k < t.count && t[k] == UInt8(ascii: "/")
                    if partBytes == 0 || nextIsSlash { return .emptySegment }
                }
                length = 0; allDots = true; inParameters = false; partBytes = 0
                continue
            }
            partBytes += 1
            if inParameters { continue }
            if b == UInt8(ascii: ";") { inParameters = true; continue }
            length += 1
            if b != UInt8(ascii: ".") { allDots = false }
        }
        if due > 0 && !dotsOnly { return .invalidUTF8 }
        return allDots && (length == 1 || length == 2) ? .dotSegment : nil
    }

    /// Host = uri-host [ ":" port ] (RFC 9110 §7.2); empty is allowed.
    static func validHost(_ value: UnsafeRawBufferPointer) -> Bool {
        for b in value {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                continue
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: "!"),
                 UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"),
                 UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "["),
                 UInt8(ascii: "]"):
                // Spelled out rather than looked up in a String literal: that was a scan of the literal per byte.
                continue
            default:
                return false
            }
        }
        return true
    }
}


/// The upstream client's response parser (RFC 9112 §6.3 framing): Content-Length, chunked, or
/// delimited by the server closing the connection. Pure.
///
/// As strict as the request parser, because an upstream is not trusted to frame correctly and whatever
/// it sends is relayed to a client: a bare CR or LF anywhere in the head, control bytes in a name, value
/// or reason phrase, obs-fold, a repeated `Content-Length`, and any transfer coding other than a lone
/// `chunked` are errors. A `101` is an error too (the gateway does not tunnel); other 1xx responses are
/// interim and skipped. Body bytes are checked against `limits.maxBodyBytes` as they arrive.
struct ReferenceHTTPResponseParser: Sendable {
    enum Result: Sendable {
        case needMore
        case response(HTTPResponse, consumed: Int, keepAlive: Bool)
        /// An interim 1xx response was skipped: drop `consumed` bytes and parse again.
        case interim(consumed: Int)
        case error(HTTPParseError)
    }

    private enum Phase: Sendable { case head, length(Int), chunked, untilClose, failed(HTTPParseError) }

    let limits: HTTPParserLimits
    /// The request was HEAD: the response has no body whatever its headers say.
    var requestWasHead: Bool
    private var phase: Phase = .head
    private var scanned = 0
    private var position = 0
    private var response: HTTPResponse?
    private var keepAlive = true
    private var chunked = ReferenceChunkedDecoder()
    private var trailers = HTTPHeaders()

    init(limits: HTTPParserLimits = HTTPParserLimits(), requestWasHead: Bool = false) {
        self.limits = limits
        self.requestWasHead = requestWasHead
    }

    /// Whether any byte of a response has been seen.
    var hasStarted: Bool { scanned > 0 || position > 0 || response != nil }

    mutating func parse(_ bytes: [UInt8]) -> Result { bytes.withUnsafeBytes { parse($0) } }

    mutating func parse(_ buffer: UnsafeRawBufferPointer) -> Result {
        let r = step(buffer)
        if case .error(let e) = r { phase = .failed(e) }
        return r
    }

    /// The connection reached end of file: completes a close-delimited body, otherwise an error if a
    /// response was in progress.
    mutating func finishAtEOF(_ buffer: UnsafeRawBufferPointer) -> Result {
        if case .untilClose = phase, var r = response {
            if r.body.count + (buffer.count - position) > limits.maxBodyBytes { return .error(.bodyTooLarge) }
            r.body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[position...]))
            response = nil
            return .response(r, consumed: buffer.count, keepAlive: false)
        }
        return .error(.bad("truncated_response", "connection closed before the response was complete"))
    }

    private mutating func step(_ buffer: UnsafeRawBufferPointer) -> Result {
        while true {
            switch phase {
            case .failed(let e):
                return .error(e)
            case .head:
                guard let end = findHeadEnd(buffer) else {
                    if buffer.count >= limits.maxHeaderBytes + 4 { return .error(.headersTooLarge) }
                    return .needMore
                }
                if case .failure(let e) = end { return .error(e) }
                guard case .success(let headEnd) = end else { return .needMore }
                switch parseHead(buffer, headEnd: headEnd) {
                case .failure(let e): return .error(e)
                case .success(let next):
                    position = headEnd + 4
                    if case .head = next {
                        // An interim (1xx) response: drop it and read the next head.
                        let consumed = position
                        position = 0
                        scanned = 0
                        return .interim(consumed: consumed)
                    }
                    phase = next
                }
            case .length(let n):
                guard buffer.count - position >= n else { return .needMore }
                response!.body = Array(UnsafeRawBufferPointer(rebasing: buffer[position..<position + n]))
                position += n
                return finish()
            case .chunked:
                var r = response.take()!
                // The trailers live in the parser across reads, so their count limit sees all of them.
                let outcome = chunked.decode(buffer, position: &position, body: &r.body, trailers: &trailers, limits: limits)
                response = r
                switch outcome {
                case .needMore: return .needMore
                case .error(let e): return .error(e)
                case .done: chunked = ReferenceChunkedDecoder(); trailers = HTTPHeaders(); return finish()
                }
            case .untilClose:
                // Moved into the body as it arrives, so the caller can drop it (`takeConsumedPrefix`).
                if response!.body.count + (buffer.count - position) > limits.maxBodyBytes { return .error(.bodyTooLarge) }
                response!.body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[position...]))
                position = buffer.count
                return .needMore
            }
        }
    }

    /// How many bytes at the front of the buffer are no longer needed: while a chunked or close-delimited
    /// body is read, its bytes are moved into the response as they arrive, so the caller drops them and
    /// passes only the rest next time; the raw buffer then stays small whatever the chunk framing costs.
    /// Zero in the other phases (the head, a `Content-Length` body: those are taken from the buffer whole).
    mutating func takeConsumedPrefix() -> Int {
        switch phase {
        case .chunked, .untilClose:
            let n = position
            position = 0
            return n
        default:
            return 0
        }
    }

    private mutating func finish() -> Result {
        // Taken, not copied: the response leaves the parser with its buffers unshared, so the proxy and
        // the route's stages edit its fields in place.
        let r = response.take()!
        let consumed = position
        phase = .head
        scanned = 0
        position = 0
        return .response(r, consumed: consumed, keepAlive: keepAlive)
    }

    private mutating func findHeadEnd(_ buffer: UnsafeRawBufferPointer) -> ReferenceHTTPWire.LineSearch? {
        // memchr for each LF (vectorised in libc), then look back for CR LF CR.
        var i = max(3, scanned)
        let limit = min(buffer.count, limits.maxHeaderBytes + 4)
        let base = buffer.baseAddress!
        while i < limit {
            guard let hit = memchr(base + i, 10, limit - i) else { break }
            let lf = base.distance(to: UnsafeRawPointer(hit))
            if buffer[lf - 1] == 13 && buffer[lf - 2] == 10 && buffer[lf - 3] == 13 { return .success(lf - 3) }
            i = lf + 1
        }
        scanned = max(3, limit - 3)
        return nil
    }

    /// The end of the line starting at `from` (the index of its CR), or the error if the line holds a bare
    /// CR or a bare LF. `headEnd` is the CR of the head's final CRLF CRLF, so every line ends by then.
    private static func lineEnd(_ buffer: UnsafeRawBufferPointer, from: Int, headEnd: Int) -> Swift.Result<Int, HTTPParseError> {
        // memchr (vectorised in libc) for the CR, then for an LF before it: the same verdicts as a byte
        // loop looking for either, at a fraction of the cost per byte.
        guard from < headEnd, let base = buffer.baseAddress else { return .success(headEnd) }
        let cr = memchr(base + from, 13, headEnd - from).map { base.distance(to: UnsafeRawPointer($0)) } ?? headEnd
        if cr > from, memchr(base + from, 10, cr - from) != nil { return .failure(.bareLF) }
        if cr == headEnd { return .success(headEnd) }
        return buffer[cr + 1] == 10 ? .success(cr) : .failure(.bareCR)
    }

    private mutating func parseHead(_ buffer: UnsafeRawBufferPointer, headEnd: Int) -> Swift.Result<Phase, HTTPParseError> {
        // status-line = HTTP-version SP status-code SP [ reason-phrase ]
        let lineEnd: Int
        switch Self.lineEnd(buffer, from: 0, headEnd: headEnd) {
        case .failure(let e): return .failure(e)
        case .success(let end): lineEnd = end
        }
        guard lineEnd >= 12, buffer.referenceEqualsIgnoringCase(0..<5, "http/"), buffer[5] == 49, buffer[6] == 46,
              buffer[7] == 48 || buffer[7] == 49, buffer[8] == 32,
              (49...53).contains(buffer[9]), (48...57).contains(buffer[10]), (48...57).contains(buffer[11]),
              lineEnd == 12 || buffer[12] == 32
        else { return .failure(.invalidStatusLine) }
        // reason-phrase = *( HTAB / SP / VCHAR / obs-text ): the same bytes as a field value.
        if lineEnd > 13 {
            for j in 13..<lineEnd where !ReferenceByteClass.isFieldValue(buffer[j]) { return .failure(.invalidReasonPhrase) }
        }
        let minor = Int(buffer[7] - 48)
        let status = Int(buffer[9] - 48) * 100 + Int(buffer[10] - 48) * 10 + Int(buffer[11] - 48)
        if status == 101 { return .failure(.switchingProtocols) }
        let reason = lineEnd > 13 ? buffer.referenceString(13..<lineEnd) : ""
        // Ranges into the head, which becomes the headers' storage in one copy at the end.
        var fields: [HTTPHeaders.Field] = []
        fields.reserveCapacity(16)
        var contentLength: Int? = nil
        var codings: [String] = []
        var sawTransferEncoding = false
        var connection = ReferenceHTTPWire.ConnectionOptions()
        var cursor = lineEnd + 2
        while cursor < headEnd {
            if buffer[cursor] == 32 || buffer[cursor] == 9 { return .failure(.obsFold) }
            let end: Int
            switch Self.lineEnd(buffer, from: cursor, headEnd: headEnd) {
            case .failure(let e): return .failure(e)
            case .success(let e): end = e
            }
            switch ReferenceHTTPWire.parseField(buffer, cursor..<end) {
            case .failure(let e): return .failure(e)
            case .success(let field):
                let name = field.name, value = field.value
                switch name.count {
                case 14 where buffer.referenceEqualsIgnoringCase(name, "content-length"):
                    // One Content-Length, as nginx requires of an upstream: a repeat is a framing dispute.
                    guard contentLength == nil else { return .failure(.duplicateContentLength) }
                    guard let n = ReferenceHTTPRequestParser.parseContentLength(UnsafeRawBufferPointer(rebasing: buffer[value])) else { return .failure(.invalidContentLength) }
                    contentLength = n
                case 17 where buffer.referenceEqualsIgnoringCase(name, "transfer-encoding"):
                    sawTransferEncoding = true
                    codings += buffer.referenceString(value).split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingHTTPWhitespace().lowercased() }
                case 10 where buffer.referenceEqualsIgnoringCase(name, "connection"):
                    connection.add(buffer, value)
                default: break
                }
                fields.append(HTTPHeaders.field(name: name, value: value))
                if fields.count > limits.maxHeaderCount { return .failure(.tooManyHeaders) }
            }
            cursor = end + 2
        }
        if status < 200 {
            // 100, 102, 103: interim, the final response follows.
            return .success(.head)
        }
        keepAlive = !connection.close && (minor == 1 || connection.keepAlive)
        // Room for the `Via` a proxy appends (`ProxyHandler.passBack`) and the fields a route's stages add
        // (CORS, `headers`, `Vary`: some 100 bytes) without growing the storage.
        response = HTTPResponse(status: status, reason: reason,
                                headers: HTTPHeaders(head: UnsafeRawBufferPointer(rebasing: buffer[0..<headEnd]), fields: fields, spareBytes: 256))
        if requestWasHead || status == 204 || status == 304 { return .success(.length(0)) }
        if sawTransferEncoding {
            if contentLength != nil { return .failure(.contentLengthAndTransferEncoding) }
            // Only a lone `chunked`, as nginx accepts from an upstream. `gzip, chunked` would need the
            // gzip passed on as a Content-Encoding (which it is not: a transfer coding is hop-by-hop), and a
            // list not ending in chunked is delimited by the close alone (RFC 9112 §6.3), which a
            // gateway cannot tell from a truncated answer. HTTP/1.0 has no Transfer-Encoding (§6.1).
            guard minor == 1, codings.count == 1, codings[0] == "chunked" else { return .failure(.unsupportedResponseTransferCoding) }
            return .success(.chunked)
        }
        if let n = contentLength {
            if n > limits.maxBodyBytes { return .failure(.bodyTooLarge) }
            return .success(.length(n))
        }
        keepAlive = false
        return .success(.untilClose)
    }
}

/// Line-level pieces shared by the request and response parsers.
enum ReferenceHTTPWire {
    /// The options of `Connection` fields the parsers act on.
    struct ConnectionOptions: Sendable {
        var close = false
        var keepAlive = false
        var upgrade = false

        /// Adds the options a `Connection` value (bytes `range` of `buffer`) lists: its comma-separated
        /// elements, OWS around them ignored, compared ASCII case-insensitively. Read in place, so a
        /// message costs no String and no array for its `Connection: keep-alive`.
        mutating func add(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) {
            var start = range.lowerBound
            while start < range.upperBound {
                var end = start
                while end < range.upperBound && buffer[end] != UInt8(ascii: ",") { end += 1 }
                var a = start, b = end
                while a < b && (buffer[a] == 32 || buffer[a] == 9) { a += 1 }
                while b > a && (buffer[b - 1] == 32 || buffer[b - 1] == 9) { b -= 1 }
                if buffer.referenceEqualsIgnoringCase(a..<b, "close") { close = true }
                else if buffer.referenceEqualsIgnoringCase(a..<b, "keep-alive") { keepAlive = true }
                else if buffer.referenceEqualsIgnoringCase(a..<b, "upgrade") { upgrade = true }
                start = end + 1
            }
        }
    }

    /// One `name: value` line (header or trailer), value trimmed of OWS.
    static func parseField(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> Swift.Result<(name: Range<Int>, value: Range<Int>), HTTPParseError> {
        var colon = range.lowerBound
        while colon < range.upperBound && buffer[colon] != UInt8(ascii: ":") {
            let b = buffer[colon]
            if !ReferenceByteClass.isToken(b) {
                if b == 32 || b == 9 {
                    // Whitespace before the colon (RFC 9112 §5.1) or inside the name.
                    var k = colon
                    while k < range.upperBound && (buffer[k] == 32 || buffer[k] == 9) { k += 1 }
                    return .failure(k < range.upperBound && buffer[k] == UInt8(ascii: ":") ? .headerNameSpace : .invalidHeaderName)
                }
                return .failure(.invalidHeaderName)
            }
            colon += 1
        }
        guard colon < range.upperBound else { return .failure(.missingColon) }
        guard colon > range.lowerBound else { return .failure(.invalidHeaderName) }
        var valueStart = colon + 1
        var valueEnd = range.upperBound
        while valueStart < valueEnd && (buffer[valueStart] == 32 || buffer[valueStart] == 9) { valueStart += 1 }
        while valueEnd > valueStart && (buffer[valueEnd - 1] == 32 || buffer[valueEnd - 1] == 9) { valueEnd -= 1 }
        if !ReferenceByteClass.areFieldValue(buffer, valueStart..<valueEnd) { return .failure(.invalidHeaderValue) }
        return .success((range.lowerBound..<colon, valueStart..<valueEnd))
    }

    /// chunk = chunk-size [ chunk-ext ] CRLF, with no whitespace (as llhttp's strict mode).
    static func parseChunkLine(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>, maxBodyBytes: Int) -> Swift.Result<Int, HTTPParseError> {
        var i = range.lowerBound
        var size = 0
        var digits = 0
        while i < range.upperBound, let h = ReferenceByteClass.hexValue(buffer[i]) {
            digits += 1
            if digits > 15 { return .failure(.invalidChunkSize) }
            size = size * 16 + h
            i += 1
        }
        guard digits > 0 else { return .failure(.invalidChunkSize) }
        if size > maxBodyBytes { return .failure(.bodyTooLarge) }
        // chunk-ext = *( ";" token [ "=" ( token / quoted-string ) ] )
        while i < range.upperBound {
            guard buffer[i] == UInt8(ascii: ";") else { return .failure(.invalidChunkSize) }
            i += 1
            let nameStart = i
            while i < range.upperBound && ReferenceByteClass.isToken(buffer[i]) { i += 1 }
            guard i > nameStart else { return .failure(.invalidChunkExtension) }
            if i < range.upperBound && buffer[i] == UInt8(ascii: "=") {
                i += 1
                if i < range.upperBound && buffer[i] == UInt8(ascii: "\"") {
                    i += 1
                    var closed = false
                    while i < range.upperBound {
                        let b = buffer[i]
                        if b == UInt8(ascii: "\"") { closed = true; i += 1; break }
                        if b == UInt8(ascii: "\\") {
                            i += 1
                            guard i < range.upperBound, ReferenceByteClass.isFieldValue(buffer[i]) else { return .failure(.invalidChunkExtension) }
                        } else if !ReferenceByteClass.isFieldValue(b) {
                            return .failure(.invalidChunkExtension)
                        }
                        i += 1
                    }
                    guard closed else { return .failure(.invalidChunkExtension) }
                } else {
                    let valueStart = i
                    while i < range.upperBound && ReferenceByteClass.isToken(buffer[i]) { i += 1 }
                    guard i > valueStart else { return .failure(.invalidChunkExtension) }
                }
            }
        }
        return .success(size)
    }

    enum LineSearch { case success(Int), failure(HTTPParseError) }

    /// Finds the CRLF ending the line that starts at `from`; a bare CR or LF is an error.
    static func findCRLF(_ buffer: UnsafeRawBufferPointer, from: Int, limit: Int) -> LineSearch? {
        var i = from
        let end = min(buffer.count, from + limit + 1)
        while i < end {
            let b = buffer[i]
            if b == 10 { return .failure(.bareLF) }
            if b == 13 {
                guard i + 1 < buffer.count else { return nil }
                return buffer[i + 1] == 10 ? .success(i) : .failure(.bareCR)
            }
            i += 1
        }
        return nil
    }

    static func bareLineEnding(_ buffer: UnsafeRawBufferPointer, from: Int) -> HTTPParseError? {
        for i in from..<buffer.count where buffer[i] == 10 { return .bareLF }
        return nil
    }

}

/// De-chunks a chunked body (RFC 9112 §7.1) incrementally, with trailers. Pure.
struct ReferenceChunkedDecoder: Sendable {
    enum Outcome { case needMore, done, error(HTTPParseError) }
    private enum Phase: Sendable { case size, data(remaining: Int), dataEnd, trailers }
    private var phase: Phase = .size

    mutating func decode(_ buffer: UnsafeRawBufferPointer, position: inout Int, body: inout [UInt8],
                         trailers: inout HTTPHeaders, limits: HTTPParserLimits) -> Outcome {
        while true {
            switch phase {
            case .size:
                guard let lineEnd = ReferenceHTTPWire.findCRLF(buffer, from: position, limit: limits.maxChunkLineBytes) else {
                    if buffer.count - position > limits.maxChunkLineBytes && buffer[position + limits.maxChunkLineBytes] != 13 { return .error(.chunkLineTooLong) }
                    if let e = ReferenceHTTPWire.bareLineEnding(buffer, from: position) { return .error(e) }
                    return .needMore
                }
                guard case .success(let end) = lineEnd else {
                    if case .failure(let e) = lineEnd { return .error(e) }
                    return .needMore
                }
                let size: Int
                switch ReferenceHTTPWire.parseChunkLine(buffer, position..<end, maxBodyBytes: limits.maxBodyBytes) {
                case .failure(let e): return .error(e)
                case .success(let s): size = s
                }
                position = end + 2
                if size == 0 {
                    phase = .trailers
                } else {
                    if body.count + size > limits.maxBodyBytes { return .error(.bodyTooLarge) }
                    phase = .data(remaining: size)
                }
            case .data(let remaining):
                let available = min(remaining, buffer.count - position)
                if available == 0 { return .needMore }
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[position..<position + available]))
                position += available
                phase = remaining == available ? .dataEnd : .data(remaining: remaining - available)
            case .dataEnd:
                guard buffer.count - position >= 2 else {
                    if buffer.count - position == 1 && buffer[position] != 13 { return .error(.missingChunkCRLF) }
                    return .needMore
                }
                guard buffer[position] == 13, buffer[position + 1] == 10 else { return .error(.missingChunkCRLF) }
                position += 2
                phase = .size
            case .trailers:
                guard let found = ReferenceHTTPWire.findCRLF(buffer, from: position, limit: limits.maxHeaderBytes) else {
                    if buffer.count - position > limits.maxHeaderBytes && buffer[position + limits.maxHeaderBytes] != 13 { return .error(.headersTooLarge) }
                    if let e = ReferenceHTTPWire.bareLineEnding(buffer, from: position) { return .error(e) }
                    return .needMore
                }
                guard case .success(let end) = found else {
                    if case .failure(let e) = found { return .error(e) }
                    return .needMore
                }
                if end == position {
                    position += 2
                    phase = .size
                    return .done
                }
                if buffer[position] == 32 || buffer[position] == 9 { return .error(.obsFold) }
                switch ReferenceHTTPWire.parseField(buffer, position..<end) {
                case .failure(let e): return .error(e)
                case .success(let field):
                    trailers.add(name: UnsafeRawBufferPointer(rebasing: buffer[field.name]), value: UnsafeRawBufferPointer(rebasing: buffer[field.value]))
                    if trailers.count > limits.maxHeaderCount { return .error(.tooManyHeaders) }
                }
                position = end + 2
            }
        }
    }
}
/// Character classes of RFC 9110 §5.6, as lookup tables over bytes.
enum ReferenceByteClass {
    /// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA,
    /// as a 256-bit set in four constants (no global table, so no lazy-initialisation check in hot loops).
    @inline(__always) static func isToken(_ b: UInt8) -> Bool {
        let word: UInt64
        switch b >> 6 {
        case 0: word = 0x03FF_6CFA_0000_0000  // ! # $ % & ' * + - . 0-9
        case 1: word = 0x57FF_FFFF_C7FF_FFFE  // A-Z ^ _ ` a-z | ~
        default: return false
        }
        return (word >> UInt64(b & 63)) & 1 == 1
    }

    /// field-vchar / SP / HTAB (obs-text allowed).
    @inline(__always) static func isFieldValue(_ b: UInt8) -> Bool { b == 9 || (b >= 0x20 && b != 0x7F) }

    /// Whether every byte of `range` is `isFieldValue`. Eight bytes at a time while they are all plain
    /// (no byte below 0x20, none 0x7F: the usual value), byte by byte from the first word that is not
    /// (a tab, or an error): the same verdict as the byte loop, at a fraction of its cost on a header.
    static func areFieldValue(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        var j = range.lowerBound
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while j + 8 <= range.upperBound {
            let w = buffer.loadUnaligned(fromByteOffset: j, as: UInt64.self)
            // A byte below 0x20 (high bit clear, so obs-text is not caught), or a byte equal to 0x7F:
            // the classic "has a byte less than n" and "has a zero byte" word tricks.
            let below = (w &- ones &* 0x20) & ~w & highs
            let x = w ^ (ones &* 0x7F)
            let del = (x &- ones) & ~x & highs
            if below | del != 0 { break }
            j += 8
        }
        while j < range.upperBound {
            if !isFieldValue(buffer[j]) { return false }
            j += 1
        }
        return true
    }
    /// What a UTF-8 lead byte (RFC 3629 §4) asks of the bytes after it: how many continuation bytes, and
    /// the range the first of them must fall in (narrower after E0, ED, F0, F4: no overlong forms, no
    /// surrogates, nothing above U+10FFFF; later ones are 80...BF). Nil for a byte that cannot lead.
    @inline(__always) static func utf8Lead(_ b: UInt8) -> (continuations: Int, low: UInt8, high: UInt8)? {
        switch b {
        case 0xC2...0xDF: return (1, 0x80, 0xBF)
        case 0xE0: return (2, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: return (2, 0x80, 0xBF)
        case 0xED: return (2, 0x80, 0x9F)
        case 0xF0: return (3, 0x90, 0xBF)
        case 0xF1...0xF3: return (3, 0x80, 0xBF)
        case 0xF4: return (3, 0x80, 0x8F)
        default: return nil
        }
    }
    /// Visible ASCII: what a request target may contain.
    @inline(__always) static func isTargetByte(_ b: UInt8) -> Bool { b > 0x20 && b < 0x7F }
    @inline(__always) static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(b - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always) func referenceString(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: self[range]), as: UTF8.self)
    }

    /// Whether bytes `range` equal `literal`, ignoring ASCII case.
    @inline(__always) func referenceEqualsIgnoringCase(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let lit = literal.utf8Start
        for i in 0..<range.count {
            var b = self[range.lowerBound + i]
            if b >= 65 && b <= 90 { b |= 0x20 }
            if b != lit[i] { return false }
        }
        return true
    }
}
