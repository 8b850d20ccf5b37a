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
        serialize(response, headRequest: headRequest, close: close, keepAliveHTTP10: keepAliveHTTP10, date: date,
                  id: requestID.map(RequestID.init), into: &out)
    }

    /// As above, with the request's ID written from its parts (no String made for it).
    static func serialize(_ response: HTTPResponse, headRequest: Bool, close: Bool, keepAliveHTTP10: Bool = false,
                          date: String? = nil, id requestID: RequestID?, into out: inout [UInt8]) {
        out.append(head: Head(response: response, headRequest: headRequest, close: close, keepAliveHTTP10: keepAliveHTTP10,
                              date: date, requestID: requestID))
        if !headRequest && HTTPResponse.statusAllowsBody(response.status) {
            out.append(contentsOf: response.body)
        }
    }

    /// The status line and the fields, written to a `ByteSink` (counted, then written).
    private struct Head: MessageHead {
        let response: HTTPResponse
        let headRequest: Bool
        let close: Bool
        let keepAliveHTTP10: Bool
        let date: String?
        let requestID: RequestID?

        var maxByteCount: Int {
            let reason = HTTPStatus.reasonLiteral(response.status).map(\.utf8CodeUnitCount) ?? HTTPStatus.reason(response.status).utf8.count
            // Status line (the status as up to 20 digits), the fields, X-Request-ID, Date, Content-Length
            // (up to 20 digits; a HEAD's given value is one of the fields), Connection, the blank line.
            return 9 + 20 + 1 + reason + 2 + response.headers.serializedFieldBytes
                + 16 + (requestID?.utf8Count ?? 0) + 8 + (date?.utf8.count ?? 0)
                + 16 + 20 + 2 + 24 + 2 + (response.viaHop.map { 7 + $0.utf8.count } ?? 0)
        }

        func write<Sink: ByteSink>(to sink: inout Sink) {
            let status = response.status
            sink.write("HTTP/1.1 ")
            sink.write(decimal: status)
            sink.write(byte: 32)
            if let reason = HTTPStatus.reasonLiteral(status) { sink.write(reason) } else { sink.write(HTTPStatus.reason(status)) }
            sink.write("\r\n")
            var givenLength: Int? = nil
            var hasDate = false
            let headers = response.headers
            let hasRequestID = requestID != nil
            // A proxied response whose hop fields no stage reads or edits (`HTTPResponse.viaHop`):
            // `ProxyHandler.passBack`'s edits are made here. The upstream's hop-by-hop fields are dropped
            // (`HopByHop`; a `Connection` naming others never takes this path) and its `Via` fields become
            // one, with our hop, after the rest.
            let viaHop = response.viaHop
            let passing = viaHop != nil
            headers.withRawFields { fields in
                var vias = 0
                for i in 0..<fields.count {
                    switch fields.nameLength(at: i) {
                    case 14 where fields.nameIs(at: i, "content-length"):
                        givenLength = i
                        continue
                    case 17 where fields.nameIs(at: i, "transfer-encoding"): continue
                    case 10 where fields.nameIs(at: i, "connection") || fields.nameIs(at: i, "keep-alive"): continue
                    case 4 where fields.nameIs(at: i, "date"): hasDate = true
                    case 12 where hasRequestID && fields.nameIs(at: i, "x-request-id"): continue
                    case 3 where passing && fields.nameIs(at: i, "via"):
                        vias += 1
                        continue
                    default:
                        if passing && HopByHop.isNamed(fields, i) { continue }
                    }
                    fields.write(fieldAt: i, to: &sink)
                }
                guard let viaHop else { return }
                sink.write("Via: ")
                if vias > 0 {
                    for i in 0..<fields.count where fields.nameLength(at: i) == 3 && fields.nameIs(at: i, "via") {
                        sink.write(fields.value(at: i))
                        sink.write(", ")
                    }
                }
                sink.write(viaHop)
                sink.write("\r\n")
            }
            if let requestID {
                sink.write("X-Request-ID: ")
                requestID.write(to: &sink)
                sink.write("\r\n")
            }
            if let date, !hasDate { sink.writeField("Date", date) }
            if HTTPResponse.statusAllowsBody(status) {
                sink.write("Content-Length: ")
                if headRequest, response.body.isEmpty, let givenLength {
                    headers.withValueBytes(at: givenLength) { sink.write(UnsafeRawBufferPointer($0)) }
                } else {
                    sink.write(decimal: response.body.count)
                }
                sink.write("\r\n")
            }
            if close {
                sink.write("Connection: close\r\n")
            } else if keepAliveHTTP10 {
                sink.write("Connection: keep-alive\r\n")
            }
            sink.write("\r\n")
        }
    }
}
