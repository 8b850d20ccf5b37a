/// A complete request as parsed from the wire. The body is fully buffered (bounded by the parser's limits),
/// as nginx does with `proxy_request_buffering on`.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target exactly as received (origin-form `/path?query`, absolute-form, `*`).
    public var target: String
    public var versionMinor: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var trailers: HTTPHeaders
    /// Whether the connection may carry another request after this one.
    public var keepAlive: Bool
    /// `CONNECT` or `Connection: upgrade` + `Upgrade`; the bytes after it are not HTTP/1.1.
    public var isUpgrade: Bool
    public var expectsContinue: Bool

    public init(method: String, target: String, versionMinor: Int = 1, headers: HTTPHeaders = HTTPHeaders(),
                body: [UInt8] = [], trailers: HTTPHeaders = HTTPHeaders(), keepAlive: Bool = true,
                isUpgrade: Bool = false, expectsContinue: Bool = false) {
        self.method = method
        self.target = target
        self.versionMinor = versionMinor
        self.headers = headers
        self.body = body
        self.trailers = trailers
        self.keepAlive = keepAlive
        self.isUpgrade = isUpgrade
        self.expectsContinue = expectsContinue
    }

    /// The path part of the target (before `?` or `#`).
    public var path: Substring { Self.path(of: target) }

    /// The path part of `target` (before `?` or `#`).
    static func path(of target: String) -> Substring {
        let utf8 = target.utf8
        // Over the bytes of a native String where it has them (the parser's targets): the generic index
        // walk cost some 200 instructions per request.
        let end: Int?? = utf8.withContiguousStorageIfAvailable { bytes -> Int? in
            for i in 0..<bytes.count where bytes[i] == UInt8(ascii: "?") || bytes[i] == UInt8(ascii: "#") { return i }
            return nil
        }
        if let end {
            guard let end else { return target[...] }
            return target[target.startIndex..<utf8.index(utf8.startIndex, offsetBy: end)]
        }
        if let q = utf8.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            return target[target.startIndex..<q]
        }
        return target[...]
    }

    /// The query part of the target (after `?`, before `#`), or nil.
    public var query: Substring? {
        // By bytes (`?` and `#` are ASCII): a search by Character cost some 4k instructions per call.
        let utf8 = target.utf8
        guard let q = utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        let start = utf8.index(after: q)
        let end = utf8[start...].firstIndex(of: UInt8(ascii: "#")) ?? utf8.endIndex
        return target[start..<end]
    }
}

/// A response to send, or one received from upstream. The body is fully buffered.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// The reason phrase received (from an upstream), for logs and tests. Never sent: the serializer writes
    /// the standard phrase of `status`.
    public var reason: String?
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Set by a proxy route whose stages leave the hop fields alone (`ProxyHandler.passBack`,
    /// `RequestStage.leavesHopFieldsAlone`): the upstream's fields are passed as they came, and the
    /// serializer drops the hop-by-hop ones and the upstream's `Via`, and writes one `Via` of theirs
    /// followed by this hop, where `passBack` would have edited the fields.
    /// The bytes are the same (`PassBackInSerializerTests`); the edit and a copy are saved.
    var viaHop: String? = nil
}

// The initializers are declared in an extension so that the struct keeps its implicit memberwise one
// (`init(status:reason:headers:body:viaHop:)`, internal), which the response parser uses: it builds the
// value in place, where an initializer written out (even one just assigning the fields) built it, copied it
// and destroyed the original (an outlined copy and destroy, a retain and a release of each buffer: some 280
// instructions per response). Both give the same value.
extension HTTPResponse {
    public init(status: Int, reason: String? = nil, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
    }

    public init(status: Int, contentType: String, body: String) {
        self.init(status: status, headers: HTTPHeaders([("Content-Type", contentType)]), body: Array(body.utf8))
    }

    /// Whether a response with this status can carry a body (RFC 9110 §6.4.1).
    public static func statusAllowsBody(_ status: Int) -> Bool {
        !(status < 200 || status == 204 || status == 304)
    }
}

public enum HTTPStatus {
    /// The standard reason phrase of `status` (the IANA registry), the only one the gateway ever sends.
    public static func reason(_ status: Int) -> String {
        reasonLiteral(status).map { $0.description } ?? "Status \(status)"
    }

    /// The registered reason phrase of `status` as a literal (the serializer writes its bytes without
    /// opening a String), nil for a status without one.
    static func reasonLiteral(_ status: Int) -> StaticString? {
        switch status {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 102: return "Processing"
        case 103: return "Early Hints"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 203: return "Non-Authoritative Information"
        case 204: return "No Content"
        case 205: return "Reset Content"
        case 206: return "Partial Content"
        case 207: return "Multi-Status"
        case 208: return "Already Reported"
        case 226: return "IM Used"
        case 300: return "Multiple Choices"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 304: return "Not Modified"
        case 305: return "Use Proxy"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 402: return "Payment Required"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 406: return "Not Acceptable"
        case 407: return "Proxy Authentication Required"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 412: return "Precondition Failed"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 416: return "Range Not Satisfiable"
        case 417: return "Expectation Failed"
        case 421: return "Misdirected Request"
        case 422: return "Unprocessable Content"
        case 423: return "Locked"
        case 424: return "Failed Dependency"
        case 425: return "Too Early"
        case 426: return "Upgrade Required"
        case 428: return "Precondition Required"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 451: return "Unavailable For Legal Reasons"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        case 506: return "Variant Also Negotiates"
        case 507: return "Insufficient Storage"
        case 508: return "Loop Detected"
        case 511: return "Network Authentication Required"
        default: return nil
        }
    }
}
