import XCTest
import Foundation
@testable import AggregationKit

/// The request and response parsers against the code they replaced (`Support/ReferenceHTTPParsers.swift`,
/// the parsers as they were before single-pass line scanning): over random and mutated messages fed in the
/// same pieces to both, every observable result must be the same — each verdict and problem code, the
/// parsed method, target, version, fields (name and value bytes), body, trailers, keep-alive, upgrade,
/// `Expect`, consumed byte counts, and what the parsers report between calls (`isMidRequest`,
/// `requestAwaitingBody`, `discardDecodedPrefix`, `hasStarted`, `takeConsumedPrefix`).
///
/// The messages mix plausible heads with hostile ones: any byte 0x00-0xFF in names, values, the request
/// line and the status line, bare CR, bare LF, obs-fold, whitespace before the colon, empty lines, repeated
/// and conflicting framing fields, and limits small enough to be hit. Each is fed whole, a byte at a time,
/// split at every byte (the shorter ones) or at random points.
final class ParserDifferentialTests: XCTestCase {
    typealias RNG = ParserRobustnessTests.SplitMix64

    // MARK: - Describing results

    private static func describe(_ h: HTTPHeaders) -> String {
        h.fieldList.map { f in
            Array(h.storage[Int(f.nameStart)..<Int(f.nameStart + f.nameLength)]).description + ":"
                + Array(h.storage[Int(f.valueStart)..<Int(f.valueStart + f.valueLength)]).description
        }.joined(separator: ",")
    }

    private static func describe(_ r: HTTPRequest?) -> String {
        guard let r else { return "nil" }
        return "\(r.method.utf8.map { $0 }) \(r.target.utf8.map { $0 }) 1.\(r.versionMinor) [\(describe(r.headers))] "
            + "body=\(r.body) trailers=[\(describe(r.trailers))] keepAlive=\(r.keepAlive) upgrade=\(r.isUpgrade) "
            + "continue=\(r.expectsContinue)"
    }

    private static func describe(_ r: HTTPResponse) -> String {
        "\(r.status) \(r.reason.map { Array($0.utf8).description } ?? "nil") [\(describe(r.headers))] body=\(r.body)"
    }

    private static func describe(_ e: HTTPParseError) -> String { "error \(e.status) \(e.code)" }

    // MARK: - Driving a parser as the server and the client do

    /// What a parser said, event by event, as the server feeds it: after a request the consumed bytes
    /// leave the buffer; after `needMore` the decoded prefix does. Stops at the first error.
    private static func requestEvents(_ bytes: [UInt8], pieces: [Int], limits: HTTPParserLimits, reference: Bool) -> [String] {
        reference ? requestEvents(ReferenceHTTPRequestParser(limits: limits), bytes, pieces: pieces)
                  : requestEvents(HTTPRequestParser(limits: limits), bytes, pieces: pieces)
    }

    private static func requestEvents<P: RequestParsing>(_ parser: P, _ bytes: [UInt8], pieces: [Int]) -> [String] {
        var parser = parser
        var events: [String] = []
        var buffer: [UInt8] = []
        var offset = 0
        for size in pieces {
            buffer += bytes[offset..<min(bytes.count, offset + size)]
            offset += size
            loop: while true {
                switch parser.step(buffer) {
                case .needMore:
                    let awaiting = describe(parser.requestAwaitingBody)
                    let mid = parser.isMidRequest
                    let discard = parser.discardDecodedPrefix()
                    events.append("more mid=\(mid) awaiting=\(awaiting) discard=\(discard)")
                    buffer.removeFirst(discard)
                    break loop
                case .request(let r, let consumed):
                    events.append("request \(describe(r)) consumed=\(consumed) mid=\(parser.isMidRequest)")
                    buffer.removeFirst(consumed)
                case .error(let e):
                    events.append(describe(e))
                    if case .error(let again) = parser.step(buffer) { events.append("then " + describe(again)) }
                    return events
                }
            }
        }
        return events
    }

