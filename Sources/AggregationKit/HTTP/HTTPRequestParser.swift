#if canImport(Glibc)
import Glibc
#endif
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
public struct HTTPRequestParser: Sendable {
    public enum Result: Sendable {
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

    public let limits: HTTPParserLimits
    private var phase: Phase = .head
    // Head scanning state (offsets into the caller's buffer).
    private var scanned = 0
    private var headStart = 0
    private var lineStart = 0
    // Body state.
    private var position = 0
    private var pending: HTTPRequest?
    private var chunked = ChunkedDecoder()

    public init(limits: HTTPParserLimits = HTTPParserLimits()) { self.limits = limits }

    /// The request whose head is complete but whose body is still arriving (for `Expect: 100-continue`).
    public var requestAwaitingBody: HTTPRequest? { pending }

    /// Whether the parser has seen any byte of a request that is not complete yet.
    public var isMidRequest: Bool {
        if case .head = phase { return scanned > headStart }
        if case .closed = phase { return false }
        if case .upgraded = phase { return false }
        return true
    }

    public mutating func parse(_ bytes: [UInt8]) -> Result {
        bytes.withUnsafeBytes { parse($0) }
    }

    public mutating func parse(_ buffer: UnsafeRawBufferPointer) -> Result {
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
                // No body (a GET): the request's is already empty.
                if length > 0 { pending!.body = Array(UnsafeRawBufferPointer(rebasing: buffer[position..<position + length])) }
                position += length
                return finish()
            case .chunked:
                var request = pending.take()!
                let outcome = chunked.decode(buffer, position: &position, body: &request.body, trailers: &request.trailers, limits: limits)
                pending = request
                switch outcome {
                case .needMore: return .needMore
                case .error(let e): return .error(e)
                case .done: chunked = ChunkedDecoder(); return finish()
                }
            }
        }
    }

    /// While a chunked body is arriving: how many bytes at the front of the caller's buffer are decoded
    /// and no longer needed. The caller drops them from its buffer before the next `parse`, so the raw
    /// buffer holds only undecoded bytes and the body limit applies to the decoded body: a valid body sent
    /// in 1-byte chunks (six bytes of framing per byte) fits as well as one sent in one chunk.
    public mutating func discardDecodedPrefix() -> Int {
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
        /// `method == "CONNECT"`, known from the bytes without a String comparison.
        var isConnect = false
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
        var connection = HTTPWire.ConnectionOptions()
        var hasUpgrade = false
        var expectContinue = false
    }
    private var head = HeadState()

    /// Scans for the end of the head, rejecting bare CR and bare LF as it goes, handling each line as it ends.
    private mutating func scanHead(_ buffer: UnsafeRawBufferPointer) -> ScanResult {
        var i = scanned
        let count = buffer.count
        while i < count {
            // At the start of a line whose bytes are all here, the usual lines are taken in one pass; they
            // are what the search below and `processLine` would accept, with the same ranges and state.
            var atEmptyLine = false
            if i == lineStart {
                if i + 1 < count && buffer[i] == 13 && buffer[i + 1] == 10 {
                    // The end of the head (or an empty line before the request line), as the search finds it.
                    atEmptyLine = true
                } else if head.sawRequestLine, let field = HTTPWire.scanPlainField(buffer, from: i) {
                    if let e = processLine(buffer, i..<field.end, plainField: field) { return .error(e) }
                    lineStart = field.end + 2
                    i = lineStart
                    continue
                } else if !head.sawRequestLine, let line = HTTPWire.scanPlainRequestLine(buffer, from: i) {
                    if let e = processLine(buffer, i..<line.end, plainRequestLine: (line.sp1, line.sp2)) { return .error(e) }
                    lineStart = line.end + 2
                    i = lineStart
                    continue
                }
            }
            if !atEmptyLine {
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
            if !ByteClass.isToken(buffer[i]) { return .invalidMethod }
            i += 1
        }
        guard i < end else { return nil }
        if i == range.lowerBound { return .invalidRequestLine }
        i += 1
        let targetStart = i
        while i < end && buffer[i] != 32 {
            if !ByteClass.isTargetByte(buffer[i]) { return .invalidTarget }
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

    /// One complete line of the head (`range`, without its CR LF). `plainField` / `plainRequestLine`: what
    /// the one-pass scan found on it (`HTTPWire.scanPlainField`, `scanPlainRequestLine`), which the
    /// line-level checks here would find again; the limits are checked all the same, in the same order.
    private mutating func processLine(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>,
                                      plainField: HTTPWire.PlainFieldLine? = nil,
                                      plainRequestLine: (sp1: Int, sp2: Int)? = nil) -> HTTPParseError? {
        if range.upperBound - headStart > limits.maxHeaderBytes {
            return head.sawRequestLine ? .headersTooLarge : .uriTooLong
        }
        if !head.sawRequestLine {
            if range.count > limits.maxRequestLineBytes { return .uriTooLong }
            if let plain = plainRequestLine { return acceptRequestLine(buffer, range, sp1: plain.sp1, sp2: plain.sp2) }
            return parseRequestLine(buffer, range)
        }
        if head.fields.count >= limits.maxHeaderCount { return .tooManyHeaders }
        let name: Range<Int>, value: Range<Int>
        if let plainField {
            (name, value) = (plainField.name, plainField.value)
        } else {
            switch HTTPWire.parseField(buffer, range) {
            case .failure(let e): return e
            case .success(let field): (name, value) = (field.name, field.value)
            }
        }
        // The name is tchars and the value holds no control byte but HTAB, as `equalsLowercaseLiteral` requires.
        switch name.count {
        case 4 where buffer.equalsLowercaseLiteral(name, "host"):
            head.hostCount += 1
            if head.hostCount > 1 { return .multipleHost }
            if !Self.validHost(UnsafeRawBufferPointer(rebasing: buffer[value])) { return .invalidHost }
        case 14 where buffer.equalsLowercaseLiteral(name, "content-length"):
            guard let n = Self.parseContentLength(UnsafeRawBufferPointer(rebasing: buffer[value])) else { return .invalidContentLength }
            if head.contentLength != nil { return .duplicateContentLength }
            head.contentLength = n
        case 17 where buffer.equalsLowercaseLiteral(name, "transfer-encoding"):
            head.sawTransferEncoding = true
            for part in buffer.string(value).split(separator: ",", omittingEmptySubsequences: false) {
                head.transferCodings.append(part.trimmingHTTPWhitespace().lowercased())
            }
        case 10 where buffer.equalsLowercaseLiteral(name, "connection"):
            head.connection.add(buffer, value)
        case 7 where buffer.equalsLowercaseLiteral(name, "upgrade"):
            head.hasUpgrade = true
        case 6 where buffer.equalsLowercaseLiteral(name, "expect"):
            guard buffer.equalsIgnoringCase(value, "100-continue") else { return .unsupportedExpectation }
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
        for j in range.lowerBound..<sp1 where !ByteClass.isToken(buffer[j]) { return .invalidMethod }
        var sp2 = sp1 + 1
        while sp2 < lineEnd && buffer[sp2] != 32 { sp2 += 1 }
        guard sp2 < lineEnd, sp2 > sp1 + 1 else { return .invalidRequestLine }
        for j in (sp1 + 1)..<sp2 where !ByteClass.isTargetByte(buffer[j]) { return .invalidTarget }
        // HTTP-version = "HTTP/" DIGIT "." DIGIT, exactly (case-sensitive).
        let v = sp2 + 1
        guard lineEnd - v == 8, buffer[v] == UInt8(ascii: "H"), buffer[v + 1] == UInt8(ascii: "T"),
              buffer[v + 2] == UInt8(ascii: "T"), buffer[v + 3] == UInt8(ascii: "P"), buffer[v + 4] == UInt8(ascii: "/"),
              buffer[v + 5] >= 48, buffer[v + 5] <= 57, buffer[v + 6] == UInt8(ascii: "."),
              buffer[v + 7] >= 48, buffer[v + 7] <= 57
        else { return .invalidVersion }
        guard buffer[v + 5] == UInt8(ascii: "1"), buffer[v + 7] == UInt8(ascii: "0") || buffer[v + 7] == UInt8(ascii: "1")
        else { return .unsupportedVersion }
        return acceptRequestLine(buffer, range, sp1: sp1, sp2: sp2)
    }

    /// The rest of a request line whose syntax is checked (`parseRequestLine`, or the one-pass scan of a
    /// plain line): the version, the method, the target. `sp1`, `sp2`: the indices of its two spaces.
    private mutating func acceptRequestLine(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>, sp1: Int, sp2: Int) -> HTTPParseError? {
        head.minor = Int(buffer[sp2 + 8] - 48)
        if let method = Self.commonMethod(buffer, range.lowerBound..<sp1) {
            head.method = method.name
            head.isConnect = method.isConnect
        } else {
            head.method = buffer.string(range.lowerBound..<sp1)
            guard Self.knownMethods.contains(head.method) else { return .unknownMethod }
        }
        head.target = buffer.string((sp1 + 1)..<sp2)
        // A target starting with `/` is origin-form: `validTargetForm` says so first, without a look at the method.
        if buffer[sp1 + 1] != UInt8(ascii: "/") {
            guard Self.validTargetForm(head.target, method: head.method) else { return .invalidTarget }
        }
        if let e = Self.pathProblem(UnsafeRawBufferPointer(rebasing: buffer[(sp1 + 1)..<sp2]), allowEncodedSlashes: limits.allowEncodedSlashes) { return e }
        head.sawRequestLine = true
        return nil
    }

    /// The common methods as literals (a String literal costs nothing to make; building one from the bytes
    /// cost some 100 instructions, and comparing it with the known ones as many again), and whether it is
    /// CONNECT. Nil for any other bytes, which are then made a String and looked up in `knownMethods`
    /// (which holds these too).
    @inline(__always)
    private static func commonMethod(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> (name: String, isConnect: Bool)? {
        switch range.count {
        case 3:
            if buffer.equals(range, "GET") { return ("GET", false) }
            if buffer.equals(range, "PUT") { return ("PUT", false) }
        case 4:
            if buffer.equals(range, "POST") { return ("POST", false) }
            if buffer.equals(range, "HEAD") { return ("HEAD", false) }
        case 5:
            if buffer.equals(range, "PATCH") { return ("PATCH", false) }
        case 6:
            if buffer.equals(range, "DELETE") { return ("DELETE", false) }
        case 7:
            if buffer.equals(range, "OPTIONS") { return ("OPTIONS", false) }
            if buffer.equals(range, "CONNECT") { return ("CONNECT", true) }
        default: break
        }
        return nil
    }

    /// Framing and semantics once the head is complete (RFC 9112 §6.3, §3.2). `headBytes`: the head, from
    /// the request line to the CR of its final CRLF CRLF.
    private mutating func finishHead(_ headBytes: UnsafeRawBufferPointer) -> Swift.Result<Framing, HTTPParseError> {
        // Moved out, the parser's left empty for the next request (a copy then a reset cost a retain and a
        // release of each of its Strings and arrays).
        var h = HeadState()
        swap(&h, &head)
        if h.minor == 1 && h.hostCount == 0 { return .failure(.missingHost) }
        var framing = Framing.none
        if h.sawTransferEncoding {
            if h.contentLength != nil { return .failure(.contentLengthAndTransferEncoding) }
            if h.minor == 0 { return .failure(.transferEncodingHTTP10) }
            guard h.transferCodings.last == "chunked",
                  h.transferCodings.filter({ $0 == "chunked" }).count == 1,
                  h.transferCodings.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(ByteClass.isToken) })
            else { return .failure(.invalidTransferEncoding) }
            if h.transferCodings.count > 1 { return .failure(.unsupportedTransferCoding) }
            framing = .chunked
        } else if let n = h.contentLength {
            if n > limits.maxBodyBytes { return .failure(.bodyTooLarge) }
            framing = .length(n)
        }
        let keepAlive = h.connection.close ? false : (h.minor == 1 || h.connection.keepAlive)
        let isUpgrade = h.isConnect || (h.hasUpgrade && h.connection.upgrade)
        // Room for the fields a route's request stages add (`headers`, identity headers: some 100 bytes)
        // without growing the storage; the proxy writes its forwarding fields from a plan, not into it.
        pending = HTTPRequest(method: h.method, target: h.target, versionMinor: h.minor,
                              headers: HTTPHeaders(head: headBytes, fields: h.fields, spareBytes: 128),
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
                if k + 2 < range.upperBound, let h = ByteClass.hexValue(t[k + 1]), let l = ByteClass.hexValue(t[k + 2]) {
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
                    guard let lead = ByteClass.utf8Lead(b) else { return .invalidUTF8 }
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

    /// Host = uri-host [ ":" port ] (RFC 9110 §7.2); empty is allowed. The bytes allowed: ALPHA, DIGIT,
    /// `-._~%!$&'()*+,;=:[]` (`ByteClass.isHostByte`, a table lookup: a `switch` over ranges cost some 16
    /// instructions a byte; `HTTPRequestParserTests.testHostByteSetIsExactlyTheAllowedBytes` checks the set).
    static func validHost(_ value: UnsafeRawBufferPointer) -> Bool {
        for b in value where !ByteClass.isHostByte(b) { return false }
        return true
    }
}

extension HTTPParseError {
    static let fragmentInTarget = bad("fragment_in_target", "a request target cannot contain a fragment ('#')")
    static let dotSegment = bad("dot_segment", "the path contains a '.' or '..' segment (after decoding, or before ';')")
    static let encodedSlash = bad("invalid_path", "the path contains an encoded '/' (%2F)")
    static let backslashInPath = bad("invalid_path", "the path contains a '\\' (raw or %5C)")
    static let nulInPath = bad("invalid_path", "the path contains an encoded NUL (%00)")
    static let malformedPercentEncoding = bad("invalid_path", "the path contains a '%' not followed by two hex digits")
    static let emptySegment = bad("invalid_path", "the path contains an empty segment ('//', also after decoding '%2F')")
    static let invalidUTF8 = bad("invalid_path", "the path contains percent-escapes that are not valid UTF-8 (such as overlong forms)")
}
