import XCTest
@testable import AggregationKit

/// Mutated and random inputs: the parsers never crash or hang, and feeding the same bytes in pieces
/// gives the same verdict as feeding them at once.
final class ParserRobustnessTests: XCTestCase {
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private func verdict(_ bytes: [UInt8], splitAt split: Int?) -> (Int, String?) {
        var parser = HTTPRequestParser()
        var buffer: [UInt8] = []
        var count = 0
        let pieces = split.map { [Array(bytes[..<$0]), Array(bytes[$0...])] } ?? [bytes]
        for piece in pieces {
            buffer += piece
            loop: while true {
                switch parser.parse(buffer) {
                case .needMore: break loop
                case .error(let e): return (count, e.code)
                case .request(_, let consumed): count += 1; buffer.removeFirst(consumed)
                }
            }
        }
        return (count, nil)
    }

    func testMutatedRequestsNeverCrashAndSplitsAgree() {
        var rng = SplitMix64(state: 42)
        let seeds = [
            "GET /a?b=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n",
            "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
        ].map { Array($0.utf8) }
        let interesting: [UInt8] = [0, 9, 10, 13, 32, 58, 59, 34, 44, 127, 255, UInt8(ascii: "0"), UInt8(ascii: "f")]
        for _ in 0..<3000 {
            var bytes = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] = interesting.randomElement(using: &rng)!
                case 1: bytes.insert(interesting.randomElement(using: &rng)!, at: i)
                default: if bytes.count > 1 { bytes.remove(at: i) }
                }
            }
            let whole = verdict(bytes, splitAt: nil)
            let split = verdict(bytes, splitAt: Int.random(in: 0...bytes.count, using: &rng))
            XCTAssertEqual(whole.0, split.0, String(decoding: bytes, as: UTF8.self).debugDescription)
            XCTAssertEqual(whole.1, split.1, String(decoding: bytes, as: UTF8.self).debugDescription)
        }
    }

    func testRandomBytesNeverCrashTheParsers() {
        var rng = SplitMix64(state: 7)
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var request = HTTPRequestParser()
            _ = request.parse(bytes)
            var response = HTTPResponseParser()
            _ = response.parse(bytes)
            _ = try? JSONParser.parse(bytes)
        }
    }

    func testMutatedJSONRoundTripsWhenAccepted() {
        var rng = SplitMix64(state: 99)
        let seed = Array(#"{"a":[1,2.50,-3e2,{"b":"\u00e9\n"}],"c":null,"d":true,"e":"x"}"#.utf8)
        for _ in 0..<3000 {
            var bytes = seed
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            bytes[i] = UInt8.random(in: 0...255, using: &rng)
            guard let value = try? JSONParser.parse(bytes) else { continue }
            XCTAssertEqual(try? JSONParser.parse(JSONSerializer.serialize(value)), value)
        }
    }
}