    /// The same for a response, as the upstream client feeds it: interim heads and complete responses
    /// leave the buffer, the consumed prefix of a chunked or close-delimited body leaves it after
    /// `needMore`, and the end of the input is the upstream closing the connection.
    private static func responseEvents(_ bytes: [UInt8], pieces: [Int], limits: HTTPParserLimits, head: Bool, reference: Bool) -> [String] {
        reference ? responseEvents(ReferenceHTTPResponseParser(limits: limits, requestWasHead: head), bytes, pieces: pieces)
                  : responseEvents(HTTPResponseParser(limits: limits, requestWasHead: head), bytes, pieces: pieces)
    }

    private static func responseEvents<P: ResponseParsing>(_ parser: P, _ bytes: [UInt8], pieces: [Int]) -> [String] {
        var parser = parser
        var events: [String] = []
        var buffer: [UInt8] = []
        var offset = 0
        for size in pieces {
            buffer += bytes[offset..<min(bytes.count, offset + size)]
            offset += size
            loop: while true {
                switch parser.step(buffer) {
                case .needMore:
                    let started = parser.hasStarted
                    let taken = parser.takeConsumedPrefix()
                    events.append("more started=\(started) taken=\(taken)")
                    buffer.removeFirst(taken)
                    break loop
                case .interim(let consumed):
                    events.append("interim \(consumed)")
                    buffer.removeFirst(consumed)
                case .response(let r, let consumed, let keepAlive):
                    events.append("response \(describe(r)) consumed=\(consumed) keepAlive=\(keepAlive)")
                    buffer.removeFirst(consumed)
                case .error(let e):
                    events.append(describe(e))
                    return events
                }
            }
        }
        switch parser.stepAtEOF(buffer) {
        case .response(let r, let consumed, let keepAlive): events.append("eof response \(describe(r)) consumed=\(consumed) keepAlive=\(keepAlive)")
        case .error(let e): events.append("eof " + describe(e))
        default: events.append("eof other")
        }
        return events
    }

    /// Piece sizes: whole, a byte at a time, every two-piece split (when `everySplit`), a few random cuttings.
    private static func schedules(count: Int, everySplit: Bool, rng: inout RNG) -> [[Int]] {
        var out: [[Int]] = [[max(count, 1)], Array(repeating: 1, count: max(count, 1))]
        if everySplit {
            for split in 1..<max(count, 1) { out.append([split, count - split]) }
        } else {
            for _ in 0..<3 { out.append([Int.random(in: 0...count, using: &rng), count]) }
        }
        for _ in 0..<2 {
            var pieces: [Int] = []
            var left = count
            while left > 0 {
                let n = Int.random(in: 1...max(1, min(left, 24)), using: &rng)
                pieces.append(n)
                left -= n
            }
            out.append(pieces.isEmpty ? [0] : pieces)
        }
        return out
    }

    // MARK: - Generating messages

    private static let interesting: [UInt8] = [0, 1, 9, 10, 11, 13, 31, 32, 34, 44, 58, 59, 127, 128, 200, 255,
                                               UInt8(ascii: "a"), UInt8(ascii: "Z"), UInt8(ascii: "-"), UInt8(ascii: "/"),
                                               UInt8(ascii: "%"), UInt8(ascii: "."), UInt8(ascii: "?"), UInt8(ascii: "#")]

    private static func randomByte(_ rng: inout RNG) -> UInt8 {
        Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
    }

    private static func pick(_ options: [String], _ rng: inout RNG) -> [UInt8] { Array(options.randomElement(using: &rng)!.utf8) }

    /// One of `good` mostly, one of `bad` once in `oneIn` picks.
    private static func pick(_ good: [String], else bad: [String], oneIn: Int, _ rng: inout RNG) -> [UInt8] {
        Int.random(in: 0..<oneIn, using: &rng) == 0 ? pick(bad, &rng) : pick(good, &rng)
    }

