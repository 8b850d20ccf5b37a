/// Every limit the HTTP/1.1 parsers enforce, in one value. Defaults follow nginx where it has one.
public struct HTTPParserLimits: Sendable, Equatable {
    /// Request line longer than this: 414 URI Too Long (nginx: 8 KiB large header buffer).
    public var maxRequestLineBytes: Int = 8 * 1024
    /// Request line plus header fields longer than this: 431.
    public var maxHeaderBytes: Int = 16 * 1024
    /// More header fields (or trailer fields) than this: 431.
    public var maxHeaderCount: Int = 100
    /// Body (after de-chunking) longer than this: 413 (nginx `client_max_body_size` 1m).
    public var maxBodyBytes: Int = 1024 * 1024
    /// A chunk-size line (with extensions) longer than this: 400.
    public var maxChunkLineBytes: Int = 1024
    /// Whether a path segment may contain an encoded `/` (`%2F`). Off by default, as Apache's
    /// `AllowEncodedSlashes Off`: servers disagree on whether `a%2Fb` is one segment or two, and a
    /// gateway that routes on one reading while the upstream acts on the other can be walked around.
    /// Dot segments (also `..%2F`), `\`, `%5C` and `%00` are refused either way.
    public var allowEncodedSlashes: Bool = false

    public init() {}
}

/// Why a request was refused. `status` is what the client gets; `code` is stable and safe as a metric label.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let detail: String

    public init(status: Int, code: String, detail: String) {
        self.status = status
        self.code = code
        self.detail = detail
    }

    public static func == (a: HTTPParseError, b: HTTPParseError) -> Bool { a.status == b.status && a.code == b.code }
    public var description: String { "\(status) \(code): \(detail)" }

    static func bad(_ code: String, _ detail: String) -> HTTPParseError { .init(status: 400, code: code, detail: detail) }
    static let bareLF = bad("bare_lf", "bare LF used as a line ending")
    static let bareCR = bad("bare_cr", "CR not followed by LF")
    static let obsFold = bad("obs_fold", "obsolete line folding in a header field")
    static let headerNameSpace = bad("header_name_whitespace", "whitespace between a header name and the colon")
    static let invalidHeaderName = bad("invalid_header_name", "invalid character in a header name")
    static let invalidHeaderValue = bad("invalid_header_value", "control character in a header value")
    static let missingColon = bad("missing_colon", "header line without a colon")
    static let invalidMethod = bad("invalid_method", "invalid method token")
    static let invalidTarget = bad("invalid_target", "invalid request target")
    static let invalidRequestLine = bad("invalid_request_line", "request line is not 'method SP target SP HTTP/x.y'")
    static let invalidVersion = bad("invalid_version", "malformed HTTP version")
    static let unsupportedVersion = HTTPParseError(status: 505, code: "version_not_supported", detail: "only HTTP/1.0 and HTTP/1.1 are supported")
    static let unknownMethod = HTTPParseError(status: 501, code: "method_not_implemented", detail: "method not implemented")
    static let missingHost = bad("missing_host", "an HTTP/1.1 request needs exactly one Host header")
    static let multipleHost = bad("multiple_host", "more than one Host header")
    static let invalidHost = bad("invalid_host", "invalid Host header")
    static let invalidContentLength = bad("invalid_content_length", "invalid Content-Length")
    static let duplicateContentLength = bad("duplicate_content_length", "more than one Content-Length")
    static let contentLengthAndTransferEncoding = bad("content_length_and_transfer_encoding", "both Content-Length and Transfer-Encoding")
    static let invalidTransferEncoding = bad("invalid_transfer_encoding", "Transfer-Encoding must end in a single 'chunked'")
    static let transferEncodingHTTP10 = bad("transfer_encoding_http10", "Transfer-Encoding in an HTTP/1.0 request")
    static let unsupportedTransferCoding = HTTPParseError(status: 501, code: "transfer_coding_not_implemented", detail: "only the chunked transfer coding is implemented")
    static let invalidChunkSize = bad("invalid_chunk_size", "invalid chunk size")
    static let invalidChunkExtension = bad("invalid_chunk_extension", "invalid chunk extension")
    static let chunkLineTooLong = bad("chunk_line_too_long", "chunk-size line too long")
    static let missingChunkCRLF = bad("invalid_chunk_data", "chunk data not followed by CRLF")
    static let unsupportedExpectation = HTTPParseError(status: 417, code: "expectation_failed", detail: "only 'Expect: 100-continue' is supported")
    static let uriTooLong = HTTPParseError(status: 414, code: "uri_too_long", detail: "request line too long")
    static let headersTooLarge = HTTPParseError(status: 431, code: "header_section_too_large", detail: "header section too large")
    static let tooManyHeaders = HTTPParseError(status: 431, code: "too_many_headers", detail: "too many header fields")
    static let bodyTooLarge = HTTPParseError(status: 413, code: "body_too_large", detail: "request body too large")
    static let dataAfterClose = bad("data_after_close", "data after a request that closes the connection")
}
