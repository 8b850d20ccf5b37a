import XCTest
@testable import AggregationKit

final class TargetTemplateTests: XCTestCase {
    private func render(_ t: TargetTemplate, query: Substring? = nil, _ values: [String: TargetTemplate.Value]) -> String? {
        try? t.render(appendingQuery: query) { values[$0.description] }.get()
    }

    private func failure(_ t: TargetTemplate, _ values: [String: TargetTemplate.Value]) -> TargetTemplate.Failure? {
        if case .failure(let f) = t.render({ values[$0.description] }) { return f }
        return nil
    }

    func testEachPlaceEncodesItsValue() throws {
        let t = try TargetTemplate.proxy("/users/{id}/orders?userId={id}&{name}={value}")
        XCTAssertEqual(render(t, ["id": .text("7&limit=50"), "name": .text("a=b"), "value": .text("1+1 #x")]),
                       "/users/7%26limit%3D50/orders?userId=7%26limit%3D50&a%3Db=1%2B1%20%23x")
        XCTAssertEqual(render(t, ["id": .text("a/b?c"), "name": .text("n"), "value": .text("é")]),
                       "/users/a%2Fb%3Fc/orders?userId=a%2Fb%3Fc&n=%C3%A9")
        XCTAssertEqual(render(t, query: "x=1", ["id": .text("7"), "name": .text("n"), "value": .text("v")]),
                       "/users/7/orders?userId=7&n=v&x=1")
        let plain = try TargetTemplate.proxy("/users/{id}")
        XCTAssertEqual(render(plain, query: "x=1", ["id": .text("7")]), "/users/7?x=1")
        XCTAssertEqual(render(plain, query: "", ["id": .text("7")]), "/users/7")
    }

    func testRawValuesAreDecodedThenEncoded() throws {
        let t = try TargetTemplate.proxy("/u/{id}?id={id}")
        XCTAssertEqual(render(t, ["id": .raw("7%26x")]), "/u/7%26x?id=7%26x")
        XCTAssertEqual(render(t, ["id": .raw("a%2fb")]), "/u/a%2Fb?id=a%2Fb", "a decoded '/' stays encoded")
        XCTAssertEqual(render(t, ["id": .raw("%7e%41+")]), "/u/~A%2B?id=~A%2B", "'+' in a path is a plus")
        XCTAssertEqual(render(t, ["id": .raw("100%")]), "/u/100%25?id=100%25", "a stray '%' is data")
        XCTAssertEqual(render(t, ["id": .raw("%C3%A9%FF")]), "/u/%C3%A9%FF?id=%C3%A9%FF", "bytes, not text: invalid UTF-8 survives")
    }

    func testRestKeepsSegmentsInThePathOnly() throws {
        let t = try TargetTemplate.proxy("/store/{*}?path={*}")
        XCTAssertEqual(render(t, ["*": .rawSegments("a/b%20c/d&e")]), "/store/a/b%20c/d%26e?path=a%2Fb%20c%2Fd%26e")
        XCTAssertEqual(render(t, ["*": .rawSegments("")]), "/store/?path=")
    }

    func testListsJoinWithLiteralCommas() throws {
        let t = try TargetTemplate.call("/p", query: [("ids", "{$}")])
        XCTAssertEqual(try t.render { _ in TargetTemplate.value(.array([.number(JSONNumber(1)), .string("a,b")])) }.get(), "/p?ids=1,a%2Cb")
    }

    func testOptionalPairsAreLeftOutWhenAbsent() throws {
        let t = try TargetTemplate.call("/orders?fixed=1", query: [("userId", "{path.id}"), ("limit", "5 max"), ("q", "x{query.q}")])
        XCTAssertEqual(render(t, ["path.id": .text("7")]), "/orders?fixed=1&userId=7&limit=5%20max")
        XCTAssertEqual(render(t, ["query.q": .text("&")]), "/orders?fixed=1&limit=5%20max&q=x%26")
        let bare = try TargetTemplate.call("/orders", query: [("a", "{query.a}"), ("b", "{query.b}")])
        XCTAssertEqual(render(bare, ["query.b": .text("2")]), "/orders?b=2")
        XCTAssertEqual(render(bare, [:]), "/orders")
        XCTAssertEqual(failure(try TargetTemplate.call("/x/{query.a}"), [:])?.reason, .missing)
    }

