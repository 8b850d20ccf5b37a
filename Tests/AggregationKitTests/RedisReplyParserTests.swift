import XCTest
@testable import AggregationKit

/// The RESP parser, without sockets: every type, every split of the input, every refusal, the limits,
/// and random garbage.
final class RedisReplyParserTests: XCTestCase {
    /// Parses `wire` fed in `pieces` (sizes; the rest in one piece), as a connection does: a growing
    /// buffer, consumed bytes dropped. Returns the replies and the error that ended it, if any.
    static func run(_ wire: [UInt8], pieces: [Int] = [], limits: RedisReplyLimits = RedisReplyLimits()) -> (replies: [RedisValue], error: RedisProtocolError?, buffered: Int) {
        var parser = RedisReplyParser(limits: limits)
        var buffer: [UInt8] = []
        var replies: [RedisValue] = []
        var start = 0
        var cuts = pieces.filter { $0 > 0 }
        while start < wire.count {
            let size = cuts.isEmpty ? wire.count - start : min(cuts.removeFirst(), wire.count - start)
            buffer.append(contentsOf: wire[start..<(start + size)])
            start += size
            while true {
                do throws(RedisProtocolError) {
                    let result = try buffer.withUnsafeBytes { raw in Result { () throws(RedisProtocolError) in try parser.parse(raw) } }.get()
                    switch result {
                    case .needMore(let consumed):
                        precondition(consumed <= buffer.count)
                        buffer.removeFirst(consumed)
                    case .reply(let value, let consumed):
                        precondition(consumed > 0 && consumed <= buffer.count)
                        buffer.removeFirst(consumed)
                        replies.append(value)
                        continue
                    }
                } catch {
                    return (replies, error, buffer.count)
                }
                break
            }
        }
        return (replies, nil, buffer.count)
    }

    static func one(_ text: String, limits: RedisReplyLimits = RedisReplyLimits()) throws -> RedisValue {
        let r = run(Array(text.utf8), limits: limits)
        if let e = r.error { throw e }
        guard r.replies.count == 1, r.buffered == 0 else { throw TestError("expected one whole reply, got \(r.replies) with \(r.buffered) bytes left") }
        return r.replies[0]
    }

    func testEveryType() throws {
        let cases: [(String, RedisValue)] = [
            ("+OK\r\n", .simpleString("OK")),
            ("+\r\n", .simpleString("")),
            ("-ERR unknown command 'FOO'\r\n", .error(RedisServerError(message: "ERR unknown command 'FOO'"))),
            (":0\r\n", .integer(0)),
            (":-42\r\n", .integer(-42)),
            (":+7\r\n", .integer(7)),
            (":9223372036854775807\r\n", .integer(.max)),
            (":-9223372036854775808\r\n", .integer(.min)),
            ("$5\r\nhello\r\n", .bulkString(Array("hello".utf8))),
            ("$0\r\n\r\n", .bulkString([])),
            ("$4\r\na\r\nb\r\n", .bulkString(Array("a\r\nb".utf8))),
            ("$-1\r\n", .null),
            ("*-1\r\n", .null),
            ("_\r\n", .null),
            ("#t\r\n", .boolean(true)),
            ("#f\r\n", .boolean(false)),
            (",3.25\r\n", .double(3.25)),
            (",-1.5e+20\r\n", .double(-1.5e20)),
            (",10\r\n", .double(10)),
            (",inf\r\n", .double(.infinity)),
            (",-inf\r\n", .double(-.infinity)),
            ("(3492890328409238509324850943850943825024385\r\n", .bigNumber("3492890328409238509324850943850943825024385")),
            ("(-12\r\n", .bigNumber("-12")),
            ("!21\r\nSYNTAX invalid syntax\r\n", .error(RedisServerError(message: "SYNTAX invalid syntax"))),
            ("=15\r\ntxt:Some string\r\n", .verbatimString(format: "txt", text: Array("Some string".utf8))),
            ("*0\r\n", .array([])),
            ("*3\r\n:1\r\n$1\r\na\r\n_\r\n", .array([.integer(1), .bulkString([97]), .null])),
            ("*2\r\n*1\r\n+x\r\n*0\r\n", .array([.array([.simpleString("x")]), .array([])])),
            ("~2\r\n+a\r\n+b\r\n", .set([.simpleString("a"), .simpleString("b")])),
            ("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", .map([.init(key: .simpleString("first"), value: .integer(1)),
                                                          .init(key: .simpleString("second"), value: .integer(2))])),
            ("%0\r\n", .map([])),
            (">3\r\n+message\r\n+chan\r\n$2\r\nhi\r\n", .push([.simpleString("message"), .simpleString("chan"), .bulkString([104, 105])])),
            // Attributes are read and dropped: the value they describe is the reply.
            ("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2\r\n", .array([.integer(2)])),
            ("*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n", .array([.integer(1), .integer(2)])),
            ("*2\r\n:1\r\n-ERR inside\r\n", .array([.integer(1), .error(RedisServerError(message: "ERR inside"))])),
        ]
        for (wire, expected) in cases {
            XCTAssertEqual(try Self.one(wire), expected, wire.debugDescription)
        }
        guard case .double(let nan) = try Self.one(",nan\r\n") else { return XCTFail("nan") }
        XCTAssertTrue(nan.isNaN)
        XCTAssertEqual(RedisServerError(message: "WRONGTYPE Operation against a key").code, "WRONGTYPE")
        XCTAssertEqual(RedisServerError(message: "NOSCRIPT No matching script").code, "NOSCRIPT")
        XCTAssertEqual(RedisServerError(message: "weird lower-case text").code, "ERR")
    }