    /// A field name: usually a known or plain one in any case, sometimes with a hostile byte.
    private static func fieldName(_ rng: inout RNG, response: Bool) -> [UInt8] {
        var name = pick(response
            ? ["Content-Length", "Transfer-Encoding", "Connection", "Server", "Date", "Content-Type", "X-A", "Via",
               "content-length", "CONNECTION", "transfer-encoding", "Keep-Alive", "Set-Cookie", "ETag", "X-Long-Header-Name-Here"]
            : ["Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Expect", "Origin", "Accept",
               "host", "HOST", "content-length", "connection", "X-Forwarded-For", "User-Agent", "X"], &rng)
        if Int.random(in: 0..<10, using: &rng) == 0 { name = name.map { Bool.random(using: &rng) ? $0 ^ 0x20 : $0 } }
        if Int.random(in: 0..<20, using: &rng) == 0 {
            name.insert(randomByte(&rng), at: Int.random(in: 0...name.count, using: &rng))
        }
        if Int.random(in: 0..<60, using: &rng) == 0 { name = [] }
        return name
    }

    private static func fieldValue(_ rng: inout RNG, name: [UInt8]) -> [UInt8] {
        let lower = String(decoding: name.map { $0 | 0x20 }, as: UTF8.self)
        var value: [UInt8]
        switch (lower, Int.random(in: 0..<4, using: &rng)) {
        case ("content-length", 0...2): value = pick(["0", "5", "13", "00", "-1", "1,1", " 5", "5 ", "99999999999999999999", "", "3"], &rng)
        case ("transfer-encoding", 0...2): value = pick(["chunked", "CHUNKED", "gzip, chunked", "chunked, gzip", "identity", " chunked ", "chunked,", ",chunked", ""], &rng)
        case ("connection", 0...2): value = pick(["keep-alive", "close", "Keep-Alive", "upgrade", "keep-alive, upgrade", "close,keep-alive", " , ", "keep-alivex", "CLOSE", "te, close"], &rng)
        case ("host", 0...2): value = pick(["127.0.0.1:19721", "example.com", "", "a b", "a/b", "[::1]:80", "h", "xn--bcher-kva.example"], &rng)
        case ("expect", 0...2): value = pick(["100-continue", "100-CONTINUE", "magic", ""], &rng)
        case ("upgrade", 0...2): value = pick(["websocket", "h2c"], &rng)
        default:
            value = pick(["nginx/1.22.1", "Wed, 21 Oct 2026 07:28:00 GMT", "application/json", "*/*", "https://app.example.com",
                          "a\tb", "  padded  ", "\t", "", "x", "\u{e9}t\u{e9}", String(repeating: "v", count: 40)], &rng)
        }
        // Hostile bytes in values: controls, DEL, obs-text, CR, LF, at any position (also in a word's tail).
        for _ in 0..<(Int.random(in: 0..<10, using: &rng) == 0 ? Int.random(in: 1...3, using: &rng) : 0) {
            value.insert(randomByte(&rng), at: Int.random(in: 0...value.count, using: &rng))
        }
        return value
    }

    /// Line ending: almost always CRLF; sometimes a bare LF, a bare CR, or CR CR LF.
    private static func lineEnding(_ rng: inout RNG) -> [UInt8] {
        switch Int.random(in: 0..<80, using: &rng) {
        case 0: return [10]
        case 1: return [13]
        case 2: return [13, 13, 10]
        default: return [13, 10]
        }
    }

