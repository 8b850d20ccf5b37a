import XCTest
@testable import AggregationKit

/// The cookie helpers on their own: reading one cookie, removing the gateway's, the CSRF rule.
final class SessionCookiesTests: XCTestCase {
    private func headers(_ fields: [(String, String)]) -> HTTPHeaders { HTTPHeaders(fields) }

    func testReadFindsExactlyOneWellFormedCookie() {
        let h = headers([("Cookie", "a=1; __Host-bff-access=tok.en-1 ;b=2")])
        XCTAssertEqual(SessionCookies.value(h, name: SessionCookies.access), "tok.en-1")
        XCTAssertEqual(SessionCookies.value(headers([("Cookie", #"__Host-bff-access="abc""#)]), name: SessionCookies.access), "abc")
        XCTAssertEqual(SessionCookies.read(headers([("Cookie", "x__Host-bff-access=1")]), name: SessionCookies.access), .missing)
        XCTAssertEqual(SessionCookies.read(headers([("Cookie", "__Host-bff-access=1; __Host-bff-access=2")]), name: SessionCookies.access), .duplicate)
        XCTAssertEqual(SessionCookies.read(headers([("Cookie", "__Host-bff-access=1"), ("Cookie", "__Host-bff-access=2")]), name: SessionCookies.access), .duplicate)
        XCTAssertEqual(SessionCookies.read(headers([("Cookie", "__Host-bff-access=")]), name: SessionCookies.access), .malformed)
        XCTAssertEqual(SessionCookies.read(headers([("Cookie", "__Host-bff-access=a\\b")]), name: SessionCookies.access), .malformed)
        XCTAssertEqual(SessionCookies.read(headers([]), name: SessionCookies.access), .missing)
    }

    func testStripRemovesOnlyTheGatewaysCookies() {
        var h = headers([("Accept", "*/*"), ("Cookie", "a=1; __Host-bff-access=x; __Host-bff-refresh=y"), ("Cookie", "__Host-bff-csrf=z"), ("X", "y")])
        SessionCookies.strip(&h)
        XCTAssertEqual(h.values("cookie"), ["a=1"])
        XCTAssertEqual(h["accept"], "*/*")
        XCTAssertEqual(h["x"], "y")
        var untouched = headers([("Cookie", "a=1;b=2")])
        SessionCookies.strip(&untouched)
        XCTAssertEqual(untouched.values("cookie"), ["a=1;b=2"], "no gateway cookie: the field is left exactly as it was")
    }

    func testCSRFRule() {
        let allowed = ["https://app.example"]
        let ok = headers([("Cookie", "__Host-bff-csrf=abc"), ("X-CSRF-Token", "abc"), ("Origin", "https://app.example")])
        XCTAssertNil(SessionCookies.checkCSRF(ok, allowed: allowed))
        XCTAssertEqual(SessionCookies.checkCSRF(headers([("Cookie", "__Host-bff-csrf=abc"), ("X-CSRF-Token", "abd")]), allowed: allowed)?.code, "csrf_token_mismatch")
        XCTAssertEqual(SessionCookies.checkCSRF(headers([("Cookie", "__Host-bff-csrf=abc"), ("X-CSRF-Token", "abc"), ("X-CSRF-Token", "abc")]), allowed: allowed)?.code,
                       "csrf_token_missing", "two fields: which one counts would be a guess")
        XCTAssertEqual(SessionCookies.checkCSRF(headers([("X-CSRF-Token", "abc")]), allowed: allowed)?.code, "csrf_token_missing")
        XCTAssertEqual(SessionCookies.checkOrigin(headers([("Origin", "https://app.example.evil")]), allowed: allowed)?.code, "origin_not_allowed")
        XCTAssertEqual(SessionCookies.checkOrigin(headers([("Origin", "https://app.example"), ("Origin", "https://app.example")]), allowed: allowed)?.code, "origin_not_allowed")
        XCTAssertNil(SessionCookies.checkOrigin(headers([("Origin", "https://APP.example:443")]), allowed: allowed))
        XCTAssertEqual(SessionCookies.setCookie(SessionCookies.csrf, "v", maxAge: 10, httpOnly: false), "__Host-bff-csrf=v; Path=/; Max-Age=10; Secure; SameSite=Strict")
    }
}
