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

    /// The byte-level helpers the header and CORS stages use per request.
    func testStageHelpersCompareAndAppendBytes() {
        var h = HTTPHeaders([("Host", "a"), ("ORIGIN", "https://x.example"), ("X-Drop", "1")])
        h.keepFieldsInPlace { headers, i in !headers.nameIs(at: i, "x-drop") }  // a dead byte range stays in storage
        let names = HTTPHeaders([("host", ""), ("x-other", "")])
        XCTAssertTrue(h.nameEquals(at: 0, nameAt: 0, of: names), "ASCII case-insensitive")
        XCTAssertFalse(h.nameEquals(at: 1, nameAt: 0, of: names))
        XCTAssertFalse(h.nameEquals(at: 0, nameAt: 1, of: names), "different lengths")
        XCTAssertEqual(h.onlyIndex(of: "origin" as StaticString), 1)
        XCTAssertEqual(h.firstIndex(named: "origin"), 1)
        XCTAssertEqual(h.firstIndex(named: "host"), 0)
        XCTAssertNil(h.firstIndex(named: "x-drop"), "removed")
        XCTAssertNil(h.onlyIndex(of: "x-drop" as StaticString))
        var twice = h
        twice.add("Origin", "b")
        XCTAssertNil(twice.onlyIndex(of: "origin" as StaticString), "two fields: none is the only one")
        XCTAssertEqual(twice.firstIndex(named: "origin"), 1, "the first of two")
        XCTAssertTrue(Array("HTTPS://X.example".utf8).withUnsafeBufferPointer { h.nameEquals(at: 1, $0) } == false)
        XCTAssertTrue(Array("origin".utf8).withUnsafeBufferPointer { h.nameEquals(at: 1, $0) })
        XCTAssertFalse(Array("origins".utf8).withUnsafeBufferPointer { h.nameEquals(at: 1, $0) })
        XCTAssertTrue(Array("ORIGIN".utf8).withUnsafeBufferPointer { h.nameEquals(at: 1, $0) }, "the same bytes")
        XCTAssertFalse(Array("ORIGIM".utf8).withUnsafeBufferPointer { h.nameEquals(at: 1, $0) })

        let extra = HTTPHeaders([("X-One", "1"), ("x-two", "two")])
        h.append(fieldsOf: extra)
        h.append(fieldsOf: HTTPHeaders())
        h.add("Vary" as StaticString, "Origin" as StaticString)
        h.add("Access-Control-Allow-Origin" as StaticString, valueOfFieldAt: 1, in: h)
        XCTAssertEqual(h.map(\.name), ["Host", "ORIGIN", "X-One", "x-two", "Vary", "Access-Control-Allow-Origin"])
        XCTAssertEqual(h.map(\.value), ["a", "https://x.example", "1", "two", "Origin", "https://x.example"])
        var out = BytesSink()
        for i in 0..<h.count { h.write(fieldAt: i, to: &out) }
        XCTAssertEqual(String(decoding: out.bytes, as: UTF8.self),
                       "Host: a\r\nORIGIN: https://x.example\r\nX-One: 1\r\nx-two: two\r\nVary: Origin\r\nAccess-Control-Allow-Origin: https://x.example\r\n")
    }

    /// `remove` (and `set`) edit in place, never a copy that shares the buffers, and leave the order.
    func testRemoveKeepsOrderAndCopiesApart() {
        var a = HTTPHeaders([("A", "1"), ("X", "2"), ("B", "3"), ("x", "4")])
        let b = a
        a.remove("y")
        XCTAssertEqual(a.map(\.name), ["A", "X", "B", "x"])
        a.remove("X")
        XCTAssertEqual(a.map(\.name), ["A", "B"])
        XCTAssertEqual(b.map(\.name), ["A", "X", "B", "x"], "the copy is untouched")
        a.set("b", "5")
        XCTAssertEqual(a.map(\.name), ["A", "b"])
        XCTAssertEqual(a.map(\.value), ["1", "5"])
        var many = HTTPHeaders((0..<70).map { ("F\($0 % 7)", "\($0)") })
        many.remove("f3")
        XCTAssertEqual(many.count, 60)
        XCTAssertFalse(many.contains("F3"))
        XCTAssertEqual(many.values("F4").first, "4")
    }

    func testBytesAreKeptExactlyAndCopied() {
        var h = HTTPHeaders()
        h.add("X-Unicode", "caf\u{e9} \u{1F600}")
        var copy = HTTPHeaders()
        copy.append(fieldAt: 0, of: h)
        XCTAssertEqual(copy["x-unicode"], "caf\u{e9} \u{1F600}")
        var out = BytesSink()
        copy.write(fieldAt: 0, to: &out)
        XCTAssertEqual(String(decoding: out.bytes, as: UTF8.self), "X-Unicode: caf\u{e9} \u{1F600}\r\n")
        XCTAssertTrue(copy.nameEquals(at: 0, "x-UNICODE"))
        XCTAssertFalse(copy.nameEquals(at: 0, "x-unicod"))
        XCTAssertEqual(copy, h)
        XCTAssertNotEqual(copy, HTTPHeaders([("X-Unicode", "other")]))
    }
}

/// Collects what a `ByteSink` writer writes.
struct BytesSink: ByteSink {
    var bytes: [UInt8] = []
    mutating func write(_ raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }
    mutating func write(byte: UInt8) { bytes.append(byte) }
}
