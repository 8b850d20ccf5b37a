@testable import AggregationKit

// libFuzzer harness: response templates, string templates and source paths (built by scripts/fuzz.sh,
// not by SwiftPM).
//
// Input: JSON text. It is compiled as a `ResponseTemplate` (as a contract's `response`) and evaluated
// against a fixed scope; every string in it (values and keys) is also read as a `SourcePath` and as a
// `StringTemplate` and, when it starts with `/`, as a `TargetTemplate` rendered with awkward values. Errors are fine; a crash or a hang is not.

/// Request inputs and call results shaped like the shipped contracts' downstream data, with the awkward
/// cases a template meets: nulls, nested arrays, duplicate keys, big numbers, non-ASCII and reserved bytes.
private let scope: EvaluationScope = {
    func json(_ text: String) -> JSONValue {
        do { return try JSONParser.parse(text) } catch { fatalError("bad fixture JSON: \(error)") }
    }
    var headers = HTTPHeaders()
    headers.add("X-User", "a,b")
    headers.add("Accept", "application/json")
    headers.add("X-Empty", "")
    return EvaluationScope(
        pathParameters: ["userId": "7", "id": "../a b+c/%2F?#é", "dot": ".", "dots": ".."],
        query: ["limit": "5", "q": "x&y=z", "empty": ""],
        headers: headers,
        claims: JSONObject([("sub", .string("u1")), ("roles", json(#"["admin","user"]"#)), ("n", json("9007199254740993"))]),
        results: [
            "user": json(#"{"id":7,"name":"Ada","email":"ada@example.com","internal":{"secret":1,"keep":2},"tags":["a","b"],"id":8}"#),
            "orders": json(#"{"orders":[{"id":1,"status":"placed","total":12.5,"items":[{"productId":10,"quantity":2},{"productId":11,"quantity":1}]},{"id":2,"status":"shipped","items":[]},{"id":3,"items":null}]}"#),
            "products": json(#"[{"id":10,"sku":"A-1","name":"Lamp","images":["x"]},{"id":11,"name":"Desk"},{"id":9007199254740993},{"id":"10"},null,7]"#),
            "recommendations": json(#"{"items":[1,"two",null,true,{"a":[1,[2,[3,[4]]]]},[[1],[2]]]}"#),
            "notifications": json(#"{"unread":3,"items":[{"kind":"a","id":1},{"kind":"b","id":2},{"kind":"a","id":3},{"id":4}]}"#),
            "empty": json("{}"),
            "nothing": .null,
            "numbers": json("[1e400,-0,0.1,1E2,123456789012345678901234567890]"),
            "text": .string("a\u{0}b\"\\/\u{1F600}"),
        ],
        current: json(#"{"id":1,"productId":10,"items":[{"id":2}]}"#))
}()

/// Values put into target templates: awkward ones, and the fuzzed text itself.
private let targetValues = ["..", ".", "", "a b", "x/y", "%2e%2e", "7&limit=50", "\r\nX: y", "é"]

/// Visits every string of a JSON value (object keys included), at most `budget` of them.
private func forEachString(_ value: JSONValue, budget: inout Int, _ body: (String) -> Void) {
    guard budget > 0 else { return }
    switch value {
    case .string(let s):
        budget -= 1
        body(s)
    case .array(let items):
        for item in items { forEachString(item, budget: &budget, body) }
    case .object(let o):
        for (key, item) in o.entries {
            budget -= 1
            body(key)
            forEachString(item, budget: &budget, body)
        }
    case .null, .bool, .number:
        break
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTemplates(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let value = try? JSONParser.parse(UnsafeRawBufferPointer(start: data, count: size)) else { return 0 }

    if let template = try? ResponseTemplate.compile(value) {
        _ = template.paths()
        if let output = try? template.evaluate(scope) {
            let text = JSONSerializer.serialize(output)
            guard (try? JSONParser.parse(text)) != nil else {
                fatalError("template output does not serialize to valid JSON: \(String(decoding: text, as: UTF8.self))")
            }
        }
    }

    var budget = 256
    forEachString(value, budget: &budget) { text in
        if let path = try? SourcePath(text) { _ = scope.resolve(path) }
        if let template = try? StringTemplate(text) { _ = template.render(scope) }
        // A target template must never emit a byte that could end the request line or start a fragment,
        // whatever value it is given.
        if text.hasPrefix("/"), let target = try? TargetTemplate.call(text) {
            for v in targetValues + [text] {
                if case .success(let out) = target.render({ _ in .text(v) }) {
                    precondition(!out.utf8.contains { $0 <= 32 || $0 == 35 || $0 >= 127 }, "unsafe byte in a rendered target: \(out)")
                }
            }
        }
    }
    return 0
}
