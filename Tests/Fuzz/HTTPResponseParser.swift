@testable import AggregationKit
#if canImport(Glibc)
import Glibc
#endif

// libFuzzer harness: HTTPResponseParser, the upstream client's parser (built by scripts/fuzz.sh, not by SwiftPM).
//
// Input: [flags] [split low] [split high] wire bytes...
//   flags bit 0: small limits; bit 1: the request was HEAD.
// The bytes are parsed as the upstream connection does (one growing buffer; interim responses dropped;
// at the end, end of file), then again with the bytes split in two at the fuzzer-chosen offset and in
// small pieces. The verdicts must agree (with FUZZ_STRICT_ERRORS=1, down to the error code), every body
// must respect the limit, nothing may crash.
// After a keep-alive response the rest is parsed with a fresh parser (as the next exchange would be).

private struct Verdict: Equatable, CustomStringConvertible {
    struct Response: Equatable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var keepAlive: Bool
        var consumed: Int
        var interims: Int
    }
    enum End: Equatable { case needMore(buffered: Int), closed, error(status: Int, code: String) }
    var responses: [Response] = []
    var end: End = .needMore(buffered: 0)
    var description: String {
        let lines = responses.map { r in
            "\(r.status) headers=\(Array(r.headers)) body=\(quoted(r.body)) keepAlive=\(r.keepAlive) consumed=\(r.consumed) interims=\(r.interims)"
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
    limits.maxHeaderBytes = 160
    limits.maxHeaderCount = 6
    limits.maxBodyBytes = 64
    limits.maxChunkLineBytes = 16
    return limits
}

private func run(_ pieces: [ArraySlice<UInt8>], limits: HTTPParserLimits, head: Bool) -> Verdict {
    var parser = HTTPResponseParser(limits: limits, requestWasHead: head)
    var buffer: [UInt8] = []
    var verdict = Verdict()
    var interims = 0

    func record(_ r: HTTPResponse, consumed: Int, keepAlive: Bool) {
        guard consumed > 0, consumed <= buffer.count else { fatalError("consumed \(consumed) of \(buffer.count) bytes") }
        guard r.body.count <= limits.maxBodyBytes else { fatalError("body of \(r.body.count) bytes over the limit") }
        guard (100...599).contains(r.status) else { fatalError("status \(r.status)") }
        if head && !r.body.isEmpty { fatalError("a body in the response to HEAD") }
        verdict.responses.append(.init(status: r.status, headers: r.headers, body: r.body, keepAlive: keepAlive,
                                       consumed: consumed, interims: interims))
        interims = 0
    }

    for piece in pieces {
        buffer.append(contentsOf: piece)
        parsing: while !buffer.isEmpty {
            switch parser.parse(buffer) {
            case .needMore:
                break parsing
            case .interim(let consumed):
                guard consumed > 0, consumed <= buffer.count else { fatalError("interim consumed \(consumed) of \(buffer.count) bytes") }
                interims += 1
                buffer.removeFirst(consumed)
            case .error(let e):
                verdict.end = refused(e)
                return verdict
            case .response(let r, let consumed, let keepAlive):
                record(r, consumed: consumed, keepAlive: keepAlive)
                buffer.removeFirst(consumed)
                guard keepAlive else {
                    verdict.end = .closed
                    return verdict
                }
                parser = HTTPResponseParser(limits: limits, requestWasHead: head)
            }
        }
    }
    if parser.hasStarted || !buffer.isEmpty {
        switch buffer.withUnsafeBytes({ parser.finishAtEOF($0) }) {
        case .response(let r, let consumed, let keepAlive):
            record(r, consumed: consumed, keepAlive: keepAlive)
            verdict.end = .closed
        case .error(let e):
            verdict.end = refused(e)
        case .needMore, .interim:
            verdict.end = .needMore(buffered: buffer.count)
        }
    }
    return verdict
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPResponseParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 3 else { return 0 }
    let flags = data[0]
    let wire = Array(UnsafeBufferPointer(start: data + 3, count: size - 3))
    let split = (Int(data[1]) | Int(data[2]) << 8) % (wire.count + 1)
    let limits = flags & 1 == 1 ? smallLimits() : HTTPParserLimits()
    let head = flags & 2 == 2

    let whole = run([wire[...]], limits: limits, head: head)
    let halves = run([wire[..<split], wire[split...]], limits: limits, head: head)
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
    let trickle = run(pieces, limits: limits, head: head)
    guard whole == trickle else {
        fatalError("feeding in pieces \(pieces.map(\.count)) changed the verdict:\n  whole:  \(whole)\n  pieces: \(trickle)")
    }
    return 0
}
