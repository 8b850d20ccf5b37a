import XCTest
import Synchronization
@testable import AggregationKit

/// Services start in order and stop in reverse, without sockets.
final class LifecycleTests: XCTestCase {
    final class Journal: Sendable {
        private let lines = Mutex<[String]>([])
        func add(_ s: String) { lines.withLock { $0.append(s) } }
        var all: [String] { lines.withLock { $0 } }
    }
    struct Boom: Error, CustomStringConvertible { let description: String }

    private func service(_ name: String, _ journal: Journal, failStart: Bool = false, failStop: Bool = false) -> ServiceHooks {
        ServiceHooks(name, start: {
            journal.add("start \(name)")
            if failStart { throw Boom(description: "\(name) cannot start") }
        }, stop: {
            journal.add("stop \(name)")
            if failStop { throw Boom(description: "\(name) is stuck") }
        })
    }

    func testStartInOrderStopInReverse() throws {
        let j = Journal()
        let group = ServiceGroup([service("loops", j), service("upstreams", j), service("listener", j)])
        try group.start()
        XCTAssertEqual(group.stop().count, 0)
        XCTAssertEqual(j.all, ["start loops", "start upstreams", "start listener", "stop listener", "stop upstreams", "stop loops"])
    }

    func testAFailedStartStopsWhatStartedInReverse() {
        let j = Journal()
        let group = ServiceGroup([service("a", j), service("b", j), service("c", j, failStart: true), service("d", j)])
        XCTAssertThrowsError(try group.start()) { error in
            XCTAssertEqual((error as? ServiceGroup.StartFailure)?.service, "c")
        }
        XCTAssertEqual(j.all, ["start a", "start b", "start c", "stop b", "stop a"])
    }

    func testAFailedStopIsReportedAndTheRestStillStop() throws {
        let j = Journal()
        let events = Journal()
        let group = ServiceGroup([service("a", j), service("b", j, failStop: true), service("c", j)]) { event, name, _ in events.add("\(event) \(name)") }
        try group.start()
        let failures = group.stop()
        XCTAssertEqual(failures.map(\.service), ["b"])
        XCTAssertEqual(failures.first?.reason, "b is stuck")
        XCTAssertEqual(j.all.suffix(3), ["stop c", "stop b", "stop a"])
        XCTAssertEqual(events.all.suffix(3), ["stopped c", "failed b", "stopped a"])
    }
}