    /// Several replies in one stream, cut at every offset and fed a byte at a time: the same replies.
    func testEverySplitGivesTheSameReplies() {
        let wire = Array(("+OK\r\n$5\r\nhello\r\n*2\r\n%1\r\n+k\r\n~1\r\n#t\r\n|1\r\n+a\r\n+b\r\n,1.5\r\n" +
                          ">2\r\n+p\r\n:1\r\n=7\r\nmkd:abc\r\n$-1\r\n:-3\r\n!3\r\nERR\r\n_\r\n(99\r\n*0\r\n").utf8)
        let whole = Self.run(wire)
        XCTAssertNil(whole.error)
        XCTAssertEqual(whole.replies.count, 11)
        XCTAssertEqual(whole.buffered, 0)
        for cut in 0...wire.count {
            let split = Self.run(wire, pieces: [cut])
            XCTAssertEqual(split.replies, whole.replies, "cut at \(cut)")
            XCTAssertNil(split.error)
        }
        let trickle = Self.run(wire, pieces: Array(repeating: 1, count: wire.count))
        XCTAssertEqual(trickle.replies, whole.replies)
    }

    func testIncompleteInputWaitsWithoutConsumingPartialTokens() throws {
        var parser = RedisReplyParser()
        let partial = Array("*2\r\n$5\r\nhel".utf8)
        let r = try partial.withUnsafeBytes { try parser.parse($0) }
        // The array header is taken; the half bulk string stays in the buffer.
        XCTAssertEqual(r, .needMore(consumed: 4))
        XCTAssertTrue(parser.isInsideReply)
        let rest = Array("$5\r\nhello\r\n:1\r\n".utf8)
        XCTAssertEqual(try rest.withUnsafeBytes { try parser.parse($0) }, .reply(.array([.bulkString(Array("hello".utf8)), .integer(1)]), consumed: rest.count))
        XCTAssertFalse(parser.isInsideReply)
    }

