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

    /// The value check reads eight bytes at a time while they are plain: a bad byte (or a tab, or
    /// obs-text) is judged the same wherever it sits, in the first word, a later one, or the tail.
    func testFieldValueBytesJudgedTheSameAtEveryPosition() {
        func head(_ value: [UInt8]) -> [UInt8] {
            Array("HTTP/1.1 200 OK\r\nX-Value: ".utf8) + value + Array("\r\nContent-Length: 0\r\n\r\n".utf8)
        }
        let plain = Array("abcdefghijklmnopqrstuvw".utf8)  // 23 bytes: two words and a tail
        for position in plain.indices {
            for bad: UInt8 in [0x00, 0x01, 0x0B, 0x1F, 0x7F] {
                var value = plain
                value[position] = bad
                var p = HTTPResponseParser()
                guard case .error(let e) = p.parse(head(value)) else {
                    return XCTFail("byte \(bad) at \(position) was accepted")
                }
                XCTAssertEqual(e, .invalidHeaderValue, "byte \(bad) at \(position)")
            }
            for good: UInt8 in [0x09, 0x20, 0x7E, 0x80, 0xFF] {
                var value = plain
                value[position] = good
                var p = HTTPResponseParser()
                guard case .response(let r, _, _) = p.parse(head(value)) else {
                    return XCTFail("byte \(good) at \(position) was refused")
                }
                // Leading and trailing SP / HTAB are not part of the value (OWS).
                var expected = value[...]
                while let f = expected.first, f == 0x20 || f == 0x09 { expected = expected.dropFirst() }
                while let l = expected.last, l == 0x20 || l == 0x09 { expected = expected.dropLast() }
                r.headers.withValueBytes(at: 0) { XCTAssertEqual(Array($0), Array(expected), "byte \(good) at \(position)") }
            }
        }
    }

    /// Lines are found with memchr: a bare CR or LF anywhere in a field line is still refused.
    func testBareLineEndingsInFieldsRefused() {
        for text in ["HTTP/1.1 200 OK\r\nX-A: a\nb\r\nContent-Length: 0\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nX-A: ab\r\nContent-Length: 0\n\r\n\r\n"] {
            let (r, _, e) = parse(text)
            XCTAssertNil(r, text.debugDescription)
            XCTAssertTrue(e == .bareLF || e == .bareCR, "\(text.debugDescription): \(String(describing: e))")
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
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab").2?.code, "duplicate_content_length")
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

/// The upstream head is parsed as strictly as a request head: every error here becomes a 502.
final class HTTPResponseParserStrictnessTests: XCTestCase {
    private func code(_ text: String, head: Bool = false) -> String? {
        var p = HTTPResponseParser(requestWasHead: head)
        var bytes = Array(text.utf8)
        while true {
            switch p.parse(bytes) {
            case .error(let e): return e.code
            case .interim(let consumed): bytes.removeFirst(consumed)
            case .response: return nil
            case .needMore: return "needMore"
            }
        }
    }

    func testBareCRAndBareLFAnywhereInTheHead() {
        XCTAssertEqual(code("HTTP/1.1 200 OK\nSet-Cookie: x=1\r\nContent-Length: 0\r\n\r\n"), "bare_lf")
        XCTAssertEqual(code("HTTP/1.1 200 OK\rSet-Cookie: x=1\r\nContent-Length: 0\r\n\r\n"), "bare_cr")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nX-A: a\rXContent-Length: 2\r\n\r\nhi"), "bare_cr")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 2\r\n\r\nhi"), "bare_lf")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: a\r\r\n\r\n"), "bare_cr")
    }

    func testControlBytesObsFoldAndBadNames() {
        XCTAssertEqual(code("HTTP/1.1 200 O\u{1}K\r\nContent-Length: 0\r\n\r\n"), "invalid_reason_phrase")
        XCTAssertEqual(code("HTTP/1.1 200 O\u{7f}K\r\nContent-Length: 0\r\n\r\n"), "invalid_reason_phrase")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nX-A: a\u{0}b\r\nContent-Length: 0\r\n\r\n"), "invalid_header_value")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nX\u{1}A: a\r\nContent-Length: 0\r\n\r\n"), "invalid_header_name")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 0\r\n\r\n"), "header_name_whitespace")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nX-A: a\r\n\tb\r\nContent-Length: 0\r\n\r\n"), "obs_fold")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nnocolon\r\nContent-Length: 0\r\n\r\n"), "missing_colon")
    }

    func testReasonPhraseMayHoldTabsAndObsText() {
        XCTAssertNil(code("HTTP/1.1 200 Tout\tva bien \u{e9}\r\nContent-Length: 0\r\n\r\n"))
        XCTAssertNil(code("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"))
        XCTAssertNil(code("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"))
    }

    func testFramingDisputes() {
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi"), "duplicate_content_length")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), "invalid_transfer_encoding")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nbody"), "invalid_transfer_encoding")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"), "invalid_transfer_encoding")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), "invalid_transfer_encoding")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n0\r\n\r\n"), "invalid_transfer_encoding")
        XCTAssertEqual(code("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n0\r\n\r\n"), "invalid_transfer_encoding")
        XCTAssertEqual(code("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), "invalid_transfer_encoding")
        XCTAssertNil(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n"))
        // No body whatever the framing says: nothing to frame.
        XCTAssertNil(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", head: true))
    }

    func test101EndsTheExchangeOtherInterimResponsesAreSkipped() {
        XCTAssertEqual(code("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), "switching_protocols")
        XCTAssertNil(code("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    }

    func testLimitIsCheckedAsBytesArrive() {
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = 10
        // Close-delimited: refused as soon as the 11th byte is there, long before the close.
        var p = HTTPResponseParser(limits: limits)
        var buffer = Array("HTTP/1.1 200 OK\r\n\r\n0123456789".utf8)
        guard case .needMore = p.parse(buffer) else { return XCTFail() }
        buffer.append(UInt8(ascii: "x"))
        guard case .error(let e) = p.parse(buffer) else { return XCTFail() }
        XCTAssertEqual(e, .bodyTooLarge)
        // Chunked: refused at the chunk-size line that passes the limit.
        var q = HTTPResponseParser(limits: limits)
        guard case .error(let f) = q.parse(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n3\r\n".utf8)) else { return XCTFail() }
        XCTAssertEqual(f, .bodyTooLarge)
    }

    /// Fed in random pieces, with the consumed prefix dropped after each `needMore` (as the client does),
    /// a response parses to the same result as in one piece, and the raw buffer never holds a whole body.
    func testPiecewiseWithCompactionMatchesWhole() {
        var rng = ParserRobustnessTests.SplitMix64(state: 11)
        let chunkedBody = (0..<300).map { "1;ext=\"\($0)\"\r\n\(Character(UnicodeScalar(UInt8(97 + $0 % 26))))\r\n" }.joined()
        let responses = [
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedBody + "0\r\nX-T: 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + String(repeating: "z", count: 300),
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ]
        for text in responses {
            let whole = Array(text.utf8)
            var expected: [UInt8]? = nil
            var p = HTTPResponseParser()
            var rest = whole
            while expected == nil {
                switch p.parse(rest) {
                case .response(let r, _, _): expected = r.body
                case .interim(let consumed): rest.removeFirst(consumed)
                default: return XCTFail(text)
                }
            }
            for _ in 0..<20 {
                var parser = HTTPResponseParser()
                var buffer: [UInt8] = []
                var offset = 0
                var body: [UInt8]? = nil
                var largest = 0
                while body == nil {
                    switch parser.parse(buffer) {
                    case .response(let r, _, _): body = r.body
                    case .interim(let consumed): buffer.removeFirst(consumed)
                    case .error(let e): return XCTFail("\(e)")
                    case .needMore:
                        buffer.removeFirst(parser.takeConsumedPrefix())
                        guard offset < whole.count else { return XCTFail("incomplete") }
                        let n = Int.random(in: 1...40, using: &rng)
                        buffer += whole[offset..<min(whole.count, offset + n)]
                        offset += n
                        largest = max(largest, buffer.count)
                    }
                }
                XCTAssertEqual(body, expected)
                if text.contains("ext=") { XCTAssertLessThan(largest, 100, "the raw chunked stream is not kept") }
            }
        }
        // Close-delimited: the body is collected as it arrives and completed at end of file.
        var parser = HTTPResponseParser()
        var buffer = Array("HTTP/1.1 200 OK\r\n\r\nab".utf8)
        guard case .needMore = parser.parse(buffer) else { return XCTFail() }
        buffer.removeFirst(parser.takeConsumedPrefix())
        XCTAssertEqual(buffer, [])
        buffer += Array("cd".utf8)
        guard case .needMore = parser.parse(buffer) else { return XCTFail() }
        buffer.removeFirst(parser.takeConsumedPrefix())
        buffer += Array("e".utf8)
        guard case .response(let r, _, let keepAlive) = buffer.withUnsafeBytes({ parser.finishAtEOF($0) }) else { return XCTFail() }
        XCTAssertEqual(r.text, "abcde")
        XCTAssertFalse(keepAlive)
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

    func testStatusLineIsOursWhateverTheReasonGiven() {
        var out: [UInt8] = []
        HTTPResponseSerializer.serialize(HTTPResponse(status: 404, reason: "OK\r\nSet-Cookie: x=1"), headRequest: false, close: false, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    }

    func testNoContentLengthOn204() {
        var out: [UInt8] = []
        HTTPResponseSerializer.serialize(HTTPResponse(status: 204), headRequest: false, close: false, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "HTTP/1.1 204 No Content\r\n\r\n")
    }
}