    private static func fieldLines(_ rng: inout RNG, response: Bool, count: Int) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<count {
            let name = fieldName(&rng, response: response)
            let value = fieldValue(&rng, name: name)
            var line = name
            switch Int.random(in: 0..<60, using: &rng) {
            case 0: line += Array(" :".utf8)
            case 1: line += Array("\t:".utf8)
            case 2: break  // no colon
            case 3: line = Array("  ".utf8) + line + Array(":".utf8)  // obs-fold
            case 4: line = [9] + line + Array(":".utf8)
            default: line += Array(":".utf8)
            }
            line += pick(["", " ", "  ", "\t", " \t"], &rng) + value + pick(["", "", "", " ", "\t "], &rng)
            out += line + lineEnding(&rng)
        }
        return out
    }

    private static func body(_ rng: inout RNG, chunked: Bool) -> [UInt8] {
        if chunked {
            return pick(["5\r\nhello\r\n0\r\n\r\n", "0\r\n\r\n", "3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n", "zz\r\n", "2\r\nab\r\n0\r\n"], &rng)
        }
        return pick(["", "hello", "abc", "0123456789abc"], &rng)
    }

    private static func request(_ rng: inout RNG) -> [UInt8] {
        var bytes: [UInt8] = []
        if Int.random(in: 0..<15, using: &rng) == 0 { bytes += Array("\r\n".utf8) }
        let method = pick(["GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "CONNECT", "M-SEARCH",
                           "PROPFIND", "ACL", "TRACE", "QUERY"], else: ["get", "FOO", "G@T", "", "GETS", "POS", "OPTION"], oneIn: 8, &rng)
        let target = pick(["/api/users/7", "/users/7", "/", "/a/b?x=1", "/caf%C3%A9", "/a/b/c.json", "*", "http://h/a", "h:443",
                           "/" + String(repeating: "p", count: 30)],
                          else: ["/a//b", "/%2e%2e/x", "/a#f", "/a/%2F/b", "/%C0%AE", "/a\\b", "/..;/x", "/a?b#c", "", "foo"], oneIn: 5, &rng)
        let version = pick(["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0"],
                           else: ["HTTP/2.0", "HTTP/1.2", "http/1.1", "HTTP/1.10", "HTTP/1.", "RTSP/1.0", "HTTP/1.1 "], oneIn: 8, &rng)
        var line = method + [32] + target + [32] + version
        if Int.random(in: 0..<30, using: &rng) == 0 { line.insert(32, at: Int.random(in: 0...line.count, using: &rng)) }
        if Int.random(in: 0..<20, using: &rng) == 0 { line.insert(randomByte(&rng), at: Int.random(in: 0...line.count, using: &rng)) }
        bytes += line + lineEnding(&rng)
        var fields = fieldLines(&rng, response: false, count: Int.random(in: 0...5, using: &rng))
        if Int.random(in: 0..<4, using: &rng) != 0 {
            // Usually a Host first, as a client sends it.
            fields = Array("Host: 127.0.0.1:19721\r\n".utf8) + fields
        }
        bytes += fields + lineEnding(&rng)
        let chunked = String(decoding: fields, as: UTF8.self).lowercased().contains("chunked")
        bytes += body(&rng, chunked: chunked)
        if Int.random(in: 0..<5, using: &rng) == 0 { bytes += Array("GET /q HTTP/1.1\r\nHost: h\r\n\r\n".utf8) }
        return bytes
    }

    private static func response(_ rng: inout RNG) -> [UInt8] {
        var bytes: [UInt8] = []
        if Int.random(in: 0..<10, using: &rng) == 0 { bytes += Array("HTTP/1.1 100 Continue\r\n\r\n".utf8) }
        let version = pick(["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "http/1.1"], else: ["HTTP/1.2", "HTTP/2.0", "HTTP/1.1x", "HTTP/1.1 "], oneIn: 10, &rng)
        let status = pick(["200", "200", "200", "204", "304", "404", "103", "100", "500", "201", "302"], else: ["101", "999", "099", "2x0", "20"], oneIn: 10, &rng)
        let reason = pick([" OK", " OK", " Not Found", " No Content", " Not Modified", "", " ", " Internal Server Error",
                           " ok", " OK ", " Ok\tthen", " \u{e9}", "  OK", " Created", " Bad Gateway", " Weird reason", " Found"], &rng)
        var line = version + [32] + status + reason
        if Int.random(in: 0..<20, using: &rng) == 0 { line.insert(randomByte(&rng), at: Int.random(in: 0...line.count, using: &rng)) }
        bytes += line + lineEnding(&rng)
        let fields = fieldLines(&rng, response: true, count: Int.random(in: 0...6, using: &rng))
        bytes += fields + lineEnding(&rng)
        let chunked = String(decoding: fields, as: UTF8.self).lowercased().contains("chunked")
        bytes += body(&rng, chunked: chunked)
        return bytes
    }

    /// A few byte edits anywhere: replace, insert, delete, with any byte.
    private static func mutate(_ bytes: inout [UInt8], _ rng: inout RNG) {
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let i = Int.random(in: 0...bytes.count, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0 where i < bytes.count: bytes[i] = randomByte(&rng)
            case 2 where i < bytes.count: bytes.remove(at: i)
            default: bytes.insert(randomByte(&rng), at: i)
            }
        }
    }

    private static func limits(_ rng: inout RNG) -> HTTPParserLimits {
        var limits = HTTPParserLimits()
        limits.allowEncodedSlashes = Bool.random(using: &rng)
        if Int.random(in: 0..<6, using: &rng) == 0 {
            limits.maxRequestLineBytes = Int.random(in: 8...60, using: &rng)
            limits.maxHeaderBytes = Int.random(in: 20...200, using: &rng)
            limits.maxHeaderCount = Int.random(in: 1...4, using: &rng)
            limits.maxBodyBytes = Int.random(in: 0...8, using: &rng)
            limits.maxChunkLineBytes = Int.random(in: 1...8, using: &rng)
        }
        return limits
    }

    // MARK: - Tests

    private func compareRequests(seed: UInt64, count: Int, mutated: Bool, everySplitBelow: Int) {
        var rng = RNG(state: seed)
        var accepted = 0, refused = 0
        var outcomes: [String: Int] = [:]
        for _ in 0..<count {
            var bytes = Self.request(&rng)
            if mutated { Self.mutate(&bytes, &rng) }
            let limits = Self.limits(&rng)
            for pieces in Self.schedules(count: bytes.count, everySplit: bytes.count < everySplitBelow, rng: &rng) {
                let old = Self.requestEvents(bytes, pieces: pieces, limits: limits, reference: true)
                let new = Self.requestEvents(bytes, pieces: pieces, limits: limits, reference: false)
                if old != new {
                    return XCTFail("request \(String(decoding: bytes, as: UTF8.self).debugDescription) \(bytes) pieces \(pieces):\nold \(old)\nnew \(new)")
                }
                if pieces.count == 1 {
                    if old.contains(where: { $0.hasPrefix("request") }) { accepted += 1 }
                    if let e = old.first(where: { $0.hasPrefix("error") }) { refused += 1; outcomes[e, default: 0] += 1 }
                }
            }
        }
        // The generator must exercise both sides (mutations mostly break a message).
        XCTAssertGreaterThan(accepted, count / (mutated ? 50 : 10))
        XCTAssertGreaterThan(refused, count / 10)
        if ProcessInfo.processInfo.environment["PARSER_DIFFERENTIAL_STATS"] != nil {
            print("accepted \(accepted) refused \(refused)", outcomes.sorted { $0.value > $1.value })
        }
    }

    private func compareResponses(seed: UInt64, count: Int, mutated: Bool, everySplitBelow: Int) {
        var rng = RNG(state: seed)
        var accepted = 0, refused = 0
        var outcomes: [String: Int] = [:]
        for _ in 0..<count {
            var bytes = Self.response(&rng)
            if mutated { Self.mutate(&bytes, &rng) }
            let limits = Self.limits(&rng)
            let head = Int.random(in: 0..<8, using: &rng) == 0
            for pieces in Self.schedules(count: bytes.count, everySplit: bytes.count < everySplitBelow, rng: &rng) {
                let old = Self.responseEvents(bytes, pieces: pieces, limits: limits, head: head, reference: true)
                let new = Self.responseEvents(bytes, pieces: pieces, limits: limits, head: head, reference: false)
                if old != new {
                    return XCTFail("response \(String(decoding: bytes, as: UTF8.self).debugDescription) \(bytes) pieces \(pieces) head \(head):\nold \(old)\nnew \(new)")
                }
                if pieces.count == 1 {
                    if old.contains(where: { $0.hasPrefix("response") || $0.hasPrefix("eof response") }) { accepted += 1 }
                    if let e = old.first(where: { $0.hasPrefix("error") }) { refused += 1; outcomes[e, default: 0] += 1 }
                }
            }
        }
        XCTAssertGreaterThan(accepted, count / (mutated ? 50 : 10))
        XCTAssertGreaterThan(refused, count / 10)
        if ProcessInfo.processInfo.environment["PARSER_DIFFERENTIAL_STATS"] != nil {
            print("accepted \(accepted) refused \(refused)", outcomes.sorted { $0.value > $1.value })
        }
    }

    func testGeneratedRequestsAgreeWithTheReference() { compareRequests(seed: 1, count: 3000, mutated: false, everySplitBelow: 90) }
    func testMutatedRequestsAgreeWithTheReference() { compareRequests(seed: 2, count: 3000, mutated: true, everySplitBelow: 90) }
    func testGeneratedResponsesAgreeWithTheReference() { compareResponses(seed: 3, count: 3000, mutated: false, everySplitBelow: 90) }
    func testMutatedResponsesAgreeWithTheReference() { compareResponses(seed: 4, count: 3000, mutated: true, everySplitBelow: 90) }

    /// Random bytes and random field lines after a valid start line: names and values of any byte.
    func testRandomFieldBytesAgreeWithTheReference() {
        var rng = RNG(state: 5)
        for round in 0..<4000 {
            var lines: [UInt8] = []
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let name = (0..<Int.random(in: 0...10, using: &rng)).map { _ in Self.randomByte(&rng) }
                let value = (0..<Int.random(in: 0...20, using: &rng)).map { _ in Self.randomByte(&rng) }
                lines += name + [58] + value + Self.lineEnding(&rng)
            }
            let limits = HTTPParserLimits()
            if round % 2 == 0 {
                let bytes = Array("GET / HTTP/1.1\r\nHost: h\r\n".utf8) + lines + Array("\r\n".utf8)
                for pieces in Self.schedules(count: bytes.count, everySplit: round % 8 == 0, rng: &rng) {
                    let old = Self.requestEvents(bytes, pieces: pieces, limits: limits, reference: true)
                    let new = Self.requestEvents(bytes, pieces: pieces, limits: limits, reference: false)
                    if old != new { return XCTFail("request \(bytes) pieces \(pieces):\nold \(old)\nnew \(new)") }
                }
            } else {
                let bytes = Array("HTTP/1.1 200 OK\r\n".utf8) + lines + Array("Content-Length: 0\r\n\r\n".utf8)
                for pieces in Self.schedules(count: bytes.count, everySplit: round % 8 == 1, rng: &rng) {
                    let old = Self.responseEvents(bytes, pieces: pieces, limits: limits, head: false, reference: true)
                    let new = Self.responseEvents(bytes, pieces: pieces, limits: limits, head: false, reference: false)
                    if old != new { return XCTFail("response \(bytes) pieces \(pieces):\nold \(old)\nnew \(new)") }
                }
            }
        }
    }

    /// Request and status lines of random bytes, and plain lines with one byte replaced by any of the 256.
    func testEveryByteInTheStartLinesAgreesWithTheReference() {
        var rng = RNG(state: 6)
        let requestLine = Array("GET /api/users/7 HTTP/1.1".utf8)
        let statusLine = Array("HTTP/1.1 200 OK".utf8)
        for b in 0...255 {
            for position in 0..<requestLine.count {
                var line = requestLine
                line[position] = UInt8(b)
                let bytes = line + Array("\r\nHost: h\r\n\r\n".utf8)
                let old = Self.requestEvents(bytes, pieces: [bytes.count], limits: HTTPParserLimits(), reference: true)
                let new = Self.requestEvents(bytes, pieces: [bytes.count], limits: HTTPParserLimits(), reference: false)
                XCTAssertEqual(old, new, "\(bytes)")
            }
            for position in 0..<statusLine.count {
                var line = statusLine
                line[position] = UInt8(b)
                let bytes = line + Array("\r\nContent-Length: 0\r\n\r\n".utf8)
                let old = Self.responseEvents(bytes, pieces: [bytes.count], limits: HTTPParserLimits(), head: false, reference: true)
                let new = Self.responseEvents(bytes, pieces: [bytes.count], limits: HTTPParserLimits(), head: false, reference: false)
                XCTAssertEqual(old, new, "\(bytes)")
            }
        }
        for _ in 0..<3000 {
            let junk = (0..<Int.random(in: 0...30, using: &rng)).map { _ in Self.randomByte(&rng) }
            let request = junk + Array("\r\nHost: h\r\n\r\n".utf8)
            let response = junk + Array("\r\n\r\n".utf8)
            for pieces in Self.schedules(count: request.count, everySplit: false, rng: &rng) {
                XCTAssertEqual(Self.requestEvents(request, pieces: pieces, limits: HTTPParserLimits(), reference: true),
                               Self.requestEvents(request, pieces: pieces, limits: HTTPParserLimits(), reference: false), "\(request)")
            }
            XCTAssertEqual(Self.responseEvents(response, pieces: [response.count], limits: HTTPParserLimits(), head: false, reference: true),
                           Self.responseEvents(response, pieces: [response.count], limits: HTTPParserLimits(), head: false, reference: false), "\(response)")
        }
    }

    /// Plain messages with the limits set around their sizes: the head, the request line and the field
    /// count exactly at, one below and one above each limit, fed whole and split at every byte.
    func testLimitsAtTheEdgesAgreeWithTheReference() {
        var rng = RNG(state: 7)
        let requests = ["GET /api/users/7 HTTP/1.1\r\nHost: 127.0.0.1:19721\r\nOrigin: https://app.example.com\r\n\r\n",
                        "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab",
                        "GET / HTTP/1.1\r\nHost: h\r\n\r\n"].map { Array($0.utf8) }
        let responses = ["HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 21 Oct 2026 07:28:00 GMT\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}",
                         "HTTP/1.1 204 No Content\r\n\r\n",
                         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"].map { Array($0.utf8) }
        func around(_ n: Int) -> ClosedRange<Int> { max(0, n - 3)...(n + 3) }
        for bytes in requests {
            let headLength = bytes.indices.first { bytes[$0...].starts(with: Array("\r\n\r\n".utf8)) }!
            let lineLength = bytes.firstIndex(of: 13)!
            let fieldCount = bytes[..<headLength].filter { $0 == 10 }.count
            var cases: [HTTPParserLimits] = []
            for n in around(headLength) { var l = HTTPParserLimits(); l.maxHeaderBytes = n; cases.append(l) }
            for n in around(lineLength) { var l = HTTPParserLimits(); l.maxRequestLineBytes = n; cases.append(l) }
            for n in around(fieldCount) { var l = HTTPParserLimits(); l.maxHeaderCount = n; cases.append(l) }
            for limits in cases {
                for pieces in Self.schedules(count: bytes.count, everySplit: true, rng: &rng) {
                    let old = Self.requestEvents(bytes, pieces: pieces, limits: limits, reference: true)
                    let new = Self.requestEvents(bytes, pieces: pieces, limits: limits, reference: false)
                    if old != new { return XCTFail("request \(bytes) pieces \(pieces) limits \(limits):\nold \(old)\nnew \(new)") }
                }
            }
        }
        for bytes in responses {
            let headLength = bytes.indices.first { bytes[$0...].starts(with: Array("\r\n\r\n".utf8)) }!
            let fieldCount = bytes[..<headLength].filter { $0 == 10 }.count
            var cases: [HTTPParserLimits] = []
            for n in around(headLength) { var l = HTTPParserLimits(); l.maxHeaderBytes = n; cases.append(l) }
            for n in around(fieldCount) { var l = HTTPParserLimits(); l.maxHeaderCount = n; cases.append(l) }
            for n in [0, 1, 2, 3] { var l = HTTPParserLimits(); l.maxBodyBytes = n; cases.append(l) }
            for limits in cases {
                for pieces in Self.schedules(count: bytes.count, everySplit: true, rng: &rng) {
                    let old = Self.responseEvents(bytes, pieces: pieces, limits: limits, head: false, reference: true)
                    let new = Self.responseEvents(bytes, pieces: pieces, limits: limits, head: false, reference: false)
                    if old != new { return XCTFail("response \(bytes) pieces \(pieces) limits \(limits):\nold \(old)\nnew \(new)") }
                }
            }
        }
    }
}

