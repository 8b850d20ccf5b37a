/// How long to wait before the next connection attempt after consecutive failures: exponential, capped,
/// with jitter so that many loops (or many gateways) that lost Redis together do not reconnect in step.
///
/// "Equal jitter": the ceiling doubles per failure up to `maxDelay`, and the delay is drawn from its
/// upper half, so there is always a pause of at least half the ceiling (never a tight loop) and never
/// more than the ceiling. Worked example with the defaults (50 ms, cap 2 s):
///
///     failures   ceiling    delay drawn from
///        1        50 ms      25 –   50 ms
///        2       100 ms      50 –  100 ms
///        3       200 ms     100 –  200 ms
///        6       1.6 s      0.8 –  1.6 s
///        7+      2 s        1   –  2   s      (capped)
public struct RedisBackoff: Sendable, Equatable {
    /// Nanoseconds. The ceiling after the first failure.
    public var initialDelay: UInt64
    /// Nanoseconds. The ceiling never grows past this.
    public var maxDelay: UInt64

    public init(initialDelay: UInt64 = 50_000_000, maxDelay: UInt64 = 2_000_000_000) {
        precondition(initialDelay > 0 && maxDelay >= initialDelay)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
    }

    /// The ceiling after `failures` (≥ 1) consecutive failures.
    public func ceiling(afterFailures failures: Int) -> UInt64 {
        precondition(failures >= 1)
        var ceiling = initialDelay
        var n = 1
        while n < failures && ceiling < maxDelay {
            ceiling = ceiling > maxDelay / 2 ? maxDelay : ceiling * 2
            n += 1
        }
        return min(ceiling, maxDelay)
    }

    /// The delay after `failures` consecutive failures; `random` is any 64-bit random value.
    public func delay(afterFailures failures: Int, random: UInt64) -> UInt64 {
        let ceiling = ceiling(afterFailures: failures)
        let half = ceiling / 2
        return ceiling - half + random % (half + 1)
    }
}

/// A small, fast, seedable generator (SplitMix64) for jitter: not for secrets. Seeded from the system
/// generator in production and by hand in tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
