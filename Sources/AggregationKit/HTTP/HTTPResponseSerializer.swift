/// Writes a response head and body as HTTP/1.1 bytes. Pure.
public enum HTTPResponseSerializer {
    /// Serializes `response`. Framing headers of the response (Content-Length, Transfer-Encoding,
    /// Connection) are replaced by our own: the body is always sent with Content-Length. The status line
    /// is our own too: the standard reason phrase of the status, never `response.reason` (which may be an
    /// upstream's, and an upstream's bytes must not shape our status line).
    /// - Parameters:
    ///   - headRequest: the request was HEAD: no body is written, a Content-Length already given is kept.
    ///   - close: add `Connection: close`.
    ///   - requestID: written as `X-Request-ID` in place of any the response has (the server's answer to
    ///     every routed request). Set here rather than in the headers, where replacing a field costs a
    ///     copy of the field list and a grown storage per response.
    public static func serialize(_ response: HTTPResponse, headRequest: Bool, close: Bool, keepAliveHTTP10: Bool = false,
                                 date: String? = nil, requestID: String? = nil, into out: inout [UInt8]) {
        let status = response.status
        out.append(contentsOf: "HTTP/1.1 \(status) ".utf8)
        out.append(contentsOf: HTTPStatus.reason(status).utf8)
        out.append(13); out.append(10)
        var givenLength: String? = nil
        var hasDate = false
        let headers = response.headers
        for i in 0..<headers.count {
            switch headers.nameLength(at: i) {
            case 14 where headers.nameEquals(at: i, "content-length"):
                givenLength = headers.value(at: i)
                continue
            case 17 where headers.nameEquals(at: i, "transfer-encoding"): continue
            case 10 where headers.nameEquals(at: i, "connection") || headers.nameEquals(at: i, "keep-alive"): continue
            case 4 where headers.nameEquals(at: i, "date"): hasDate = true
            case 12 where requestID != nil && headers.nameEquals(at: i, "x-request-id"): continue
            default: break
            }
            headers.write(fieldAt: i, into: &out)
        }
        if let requestID { appendField("X-Request-ID", requestID, into: &out) }
        if let date, !hasDate { appendField("Date", date, into: &out) }
        if HTTPResponse.statusAllowsBody(status) {
            if headRequest, response.body.isEmpty, let givenLength {
                appendField("Content-Length", givenLength, into: &out)
            } else {
                appendField("Content-Length", String(response.body.count), into: &out)
            }
        }
        if close {
            appendField("Connection", "close", into: &out)
        } else if keepAliveHTTP10 {
            appendField("Connection", "keep-alive", into: &out)
        }
        out.append(13); out.append(10)
        if !headRequest && HTTPResponse.statusAllowsBody(status) {
            out.append(contentsOf: response.body)
        }
    }

    @inline(__always) static func appendField(_ name: String, _ value: String, into out: inout [UInt8]) {
        out.append(contentsOf: name.utf8)
        out.append(58); out.append(32)
        out.append(contentsOf: value.utf8)
        out.append(13); out.append(10)
    }
}
