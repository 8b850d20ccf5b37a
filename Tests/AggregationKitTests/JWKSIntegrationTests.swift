import XCTest
import Foundation
import Synchronization
@testable import AggregationKit

/// `jwksUrl` over real sockets: a JWK Set server (our own HTTP server with a closure) in front of which
/// a gateway verifies tokens. Key rotation picked up through an unknown kid, a flood of random kids
/// costing one fetch per interval (counted at the server), and the last good set kept when the server
/// answers 5xx, garbage, too much, too slowly, or is gone.
final class JWKSIntegrationTests: XCTestCase {
    /// A key server: our HTTP server with a closure-like handler whose answer the test switches;
    /// counts the requests it gets.
    final class KeyServer {
        enum Mode: Sendable { case serve, status500, garbage, oversized, hang }

        final class Handler: Responder, Sendable {
            struct State: Sendable {
                var document: [UInt8] = Array(#"{"keys": []}"#.utf8)
                /// A valid set without the good keys, sent with the failure modes: taken by mistake, it
                /// would make the good tokens fail.
                var decoy: [UInt8] = Array(#"{"keys": []}"#.utf8)
                var mode = Mode.serve
            }
            let state = Mutex(State())
            let requests = Atomic<Int>(0)

            func respond(to request: HTTPRequest, context: RequestContext, completion: @escaping ResponseCompletion) {
                requests.add(1, ordering: .relaxed)
                let (document, decoy, mode) = state.withLock { ($0.document, $0.decoy, $0.mode) }
                let json = HTTPHeaders([("Content-Type", "application/json")])
                switch mode {
                case .serve: completion(HTTPResponse(status: 200, headers: json, body: document), nil)
                case .status500: completion(HTTPResponse(status: 500, headers: json, body: decoy), nil)
                case .garbage: completion(HTTPResponse(status: 200, contentType: "application/json", body: #"{"keys": [{"kty": "EC", "#), nil)
                case .oversized:
                    completion(HTTPResponse(status: 200, headers: json,
                                            body: decoy.dropLast() + Array(#", "pad": ""#.utf8) + [UInt8](repeating: 0x61, count: 8192) + Array(#""}"#.utf8)), nil)
                case .hang: break   // never answers: the fetch times out
                }
            }
        }

        let handler = Handler()
        let group: EventLoopGroup
        let server: HTTPServer
        let port: Int

        init() throws {
            group = try EventLoopGroup(threads: 1, logging: .disabled)
            var configuration = ServerConfiguration()
            configuration.host = "127.0.0.1"
            configuration.port = 0
            configuration.accessLog = false
            configuration.drainTimeout = 200_000_000
            server = HTTPServer(configuration: configuration, group: group, responder: handler)
            port = try server.start()
        }

        func set(_ keys: [TokenMint], mode: Mode = .serve) {
            let document = Array(("{\"keys\": [" + keys.map(\.publicJWK).joined(separator: ",") + "]}").utf8)
            handler.state.withLock { $0.document = document; $0.mode = mode }
        }
        func set(mode: Mode) { handler.state.withLock { $0.mode = mode } }
        func setDecoy(_ keys: [TokenMint]) {
            let document = Array(("{\"keys\": [" + keys.map(\.publicJWK).joined(separator: ",") + "]}").utf8)
            handler.state.withLock { $0.decoy = document }
        }
        var count: Int { handler.requests.load(ordering: .relaxed) }

        func stop() {
            server.shutdown()
            group.shutdown()
        }
    }

    var keys: KeyServer!
    var downstream: Downstream!
    var gateway: TestGateway!
    let now = Int64(Date().timeIntervalSince1970)
    /// The minimum interval between fetches in these tests.
    let interval = 0.4

    override func setUpWithError() throws {
        keys = try KeyServer()
        downstream = try Downstream()
        gateway = try TestGateway("""
        {
          "listen": {"host": "127.0.0.1", "port": 0},
          "services": {"down": {"instances": ["127.0.0.1:\(downstream.port)"], "connectTimeoutMs": 1000, "responseTimeoutMs": 3000}},
          "auth": {"jwt": {"providers": {"main": {"jwksUrl": "http://127.0.0.1:\(keys.port)/.well-known/jwks.json", "jwksMinIntervalMs": \(Int(interval * 1000)),
                                                  "jwksRefreshSeconds": 3600, "jwksTimeoutMs": 500, "jwksMaxBytes": 4096,
                                                  "issuers": ["\(TokenMint.issuer)"], "audiences": ["\(TokenMint.audience)"]}}}},
          "routes": [{"name": "me", "path": "/api/me", "proxy": {"service": "down", "path": "/echo"}, "policy": {"auth": {"claimsToHeaders": {"sub": "X-User-Id"}}}}]
        }
        """)
    }

    override func tearDown() {
        gateway?.stop()
        downstream?.stop()
        keys?.stop()
    }

    /// A fresh token (a new `jti`, so never a cache hit) signed by `mint`.
    func token(_ mint: TokenMint, kid: String? = nil) throws -> String {
        let header = #"{"alg":"ES256","typ":"JWT","kid":"\#(kid ?? mint.verifying.keyID!)"}"#
        return try mint.token(header: header, claims: TokenMint.claims(exp: now + 300, extra: #""jti":"\#(UUID().uuidString)""#))
    }

    func get(_ token: String) throws -> HTTPResponse { try gateway.get("/api/me", headers: [("Authorization", "Bearer \(token)")]) }

    /// Retries a request until it gets `status` (bounded: the machine is loaded).
    func eventually(_ status: Int, within seconds: Double = 5, _ make: () throws -> String) throws -> HTTPResponse {
        let deadline = Date().addingTimeInterval(seconds)
        var last: HTTPResponse
        repeat {
            last = try get(try make())
            if last.status == status { return last }
            usleep(20_000)
        } while Date() < deadline
        return last
    }

    func testKeysAreFetchedAndRotationIsPickedUpThroughAnUnknownKid() throws {
        let k1 = try TokenMint(kid: "k1"), k2 = try TokenMint(kid: "k2")
        keys.set([k1])
        let first = try eventually(200) { try token(k1) }
        XCTAssertEqual(first.status, 200, first.text)
        XCTAssertTrue(first.text.contains("X-User-Id"), "claims reach the downstream")

        // The issuer rotates: k2 is published. A token with kid k2 makes the gateway fetch again.
        keys.set([k1, k2])
        let rotated = try eventually(200) { try token(k2) }
        XCTAssertEqual(rotated.status, 200, rotated.text)
        XCTAssertEqual(try get(try token(k1)).status, 200, "k1 is still in the set")

        // k1 withdrawn: once fetched, its tokens are refused.
        keys.set([k2])
        let withdrawn = try eventually(401) {
            _ = try get(try token(k2, kid: "k-unknown-\(UUID().uuidString.prefix(6))"))   // an unknown kid triggers the refresh
            return try token(k1)
        }
        XCTAssertEqual(withdrawn.status, 401)
        XCTAssertEqual(withdrawn.problemCode, "invalid_token")
    }

    func testAFloodOfRandomKidsCostsOneFetchPerInterval() throws {
        let k1 = try TokenMint(kid: "k1")
        keys.set([k1])
        XCTAssertEqual(try eventually(200) { try token(k1) }.status, 200)
        let before = keys.count
        let started = Date()
        var sent = 0, refused = 0
        // A flood for more than three intervals.
        while Date().timeIntervalSince(started) < interval * 3.5 {
            let r = try get(try token(k1, kid: "random-\(UUID().uuidString)"))
            sent += 1
            if r.status == 401 && r.json?["reason"]?.stringValue == "kid_unknown" { refused += 1 }
        }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(refused, sent, "every random kid is refused as unknown")
        let fetches = keys.count - before
        XCTAssertLessThanOrEqual(fetches, Int(elapsed / interval) + 1, "\(fetches) fetches in \(elapsed) s")
        XCTAssertGreaterThanOrEqual(fetches, 1, "an unknown kid does make the gateway look")
        XCTAssertEqual(try get(try token(k1)).status, 200, "the known key keeps working")
    }

    func testTheLastGoodSetIsKeptWhenTheServerFails() throws {
        let k1 = try TokenMint(kid: "k1")
        keys.set([k1])
        keys.setDecoy([try TokenMint(kid: "k2")])
        XCTAssertEqual(try eventually(200) { try token(k1) }.status, 200)
        for mode in [KeyServer.Mode.status500, .garbage, .oversized, .hang] {
            keys.set(mode: mode)
            let before = keys.count
            // Unknown kids until the gateway has tried (and failed) at least once in this mode.
            let deadline = Date().addingTimeInterval(5)
            while keys.count == before && Date() < deadline {
                _ = try get(try token(k1, kid: "other"))
                usleep(50_000)
            }
            XCTAssertGreaterThan(keys.count, before, "\(mode): the gateway asked")
            // Wait for the failed fetch to end (a hang takes the fetch timeout), then a fresh token of k1.
            let ok = try eventually(200) { try token(k1) }
            XCTAssertEqual(ok.status, 200, "\(mode): the last good set still verifies")
        }
        keys.stop()
        let gone = try get(try token(k1, kid: "after-stop"))
        XCTAssertEqual(gone.status, 401)
        XCTAssertEqual(try eventually(200) { try token(k1) }.status, 200, "server gone: the last good set still verifies")
        keys = nil
    }
}