    func testDotAndEmptySegmentsAreRefused() throws {
        let t = try TargetTemplate.call("/users/{query.id}/x")
        for v in ["..", "."] {
            XCTAssertEqual(failure(t, ["query.id": .text(v)])?.reason, .dotSegment, v)
            XCTAssertEqual(failure(t, ["query.id": .raw(Substring(v))])?.reason, .dotSegment, v)
        }
        XCTAssertEqual(failure(t, ["query.id": .raw("%2E%2e")])?.reason, .dotSegment, "decoded, '%2E%2E' is '..'")
        XCTAssertEqual(render(t, ["query.id": .text("%2E%2E")]), "/users/%252E%252E/x", "text '%2E%2E' is not a dot segment")
        XCTAssertEqual(render(t, ["query.id": .text("...")]), "/users/.../x")
        XCTAssertEqual(failure(t, ["query.id": .text("../")])?.reason, .dotSegment, "decoded, '..%2F' is '../'")
        XCTAssertEqual(render(t, ["query.id": .text("a/b")]), "/users/a%2Fb/x")
        XCTAssertEqual(failure(t, ["query.id": .text("")])?.reason, .emptySegment)
        XCTAssertEqual(failure(try TargetTemplate.call("/a/.{query.x}"), ["query.x": .text(".")])?.reason, .dotSegment)
        // The request parser's rule: `.` or `..` after decoding and before `;`, decoded slashes split parts.
        for v in ["..;", ".;x", "..;a=b", "a/..", "../b", "%2e%2e;x"] {
            XCTAssertEqual(failure(t, ["query.id": .raw(Substring(v))])?.reason, .dotSegment, v)
        }
        XCTAssertEqual(failure(try TargetTemplate.call("/a/%2e{query.x}"), ["query.x": .text("")])?.reason, .dotSegment, "a literal escape")
        XCTAssertEqual(render(t, ["query.id": .text("a;..")]), "/users/a%3B../x", "only what comes before ';' counts")
        XCTAssertEqual(render(try TargetTemplate.call("/a/{query.x}b"), ["query.x": .text("")]), "/a/b", "not a whole segment")
        XCTAssertEqual(failure(try TargetTemplate.proxy("/s/{*}"), ["*": .rawSegments("a/../b")])?.reason, .dotSegment)
        XCTAssertEqual(render(try TargetTemplate.call("/a?x={query.x}"), ["query.x": .text("..")]), "/a?x=..", "the query is not a path")
        // The failure names the placeholder that made the segment (it decides whose fault it is).
        let two = try TargetTemplate.call("/u/{path.id}/{first.x}/{query.y}")
        XCTAssertEqual(failure(two, ["path.id": .text("1"), "first.x": .text(".."), "query.y": .text("2")])?.placeholder?.description, "first.x")
        XCTAssertEqual(failure(two, ["path.id": .text("1"), "first.x": .text("a"), "query.y": .text(".")])?.placeholder?.description, "query.y")
        XCTAssertEqual(failure(try TargetTemplate.call("/u/..{query.y}"), ["query.y": .text("")])?.placeholder?.description, "query.y")
    }

    func testAppendedQueryCannotRepeatAParameterTheTemplateSets() throws {
        func repeated(_ t: TargetTemplate, _ query: Substring, _ values: [String: TargetTemplate.Value] = ["id": .text("7")]) -> String? {
            guard case .failure(let f) = t.render(appendingQuery: query, { values[$0.description] }) else { return nil }
            XCTAssertEqual(f.reason, .repeatedQueryParameter)
            XCTAssertNil(f.placeholder)
            return f.parameter
        }
        let t = try TargetTemplate.proxy("/orders?userId={id}&format=json")
        // Decoded (`%XX`, `+` as a space), ASCII case ignored, split at `&` and `;`.
        for (query, name) in [("userId=8", "userId"), ("x=1&userId=8", "userId"), ("userid=8", "userid"), ("USERID", "USERID"),
                              ("user%49d=8", "user%49d"), ("x=1;userId=8", "userId"), ("format=xml", "format"), ("a=1&&format", "format")] {
            XCTAssertEqual(repeated(t, Substring(query)), name, query)
        }
        for query in ["userId%3D8", "x=userId", "user+Id=8", "userIds=8", "limit=5&x=", "=userId"] {
            XCTAssertNil(repeated(t, Substring(query)), query)
            XCTAssertNotNil(render(t, query: Substring(query), ["id": .text("7")]), query)
        }
        let spaced = try TargetTemplate.call("/s", query: [("user id", "{query.id}")])
        XCTAssertEqual(repeated(spaced, "user+id=8", ["query.id": .text("7")]), "user+id")
        XCTAssertNil(repeated(spaced, "user+id=8", [:]), "a pair left out sets nothing")
        // Names from placeholders count as they were rendered.
        let dynamic = try TargetTemplate.proxy("/s?{name}={id}")
        XCTAssertEqual(repeated(dynamic, "x=1&a%3Db=2", ["name": .text("a=b"), "id": .text("7")]), "a%3Db")
        XCTAssertNil(repeated(try TargetTemplate.proxy("/users/{id}"), "userId=8"), "a template without a query sets no parameter")
    }

    func testCompileErrors() {
        func reason(_ text: String) -> String? {
            do { _ = try TargetTemplate.proxy(text); return nil } catch { return error.reason }
        }
        XCTAssertEqual(reason("users/{id}"), "must start with '/'")
        XCTAssertEqual(reason("/a/../{id}"), "a '.' or '..' segment")
        XCTAssertEqual(reason("/a/./b"), "a '.' or '..' segment")
        for text in ["/a/..;/{id}", "/a/.;x/{id}", "/a/%2e%2E/{id}", "/a/%2E%3B/{id}", "/a/..%2Fb/{id}"] {
            XCTAssertEqual(reason(text), "a '.' or '..' segment", text)
        }
        XCTAssertEqual(reason("/a b"), "' ' cannot appear in a target (visible ASCII without '#')")
        XCTAssertEqual(reason("/a#{id}"), "'#' cannot appear in a target (visible ASCII without '#')")
        XCTAssertEqual(reason("/a/{id"), "unclosed '{'")
        XCTAssertEqual(reason("/a/{i-d}"), "'{i-d}' is not a parameter name")
        XCTAssertNil(reason("/a/..b/{id}.json?x=.."))
        XCTAssertThrowsError(try TargetTemplate.call("/x/{nope..}"))
    }
}
