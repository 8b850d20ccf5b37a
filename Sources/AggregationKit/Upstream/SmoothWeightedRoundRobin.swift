/// Weighted round robin that spreads each instance's turns evenly through the cycle instead of in bursts
/// (nginx's `ngx_http_upstream_get_peer`): on every pick each eligible instance's `current` grows by its
/// weight, the largest `current` wins (the first on a tie), and the winner gives back the total weight.
///
/// Worked example, weights a=5, b=1, c=1 (total 7), `current` before → after each pick:
///
///     (0,0,0)+w=(5,1,1) a→(-2,1,1)   (3,2,2) a→(-4,2,2)   (1,3,3) b→(1,-4,3)   (6,-3,4) a→(-1,-3,4)
///     (4,-2,5) c→(4,-2,-2)   (9,-1,-1) a→(2,-1,-1)   (7,0,0) a→(0,0,0)        = a a b a c a a, then again
///
/// Plain weighted round robin would send a a a a a b c: five calls in a row to one instance. An instance
/// that is not eligible is skipped and its `current` is left as it was. One per loop: each loop runs its
/// own cycle, so across loops the shares still hold. Loop thread only.
public final class SmoothWeightedRoundRobin: Balancer {
    private var current: [Int]

    public init(instanceCount: Int) {
        current = [Int](repeating: 0, count: instanceCount)
    }

    public func pick(for input: BalancerInput) -> Int? {
        precondition(input.instances.count == current.count, "the balancer was made for \(current.count) instances")
        var best = -1
        var total = 0
        for i in input.instances.indices where input.instances[i].isEligible {
            let weight = input.instances[i].weight
            current[i] += weight
            total += weight
            if best < 0 || current[i] > current[best] { best = i }
        }
        guard best >= 0 else { return nil }
        current[best] -= total
        return best
    }
}
