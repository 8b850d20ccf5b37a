import XCTest
@testable import AggregationKit

/// The balancer's picks, without sockets or loops.
final class SmoothWeightedRoundRobinTests: XCTestCase {
    private func picks(_ weights: [Int], count: Int, eligible: [Bool]? = nil) -> [Int?] {
        let balancer = SmoothWeightedRoundRobin(instanceCount: weights.count)
        let input = BalancerInput(instances: weights.indices.map { BalancerInput.Instance(weight: weights[$0], isEligible: eligible?[$0] ?? true) })
        return (0..<count).map { _ in balancer.pick(for: input) }
    }

    private func names(_ picks: [Int?]) -> String {
        picks.map { $0.map { String(UnicodeScalar(UInt8(97 + $0))) } ?? "-" }.joined(separator: " ")
    }

    /// nginx's sequence for 5:1:1: the heavy instance's turns are spread out, not five in a row.
    func testWeightsFiveOneOneGiveNginxsSequence() {
        XCTAssertEqual(names(picks([5, 1, 1], count: 7)), "a a b a c a a")
        XCTAssertEqual(names(picks([5, 1, 1], count: 14)), "a a b a c a a a a b a c a a", "the cycle repeats exactly")
    }

    func testEqualWeightsArePlainRoundRobin() {
        XCTAssertEqual(names(picks([1, 1, 1], count: 7)), "a b c a b c a")
        XCTAssertEqual(names(picks([1], count: 3)), "a a a")
    }

    func testSharesFollowTheWeights() {
        let all = picks([3, 2, 1], count: 600)
        XCTAssertEqual(all.filter { $0 == 0 }.count, 300)
        XCTAssertEqual(all.filter { $0 == 1 }.count, 200)
        XCTAssertEqual(all.filter { $0 == 2 }.count, 100)
        XCTAssertEqual(names(picks([2, 1], count: 6)), "a b a a b a")
    }

    func testIneligibleInstancesAreSkipped() {
        XCTAssertEqual(names(picks([5, 1, 1], count: 4, eligible: [false, true, true])), "b c b c")
        XCTAssertEqual(picks([1, 1], count: 2, eligible: [false, false]), [nil, nil], "none eligible: no pick")
    }

    /// An instance that comes back joins the rotation where its counter was left.
    func testAnInstanceThatBecomesEligibleAgainRejoins() {
        let balancer = SmoothWeightedRoundRobin(instanceCount: 2)
        var input = BalancerInput(instances: [.init(weight: 1), .init(weight: 1)])
        XCTAssertEqual(balancer.pick(for: input), 0)
        input.instances[1].isEligible = false
        XCTAssertEqual(balancer.pick(for: input), 0)
        XCTAssertEqual(balancer.pick(for: input), 0)
        input.instances[1].isEligible = true
        XCTAssertEqual((0..<4).map { _ in balancer.pick(for: input)! }, [1, 0, 1, 0])
    }
}