    func testMalformedRepliesAreRefused() {
        let cases: [(String, RedisProtocolError.Code)] = [
            ("X\r\n", .invalidType),
            ("\r\n", .invalidType),
            ("+OK\n", .invalidLineEnding),
            ("+O\rK\r\n", .invalidLineEnding),
            ("$3\r\nabcX\r\n", .invalidLineEnding),
            ("$3\r\nabc\n\n", .invalidLineEnding),
            ("$01\r\na\r\n", .invalidLength),
            ("$+1\r\na\r\n", .invalidLength),
            ("$-2\r\n", .invalidLength),
            ("$\r\n", .invalidLength),
            ("$1x\r\n", .invalidLength),
            ("!-1\r\n", .invalidLength),
            ("*-2\r\n", .invalidLength),
            ("%-1\r\n", .invalidLength),
            ("~-1\r\n", .invalidLength),
            ("*9999999999999999999\r\n", .invalidLength),
            (":\r\n", .invalidNumber),
            (":-\r\n", .invalidNumber),
            (":12a\r\n", .invalidNumber),
            (":007\r\n", .invalidNumber),
            (":9223372036854775808\r\n", .invalidNumber),
            (":-9223372036854775809\r\n", .invalidNumber),
            (",\r\n", .invalidNumber),
            (",1.2.3\r\n", .invalidNumber),
            (",0x10\r\n", .invalidNumber),
            (",1e\r\n", .invalidNumber),
            (",infinity\r\n", .invalidNumber),
            ("(\r\n", .invalidNumber),
            ("(12a\r\n", .invalidNumber),
            ("#x\r\n", .invalidValue),
            ("#tt\r\n", .invalidValue),
            ("_x\r\n", .invalidValue),
            ("=3\r\ntxt\r\n", .invalidValue),
            ("=5\r\ntx:ab\r\n", .invalidValue),
            ("*1\r\n>1\r\n:1\r\n", .misplacedPush),
            ("$?\r\n", .unsupported),
            ("*?\r\n", .unsupported),
            (";4\r\nabcd\r\n", .unsupported),
        ]
        for (wire, code) in cases {
            XCTAssertEqual(Self.run(Array(wire.utf8)).error?.code, code, wire.debugDescription)
        }
    }

    func testLimitsAreEnforcedBeforeMemoryIsTaken() {
        let limits = RedisReplyLimits(maxBulkBytes: 100, maxLineBytes: 32, maxElements: 10, maxDepth: 3, maxReplyBytes: 200)
        // Refused at the header, with none of the payload sent.
        XCTAssertEqual(Self.run(Array("$101\r\n".utf8), limits: limits).error?.code, .bulkTooLarge)
        XCTAssertEqual(Self.run(Array("$100\r\n".utf8), limits: limits).error, nil)
        XCTAssertEqual(Self.run(Array("$9999999999\r\n".utf8)).error?.code, .bulkTooLarge)
        XCTAssertEqual(Self.run(Array("*11\r\n".utf8), limits: limits).error?.code, .tooManyElements)
        XCTAssertEqual(Self.run(Array("%6\r\n".utf8), limits: limits).error?.code, .tooManyElements)
        XCTAssertEqual(Self.run(Array("*999999999999999999\r\n".utf8)).error?.code, .tooManyElements)
        // The count is over the whole reply, not per aggregate.
        XCTAssertEqual(Self.run(Array("*6\r\n*5\r\n".utf8), limits: limits).error?.code, .tooManyElements)
        XCTAssertEqual(Self.run(Array("*1\r\n*1\r\n*1\r\n*1\r\n".utf8), limits: limits).error?.code, .tooDeep)
        XCTAssertNil(Self.run(Array("*1\r\n*1\r\n*1\r\n:1\r\n".utf8), limits: limits).error)
        // A line without its end is refused as soon as it is longer than allowed.
        XCTAssertEqual(Self.run(Array(("+" + String(repeating: "a", count: 34)).utf8), limits: limits).error?.code, .lineTooLong)
        XCTAssertNil(Self.run(Array(("+" + String(repeating: "a", count: 32) + "\r\n").utf8), limits: limits).error)
        // Wire bytes of one reply: two 90-byte strings fit, a third does not (refused at its header).
        let chunk = "$90\r\n" + String(repeating: "x", count: 90) + "\r\n"
        XCTAssertNil(Self.run(Array(("*2\r\n" + chunk + chunk).utf8), limits: limits).error)
        XCTAssertEqual(Self.run(Array(("*3\r\n" + chunk + chunk + "$90\r\n").utf8), limits: limits).error?.code, .replyTooLarge)
        // The budget is per reply: many replies in a row are fine.
        XCTAssertEqual(Self.run(Array(String(repeating: chunk, count: 20).utf8), limits: limits).replies.count, 20)
        // Attributes count too.
        XCTAssertEqual(Self.run(Array("|6\r\n".utf8), limits: limits).error?.code, .tooManyElements)
    }

