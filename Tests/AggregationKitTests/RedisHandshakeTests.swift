import XCTest
@testable import AggregationKit

/// The connect-time conversation, replies fed by hand.
final class RedisHandshakeTests: XCTestCase {
    let helloMap = RedisValue.map([.init(key: .simpleString("server"), value: .bulkString(Array("redis".utf8))),
                                   .init(key: .simpleString("proto"), value: .integer(3))])

    func testRESP3WithPasswordAndDatabase() {
        var h = RedisHandshake(endpoint: RedisEndpoint(address: .tcp(host: "h", port: 1), user: "alice", password: "pw", database: 4))
        XCTAssertEqual(h.start(), .send(["HELLO", "3", "AUTH", "alice", "pw"]))
        XCTAssertEqual(h.replyReceived(helloMap), .send(["SELECT", "4"]))
        XCTAssertEqual(h.replyReceived(.simpleString("OK")), .ready(protocolVersion: 3))
    }

    func testRESP3PlainAndDefaultUser() {
        var plain = RedisHandshake(endpoint: RedisEndpoint(address: .tcp(host: "h", port: 1)))
        XCTAssertEqual(plain.start(), .send(["HELLO", "3"]))
        XCTAssertEqual(plain.replyReceived(helloMap), .ready(protocolVersion: 3))
        var password = RedisHandshake(endpoint: RedisEndpoint(address: .tcp(host: "h", port: 1), password: "pw"))
        XCTAssertEqual(password.start(), .send(["HELLO", "3", "AUTH", "default", "pw"]))
    }

    func testFallsBackToRESP2WhenHelloIsUnknown() {
        for refusal in ["ERR unknown command 'HELLO', with args beginning with: '3' ", "NOPROTO unsupported protocol version", "ERR unknown command 'HELLO'"] {
            var h = RedisHandshake(endpoint: RedisEndpoint(address: .unix(path: "/s"), password: "pw", database: 2))
            _ = h.start()
            XCTAssertEqual(h.replyReceived(.error(RedisServerError(message: refusal))), .send(["AUTH", "pw"]), refusal)
            XCTAssertEqual(h.replyReceived(.simpleString("OK")), .send(["SELECT", "2"]))
            XCTAssertEqual(h.replyReceived(.simpleString("OK")), .ready(protocolVersion: 2))
        }
        var user = RedisHandshake(endpoint: RedisEndpoint(address: .unix(path: "/s"), user: "u", password: "pw"))
        _ = user.start()
        XCTAssertEqual(user.replyReceived(.error(RedisServerError(message: "ERR unknown command 'HELLO'"))), .send(["AUTH", "u", "pw"]))
        XCTAssertEqual(user.replyReceived(.simpleString("OK")), .ready(protocolVersion: 2))
        var bare = RedisHandshake(endpoint: RedisEndpoint(address: .unix(path: "/s")))
        _ = bare.start()
        XCTAssertEqual(bare.replyReceived(.error(RedisServerError(message: "ERR unknown command 'HELLO'"))), .ready(protocolVersion: 2))
    }

    func testRESP2Preferred() {
        var none = RedisHandshake(endpoint: RedisEndpoint(address: .tcp(host: "h", port: 1)), preferRESP3: false)
        XCTAssertEqual(none.start(), .ready(protocolVersion: 2))
        var db = RedisHandshake(endpoint: RedisEndpoint(address: .tcp(host: "h", port: 1), database: 1), preferRESP3: false)
        XCTAssertEqual(db.start(), .send(["SELECT", "1"]))
    }

    func testRefusals() {
        func failure(_ endpoint: RedisEndpoint, _ replies: [RedisValue]) -> RedisError? {
            var h = RedisHandshake(endpoint: endpoint)
            var next = h.start()
            for reply in replies {
                guard case .send = next else { break }
                next = h.replyReceived(reply)
            }
            if case .failed(let e) = next { return e }
            return nil
        }
        let secured = RedisEndpoint(address: .tcp(host: "h", port: 1), password: "wrong", database: 1)
        let wrongPass = RedisValue.error(RedisServerError(message: "WRONGPASS invalid username-password pair or user is disabled."))
        XCTAssertEqual(failure(secured, [wrongPass])?.kind, .authenticationFailed)
        XCTAssertEqual(failure(secured, [wrongPass])?.serverError?.code, "WRONGPASS")
        XCTAssertEqual(failure(secured, [.error(RedisServerError(message: "ERR unknown command 'HELLO'")),
                                         .error(RedisServerError(message: "ERR invalid password"))])?.kind, .authenticationFailed)
        let open = RedisEndpoint(address: .tcp(host: "h", port: 1))
        XCTAssertEqual(failure(open, [.error(RedisServerError(message: "NOAUTH HELLO must be called with the client already authenticated"))])?.kind,
                       .authenticationFailed)
        XCTAssertEqual(failure(secured, [helloMap, .error(RedisServerError(message: "ERR DB index is out of range"))])?.kind, .server)
        XCTAssertEqual(failure(open, [.array([])])?.kind, .protocolViolation)
        XCTAssertEqual(failure(open, [.error(RedisServerError(message: "ERR something else"))])?.kind, .server)
    }
}
