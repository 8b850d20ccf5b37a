@testable import AggregationKit

// libFuzzer harness: RedisReplyParser, the Redis client's reply parser (built by scripts/fuzz.sh, not by SwiftPM).
//
// Input: [flags] [split low] [split high] wire bytes...
//   flags bit 0: small limits.
// The bytes are parsed as a Redis connection does (one growing buffer, consumed bytes dropped, every
// whole reply taken), then again with the bytes split in two at the fuzzer-chosen offset and in small
// pieces. The verdicts (the replies, and whether the stream was refused) must agree; every reply must
// respect the limits; nothing may crash, hang or allocate past the limits.

private struct Verdict: Equatable, CustomStringConvertible {
    var replies: [String] = []
    var refused = false
    var description: String { "\(replies) refused=\(refused)" }
}

private func smallLimits() -> RedisReplyLimits {
    RedisReplyLimits(maxBulkBytes: 64, maxLineBytes: 32, maxElements: 64, maxDepth: 6, maxReplyBytes: 512)
}

/// Checks one reply against the limits: its values, its depth, its strings.
private func check(_ value: RedisValue, limits: RedisReplyLimits, depth: Int, values: inout Int) {
    if depth > limits.maxDepth { fatalError("a reply nested \(depth) deep (limit \(limits.maxDepth))") }
    func child(_ v: RedisValue) {
        values += 1
        check(v, limits: limits, depth: depth + 1, values: &values)
    }
    switch value {
    case .bulkString(let b), .verbatimString(_, let b):
        if b.count > limits.maxBulkBytes { fatalError("a bulk string of \(b.count) bytes") }
    case .simpleString(let s):
        if s.utf8.count > limits.maxLineBytes * 3 { fatalError("a simple string of \(s.utf8.count) bytes") }
    case .array(let a), .set(let a), .push(let a):
        a.forEach(child)
    case .map(let pairs):
        for p in pairs { child(p.key); child(p.value) }
    default:
        break
    }
    if values > limits.maxElements { fatalError("a reply of \(values) values (limit \(limits.maxElements))") }
}

private func run(_ pieces: [ArraySlice<UInt8>], limits: RedisReplyLimits) -> Verdict {
    var parser = RedisReplyParser(limits: limits)
    var buffer: [UInt8] = []
    var verdict = Verdict()
    for piece in pieces {
        buffer.append(contentsOf: piece)
        while true {
            let result = buffer.withUnsafeBytes { raw in Result { () throws(RedisProtocolError) in try parser.parse(raw) } }
            switch result {
            case .failure:
                verdict.refused = true
                return verdict
            case .success(.needMore(let consumed)):
                guard consumed <= buffer.count else { fatalError("consumed \(consumed) of \(buffer.count) bytes") }
                buffer.removeFirst(consumed)
                // A partial token never grows past a line or a bulk string.
                if buffer.count > limits.maxBulkBytes + limits.maxLineBytes + 4 { fatalError("\(buffer.count) bytes left waiting") }
            case .success(.reply(let value, let consumed)):
                guard consumed > 0, consumed <= buffer.count else { fatalError("reply consumed \(consumed) of \(buffer.count) bytes") }
                guard consumed <= limits.maxReplyBytes else { fatalError("a reply of \(consumed) bytes (limit \(limits.maxReplyBytes))") }
                buffer.removeFirst(consumed)
                var values = 0
                check(value, limits: limits, depth: 0, values: &values)
                verdict.replies.append(String(describing: value))
                continue
            }
            break
        }
    }
    return verdict
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRedisReplyParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 3 else { return 0 }
    let flags = data[0]
    let wire = Array(UnsafeBufferPointer(start: data + 3, count: size - 3))
    let split = (Int(data[1]) | Int(data[2]) << 8) % (wire.count + 1)
    let limits = flags & 1 == 1 ? smallLimits() : RedisReplyLimits()

    let whole = run([wire[...]], limits: limits)
    let halves = run([wire[..<split], wire[split...]], limits: limits)
    guard whole == halves else {
        fatalError("split at \(split) changed the verdict:\n  whole: \(whole)\n  split: \(halves)")
    }
    var pieces: [ArraySlice<UInt8>] = []
    var state = UInt32(truncatingIfNeeded: split &* 2_654_435_761 &+ Int(flags))
    var start = 0
    while start < wire.count {
        state = state &* 1_103_515_245 &+ 12345
        let length = min(wire.count - start, Int(state >> 16) % 8 + 1)
        pieces.append(wire[start..<start + length])
        start += length
    }
    let trickle = run(pieces, limits: limits)
    guard whole == trickle else {
        fatalError("feeding in pieces \(pieces.map(\.count)) changed the verdict:\n  whole:  \(whole)\n  pieces: \(trickle)")
    }
    return 0
}
