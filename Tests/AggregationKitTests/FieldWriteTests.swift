import XCTest
@testable import AggregationKit

/// `RawHeaderFields.write(fieldAt:)` copies a field the parser read as exactly `name: value\r\n` in one
/// piece from the stored head; every other field is written in pieces. Over parsed heads with random
/// whitespace around the values, and with fields added after parsing, the bytes must be those of the
/// pieces, field by field.
final class FieldWriteTests: XCTestCase {
    private static func pieces(_ fields: RawHeaderFields, _ i: Int) -> [UInt8] {
        Array(fields.name(at: i)) + Array(": ".utf8) + Array(fields.value(at: i)) + Array("\r\n".utf8)
    }

    private static func written(_ fields: RawHeaderFields, _ i: Int) -> [UInt8] {
        var out: [UInt8] = []
        let bound = Int(fields.fields[i].nameLength) + Int(fields.fields[i].valueLength) + 4
        withUnsafeTemporaryAllocation(byteCount: bound, alignment: 1) { buffer in
            var writer = ByteWriter(buffer)
            fields.write(fieldAt: i, to: &writer)
            out = Array(UnsafeRawBufferPointer(rebasing: buffer[..<writer.count]))
        }
        return out
    }

    func testOneCopyWritesWhatThePiecesWrite() {
        var generator = SystemRandomNumberGenerator()
        let names = ["Content-Type", "X-A", "Server", "ETag", "x-empty", "Cache-Control"]
        let values = ["application/json", "a b", "", "v1", "\"q\"", "x,y"]
        let before = [" ", " ", " ", "", "  ", "\t", " \t"], after = ["", "", "", " ", "\t"]
        var oneCopy = 0, inPieces = 0
        for round in 0..<3000 {
            var head = "HTTP/1.1 200 OK\r\n"
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                head += names.randomElement(using: &generator)! + ":" + before.randomElement(using: &generator)!
                    + values.randomElement(using: &generator)! + after.randomElement(using: &generator)! + "\r\n"
            }
            head += "Content-Length: 0\r\n\r\n"
            var parser = HTTPResponseParser()
            guard case .response(var response, _, _) = parser.parse(Array(head.utf8)) else {
                return XCTFail("did not parse: \(head.debugDescription)")
            }
            if round % 3 == 0 { response.headers.add("X-Added", "after: parsing") }
            if round % 5 == 0 { response.headers.add(names.randomElement(using: &generator)!, "") }
            response.headers.withRawFields { fields in
                for i in 0..<fields.count {
                    XCTAssertEqual(Self.written(fields, i), Self.pieces(fields, i), head.debugDescription)
                    let f = fields.fields[i]
                    if Int(f.valueStart) == Int(f.nameStart) + Int(f.nameLength) + 2,
                       Self.pieces(fields, i) == Array(UnsafeRawBufferPointer(start: fields.storage + Int(f.nameStart),
                                                                              count: min(fields.storageCount - Int(f.nameStart), Self.pieces(fields, i).count))) {
                        oneCopy += 1
                    } else {
                        inPieces += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(oneCopy, 1000, "the one-copy path is taken")
        XCTAssertGreaterThan(inPieces, 1000, "and the other")
    }
}
