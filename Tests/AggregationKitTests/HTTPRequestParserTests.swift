import XCTest
import Foundation
@testable import AggregationKit

final class HTTPRequestParserTests: XCTestCase {
    private func parseAll(_ text: String, limits: HTTPParserLimits = HTTPParserLimits()) -> (requests: [HTTPRequest], error: HTTPParseError?, leftover: Int) {
        parseAll(Array(text.utf8), limits: limits)
    }

    private func parseAll(_ bytes: [UInt8], limits: HTTPParserLimits = HTTPParserLimits(), chunk: Int? = nil) -> (requests: [HTTPRequest], error: HTTPParseError?, leftover: Int) {
        var parser = HTTPRequestParser(limits: limits)
        var buffer: [UInt8] = []
        var requests: [HTTPRequest] = []
        var offset = 0
        let step = chunk ?? max(bytes.count, 1)
        while offset < bytes.count || buffer.count > 0 {
            if offset < bytes.count {
                buffer.append(contentsOf: bytes[offset..<min(bytes.count, offset + step)])
                offset += step
            }
            inner: while true {
                switch parser.parse(buffer) {
                case .needMore:
                    // As the server does: decoded chunked bytes leave the buffer at once.
                    buffer.removeFirst(parser.discardDecodedPrefix())
                    break inner
                case .error(let e): return (requests, e, buffer.count)
                case .request(let r, let consumed):
                    requests.append(r)
                    buffer.removeFirst(consumed)
                }
            }
            if offset >= bytes.count { break }
        }
        return (requests, nil, buffer.count)
    }

    private func assertRejects(_ text: String, _ status: Int, _ code: String? = nil, limits: HTTPParserLimits = HTTPParserLimits(), file: StaticString = #filePath, line: UInt = #line) {
        let r = parseAll(text, limits: limits)
        XCTAssertNotNil(r.error, "expected rejection of \(text.debugDescription)", file: file, line: line)
        XCTAssertEqual(r.error?.status, status, "\(String(describing: r.error))", file: file, line: line)
        if let code { XCTAssertEqual(r.error?.code, code, file: file, line: line) }
        XCTAssertTrue(r.requests.isEmpty, file: file, line: line)
    }

    func testSimpleGet() {
        let r = parseAll("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n")
        XCTAssertNil(r.error)
        XCTAssertEqual(r.requests.count, 1)
        let req = r.requests[0]
        XCTAssertEqual(req.method, "GET")
        XCTAssertEqual(req.target, "/a/b?x=1")
        XCTAssertEqual(req.path, "/a/b")
        XCTAssertEqual(req.query, "x=1")
        XCTAssertEqual(req.headers["host"], "example.com")
        XCTAssertTrue(req.keepAlive)
        XCTAssertEqual(r.leftover, 0)
    }

    func testContentLengthBodyAndPipelining() {
        let r = parseAll("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /q HTTP/1.1\r\nHost: h\r\n\r\n")
        XCTAssertNil(r.error)
        XCTAssertEqual(r.requests.map(\.target), ["/p", "/q"])
        XCTAssertEqual(String(decoding: r.requests[0].body, as: UTF8.self), "hello")
    }

    func testChunkedBodyWithExtensionsAndTrailers() {
        let text = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c=\"d e\"\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n"
        for chunk in [1, 2, 3, 7, 1000] {
            let r = parseAll(Array(text.utf8), chunk: chunk)
            XCTAssertNil(r.error, "chunk \(chunk)")
            XCTAssertEqual(r.requests.count, 1)
            XCTAssertEqual(String(decoding: r.requests[0].body, as: UTF8.self), "hello world")
            XCTAssertEqual(r.requests[0].trailers["x-sum"], "42")
        }
    }

    func testKeepAliveRules() {
        XCTAssertFalse(parseAll("GET / HTTP/1.0\r\n\r\n").requests[0].keepAlive)
        XCTAssertTrue(parseAll("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").requests[0].keepAlive)
        XCTAssertFalse(parseAll("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").requests[0].keepAlive)
        XCTAssertTrue(parseAll("GET / HTTP/1.1\r\nHost: h\r\n\r\n").requests[0].keepAlive)
    }

