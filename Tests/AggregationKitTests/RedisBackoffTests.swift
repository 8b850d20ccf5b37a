import XCTest
@testable import AggregationKit

final class RedisBackoffTests: XCTestCase {
    func testCeilingDoublesAndCaps() {
        let b = RedisBackoff(initialDelay: 50_000_000, maxDelay: 2_000_000_000)
        XCTAssertEqual((1...8).map { b.ceiling(afterFailures: $0) / 1_000_000 }, [50, 100, 200, 400, 800, 1600, 2000, 2000])
        XCTAssertEqual(b.ceiling(afterFailures: 10_000), 2_000_000_000)
        let odd = RedisBackoff(initialDelay: 300, maxDelay: 1000)
        XCTAssertEqual((1...4).map { odd.ceiling(afterFailures: $0) }, [300, 600, 1000, 1000])
    }

    /// The delay is in the ceiling's upper half, and spread over it (jitter).
    func testDelayIsJitteredWithinTheUpperHalf() {
        let b = RedisBackoff()
        var random = SplitMix64(seed: 42)
        for failures in 1...10 {
            let ceiling = b.ceiling(afterFailures: failures)
            var seen = Set<UInt64>()
            for _ in 0..<200 {
                let d = b.delay(afterFailures: failures, random: random.next())
                XCTAssertGreaterThanOrEqual(d, ceiling - ceiling / 2)
                XCTAssertLessThanOrEqual(d, ceiling)
                seen.insert(d)
            }
            XCTAssertGreaterThan(seen.count, 150, "delays after \(failures) failures barely vary")
        }
        XCTAssertEqual(b.delay(afterFailures: 1, random: 0), 25_000_000)
        XCTAssertEqual(b.delay(afterFailures: 1, random: 25_000_000), 50_000_000)
    }

    func testSplitMixIsDeterministicPerSeed() {
        var a = SplitMix64(seed: 7), b = SplitMix64(seed: 7), c = SplitMix64(seed: 8)
        let x = (0..<4).map { _ in a.next() }
        XCTAssertEqual(x, (0..<4).map { _ in b.next() })
        XCTAssertNotEqual(x, (0..<4).map { _ in c.next() })
    }
}