// MARK: - The two parsers of each kind, driven alike

/// One parse step of a request parser, whichever: the production one or the reference.
private enum RequestStep {
    case needMore
    case request(HTTPRequest, Int)
    case error(HTTPParseError)
}

/// What the differential driver asks of a request parser.
private protocol RequestParsing {
    mutating func step(_ buffer: [UInt8]) -> RequestStep
    var requestAwaitingBody: HTTPRequest? { get }
    var isMidRequest: Bool { get }
    mutating func discardDecodedPrefix() -> Int
}

extension HTTPRequestParser: RequestParsing {
    fileprivate mutating func step(_ buffer: [UInt8]) -> RequestStep {
        switch parse(buffer) {
        case .needMore: return .needMore
        case .request(let r, let consumed): return .request(r, consumed)
        case .error(let e): return .error(e)
        }
    }
}

extension ReferenceHTTPRequestParser: RequestParsing {
    fileprivate mutating func step(_ buffer: [UInt8]) -> RequestStep {
        switch parse(buffer) {
        case .needMore: return .needMore
        case .request(let r, let consumed): return .request(r, consumed)
        case .error(let e): return .error(e)
        }
    }
}

/// One parse step of a response parser, whichever.
private enum ResponseStep {
    case needMore
    case interim(Int)
    case response(HTTPResponse, Int, Bool)
    case error(HTTPParseError)
}

