import XCTest
@testable import AggregationKit

final class ResponseTemplateTests: XCTestCase {
    private func json(_ s: String) -> JSONValue { try! JSONParser.parse(s) }

    private let scope = EvaluationScope(
        pathParameters: ["userId": "7"], query: ["limit": "2"], headers: HTTPHeaders([("X-Tenant", "acme")]),
        results: [
            "user": try! JSONParser.parse(#"{"id":7,"name":"Ada","email":"a@x","internal":{"risk":3,"manager":"m"},"address":{"city":"Lisbon","secret":"s"}}"#),
            "orders": try! JSONParser.parse(#"{"orders":[{"id":1,"status":"shipped","items":[{"productId":5,"qty":1},{"productId":6,"qty":2}]},{"id":2,"status":"placed","items":[{"productId":5,"qty":3}]},{"id":3,"status":"shipped","items":[]}]}"#),
            "products": try! JSONParser.parse(#"[{"id":5,"name":"Hub"},{"id":6,"name":"Lamp"}]"#),
        ])

    private func eval(_ template: String) throws -> String {
        JSONSerializer.string(try ResponseTemplate.compile(json(template)).evaluate(scope))
    }

    func testPathsSelectIndexAndProject() throws {
        XCTAssertEqual(try eval(#""$user.name""#), #""Ada""#)
        XCTAssertEqual(try eval(#""$orders.orders[0].id""#), "1")
        XCTAssertEqual(try eval(#""$orders.orders[-1].id""#), "3")
        XCTAssertEqual(try eval(#""$orders.orders[*].id""#), "[1,2,3]")
        XCTAssertEqual(try eval(#""$orders.orders[*].items[*].productId""#), "[5,6,5]", "nested [*] flattens")
        XCTAssertEqual(try eval(#""$user.nope.deeper""#), "null")
        XCTAssertEqual(try eval(#""$path.userId""#), #""7""#)
        XCTAssertEqual(try eval(#""$header.x-tenant""#), #""acme""#)
        XCTAssertEqual(try eval(#"{"a":1,"b":[true,"text"],"c":{"$const":"$literal"}}"#), #"{"a":1,"b":[true,"text"],"c":"$literal"}"#)
    }

    func testPickOmitRenameDefault() throws {
        XCTAssertEqual(try eval(#"{"$select":"user","$pick":["id","name","missing"]}"#), #"{"id":7,"name":"Ada"}"#)
        XCTAssertEqual(try eval(#"{"$select":"user","$omit":["internal","address.secret"]}"#), #"{"id":7,"name":"Ada","email":"a@x","address":{"city":"Lisbon"}}"#)
        XCTAssertEqual(try eval(#"{"$select":"user","$pick":["id","email"],"$rename":{"email":"contact"}}"#), #"{"id":7,"contact":"a@x"}"#)
        XCTAssertEqual(try eval(#"{"$select":"user.avatar","$default":"none.png"}"#), #""none.png""#)
    }

    /// A dotted `$omit` goes through arrays at any depth (a deny-list must not stop at a list); `$pick`,
    /// `$omit` and `$rename` reshape each object of an array, and of arrays of arrays, alike.
    func testOmitPathsGoThroughArraysAndReshapeReachesNestedArrays() throws {
        let scope = EvaluationScope(results: [
            "u": json(#"{"id":1,"pages":[[{"card":{"n":"1111","t":"v"}},{"card":[{"n":"2222","t":"m"},3,null]}],[],"x",[[{"card":{"n":"3333"}}]]],"n":"kept"}"#),
            "l": json(#"[[{"a":1,"b":2,"c":{"d":4,"e":5}}],[[{"a":6,"b":7}]],{"a":8,"c":[{"d":9}]},1]"#),
        ])
        func eval(_ t: String) throws -> String { JSONSerializer.string(try ResponseTemplate.compile(json(t)).evaluate(scope)) }
        XCTAssertEqual(try eval(#"{"$select":"u","$omit":["pages.card.n"]}"#),
                       #"{"id":1,"pages":[[{"card":{"t":"v"}},{"card":[{"t":"m"},3,null]}],[],"x",[[{"card":{}}]]],"n":"kept"}"#)
        XCTAssertEqual(try eval(#"{"$select":"l","$omit":["b","c.d"]}"#), #"[[{"a":1,"c":{"e":5}}],[[{"a":6}]],{"a":8,"c":[{}]},1]"#)
        XCTAssertEqual(try eval(#"{"$select":"l","$pick":["a"],"$rename":{"a":"z"}}"#), #"[[{"z":1}],[[{"z":6}]],{"z":8},1]"#)
        // A path through a scalar or a missing member leaves the value as it is.
        XCTAssertEqual(try eval(#"{"$select":"u","$omit":["id.x","nope.n","n.x"]}"#), JSONSerializer.string(json(#"{"id":1,"pages":[[{"card":{"n":"1111","t":"v"}},{"card":[{"n":"2222","t":"m"},3,null]}],[],"x",[[{"card":{"n":"3333"}}]]],"n":"kept"}"#)))
    }

    func testMapLimitFlattenGroupAndLookup() throws {
        XCTAssertEqual(try eval(#"{"$select":"orders.orders","$limit":2,"$map":{"orderId":"$.id","count":"$.items[*].qty"}}"#),
                       #"[{"orderId":1,"count":[1,2]},{"orderId":2,"count":[3]}]"#)
        XCTAssertEqual(try eval(#"{"$select":"orders.orders[*].items","$flatten":true,"$map":"$.productId"}"#), "[5,6,5]")
        XCTAssertEqual(try eval(#"{"$select":"orders.orders","$map":{"$select":"$","$pick":["id","status"]},"$groupBy":"status"}"#),
                       #"{"shipped":[{"id":1,"status":"shipped"},{"id":3,"status":"shipped"}],"placed":[{"id":2,"status":"placed"}]}"#)
        XCTAssertEqual(try eval(#"{"$select":"orders.orders[0].items","$map":{"qty":"$.qty","product":{"$lookup":"products","$on":"$.productId","$key":"id"}}}"#),
                       #"[{"qty":1,"product":{"id":5,"name":"Hub"}},{"qty":2,"product":{"id":6,"name":"Lamp"}}]"#)
    }

    /// `$lookup` gives the first match by JSON equality (`5` finds `5.0`), whether the candidates are scanned
    /// (few) or indexed (many, read from a call), and null when nothing matches.
    func testLookupFindsTheFirstMatchInSmallAndLargeArrays() throws {
        for count in [3, 40] {
            var candidates = (0..<count).map { #"{"id":\#($0).0,"n":"first \#($0)"}"# }
            candidates += [#"{"id":1,"n":"second"}"#, #"7"#, #"{"n":"no id"}"#, #"{"id":{"a":[1,"x"]},"n":"object id"}"#]
            let scope = EvaluationScope(results: [
                "p": json("[" + candidates.joined(separator: ",") + "]"),
                "wanted": json(#"[1,2e0,{"a":[1,"x"]},"1",null,99]"#),
            ])
            let template = try ResponseTemplate.compile(json(#"{"$select":"wanted","$map":{"$lookup":"p","$on":"$","$key":"id","$default":"none"}}"#))
            XCTAssertEqual(JSONSerializer.string(try template.evaluate(scope)),
                           #"[{"id":1.0,"n":"first 1"},{"id":2.0,"n":"first 2"},{"id":{"a":[1,"x"]},"n":"object id"},"none","none","none"]"#, "\(count) candidates")
        }
    }

    func testMergePolicies() throws {
        let a = #"{"id":1,"tags":["a"],"nested":{"x":1}}"#, b = #"{"id":2,"tags":["b"],"nested":{"y":2}}"#
        XCTAssertEqual(try eval(#"{"$merge":[{"$const":\#(a)},{"$const":\#(b)}],"$collision":"first"}"#), #"{"id":1,"tags":["a"],"nested":{"x":1}}"#)
        XCTAssertEqual(try eval(#"{"$merge":[{"$const":\#(a)},{"$const":\#(b)}],"$collision":"last"}"#), #"{"id":2,"tags":["b"],"nested":{"y":2}}"#)
        XCTAssertEqual(try eval(#"{"$merge":[{"$const":\#(a)},{"$const":\#(b)}],"$collision":"deep","$arrays":"concat"}"#), #"{"id":2,"tags":["a","b"],"nested":{"x":1,"y":2}}"#)
        XCTAssertThrowsError(try eval(#"{"$merge":[{"$const":\#(a)},{"$const":\#(b)}]}"#)) { error in
            XCTAssertEqual("\(error)", "merge collision at $.id")
        }
        // Disjoint keys merge fine under the default policy, in part order.
        XCTAssertEqual(try eval(#"{"$merge":[{"$select":"user","$pick":["id"]},{"profile":"$user.name"}]}"#), #"{"id":7,"profile":"Ada"}"#)
    }

    func testCompileErrors() {
        for (template, message) in [
            (#"{"$merge":[{"a":1},{"a":2}]}"#, "$.response.$merge: parts 0 and 1 both write 'a' and $collision is error"),
            (#"{"$select":"user","name":"x"}"#, "$.response: mixes operation keys ($select) with output keys; put output keys in a nested object"),
            (#"{"$pick":["a"]}"#, "$.response: an operation needs one source: $select, $const, $merge or $lookup"),
            (#"{"$select":"user","$shuffle":true}"#, nil),
            (#"{"x":"$user[abc]"}"#, "$.response.x: invalid path 'user[abc]': '[abc]' is not [N], [*] or [\"key\"]"),
            (#"{"$select":"user","$collision":"maybe","$merge":[]}"#, nil),
            (#"{"$lookup":"products","$on":"$.id"}"#, "$.response: $lookup needs $on (the value to find) and $key (the field to match)"),
        ] as [(String, String?)] {
            XCTAssertThrowsError(try ResponseTemplate.compile(json(template))) { error in
                if let message { XCTAssertEqual("\(error)", message) }
            }
        }
    }

    func testStringTemplates() throws {
        let t = try StringTemplate("/users/{path.userId}/orders?limit={query.limit}&ids={orders.orders[*].id}")
        XCTAssertEqual(t.render(scope), "/users/7/orders?limit=2&ids=1,2,3")
        XCTAssertNil(try StringTemplate("/x/{user.nope}").render(scope), "a missing value is not rendered as empty")
        XCTAssertEqual(try StringTemplate("{user.name}").render(EvaluationScope(results: ["user": json(#"{"name":"a b/c"}"#)])), "a b/c", "not encoded: for headers")
        XCTAssertEqual(try StringTemplate("{{literal}}").render(scope), "{literal}")
        XCTAssertThrowsError(try StringTemplate("/x/{path.id"))
    }
}
