@testable import AggregationKit

// libFuzzer harness: JSONParser and JSONSerializer (built by scripts/fuzz.sh, not by SwiftPM).
//
// Checks, for any bytes: parsing never crashes; and for bytes that parse,
//   parse ─▶ serialize ─▶ parse gives an equal value, and serializing that again gives the same bytes.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONRoundTrip(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let value = try? JSONParser.parse(input) else { return 0 }
    let first = JSONSerializer.serialize(value)
    let reparsed: JSONValue
    do {
        reparsed = try JSONParser.parse(first)
    } catch {
        fatalError("serialized JSON does not parse (\(error)): \(String(decoding: first, as: UTF8.self))")
    }
    guard reparsed == value else {
        fatalError("round trip changed the value: \(String(decoding: first, as: UTF8.self))")
    }
    let second = JSONSerializer.serialize(reparsed)
    guard second == first else {
        fatalError("serialization is not stable: \(String(decoding: first, as: UTF8.self)) then \(String(decoding: second, as: UTF8.self))")
    }
    return 0
}
