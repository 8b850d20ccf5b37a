import XCTest
@testable import AggregationKit

/// Found by the `http-request` and `http-response` fuzzers: where the bytes of a message were split
/// between reads changed whether it was accepted. Each test feeds the same bytes whole and split.
final class FuzzRegressionHTTPTests: XCTestCase {
    private func limits() -> HTTPParserLimits {
        var limits = HTTPParserLimits()
        limits.maxHeaderBytes = 160
        limits.maxHeaderCount = 6
        limits.maxChunkLineBytes = 16
        return limits
    }

    private func request(_ bytes: [UInt8], splitAt split: Int) -> (whole: String, split: String) {
        func describe(_ r: HTTPRequestParser.Result) -> String {
            switch r {
            case .needMore: return "needMore"
            case .request(let q, let consumed): return "\(q.method) \(q.target) \(consumed)"
            case .error(let e): return e.code
            }
        }
        var whole = HTTPRequestParser(limits: limits())
        var parts = HTTPRequestParser(limits: limits())
        var first = describe(parts.parse(Array(bytes[..<split])))
        if first == "needMore" { first = describe(parts.parse(bytes)) }
        return (describe(whole.parse(bytes)), first)
    }

    private func response(_ pieces: [[UInt8]]) -> String {
        var parser = HTTPResponseParser(limits: limits())
        var buffer: [UInt8] = []
        for piece in pieces {
            buffer += piece
            switch parser.parse(buffer) {
            case .needMore: continue
            case .interim: return "interim"
            case .response(let r, let consumed, _): return "\(r.status) \(consumed)"
            case .error(let e): return e.code
            }
        }
        return "needMore"
    }

    /// The last header line ends at the limit; only the empty line after it is past it.
    func testARequestHeadEndingAtTheLimitIsAcceptedHoweverItIsSplit() {
        let head = Array("GET / HTTP/1.1\r\nHost: a\r\nX: ".utf8)
        let bytes = head + Array(repeating: UInt8(ascii: "a"), count: 160 - head.count) + Array("\r\n\r\n".utf8)
        let (whole, split) = request(bytes, splitAt: bytes.count - 1)
        XCTAssertEqual(whole, "GET / 164")
        XCTAssertEqual(split, whole)
    }

    /// A response head of exactly `maxHeaderBytes` (before its final CR LF CR LF), split inside that CR LF CR LF.
    func testAResponseHeadAtTheLimitIsAcceptedHoweverItIsSplit() {
        let start = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: ".utf8)
        let bytes = start + Array(repeating: UInt8(ascii: "a"), count: 160 - start.count) + Array("\r\n\r\n".utf8)
        XCTAssertEqual(response([bytes]), "200 164")
        XCTAssertEqual(response([Array(bytes[..<161]), Array(bytes[161...])]), "200 164")
    }

    /// A chunk-size line of exactly `maxChunkLineBytes`, split between its CR and LF.
    func testAChunkLineAtTheLimitIsAcceptedHoweverItIsSplit() {
        let head = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        let bytes = head + Array("0;e=xxxxxxxxxxxx\r\n\r\n".utf8)
        XCTAssertEqual(response([bytes]), "200 67")
        XCTAssertEqual(response([Array(bytes[..<(head.count + 17)]), Array(bytes[(head.count + 17)...])]), "200 67")
        // One byte more is too long, whole or split.
        let long = head + Array("0;e=xxxxxxxxxxxxx\r\n\r\n".utf8)
        XCTAssertEqual(response([long]), "chunk_line_too_long")
        XCTAssertEqual(response([Array(long[..<(head.count + 18)]), Array(long[(head.count + 18)...])]), "chunk_line_too_long")
    }

    /// The trailer-field limit counted only the fields of the current read, so an upstream sending its
    /// trailers a few at a time could send without end (all of it buffered until the response completes).
    func testTrailerFieldsAreCountedAcrossReads() {
        let head = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".utf8)
        let trailers = (0..<7).map { Array("T\($0): v\r\n".utf8) }
        XCTAssertEqual(response([head + trailers.joined() + Array("\r\n".utf8)]), "too_many_headers")
        XCTAssertEqual(response([head] + trailers + [Array("\r\n".utf8)]), "too_many_headers")
    }
}
