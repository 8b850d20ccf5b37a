import XCTest
@testable import AggregationKit

final class HTTPResponseParserTests: XCTestCase {
    private func parse(_ text: String, head: Bool = false, eof: Bool = false) -> (HTTPResponse?, Bool, HTTPParseError?) {
        var p = HTTPResponseParser(requestWasHead: head)
        var bytes = Array(text.utf8)
        while true {
            switch p.parse(bytes) {
            case .response(let r, let consumed, let keepAlive):
                XCTAssertEqual(consumed, bytes.count)
                return (r, keepAlive, nil)
            case .interim(let consumed): bytes.removeFirst(consumed)
            case .error(let e): return (nil, false, e)
            case .needMore:
                guard eof else { return (nil, false, nil) }
                if case .response(let r, _, let k) = bytes.withUnsafeBytes({ p.finishAtEOF($0) }) { return (r, k, nil) }
                return (nil, false, nil)
            }
        }
    }

    func testContentLength() {
        let (r, keepAlive, _) = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhi")
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.reason, "OK")
        XCTAssertEqual(r?.body, Array("hi".utf8))
        XCTAssertEqual(r?.headers["x-a"], "b")
        XCTAssertTrue(keepAlive)
    }

    func testChunked() {
        let (r, _, _) = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        XCTAssertEqual(r?.body, Array("abcde".utf8))
    }

    func testCloseDelimited() {
        let (pending, _, _) = parse("HTTP/1.1 200 OK\r\n\r\npartial body")
        XCTAssertNil(pending, "waits for the close")
        let (r, keepAlive, _) = parse("HTTP/1.1 200 OK\r\n\r\nwhole body", eof: true)
        XCTAssertEqual(r?.body, Array("whole body".utf8))
        XCTAssertFalse(keepAlive)
    }

    func testNoBodyForHeadAnd204And304() {
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", head: true).0?.body, [])
        XCTAssertEqual(parse("HTTP/1.1 204 No Content\r\n\r\n").0?.status, 204)
        XCTAssertEqual(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n").0?.status, 304)
    }

    func testInterimResponsesSkipped() {
        XCTAssertEqual(parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n").0?.status, 201)
    }

    func testKeepAliveRules() {
        XCTAssertFalse(parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").1)
        XCTAssertFalse(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").1)
        XCTAssertTrue(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").1)
    }

    func testRejectsAmbiguousFraming() {
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab").2?.code, "invalid_content_length")
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n").2?.code, "content_length_and_transfer_encoding")
        XCTAssertEqual(parse("HTTP/1.1 2000 OK\r\n\r\n").2?.code, "invalid_status_line")
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n").2?.code, "obs_fold")
    }

    func testBodyLimit() {
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = 4
        var p = HTTPResponseParser(limits: limits)
        guard case .error(let e) = p.parse(Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".utf8)) else { return XCTFail() }
        XCTAssertEqual(e.status, 413)
    }
}

final class HTTPResponseSerializerTests: XCTestCase {
    func testFramingIsOurs() {
        var out: [UInt8] = []
        let r = HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Length", "999"), ("Transfer-Encoding", "chunked"), ("X-A", "1")]), body: Array("abc".utf8))
        HTTPResponseSerializer.serialize(r, headRequest: false, close: true, date: "D", into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 200 OK\r\nX-A: 1\r\nDate: D\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
    }

    func testHeadKeepsGivenLengthAndWritesNoBody() {
        var out: [UInt8] = []
        let r = HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Length", "42")]))
        HTTPResponseSerializer.serialize(r, headRequest: true, close: false, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n")
    }

    func testNoContentLengthOn204() {
        var out: [UInt8] = []
        HTTPResponseSerializer.serialize(HTTPResponse(status: 204), headRequest: false, close: false, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 204 No Content\r\n\r\n")
    }
}
