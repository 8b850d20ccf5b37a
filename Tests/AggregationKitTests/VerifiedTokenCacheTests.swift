import XCTest
@testable import AggregationKit

/// The verified-token cache as a pure type: the bound, least-recently-used eviction, expiry.
final class VerifiedTokenCacheTests: XCTestCase {
    func key(_ n: Int) -> TokenDigest { TokenDigest(of: Array("token-\(n)".utf8)) }

    func testDigestIsTheSHA256OfTheToken() {
        XCTAssertEqual(key(1), key(1))
        XCTAssertNotEqual(key(1), key(2))
        let digest = TokenDigest(of: Array("abc".utf8))
        let words = withUnsafeBytes(of: digest) { Array($0) }
        XCTAssertEqual(Digest.hex(words), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testBoundAndLeastRecentlyUsedEviction() {
        var cache = VerifiedTokenCache<Int>(capacity: 3)
        for n in 1...3 { cache.insert(key(n), n, expiresAt: 100, now: 0) }
        XCTAssertEqual(cache.lookup(key(1), now: 1), 1)            // 1 is now the newest; 2 the oldest
        cache.insert(key(4), 4, expiresAt: 100, now: 1)
        XCTAssertEqual(cache.count, 3)
        XCTAssertNil(cache.lookup(key(2), now: 1))
        XCTAssertEqual([1, 3, 4].map { cache.lookup(key($0), now: 1) }, [1, 3, 4])
        for n in 5...100 { cache.insert(key(n), n, expiresAt: 100, now: 2) }
        XCTAssertEqual(cache.count, 3, "never more than the capacity")
        XCTAssertEqual((98...100).map { cache.lookup(key($0), now: 2) }, [98, 99, 100])
    }

    func testEntriesExpire() {
        var cache = VerifiedTokenCache<Int>(capacity: 2)
        cache.insert(key(1), 1, expiresAt: 10, now: 0)
        cache.insert(key(2), 2, expiresAt: 5, now: 5)             // already expired: not stored
        XCTAssertEqual(cache.count, 1)
        XCTAssertEqual(cache.lookup(key(1), now: 9.999), 1)
        XCTAssertNil(cache.lookup(key(1), now: 10))
        XCTAssertEqual(cache.count, 0)
        // The freed slot is reused, and the bound still holds.
        for n in 3...6 { cache.insert(key(n), n, expiresAt: 50, now: 11) }
        XCTAssertEqual(cache.count, 2)
        XCTAssertEqual([5, 6].map { cache.lookup(key($0), now: 12) }, [5, 6])
        // Re-inserting a key replaces its value and expiry.
        cache.insert(key(5), 55, expiresAt: 60, now: 12)
        XCTAssertEqual(cache.lookup(key(5), now: 55), 55)
        XCTAssertNil(cache.lookup(key(6), now: 55))
    }

    func testZeroCapacityStoresNothing() {
        var cache = VerifiedTokenCache<Int>(capacity: 0)
        cache.insert(key(1), 1, expiresAt: 10, now: 0)
        XCTAssertNil(cache.lookup(key(1), now: 0))
        var one = VerifiedTokenCache<Int>(capacity: 1)
        one.insert(key(1), 1, expiresAt: 10, now: 0)
        one.insert(key(2), 2, expiresAt: 10, now: 0)
        XCTAssertNil(one.lookup(key(1), now: 0))
        XCTAssertEqual(one.lookup(key(2), now: 0), 2)
    }
}