    /// A hostile nesting depth costs no machine stack: the parser keeps its own, and stops at the limit.
    func testDeepNestingIsRefusedWithoutRecursion() {
        let deep = Array(String(repeating: "*1\r\n", count: 100_000).utf8)
        XCTAssertEqual(Self.run(deep).error?.code, .tooDeep)
        XCTAssertEqual(Self.run(deep, limits: RedisReplyLimits(maxElements: 1 << 20, maxDepth: 1 << 20)).error, nil)
        let closed = Array((String(repeating: "*1\r\n", count: 32) + ":1\r\n").utf8)
        XCTAssertEqual(Self.run(closed).replies.count, 1)
    }

    /// Random bytes and random mutations of valid replies: never a crash, consumption always within the
    /// buffer, and the verdict the same however the bytes are cut.
    func testRandomInputNeverCrashesAndSplitsAgree() {
        var random = SplitMix64(seed: 0x5EED)
        let alphabet = Array("+-:$*%~>|_#,(!=\r\n0123456789-?tfx.einfa".utf8)
        let seeds = ["+OK\r\n", "$5\r\nhello\r\n", "*2\r\n:1\r\n$1\r\na\r\n", "%1\r\n+k\r\n~2\r\n#t\r\n,1.5\r\n",
                     "|1\r\n+a\r\n+b\r\n>1\r\n(12\r\n", "=7\r\ntxt:abc\r\n!3\r\nERR\r\n_\r\n*-1\r\n$-1\r\n"].map { Array($0.utf8) }
        let limits = RedisReplyLimits(maxBulkBytes: 64, maxLineBytes: 32, maxElements: 64, maxDepth: 6, maxReplyBytes: 256)
        func describe(_ r: (replies: [RedisValue], error: RedisProtocolError?, buffered: Int)) -> String {
            "\(r.replies) \(r.error == nil ? "ok" : "error")"
        }
        for round in 0..<20000 {
            var input: [UInt8]
            if round % 2 == 0 {
                let length = Int(random.next() % 80)
                input = (0..<length).map { _ in
                    random.next() % 8 == 0 ? UInt8(truncatingIfNeeded: random.next()) : alphabet[Int(random.next() % UInt64(alphabet.count))]
                }
            } else {
                input = seeds[Int(random.next() % UInt64(seeds.count))] + seeds[Int(random.next() % UInt64(seeds.count))]
                for _ in 0..<(1 + random.next() % 3) {
                    let i = Int(random.next() % UInt64(input.count))
                    switch random.next() % 3 {
                    case 0: input[i] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                    case 1: input.remove(at: i)
                    default: input.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: i)
                    }
                }
            }
            let whole = Self.run(input, limits: limits)
            let cut = Int(random.next() % UInt64(input.count + 1))
            let split = Self.run(input, pieces: [cut], limits: limits)
            let trickle = Self.run(input, pieces: Array(repeating: 1, count: input.count), limits: limits)
            XCTAssertEqual(describe(whole), describe(split), "input \(input) cut at \(cut)")
            XCTAssertEqual(describe(whole), describe(trickle), "input \(input) fed byte by byte")
        }
    }

    func testCommandEncoding() {
        XCTAssertEqual(RedisCommand(["SET", "k", "v"]).bytes, Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n".utf8))
        XCTAssertEqual(RedisCommand(["GET", ""]).bytes, Array("*2\r\n$3\r\nGET\r\n$0\r\n\r\n".utf8))
        XCTAssertEqual(RedisCommand(arguments: [Array("SET".utf8), [0, 13, 10, 255]]).bytes,
                       Array("*2\r\n$3\r\nSET\r\n$4\r\n".utf8) + [0, 13, 10, 255] + [13, 10])
        XCTAssertEqual(RedisCommand(["evalsha", "x"]).name, "EVALSHA")
        let long = String(repeating: "x", count: 1234)
        XCTAssertEqual(RedisCommand(["SET", long]).bytes, Array("*2\r\n$3\r\nSET\r\n$1234\r\n\(long)\r\n".utf8))
    }

    func testScriptDigestIsSHA1() {
        // FIPS 180 test vector, and the digest Redis gives `return 1` (SCRIPT LOAD "return 1").
        XCTAssertEqual(Digest.hex(Digest.sha1(Array("abc".utf8))), "a9993e364706816aba3e25717850c26c9cd0d89d")
        XCTAssertEqual(RedisScript("return 1").sha1, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }
}
