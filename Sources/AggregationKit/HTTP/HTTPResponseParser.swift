#if canImport(Glibc)
import Glibc
#endif

/// The upstream client's response parser (RFC 9112 §6.3 framing): Content-Length, chunked, or
/// delimited by the server closing the connection. Pure.
///
/// As strict as the request parser, because an upstream is not trusted to frame correctly and whatever
/// it sends is relayed to a client: a bare CR or LF anywhere in the head, control bytes in a name, value
/// or reason phrase, obs-fold, a repeated `Content-Length`, and any transfer coding other than a lone
/// `chunked` are errors. A `101` is an error too (the gateway does not tunnel); other 1xx responses are
/// interim and skipped. Body bytes are checked against `limits.maxBodyBytes` as they arrive.
public struct HTTPResponseParser: Sendable {
    public enum Result: Sendable {
        case needMore
        case response(HTTPResponse, consumed: Int, keepAlive: Bool)
        /// An interim 1xx response was skipped: drop `consumed` bytes and parse again.
        case interim(consumed: Int)
        case error(HTTPParseError)
    }

    private enum Phase: Sendable { case head, length(Int), chunked, untilClose, failed(HTTPParseError) }

    public let limits: HTTPParserLimits
    /// The request was HEAD: the response has no body whatever its headers say.
    public var requestWasHead: Bool
    private var phase: Phase = .head
    private var scanned = 0
    private var position = 0
    private var response: HTTPResponse?
    private var keepAlive = true
    private var chunked = ChunkedDecoder()
    private var trailers = HTTPHeaders()

    public init(limits: HTTPParserLimits = HTTPParserLimits(), requestWasHead: Bool = false) {
        self.limits = limits
        self.requestWasHead = requestWasHead
    }

    /// Whether any byte of a response has been seen.
    public var hasStarted: Bool { scanned > 0 || position > 0 || response != nil }

    public mutating func parse(_ bytes: [UInt8]) -> Result { bytes.withUnsafeBytes { parse($0) } }

    public mutating func parse(_ buffer: UnsafeRawBufferPointer) -> Result {
        let r = step(buffer)
        if case .error(let e) = r { phase = .failed(e) }
        return r
    }

