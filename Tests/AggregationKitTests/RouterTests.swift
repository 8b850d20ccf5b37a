import XCTest
@testable import AggregationKit

final class RouterTests: XCTestCase {
    private func match(_ r: Router<String>, _ method: String, _ path: String) -> (String, [String: String])? {
        if case .matched(let m) = r.lookup(method: method, path: Substring(path)) {
            return (m.value, Dictionary(uniqueKeysWithValues: m.parameters.map { ($0.name, $0.value) }))
        }
        return nil
    }

    func testLiteralParameterAndWildcardPrecedence() throws {
        var r = Router<String>()
        try r.add(method: "GET", template: "/users/me", value: "me")
        try r.add(method: "GET", template: "/users/{id}", value: "user")
        try r.add(method: "GET", template: "/users/{id}/orders/{orderId}", value: "order")
        try r.add(method: nil, template: "/legacy/*", value: "legacy")
        try r.add(method: nil, template: "/*", value: "catch-all")
        XCTAssertEqual(match(r, "GET", "/users/me")?.0, "me")
        XCTAssertEqual(match(r, "GET", "/users/42")?.0, "user")
        XCTAssertEqual(match(r, "GET", "/users/42")?.1, ["id": "42"])
        XCTAssertEqual(match(r, "GET", "/users/7/orders/9")?.1, ["id": "7", "orderId": "9"])
        XCTAssertEqual(match(r, "POST", "/legacy/a/b")?.0, "legacy")
        XCTAssertEqual(match(r, "GET", "/legacy/")?.0, "legacy")
        XCTAssertEqual(match(r, "GET", "/legacy")?.0, "catch-all")
        XCTAssertEqual(match(r, "GET", "/users/")?.0, "catch-all", "a parameter never matches an empty segment")
        XCTAssertEqual(match(r, "DELETE", "/anything/at/all")?.0, "catch-all")
    }

    /// A lone any-method route (the pass-through `/*`) answers every method, with or without literal routes
    /// beside it; with a method-specific route on the same template, that one still wins for its method.
    func testALoneAnyMethodRouteAnswersEveryMethod() throws {
        var r = Router<String>()
        try r.add(method: nil, template: "/*", value: "all")
        for method in ["GET", "HEAD", "POST", "DELETE", "PURGE", "*"] {
            XCTAssertEqual(match(r, method, "/a/b")?.0, "all", method)
            XCTAssertEqual(match(r, method, "/")?.0, "all", method)
        }
        try r.add(method: nil, template: "/x", value: "x")
        XCTAssertEqual(match(r, "PATCH", "/x")?.0, "x")
        XCTAssertEqual(match(r, "PATCH", "/y")?.0, "all")
        try r.add(method: "GET", template: "/*", value: "get")
        XCTAssertEqual(match(r, "GET", "/y")?.0, "get")
        XCTAssertEqual(match(r, "HEAD", "/y")?.0, "get")
        XCTAssertEqual(match(r, "POST", "/y")?.0, "all")
        var onlyGet = Router<String>()
        try onlyGet.add(method: "GET", template: "/*", value: "get")
        XCTAssertEqual(match(onlyGet, "HEAD", "/y")?.0, "get")
        guard case .methodNotAllowed(let allowed) = onlyGet.lookup(method: "POST", path: "/y") else { return XCTFail("405 expected") }
        XCTAssertEqual(allowed, ["GET"])
    }

    func testBacktracksFromLiteralToParameter() throws {
        var r = Router<String>()
        try r.add(method: "GET", template: "/a/b/c", value: "abc")
        try r.add(method: "GET", template: "/a/{x}/d", value: "axd")
        XCTAssertEqual(match(r, "GET", "/a/b/d")?.1, ["x": "b"])
        XCTAssertEqual(match(r, "GET", "/a/b/c")?.0, "abc")
    }

    func testMethodNotAllowedListsMethods() throws {
        var r = Router<String>()
        try r.add(method: "GET", template: "/items/{id}", value: "get")
        try r.add(method: "PUT", template: "/items/{id}", value: "put")
        guard case .methodNotAllowed(let allowed) = r.lookup(method: "DELETE", path: "/items/1") else { return XCTFail() }
        XCTAssertEqual(allowed, ["GET", "PUT"])
        XCTAssertEqual(match(r, "HEAD", "/items/1")?.0, "get", "HEAD falls back to GET")
        guard case .notFound = r.lookup(method: "GET", path: "/nope") else { return XCTFail() }
    }

    func testSpecificMethodBeatsAnyMethod() throws {
        var r = Router<String>()
        try r.add(method: nil, template: "/x", value: "any")
        try r.add(method: "POST", template: "/x", value: "post")
        XCTAssertEqual(match(r, "POST", "/x")?.0, "post")
        XCTAssertEqual(match(r, "GET", "/x")?.0, "any")
    }

    func testConflictsAreDetected() throws {
        var r = Router<String>()
        try r.add(method: "GET", template: "/users/{id}", value: "a")
        XCTAssertThrowsError(try r.add(method: "GET", template: "/users/{userId}", value: "b")) { error in
            XCTAssertEqual("\(error)", "route 'GET /users/{userId}' conflicts with 'GET /users/{id}'")
        }
        XCTAssertNoThrow(try r.add(method: "POST", template: "/users/{userId}", value: "c"))
        try r.add(method: nil, template: "/files/*", value: "d")
        XCTAssertThrowsError(try r.add(method: nil, template: "/files/*", value: "e"))
    }

    func testInvalidTemplates() {
        var r = Router<String>()
        XCTAssertThrowsError(try r.add(method: "GET", template: "users", value: ""))
        XCTAssertThrowsError(try r.add(method: "GET", template: "/a/*/b", value: ""))
        XCTAssertThrowsError(try r.add(method: "GET", template: "/a/{id", value: ""))
        XCTAssertThrowsError(try r.add(method: "GET", template: "/a/x{id}", value: ""))
        XCTAssertThrowsError(try r.add(method: "GET", template: "/a/{id}/{id}", value: ""))
    }
}
