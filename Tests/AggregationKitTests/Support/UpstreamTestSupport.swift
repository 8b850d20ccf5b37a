import Foundation
import Synchronization
@testable import AggregationKit

/// Collects every outcome report, in order, with the upstream's name.
final class RecordingObserver: UpstreamObserver {
    private let recorded = Mutex<[(service: String, outcome: UpstreamOutcome)]>([])

    func callCompleted(_ outcome: UpstreamOutcome, upstream: Upstream, loop: EventLoop) {
        precondition(loop.inEventLoop, "outcomes are reported on the loop thread")
        recorded.withLock { $0.append((upstream.name, outcome)) }
    }

    var outcomes: [UpstreamOutcome] { recorded.withLock { $0.map(\.outcome) } }
    var services: [String] { recorded.withLock { $0.map(\.service) } }
}

/// A gateway on an ephemeral port whose loops run on `clock`, with upstream observers: for tests that
/// drive time by hand or watch outcome reports.
final class ObservedGateway {
    let gateway: Gateway
    let group: EventLoopGroup
    let port: Int

    init(_ json: String, endpoints: [String] = [], clock: any GatewayClock = SystemClock(), observers: [any UpstreamObserver] = []) throws {
        LogBuffer.enabled = false
        var config = try GatewayConfiguration.parse(Array(json.utf8), file: "test.json")
        config.server.port = 0
        for text in endpoints {
            config.endpoints.append(try GatewayConfiguration.compileEndpoint(Array(text.utf8), file: "endpoint.json",
                                                                             services: Set(config.services.map(\.name))).get())
        }
        group = try EventLoopGroup(threads: 1, clock: clock)
        gateway = try Gateway(configuration: config, group: group, upstreamObservers: observers)
        port = try gateway.start()
    }

    func stop() {
        gateway.shutdown()
        group.shutdown()
    }

    func get(_ path: String) throws -> HTTPResponse {
        let client = try RawClient(port: port, timeoutSeconds: 10)
        client.send("GET \(path) HTTP/1.1\r\nHost: test\r\n\r\n")
        guard let r = client.readResponse() else { throw TestError("no response for \(path)") }
        return r
    }
}

extension EventLoop {
    /// Runs `work` on the loop later (`execute(_:)`, without the `execute(sync:)` overload's pull on a
    /// trailing closure).
    func post(_ work: @escaping @Sendable () -> Void) { execute(work) }

    /// Returns once the loop has finished an iteration that began after this call: two round trips, since
    /// the loop runs queued work before its timers and ticks.
    func settle() {
        execute(sync: {})
        execute(sync: {})
    }
}
