import XCTest
@testable import AggregationKit

/// `redis://` and `unix://` URLs: what is read, what is refused and why, and that a password never
/// shows in a description or an error.
final class RedisEndpointTests: XCTestCase {
    func testValidURLs() throws {
        let cases: [(String, RedisEndpoint)] = [
            ("redis://localhost", .init(address: .tcp(host: "localhost", port: 6379))),
            ("redis://127.0.0.1:6380", .init(address: .tcp(host: "127.0.0.1", port: 6380))),
            ("redis://127.0.0.1:6380/", .init(address: .tcp(host: "127.0.0.1", port: 6380))),
            ("redis://cache.internal:6379/3", .init(address: .tcp(host: "cache.internal", port: 6379), database: 3)),
            ("REDIS://h:1/0", .init(address: .tcp(host: "h", port: 1))),
            ("redis://:s3cret@h:6379/1", .init(address: .tcp(host: "h", port: 6379), password: "s3cret", database: 1)),
            ("redis://alice:p%40ss%3Aw%2Fd@h", .init(address: .tcp(host: "h", port: 6379), user: "alice", password: "p@ss:w/d")),
            ("redis://bob:a:b@h", .init(address: .tcp(host: "h", port: 6379), user: "bob", password: "a:b")),
            ("redis://[::1]:7000/2", .init(address: .tcp(host: "::1", port: 7000), database: 2)),
            ("redis://[::1]", .init(address: .tcp(host: "::1", port: 6379))),
            ("unix:///run/redis/redis.sock", .init(address: .unix(path: "/run/redis/redis.sock"))),
            ("unix:///tmp/r.sock?db=5", .init(address: .unix(path: "/tmp/r.sock"), database: 5)),
            ("unix://:pw@/tmp/r.sock?db=0", .init(address: .unix(path: "/tmp/r.sock"), password: "pw")),
            ("unix:///tmp/with%20space.sock", .init(address: .unix(path: "/tmp/with space.sock"))),
        ]
        for (url, expected) in cases {
            XCTAssertEqual(try RedisEndpoint(url: url), expected, url)
        }
    }

    func testInvalidURLsSayWhy() {
        let cases: [(String, String)] = [
            ("", "no scheme"),
            ("localhost:6379", "no scheme"),
            ("http://h", "unknown scheme"),
            ("rediss://h", "TLS"),
            ("redis://", "no host"),
            ("redis://:6379", "no host"),
            ("redis://h:0", "port"),
            ("redis://h:65536", "port"),
            ("redis://h:x", "port"),
            ("redis://h:", "port"),
            ("redis://h:+80", "port"),
            ("redis://h/x", "database number"),
            ("redis://h/01", "database number"),
            ("redis://h/-1", "database number"),
            ("redis://h/1/2", "database number"),
            ("redis://h/99999999999", "database number"),
            ("redis://h?db=1", "query"),
            ("redis://h#x", "fragment"),
            ("redis://user@h", "without ':'"),
            ("redis://a:b@c@h", "more than one '@'"),
            ("redis://a:@h", "empty password"),
            ("redis://:p%4@h", "%-escape"),
            ("redis://:p%zz@h", "%-escape"),
            ("redis://:p%ff@h", "UTF-8"),
            ("redis://:p%00@h", "UTF-8"),
            ("redis://h o:1", "percent-encoded"),
            ("redis://hö", "percent-encoded"),
            ("redis://h_!:1", "characters"),
            ("redis://[::1", "']'"),
            ("redis://[::1]x", "unexpected text"),
            ("redis://[zz]:1", "IPv6"),
            ("unix://", "no socket path"),
            ("unix://host/tmp/s", "no host"),
            ("unix:///tmp/s?db=x", "database number"),
            ("unix:///tmp/s?db=1&db=2", "twice"),
            ("unix:///tmp/s?password=x", "unknown query parameter"),
            ("unix:///tmp/s?db", "unknown query parameter"),
            ("unix:///tmp/", "directory"),
            ("unix:///" + String(repeating: "a", count: 120), "107 bytes"),
        ]
        for (url, reason) in cases {
            XCTAssertThrowsError(try RedisEndpoint(url: url), url) { error in
                let text = String(describing: error)
                XCTAssertTrue(text.contains(reason), "\(url): \(text)")
            }
        }
    }

    func testPasswordNeverShows() throws {
        let endpoint = try RedisEndpoint(url: "redis://alice:topsecret@h:6379/2")
        XCTAssertEqual(endpoint.description, "redis://alice:***@h:6379/2")
        XCTAssertEqual(try RedisEndpoint(url: "unix://:topsecret@/tmp/s?db=1").description, "unix://:***@/tmp/s?db=1")
        XCTAssertThrowsError(try RedisEndpoint(url: "redis://alice:topsecret@h:99999")) { error in
            XCTAssertFalse(String(describing: error).contains("topsecret"))
        }
    }

    func testUnixSocketAddress() throws {
        let address = try SocketAddress(unixPath: "/tmp/redis.sock")
        XCTAssertEqual(address.unixPath, "/tmp/redis.sock")
        XCTAssertEqual(address.description, "unix:/tmp/redis.sock")
        XCTAssertThrowsError(try SocketAddress(unixPath: "/" + String(repeating: "a", count: 107)))
        XCTAssertThrowsError(try SocketAddress(unixPath: ""))
    }
}
