@testable import AggregationKit
#if canImport(Glibc)
import Glibc
#endif

// libFuzzer harness: HTTPRequestParser (built by scripts/fuzz.sh, not by SwiftPM).
//
// Input: [flags] [split low] [split high] wire bytes...
//   flags bit 0: small limits (so the limit checks are reached with short inputs).
// The wire bytes are parsed three ways, as the server does (one growing buffer, consumed bytes dropped):
// all at once, split in two at the fuzzer-chosen offset, and in small pseudo-random pieces. All three
// must give the same requests and the same final verdict (accepted so far / refused; with
// FUZZ_STRICT_ERRORS=1 in the environment, refused with the same status and code); no way of splitting may
// crash the parser.

/// What the parser made of a byte stream: every request it produced and how it ended.
private struct Verdict: Equatable, CustomStringConvertible {
    struct Request: Equatable {
        var method: String
        var target: String
        var versionMinor: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var trailers: HTTPHeaders
        var keepAlive: Bool
        var isUpgrade: Bool
        var expectsContinue: Bool
        var consumed: Int
    }
    enum End: Equatable { case needMore(buffered: Int, midRequest: Bool), error(status: Int, code: String) }
    var requests: [Request] = []
    var end: End = .needMore(buffered: 0, midRequest: false)
    var description: String {
        let lines = requests.map { r in
            "\(r.method) \(r.target) HTTP/1.\(r.versionMinor) headers=\(Array(r.headers)) body=\(quoted(r.body)) trailers=\(Array(r.trailers)) "
                + "keepAlive=\(r.keepAlive) upgrade=\(r.isUpgrade) continue=\(r.expectsContinue) consumed=\(r.consumed)"
        }
        return (lines + ["end: \(end)"]).joined(separator: "; ")
    }
}

/// Which error a refusal carries can depend on where the bytes were split when a limit and a bad byte
/// meet in the same line (e.g. a 414 or a 400 for an over-long line with a bad byte); by default only the
/// fact of the refusal is compared.
private let strictErrors = getenv("FUZZ_STRICT_ERRORS") != nil

private func refused(_ e: HTTPParseError) -> Verdict.End {
    strictErrors ? .error(status: e.status, code: e.code) : .error(status: 0, code: "refused")
}

private func quoted(_ bytes: [UInt8]) -> String {
    "\"" + bytes.map { $0 >= 32 && $0 < 127 && $0 != 92 ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined() + "\""
}

private func smallLimits() -> HTTPParserLimits {
    var limits = HTTPParserLimits()
    limits.maxRequestLineBytes = 48
    limits.maxHeaderBytes = 160
    limits.maxHeaderCount = 6
    limits.maxBodyBytes = 64
    limits.maxChunkLineBytes = 16
    return limits
}

private func run(_ pieces: [ArraySlice<UInt8>], limits: HTTPParserLimits) -> Verdict {
    var parser = HTTPRequestParser(limits: limits)
    var buffer: [UInt8] = []
    var verdict = Verdict()
    for piece in pieces {
        buffer.append(contentsOf: piece)
        parsing: while !buffer.isEmpty {
            switch parser.parse(buffer) {
            case .needMore:
                break parsing
            case .error(let e):
                verdict.end = refused(e)
                return verdict
            case .request(let r, let consumed):
                guard consumed > 0, consumed <= buffer.count else { fatalError("consumed \(consumed) of \(buffer.count) bytes") }
                guard r.body.count <= limits.maxBodyBytes else { fatalError("body of \(r.body.count) bytes over the limit") }
                guard r.headers.count <= limits.maxHeaderCount else { fatalError("\(r.headers.count) header fields over the limit") }
                verdict.requests.append(.init(method: r.method, target: r.target, versionMinor: r.versionMinor, headers: r.headers,
                                              body: r.body, trailers: r.trailers, keepAlive: r.keepAlive, isUpgrade: r.isUpgrade,
                                              expectsContinue: r.expectsContinue, consumed: consumed))
                buffer.removeFirst(consumed)
            }
        }
    }
    verdict.end = .needMore(buffered: buffer.count, midRequest: parser.isMidRequest)
    return verdict
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequestParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 3 else { return 0 }
    let flags = data[0]
    let wire = Array(UnsafeBufferPointer(start: data + 3, count: size - 3))
    let split = (Int(data[1]) | Int(data[2]) << 8) % (wire.count + 1)
    let limits = flags & 1 == 1 ? smallLimits() : HTTPParserLimits()

    let whole = run([wire[...]], limits: limits)
    let halves = run([wire[..<split], wire[split...]], limits: limits)
    guard whole == halves else {
        fatalError("split at \(split) changed the verdict:\n  whole: \(whole)\n  split: \(halves)")
    }
    // Small pieces (1...8 bytes), sizes from a tiny linear congruential generator seeded by the split bytes.
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