/// What the differential driver asks of a response parser.
private protocol ResponseParsing {
    mutating func step(_ buffer: [UInt8]) -> ResponseStep
    mutating func stepAtEOF(_ buffer: [UInt8]) -> ResponseStep
    var hasStarted: Bool { get }
    mutating func takeConsumedPrefix() -> Int
}

extension HTTPResponseParser: ResponseParsing {
    fileprivate mutating func step(_ buffer: [UInt8]) -> ResponseStep { Self.step(parse(buffer)) }
    fileprivate mutating func stepAtEOF(_ buffer: [UInt8]) -> ResponseStep { Self.step(buffer.withUnsafeBytes { finishAtEOF($0) }) }
    private static func step(_ result: Result) -> ResponseStep {
        switch result {
        case .needMore: return .needMore
        case .interim(let consumed): return .interim(consumed)
        case .response(let r, let consumed, let keepAlive): return .response(r, consumed, keepAlive)
        case .error(let e): return .error(e)
        }
    }
}

extension ReferenceHTTPResponseParser: ResponseParsing {
    fileprivate mutating func step(_ buffer: [UInt8]) -> ResponseStep { Self.step(parse(buffer)) }
    fileprivate mutating func stepAtEOF(_ buffer: [UInt8]) -> ResponseStep { Self.step(buffer.withUnsafeBytes { finishAtEOF($0) }) }
    private static func step(_ result: Result) -> ResponseStep {
        switch result {
        case .needMore: return .needMore
        case .interim(let consumed): return .interim(consumed)
        case .response(let r, let consumed, let keepAlive): return .response(r, consumed, keepAlive)
        case .error(let e): return .error(e)
        }
    }
}
