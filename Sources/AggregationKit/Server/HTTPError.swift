/// A client-facing error: it renders itself as an RFC 9457 problem document.
/// `code` is stable (documented, safe as a metric label); `detail` is for humans.
///
/// `detail` goes to the client, so it names the service or call and never carries addresses, system error
/// text or downstream content; what an operator needs beyond that goes in `internalDetail`, which is
/// only logged (with the request id), never rendered.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let detail: String
    public var extraHeaders: HTTPHeaders
    /// Extra members of the problem document (RFC 9457 §3.2), e.g. `call` for a failed downstream call.
    public var extensions: [(String, String)]
    /// The full story for the log (addresses, errno text, the violated values); never sent to the client.
    public var internalDetail: String?

    public init(status: Int, code: String, detail: String, headers: HTTPHeaders = HTTPHeaders(), extensions: [(String, String)] = [],
                internalDetail: String? = nil) {
        self.status = status
        self.code = code
        self.detail = detail
        self.extraHeaders = headers
        self.extensions = extensions
        self.internalDetail = internalDetail
    }

    /// The access log's account of this error: the stable code and the full internal detail.
    public var logText: String { "\(code): \(internalDetail ?? detail)" }

    public var description: String { "\(status) \(code): \(detail)" }

    public static func notFound(_ detail: String = "no route matches this path") -> HTTPError { .init(status: 404, code: "not_found", detail: detail) }
    public static func badGateway(_ detail: String) -> HTTPError { .init(status: 502, code: "bad_gateway", detail: detail) }
    public static func gatewayTimeout(_ detail: String) -> HTTPError { .init(status: 504, code: "gateway_timeout", detail: detail) }
    public static func serviceUnavailable(_ detail: String) -> HTTPError { .init(status: 503, code: "service_unavailable", detail: detail) }

    /// The problem document for this error.
    public func response(requestID: String?) -> HTTPResponse {
        var body = "{\"type\":\"urn:bff-gateway:problem:\(code)\",\"title\":"
        JSONText.appendQuoted(HTTPStatus.reason(status), to: &body)
        body += ",\"status\":\(status),\"detail\":"
        JSONText.appendQuoted(detail, to: &body)
        for (name, value) in extensions {
            body += ","
            JSONText.appendQuoted(name, to: &body)
            body += ":"
            JSONText.appendQuoted(value, to: &body)
        }
        if let requestID {
            body += ",\"requestId\":"
            JSONText.appendQuoted(requestID, to: &body)
        }
        body += "}"
        var headers = extraHeaders
        headers.add("Content-Type", "application/problem+json")
        return HTTPResponse(status: status, headers: headers, body: Array(body.utf8))
    }
}

/// Small helpers for writing JSON text by hand (log lines, problem documents).
public enum JSONText {
    public static func appendQuoted(_ s: String, to out: inout String) {
        out.append("\"")
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append("\"")
    }

    public static func quoted(_ s: String) -> String {
        var out = ""
        appendQuoted(s, to: &out)
        return out
    }
}
