import Foundation
import XCTest
@testable import AggregationKit

/// The text path over sockets, gateway against gateway: one serves its endpoints from the tree (a schema
/// checked in `log` mode reads the tree, so no call keeps text), the other, identical but with
/// `responseValidation` off, keeps canonical bodies as text. Every downstream answer (JSONTestSuite, the
/// demo payloads, random documents, empty bodies, non-2xx, not JSON) gives both the same status, headers
/// and body bytes, problem documents included.
final class CompositeTextPathTests: XCTestCase {
    /// Bodies by path `/doc/N`: the N-th (status, body).
    private final class ByteDownstream: Sendable {
        let server: HTTPServer
        let port: Int
        init(_ documents: [(status: Int, body: [UInt8])]) throws {
            var config = ServerConfiguration()
            config.port = 0
            config.accessLog = false
            server = HTTPServer(configuration: config, group: try EventLoopGroup(threads: 1), handler: ClosureHandler { request, _ in
                let path = request.path
                guard path.hasPrefix("/doc/"), let n = Int(path.dropFirst(5)), documents.indices.contains(n) else {
                    if path == "/fixed" {
                        var r = HTTPResponse(status: 200, contentType: "application/json", body: #"{"v":"fixed","n":[1,2]}"#)
                        r.headers.add("X-Tag", "fixed")
                        return r
                    }
                    return HTTPResponse(status: 404, contentType: "application/json", body: #"{"error":"not found"}"#)
                }
                var r = HTTPResponse(status: documents[n].status, headers: HTTPHeaders([("Content-Type", "application/json")]), body: documents[n].body)
                r.headers.add("X-Tag", "doc-\(n)")
                return r
            })
            port = try server.start()
        }
        func stop() {
            server.shutdown()
            server.group.shutdown()
        }
    }

    private static let endpoints = [
        #"""
        {"name": "e1", "path": "/e1/{n}", "calls": {"doc": {"service": "s", "path": "/doc/{path.n}"}, "fixed": {"service": "s", "path": "/fixed"}},
           "response": {"whole": "$doc", "id": "$doc.id", "first": "$doc[0]", "last": "$doc[-1]", "deep": "$doc.a.b", "f": "$fixed", "k": [1, "$fixed.v"]}, "schema": {}}
        """#,
        #"""
        {"name": "e2", "path": "/e2/{n}", "calls": {"doc": {"service": "s", "path": "/doc/{path.n}", "required": false, "fallback": {"fb": true}},
           "fixed": {"service": "s", "path": "/fixed"}}, "response": {"d": "$doc", "f": "$fixed"}, "schema": {}}
        """#,
        #"""
        {"name": "e3", "path": "/e3/{n}", "partialMeta": true, "calls": {"doc": {"service": "s", "path": "/doc/{path.n}", "required": false},
           "fixed": {"service": "s", "path": "/fixed"}}, "response": {"d": "$doc", "f": "$fixed"}, "schema": {}}
        """#,
        #"""
        {"name": "e4", "path": "/e4/{n}", "etag": true, "calls": {"doc": {"service": "s", "path": "/doc/{path.n}", "passHeaders": ["X-Tag"], "statusMap": {"404": 404}}},
           "response": "$doc", "schema": {}}
        """#,
        #"""
        {"name": "e5", "path": "/e5/{n}", "partialMeta": true, "calls": {"doc": {"service": "s", "path": "/doc/{path.n}", "emptyBody": "null", "successStatus": [200, 204, 404, 500]},
           "fixed": {"service": "s", "path": "/fixed", "passHeaders": ["X-Tag"]}}, "response": {"d": "$doc", "merged": {"$merge": ["$fixed", {"k": 2}]}}, "schema": {}}
        """#,
    ]

    private func gateway(port: Int, validation: String) throws -> TestGateway {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-textpath-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
        try """
        {"listen": {"host": "127.0.0.1", "port": 0}, "responseValidation": "\(validation)",
         "services": {"s": {"instances": ["127.0.0.1:\(port)"], "connectTimeoutMs": 2000, "responseTimeoutMs": 5000}}, "routes": []}
        """.write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
        for (i, e) in Self.endpoints.enumerated() {
            try e.write(to: dir.appendingPathComponent("endpoints/e\(i).json"), atomically: true, encoding: .utf8)
        }
        return try TestGateway(directory: dir.path)
    }

    func testTextPathAnswersAsTheTreeDoes() throws {
        var documents: [(status: Int, body: [UInt8])] = []
        let suite = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/json-test-suite/test_parsing")
        for name in try FileManager.default.contentsOfDirectory(atPath: suite.path).sorted() where !name.contains("100000") {
            documents.append((200, Array(try Data(contentsOf: suite.appendingPathComponent(name)))))
        }
        for id in 1...5 {
            documents.append((200, JSONSerializer.serialize(DemoUsers.user(id))))
            documents.append((200, JSONSerializer.serialize(DemoOrders.order(id, user: id))))
        }
        for name in ["user", "orders", "recs"] {
            documents.append((200, Array(try Data(contentsOf: ShippedContracts.root.appendingPathComponent("bench/payloads-harness/\(name)")))))
        }
        var rng = SplitMix(seed: 99)
        for _ in 0..<150 {
            var bytes = Array(RandomJSON.text(&rng, depth: 0, canonical: rng.below(2) == 0, rarity: [12, 60][rng.below(2)]).utf8)
            if rng.below(6) == 0 { RandomJSON.mutate(&bytes, &rng) }
            documents.append((200, bytes))
        }
        documents += RandomJSON.nearlyCanonical.map { (200, Array($0.utf8)) }
        documents.append(contentsOf: [(200, []), (204, []), (500, Array(#"{"a":1}"#.utf8)), (404, Array(#"{"error":"gone"}"#.utf8)),
                                      (500, []), (200, Array("<html>".utf8)), (200, Array(#"{"a":{"b":[1,2]},"id":7}"#.utf8)),
                                      (201, Array(#"[{"a":1},2,"x"]"#.utf8)), (200, Array(" [3,4] \n".utf8))])
        let downstream = try ByteDownstream(documents)
        defer { downstream.stop() }
        let tree = try gateway(port: downstream.port, validation: "log")
        defer { tree.stop() }
        let text = try gateway(port: downstream.port, validation: "off")
        defer { text.stop() }
        var compared = 0, ok = 0
        for n in documents.indices {
            for e in 1...Self.endpoints.count where e <= 2 || n % 3 == 0 || documents[n].body.count < 3 || documents[n].status != 200 {
                let headers = [("X-Request-ID", "diff-\(e)-\(n)")]
                let expected = try tree.get("/e\(e)/\(n)", headers: headers)
                let actual = try text.get("/e\(e)/\(n)", headers: headers)
                let what = "e\(e) document \(n): \(String(decoding: documents[n].body.prefix(200), as: UTF8.self))"
                XCTAssertEqual(actual.status, expected.status, what)
                for name in ["content-type", "x-partial-response", "etag", "x-tag", "content-length"] {
                    XCTAssertEqual(actual.headers[name], expected.headers[name], "\(what): \(name)")
                }
                XCTAssertEqual(String(decoding: actual.body, as: UTF8.self), String(decoding: expected.body, as: UTF8.self), what)
                XCTAssertEqual(actual.body, expected.body, what)
                compared += 1
                if expected.status == 200 { ok += 1 }
            }
        }
        XCTAssertGreaterThan(compared, 700)
        XCTAssertGreaterThan(ok, 300)
    }
}
