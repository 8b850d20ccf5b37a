import XCTest
@testable import AggregationKit

final class HTTPHeadersTests: XCTestCase {
    func testOrderCaseAndReplacement() {
        var h = HTTPHeaders([("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
        XCTAssertEqual(h["content-type"], "text/plain")
        XCTAssertEqual(h.values("SET-COOKIE"), ["a=1", "b=2"])
        XCTAssertEqual(h.count(of: "Set-Cookie"), 2)
        h.set("SET-cookie", "c=3")
        XCTAssertEqual(h.values("set-cookie"), ["c=3"])
        XCTAssertEqual(h.map(\.name), ["Content-Type", "SET-cookie"], "names keep their case; order is kept")
        h.remove("content-type")
        XCTAssertNil(h["Content-Type"])
        XCTAssertEqual(h.count, 1)
        h.add("Connection", "keep-alive, X-Trace")
        XCTAssertEqual(h.tokens("connection"), ["keep-alive", "x-trace"])
        h.removeAll { $0.value.hasPrefix("c=") }
        XCTAssertEqual(h.map(\.name), ["Connection"])
    }

    func testBytesAreKeptExactlyAndCopied() {
        var h = HTTPHeaders()
        h.add("X-Unicode", "caf\u{e9} \u{1F600}")
        var copy = HTTPHeaders()
        copy.append(fieldAt: 0, of: h)
        XCTAssertEqual(copy["x-unicode"], "caf\u{e9} \u{1F600}")
        var out: [UInt8] = []
        copy.write(fieldAt: 0, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "X-Unicode: caf\u{e9} \u{1F600}\r\n")
        XCTAssertTrue(copy.nameEquals(at: 0, "x-UNICODE"))
        XCTAssertFalse(copy.nameEquals(at: 0, "x-unicod"))
        XCTAssertEqual(copy, h)
        XCTAssertNotEqual(copy, HTTPHeaders([("X-Unicode", "other")]))
    }
}
