/// A request to send upstream.
public struct UpstreamRequest: Sendable {
    public var method: String
    public var target: String
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Set by a proxy route: `headers` are the client's own, and the plan says which of them go upstream
    /// and which forwarding fields follow (see `ProxyHandler.forwardingPlan`). The serializer writes them
    /// straight into the connection's output, with no second field list.
    /// Spelled `Optional<…>`, not `…?`, so that it has no implicit `nil` default: an init that stores a plan
    /// then stores it once, and returns its value without the copy-and-destroy the second store left behind.
    var forwarding: Optional<ForwardingPlan>

    /// The proxy's forwarding fields over the client's: `skip` bit `i` drops the client's field `i`; then
    /// `X-Forwarded-For`, `X-Forwarded-Proto: http`, `X-Forwarded-Host` (the value of the client's `Host`,
    /// field `hostField`), `Via`, `X-Request-ID`, and with `preserveHost` the client's `Host` (the upstream
    /// then adds none of its own). The order of `ProxyHandler.forwardedHeaders`.
    struct ForwardingPlan: Sendable {
        var skip: UInt64
        var forwardedFor: String
        var hostField: Int?
        var via: String
        var requestID: RequestID
        var preserveHost: Bool
    }

    public init(method: String, target: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        forwarding = nil
    }

    /// A proxy route's request: the client's method, fields and body, moved out of it (the request is
    /// consumed), and the plan of what goes upstream (see `forwarding`).
    init(_ request: consuming HTTPRequest, target: String, forwarding: ForwardingPlan) {
        method = request.method
        self.target = target
        headers = request.headers
        body = request.body
        self.forwarding = forwarding
    }

    var isIdempotent: Bool { ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"].contains(method) }
}

extension UpstreamRequest {
    /// The request's bytes, in one pass over its fields: `Host: authority` is added when the request has
    /// no `Host` (the instance is picked after the request is built, so its caller cannot know it), and
    /// with `closeConnection` (`pool.reuse: false`) any `Connection` field is replaced by
    /// `Connection: close`. `Content-Length` is the gateway's own and `Transfer-Encoding` is never sent:
    /// the body is whole. Writing the extra fields here rather than into `headers` keeps the request's
    /// header storage shared with the caller (no copy per call).
    func serialize(authority: String, closeConnection: Bool, into out: inout [UInt8]) {
        out.append(head: Head(request: self, authority: authority, closeConnection: closeConnection))
        out.append(contentsOf: body)
    }

    /// The request line and the fields, written to a `ByteSink` (counted, then written).
    private struct Head: MessageHead {
        let request: UpstreamRequest
        let authority: String
        let closeConnection: Bool

        var maxByteCount: Int {
            let headers = request.headers
            // Request line, the fields, Host, Connection: close, Content-Length (up to 20 digits), blank line.
            var bound = request.method.utf8.count + 1 + request.target.utf8.count + 11 + headers.serializedFieldBytes
                + 8 + authority.utf8.count + 19 + 16 + 20 + 2 + 2
            if let plan = request.forwarding {
                // X-Forwarded-For, -Proto, -Host and Host (the client's Host value, twice), Via, X-Request-ID.
                let host = plan.hostField.map { headers.valueLength(at: $0) } ?? 0
                bound += 19 + plan.forwardedFor.utf8.count + 25 + 20 + host + 7 + plan.via.utf8.count
                    + 16 + plan.requestID.utf8Count + 8 + host
            }
            return bound
        }

        func write<Sink: ByteSink>(to sink: inout Sink) {
            let method = request.method, headers = request.headers
            sink.write(method)
            sink.write(byte: 32)
            sink.write(request.target)
            sink.write(" HTTP/1.1\r\n")
            var sawHost = false
            let closeConnection = closeConnection
            let plan = request.forwarding
            let skip = plan?.skip ?? 0
            headers.withRawFields { fields in
                for i in 0..<fields.count {
                    if skip & (1 << UInt64(i & 63)) != 0 { continue }
                    switch fields.nameLength(at: i) {
                    case 4 where fields.nameIs(at: i, "host"): sawHost = true
                    case 10 where closeConnection && fields.nameIs(at: i, "connection"): continue
                    case 14 where fields.nameIs(at: i, "content-length"): continue
                    case 17 where fields.nameIs(at: i, "transfer-encoding"): continue
                    default: break
                    }
                    fields.write(fieldAt: i, to: &sink)
                }
                guard let plan else { return }
                sink.writeField("X-Forwarded-For", plan.forwardedFor)
                sink.write("X-Forwarded-Proto: http\r\n")
                if let host = plan.hostField {
                    sink.write("X-Forwarded-Host: ")
                    sink.write(fields.value(at: host))
                    sink.write("\r\n")
                }
                sink.writeField("Via", plan.via)
                sink.write("X-Request-ID: ")
                plan.requestID.write(to: &sink)
                sink.write("\r\n")
                if plan.preserveHost, let host = plan.hostField {
                    sink.write("Host: ")
                    sink.write(fields.value(at: host))
                    sink.write("\r\n")
                    sawHost = true
                }
            }
            if !sawHost { sink.writeField("Host", authority) }
            if closeConnection { sink.write("Connection: close\r\n") }
            if !request.body.isEmpty || method.isExactly("POST") || method.isExactly("PUT") || method.isExactly("PATCH") {
                sink.write("Content-Length: ")
                sink.write(decimal: request.body.count)
                sink.write("\r\n")
            }
            sink.write("\r\n")
        }
    }
}