    func testLeadingEmptyLinesIgnored() {
        let r = parseAll("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        XCTAssertNil(r.error)
        XCTAssertEqual(r.requests.count, 1)
    }

    func testExpectContinueVisibleBeforeBody() {
        var parser = HTTPRequestParser()
        let head = Array("PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n".utf8)
        guard case .needMore = parser.parse(head) else { return XCTFail() }
        XCTAssertEqual(parser.requestAwaitingBody?.expectsContinue, true)
        guard case .request(let r, _) = parser.parse(head + Array("abc".utf8)) else { return XCTFail() }
        XCTAssertEqual(r.body, Array("abc".utf8))
    }

    // MARK: every rejection, with its status

    func testRejectsContentLengthWithTransferEncoding() {
        assertRejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "content_length_and_transfer_encoding")
    }
    func testRejectsDifferingContentLengths() { assertRejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "duplicate_content_length") }
    func testRejectsInvalidContentLength() {
        assertRejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400, "invalid_content_length")
        assertRejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1,1\r\n\r\n", 400, "invalid_content_length")
        assertRejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "invalid_content_length")
        assertRejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400, "invalid_content_length")
    }
    func testRejectsTransferEncodingNotFinalChunked() {
        assertRejects("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, "invalid_transfer_encoding")
        assertRejects("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 400, "invalid_transfer_encoding")
        assertRejects("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "invalid_transfer_encoding")
        assertRejects("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "transfer_coding_not_implemented")
    }
    func testRejectsInvalidChunkSizes() {
        let head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        assertRejects(head + "zz\r\n", 400, "invalid_chunk_size")
        assertRejects(head + "-1\r\n", 400, "invalid_chunk_size")
        assertRejects(head + "a \r\n", 400, "invalid_chunk_size")
        assertRejects(head + "1000000000000000\r\n", 400, "invalid_chunk_size")
        assertRejects(head + "2;\r\naa\r\n0\r\n\r\n", 400, "invalid_chunk_extension")
        assertRejects(head + "2;a=\"b\r\naa\r\n0\r\n\r\n", 400, "invalid_chunk_extension")
        assertRejects(head + "2\r\naaX\r\n0\r\n\r\n", 400, "invalid_chunk_data")
    }
    func testRejectsWhitespaceBeforeColon() { assertRejects("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "header_name_whitespace") }
    func testRejectsObsFold() { assertRejects("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n  b\r\n\r\n", 400, "obs_fold") }
    func testRejectsBareCR() { assertRejects("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400, "bare_cr") }
    func testRejectsBareLFInHead() { assertRejects("GET / HTTP/1.1\nHost: h\n\n", 400, "bare_lf") }
    func testRejectsBareLFInChunkLine() {
        assertRejects("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\naa\r\n0\r\n\r\n", 400, "bare_lf")
    }
    func testRejectsControlBytes() {
        assertRejects("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\u{0}b\r\n\r\n", 400, "invalid_header_value")
        assertRejects("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\u{7f}b\r\n\r\n", 400, "invalid_header_value")
        assertRejects("GET / HTTP/1.1\r\nHost: h\r\nX\u{1}A: b\r\n\r\n", 400, "invalid_header_name")
    }
    func testRejectsInvalidMethodTargetSpacing() {
        assertRejects("G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_method")
        assertRejects("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_request_line")
        assertRejects("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400, "invalid_version")
        assertRejects("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400)
        assertRejects("GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_target")
        assertRejects("GET /\u{7f} HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_target")
        assertRejects("FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 501, "method_not_implemented")
    }
    func testHostRules() {
        assertRejects("GET / HTTP/1.1\r\n\r\n", 400, "missing_host")
        assertRejects("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "multiple_host")
        assertRejects("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid_host")
        assertRejects("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid_host")
        XCTAssertNil(parseAll("GET / HTTP/1.0\r\n\r\n").error)
    }
    func testVersions() {
        assertRejects("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "version_not_supported")
        assertRejects("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505, "version_not_supported")
        assertRejects("GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400, "invalid_version")
        assertRejects("GET / RTSP/1.0\r\nHost: h\r\n\r\n", 400, "invalid_version")
    }
    func testLimits() {
        var limits = HTTPParserLimits()
        limits.maxRequestLineBytes = 64
        limits.maxHeaderBytes = 256
        limits.maxHeaderCount = 3
        limits.maxBodyBytes = 10
        assertRejects("GET /\(String(repeating: "a", count: 100)) HTTP/1.1\r\nHost: h\r\n\r\n", 414, "uri_too_long", limits: limits)
        // Without the final CRLF too: the limit must be hit while still reading.
        assertRejects("GET /\(String(repeating: "a", count: 100))", 414, "uri_too_long", limits: limits)
        assertRejects("GET / HTTP/1.1\r\nHost: h\r\nX: \(String(repeating: "a", count: 300))\r\n\r\n", 431, "header_section_too_large", limits: limits)
        assertRejects("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431, "too_many_headers", limits: limits)
        assertRejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", 413, "body_too_large", limits: limits)
        assertRejects("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6\r\naaaaaa\r\n6\r\n", 413, "body_too_large", limits: limits)
    }
    func testExpectOtherThanContinue() { assertRejects("GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", 417) }
    func testDataAfterConnectionClose() {
        let r = parseAll("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        XCTAssertEqual(r.requests.count, 1)
        XCTAssertEqual(r.error?.code, "data_after_close")
    }

    // MARK: llhttp's request cases

    struct LLHTTPCase: Decodable {
        let file: String
        let line: Int
        let name: String
        let request_b64: String
        let expect: String
        let upgrade: Bool?
        let complete_at_eof: Bool?
        let messages_completed: Int
        let h11_error: String?
    }

    func testLLHTTPRequestCases() throws {
        let url = Bundle.module.url(forResource: "Fixtures/llhttp-requests/cases", withExtension: "json")!
        let cases = try JSONDecoder().decode([LLHTTPCase].self, from: Data(contentsOf: url))
        XCTAssertEqual(cases.count, 135)
        var stricter: [String] = []
        for c in cases {
            let bytes = Array(Data(base64Encoded: c.request_b64)!)
            let label = "\(c.file):\(c.line) \(c.name)"
            let whole = parseAll(bytes)
            if c.expect == "reject" {
                XCTAssertNotNil(whole.error, "must reject \(label)")
                XCTAssertLessThanOrEqual(whole.requests.count, c.messages_completed, label)
                if let e = whole.error { XCTAssertTrue((400..<600).contains(e.status)) }
            } else if let e = whole.error {
                // Stricter than llhttp only where RFC 9112 allows it.
                let allowed = ["missing_host", "invalid_version", "invalid_request_line", "transfer_coding_not_implemented", "method_not_implemented",
                               "fragment_in_target"]
                XCTAssertTrue(allowed.contains(e.code), "unexpected rejection of \(label): \(e)")
                stricter.append("\(label): \(e.code)")
            } else {
                XCTAssertEqual(whole.requests.count, c.messages_completed, label)
            }
            // Split at every offset: same verdict, never a crash.
            for split in 1..<max(1, bytes.count) {
                var parser = HTTPRequestParser()
                var buffer = Array(bytes[0..<split])
                var got = 0
                var failed: HTTPParseError? = nil
                func drain() {
                    while failed == nil {
                        switch parser.parse(buffer) {
                        case .needMore: return
                        case .error(let e): failed = e
                        case .request(_, let consumed): got += 1; buffer.removeFirst(consumed)
                        }
                    }
                }
                drain()
                buffer.append(contentsOf: bytes[split...])
                drain()
                XCTAssertEqual(failed?.code, whole.error?.code, "\(label) split at \(split)")
                XCTAssertEqual(got, whole.requests.count, "\(label) split at \(split)")
            }
        }
        // Record where we are stricter than llhttp, so a change shows up in review.
        XCTAssertEqual(stricter.count, 60, stricter.joined(separator: "\n"))
        print("stricter than llhttp:\n" + stricter.joined(separator: "\n"))
    }
}

extension HTTPRequestParserTests {
    func testHostByteSetIsExactlyTheAllowedBytes() {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:[]".utf8)
        for b in 0...255 {
            XCTAssertEqual(withUnsafeBytes(of: UInt8(b)) { HTTPRequestParser.validHost($0) }, allowed.contains(UInt8(b)), "byte \(b)")
        }
        XCTAssertTrue(HTTPRequestParser.validHost(UnsafeRawBufferPointer(start: nil, count: 0)))
    }
}

final class ByteClassTests: XCTestCase {
    func testByteClassTableCoversEveryByte() {
        XCTAssertEqual(ByteClass.tableCount, 256)
    }

    func testTokenSetIsExactlyRFC9110tchar() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for b in 0...255 {
            XCTAssertEqual(ByteClass.isToken(UInt8(b)), tchar.contains(UInt8(b)), "byte \(b)")
        }
    }
}
