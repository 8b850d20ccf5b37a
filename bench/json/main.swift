// JSON benchmark: our byte-level parser and serializer vs Foundation's JSONSerialization, on the demo
// downstream payloads. Built by bench/json.sh with swiftc -O together with Sources/AggregationKit/JSON.
import Foundation

@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

func measure(_ iterations: Int, _ body: () throws -> Void) rethrows -> Double {
    var best = Double.infinity
    for _ in 0..<5 {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<iterations { try body() }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(iterations)
        best = min(best, elapsed)
    }
    return best / 1000 // µs per operation, best of 5
}

var rows: [String] = []
for path in CommandLine.arguments.dropFirst() {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let bytes = Array(data)
    let iterations = max(200, 2_000_000 / max(bytes.count, 1))
    // Sanity: both parse it, and ours round-trips to an equal value.
    let ours = try JSONParser.parse(bytes)
    let again = try JSONParser.parse(JSONSerializer.serialize(ours))
    precondition(again == ours)
    let theirs = try JSONSerialization.jsonObject(with: data)

    let ourParse = try measure(iterations) { blackHole(try JSONParser.parse(bytes)) }
    let foundationParse = try measure(iterations) { blackHole(try JSONSerialization.jsonObject(with: data)) }
    let ourWrite = measure(iterations) { blackHole(JSONSerializer.serialize(ours)) }
    let foundationWrite = try measure(iterations) { blackHole(try JSONSerialization.data(withJSONObject: theirs)) }
    let ourRound = try measure(iterations) { blackHole(JSONSerializer.serialize(try JSONParser.parse(bytes))) }
    let foundationRound = try measure(iterations) { blackHole(try JSONSerialization.data(withJSONObject: try JSONSerialization.jsonObject(with: data))) }
    let name = URL(fileURLWithPath: path).lastPathComponent
    func f(_ x: Double) -> String { String(format: "%.1f", x) }
    func r(_ a: Double, _ b: Double) -> String { String(format: "%.1f×", b / a) }
    rows.append("| \(name) | \(bytes.count) | \(f(ourParse)) / \(f(foundationParse)) (\(r(ourParse, foundationParse))) | \(f(ourWrite)) / \(f(foundationWrite)) (\(r(ourWrite, foundationWrite))) | \(f(ourRound)) / \(f(foundationRound)) (\(r(ourRound, foundationRound))) |")
}
print("| payload | bytes | parse µs: ours / Foundation (speed-up) | serialize µs | parse + serialize µs |")
print("| --- | --- | --- | --- | --- |")
for row in rows { print(row) }
