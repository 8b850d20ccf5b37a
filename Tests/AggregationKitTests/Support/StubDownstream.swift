import Foundation
import Synchronization
@testable import AggregationKit

/// A stub downstream on loopback (our own server): canned responses by path, optional delays, and a log
/// of what arrived when.
final class StubDownstream: Sendable {
    struct Reply: Sendable {
        var status: Int = 200
        var body: String
        var delayMs: Int = 0
        var headers: [(String, String)] = []
    }

    let server: HTTPServer
    let port: Int
    final class Log: Sendable {
        let entries = Mutex<[(target: String, at: Double)]>([])
        let ids = Mutex<[String]>([])
        let headers = Mutex<[String: HTTPHeaders]>([:])
    }
    private let log = Log()
    private let start = Date()

    /// `replies` by path (without the query); a path not listed gets 404.
    init(_ replies: [String: Reply]) throws {
        LogBuffer.enabled = false
        var config = ServerConfiguration()
        config.port = 0
        config.accessLog = false
        let log = self.log
        let start = self.start
        server = HTTPServer(configuration: config, group: try EventLoopGroup(threads: 1), handler: ClosureHandler { request, _ in
            log.entries.withLock { $0.append((request.target, Date().timeIntervalSince(start))) }
            if let id = request.headers["x-request-id"] { log.ids.withLock { $0.append(id) } }
            log.headers.withLock { $0[String(request.path)] = request.headers }
            guard let reply = replies[String(request.path)] else {
                return HTTPResponse(status: 404, contentType: "application/json", body: #"{"error":"not found"}"#)
            }
            if reply.delayMs > 0 { try? await Task.sleep(nanoseconds: UInt64(reply.delayMs) * 1_000_000) }
            var response = HTTPResponse(status: reply.status, contentType: "application/json", body: reply.body)
            for (k, v) in reply.headers { response.headers.add(k, v) }
            return response
        })
        port = try server.start()
    }

    var requests: [(target: String, at: Double)] { log.entries.withLock { $0 } }
    var requestIDs: [String] { log.ids.withLock { $0 } }
    /// The headers of the last request to each path.
    func headers(of path: String) -> HTTPHeaders? { log.headers.withLock { $0[path] } }

    func stop() {
        server.shutdown()
        server.group.shutdown()
    }
}

/// Builds a gateway with services pointing at stubs and one endpoint contract (JSON text).
func compositeGateway(services: [String: Int], endpoint: String, validation: String = "log") throws -> TestGateway {
    let servicesJSON = services.map { "\"\($0.key)\": {\"instances\": [\"127.0.0.1:\($0.value)\"], \"connectTimeoutMs\": 500, \"responseTimeoutMs\": 3000}" }.joined(separator: ",")
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-composite-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir.appendingPathComponent("endpoints"), withIntermediateDirectories: true)
    try """
    {"listen": {"host": "127.0.0.1", "port": 0}, "responseValidation": "\(validation)", "services": {\(servicesJSON)}, "routes": []}
    """.write(to: dir.appendingPathComponent("gateway.json"), atomically: true, encoding: .utf8)
    try endpoint.write(to: dir.appendingPathComponent("endpoints/endpoint.json"), atomically: true, encoding: .utf8)
    return try TestGateway(directory: dir.path)
}