    /// The connection reached end of file: completes a close-delimited body, otherwise an error if a
    /// response was in progress.
    public mutating func finishAtEOF(_ buffer: UnsafeRawBufferPointer) -> Result {
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
                var outcome = HeadOutcome.notPlain
                if scanned == 0 {
                    // The first look at this head: if it is a plain one, whole in the buffer, its lines are read
                    // in one pass that finds its end too (the empty line after them), with no search first.
                    outcome = parseHead(buffer, headEnd: nil)
                }
                if case .notPlain = outcome {
                    guard let end = findHeadEnd(buffer) else {
                        if buffer.count >= limits.maxHeaderBytes + 4 { return .error(.headersTooLarge) }
                        return .needMore
                    }
                    if case .failure(let e) = end { return .error(e) }
                    guard case .success(let headEnd) = end else { return .needMore }
                    outcome = parseHead(buffer, headEnd: headEnd)
                }
                switch outcome {
                case .notPlain: return .needMore  // not returned when the end is given
                case .failed(let e): return .error(e)
                case .parsed(let next, let headEnd):
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
                // Not `[UInt8](unsafeUninitializedCapacity:)`: that finds the array's class through the runtime
                // (some 300 instructions more than this copy, whose class is cached in the caller).
                if n > 0 { response!.body = Array(UnsafeRawBufferPointer(rebasing: buffer[position..<position + n])) }
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
                case .done: chunked = ChunkedDecoder(); trailers = HTTPHeaders(); return finish()
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
    public mutating func takeConsumedPrefix() -> Int {
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

    private mutating func findHeadEnd(_ buffer: UnsafeRawBufferPointer) -> HTTPWire.LineSearch? {
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

    /// Whether the status line's first 12 bytes are `HTTP/1.x ddd` as the guard in `parseHead` requires.
    @inline(__always)
    private static func statusLinePrefixIsValid(_ buffer: UnsafeRawBufferPointer) -> Bool {
        buffer.equalsIgnoringCase(0..<5, "http/") && buffer[5] == 49 && buffer[6] == 46
            && (buffer[7] == 48 || buffer[7] == 49) && buffer[8] == 32
            && (49...53).contains(buffer[9]) && (48...57).contains(buffer[10]) && (48...57).contains(buffer[11])
    }

    /// The reason phrase as a String: a literal for the usual phrase of the usual statuses (no String to
    /// build: that was some 130 instructions for `OK`), otherwise the bytes decoded. The same value either way.
    @inline(__always)
    private static func reason(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>, status: Int) -> String {
        switch status {
        case 200 where buffer.equals(range, "OK"): return "OK"
        case 201 where buffer.equals(range, "Created"): return "Created"
        case 204 where buffer.equals(range, "No Content"): return "No Content"
        case 206 where buffer.equals(range, "Partial Content"): return "Partial Content"
        case 301 where buffer.equals(range, "Moved Permanently"): return "Moved Permanently"
        case 302 where buffer.equals(range, "Found"): return "Found"
        case 304 where buffer.equals(range, "Not Modified"): return "Not Modified"
        case 400 where buffer.equals(range, "Bad Request"): return "Bad Request"
        case 401 where buffer.equals(range, "Unauthorized"): return "Unauthorized"
        case 403 where buffer.equals(range, "Forbidden"): return "Forbidden"
        case 404 where buffer.equals(range, "Not Found"): return "Not Found"
        case 500 where buffer.equals(range, "Internal Server Error"): return "Internal Server Error"
        case 502 where buffer.equals(range, "Bad Gateway"): return "Bad Gateway"
        case 503 where buffer.equals(range, "Service Unavailable"): return "Service Unavailable"
        default: return range.isEmpty ? "" : buffer.string(range)
        }
    }

    private enum HeadOutcome {
        /// The head ends at `headEnd` (the CR of its final CR LF CR LF); `next` is the phase after it.
        case parsed(Phase, headEnd: Int)
        case failed(HTTPParseError)
        /// (When the end was not given) not a plain head whole in the buffer: find its end and parse again.
        case notPlain
    }

    /// Parses the head that ends at `knownEnd` (the CR of its final CR LF CR LF, from `findHeadEnd`).
    ///
    /// With `knownEnd` nil, the head is read only if it is plain: the status line and every field line
    /// taken by the one-pass scans, up to an empty line within `maxHeaderBytes`, and no error in it.
    /// Anything else gives `notPlain` and changes nothing; the caller then finds the end and parses with
    /// it, which gives every verdict. A plain head's end is where `findHeadEnd` finds it: its lines hold
    /// no CR or LF but their CR LF, so the first CR LF CR LF is the one before the empty line.
    private mutating func parseHead(_ buffer: UnsafeRawBufferPointer, headEnd knownEnd: Int?) -> HeadOutcome {
        let discovering = knownEnd == nil
        // status-line = HTTP-version SP status-code SP [ reason-phrase ]
        let lineEnd: Int
        if (knownEnd.map { $0 >= 13 } ?? (buffer.count > 13)), Self.statusLinePrefixIsValid(buffer), buffer[12] == 32,
           let end = HTTPWire.valueEnd(buffer, from: 13) {
            // The usual line, in one pass: its prefix valid, and from byte 13 the reason phrase's bytes (those
            // of a field value, `valueEnd`) up to a CR LF, which is the line's first CR (bytes 0-12 hold none)
            // with no LF before it. The checks below would find the same end and pass.
            lineEnd = end
        } else {
            guard let headEnd = knownEnd else { return .notPlain }
            switch Self.lineEnd(buffer, from: 0, headEnd: headEnd) {
            case .failure(let e): return .failed(e)
            case .success(let end): lineEnd = end
            }
            guard lineEnd >= 12, Self.statusLinePrefixIsValid(buffer), lineEnd == 12 || buffer[12] == 32
            else { return .failed(.invalidStatusLine) }
            // reason-phrase = *( HTAB / SP / VCHAR / obs-text ): the same bytes as a field value.
            if lineEnd > 13 {
                for j in 13..<lineEnd where !ByteClass.isFieldValue(buffer[j]) { return .failed(.invalidReasonPhrase) }
            }
        }
        // While discovering, an error is not given before the head is known to be whole: `notPlain`, and the
        // parse with the end found gives it.
        func fail(_ e: HTTPParseError) -> HeadOutcome { discovering ? .notPlain : .failed(e) }
        let minor = Int(buffer[7] - 48)
        let status = Int(buffer[9] - 48) * 100 + Int(buffer[10] - 48) * 10 + Int(buffer[11] - 48)
        if status == 101 { return fail(.switchingProtocols) }
        let reason = lineEnd > 13 ? Self.reason(buffer, 13..<lineEnd, status: status) : ""
        // Ranges into the head, which becomes the headers' storage in one copy at the end.
        var fields: [HTTPHeaders.Field] = []
        fields.reserveCapacity(16)
        var contentLength: Int? = nil
        var codings: [String] = []
        var sawTransferEncoding = false
        var connection = HTTPWire.ConnectionOptions()
        var cursor = lineEnd + 2
        var headEnd = knownEnd ?? 0
        while true {
            if let knownEnd {
                if cursor >= knownEnd { break }
            } else if cursor + 1 < buffer.count && buffer[cursor] == 13 && buffer[cursor + 1] == 10 {
                // The empty line: the head ends with the line before it, where `findHeadEnd` would find its end,
                // and within the limit it applies.
                headEnd = cursor - 2
                guard headEnd <= limits.maxHeaderBytes else { return .notPlain }
                break
            }
            let name: Range<Int>, value: Range<Int>, end: Int
            if let line = HTTPWire.scanPlainField(buffer, from: cursor) {
                // Every line ends by `headEnd` (its CR is the first after `cursor`, and there is one at `headEnd`).
                (name, value, end) = (line.name, line.value, line.end)
            } else {
                guard let knownEnd else { return .notPlain }
                if buffer[cursor] == 32 || buffer[cursor] == 9 { return .failed(.obsFold) }
                switch Self.lineEnd(buffer, from: cursor, headEnd: knownEnd) {
                case .failure(let e): return .failed(e)
                case .success(let e): end = e
                }
                switch HTTPWire.parseField(buffer, cursor..<end) {
                case .failure(let e): return .failed(e)
                case .success(let field): (name, value) = (field.name, field.value)
                }
            }
            // Names are tchars here, as `equalsLowercaseLiteral` requires.
            switch name.count {
            case 14 where buffer.equalsLowercaseLiteral(name, "content-length"):
                // One Content-Length, as nginx requires of an upstream: a repeat is a framing dispute.
                guard contentLength == nil else { return fail(.duplicateContentLength) }
                guard let n = HTTPRequestParser.parseContentLength(UnsafeRawBufferPointer(rebasing: buffer[value])) else { return fail(.invalidContentLength) }
                contentLength = n
            case 17 where buffer.equalsLowercaseLiteral(name, "transfer-encoding"):
                sawTransferEncoding = true
                codings += buffer.string(value).split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingHTTPWhitespace().lowercased() }
            case 10 where buffer.equalsLowercaseLiteral(name, "connection"):
                connection.add(buffer, value)
            default: break
            }
            fields.append(HTTPHeaders.field(name: name, value: value))
            if fields.count > limits.maxHeaderCount { return fail(.tooManyHeaders) }
            cursor = end + 2
        }
        if status < 200 {
            // 100, 102, 103: interim, the final response follows.
            return .parsed(.head, headEnd: headEnd)
        }
        keepAlive = !connection.close && (minor == 1 || connection.keepAlive)
        // Room for the `Via` a proxy appends (`ProxyHandler.passBack`) and the fields a route's stages add
        // (CORS, `headers`, `Vary`: some 100 bytes) without growing the storage.
        let headers = HTTPHeaders(head: UnsafeRawBufferPointer(rebasing: buffer[0..<headEnd]), fields: fields, spareBytes: 256)
        // The memberwise initializer: see the note on `HTTPResponse`'s initializers.
        response = HTTPResponse(status: status, reason: reason, headers: headers, body: [], viaHop: nil)
        if requestWasHead || status == 204 || status == 304 { return .parsed(.length(0), headEnd: headEnd) }
        if sawTransferEncoding {
            if contentLength != nil { return .failed(.contentLengthAndTransferEncoding) }
            // Only a lone `chunked`, as nginx accepts from an upstream. `gzip, chunked` would need the
            // gzip passed on as a Content-Encoding (which it is not: a transfer coding is hop-by-hop), and a
            // list not ending in chunked is delimited by the close alone (RFC 9112 §6.3), which a
            // gateway cannot tell from a truncated answer. HTTP/1.0 has no Transfer-Encoding (§6.1).
            guard minor == 1, codings.count == 1, codings[0] == "chunked" else { return .failed(.unsupportedResponseTransferCoding) }
            return .parsed(.chunked, headEnd: headEnd)
        }
        if let n = contentLength {
            if n > limits.maxBodyBytes { return .failed(.bodyTooLarge) }
            return .parsed(.length(n), headEnd: headEnd)
        }
        keepAlive = false
        return .parsed(.untilClose, headEnd: headEnd)
    }
}

extension HTTPParseError {
    static let invalidStatusLine = bad("invalid_status_line", "invalid status line from upstream")
    static let invalidReasonPhrase = bad("invalid_reason_phrase", "control character in the reason phrase")
    static let switchingProtocols = bad("switching_protocols", "the upstream switched protocols (101), which the gateway does not tunnel")
    static let unsupportedResponseTransferCoding = bad("invalid_transfer_encoding", "a transfer coding other than a lone 'chunked' in an HTTP/1.1 response")
}
