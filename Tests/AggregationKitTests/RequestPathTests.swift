import XCTest
@testable import AggregationKit

/// The request parser's path checks (`HTTPRequestParser.pathProblem`): what two servers could read
/// differently is refused before routing.
final class RequestPathTests: XCTestCase {
    private func code(_ target: String, allowEncodedSlashes: Bool = false) -> String? {
        HTTPRequestParser.pathProblem(target, allowEncodedSlashes: allowEncodedSlashes)?.code
    }

    func testRefused() {
        let cases: [(String, String)] = [
            ("/a/..", "dot_segment"), ("/a/.", "dot_segment"), ("/./a", "dot_segment"), ("/a/%2e%2E/b", "dot_segment"),
            ("/a/..;/b", "dot_segment"), ("/a/.;x=1/b", "dot_segment"), ("/a/%2e%3b/b", "dot_segment"), ("/a/.%2E;/b", "dot_segment"),
            ("/a/..%2F/b", "invalid_path"), ("/a/%2e%2e%2fb", "invalid_path"), ("/a/b%2Fc", "invalid_path"),
            ("/a/..\\b", "invalid_path"), ("/a/b%5cc", "invalid_path"), ("/a\\", "invalid_path"), ("/a/%00", "invalid_path"),
            ("/a/%zz", "invalid_path"), ("/a/%2", "invalid_path"), ("/a%", "invalid_path"),
            ("/a#b", "fragment_in_target"), ("/a?x=1#b", "fragment_in_target"), ("/a/#/../b", "fragment_in_target"),
            ("/a//b", "invalid_path"), ("//", "invalid_path"), ("//169.254.169.254/x", "invalid_path"), ("/a/b//", "invalid_path"),
            ("http://h//x", "invalid_path"), ("/a/%c0%ae%c0%ae/b", "invalid_path"), ("/a/%e0%80%ae", "invalid_path"),
            ("/a/..%c0%af..", "invalid_path"), ("/a/%ed%a0%80", "invalid_path"), ("/a/%f4%90%80%80", "invalid_path"),
            ("/a/%ff", "invalid_path"), ("/a/%80", "invalid_path"), ("/a/%c3", "invalid_path"), ("/a/%c3/b", "invalid_path"),
            ("/a/%e2%82;x", "invalid_path"), ("/a/x;%c0%ae", "invalid_path"),
            ("http://h/a/..;/b", "dot_segment"), ("http://h/a%2Fb?x", "invalid_path"), ("http://h#x", "fragment_in_target"),
        ]
        for (target, expected) in cases { XCTAssertEqual(code(target), expected, target) }
    }

    func testAccepted() {
        for target in ["/", "/a/b", "/a/.../b..c/.d/e.", "/a;x=1/b", "/a/%41%2e", "/a/b?x=../..%2F&y=\\&z=%zz", "/a/?x=//",
                       "/a/..b", "/a/%2e%2e%2e", "*", "example.com:443", "http://h", "http://h?x=/..", "http://u%12@h/a", "/caf%C3%A9",
                       "/%E2%82%AC/%F0%9F%98%80/%ED%9F%BF/%EE%80%80/%F4%8F%BF%BF", "/a/", "/a?%c0%ae%c0%ae"] {
            XCTAssertNil(code(target), target)
        }
    }

    func testEncodedSlashesWhenAllowed() {
        XCTAssertNil(code("/a/b%2Fc", allowEncodedSlashes: true))
        XCTAssertEqual(code("/a/..%2Fb", allowEncodedSlashes: true), "dot_segment", "each part between decoded slashes is checked")
        XCTAssertEqual(code("/a/b%2F.", allowEncodedSlashes: true), "dot_segment")
        XCTAssertEqual(code("/a/b%2F.;x", allowEncodedSlashes: true), "dot_segment")
        XCTAssertEqual(code("/a/b%5Cc", allowEncodedSlashes: true), "invalid_path")
        // Decoded, these are `//` again.
        for target in ["/a/%2Fb", "/%2F169.254.169.254/x", "/a/b%2F%2Fc", "/a/b%2F/c"] {
            XCTAssertEqual(code(target, allowEncodedSlashes: true), "invalid_path", target)
        }
        XCTAssertNil(code("/a/b%2F", allowEncodedSlashes: true), "a trailing slash, decoded")
        XCTAssertNil(code("/a/b%2F;x%2Fc", allowEncodedSlashes: true))
    }

    func testParserRefusesRawBytesOutsideVisibleASCII() {
        // The request-target grammar has no raw non-ASCII: UTF-8 arrives percent-encoded or not at all.
        for target in ["/caf\u{E9}", "/a/\u{FF0E}\u{FF0E}/b"] {
            var parser = HTTPRequestParser()
            guard case .error(let e) = parser.parse(Array("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n".utf8)) else { XCTFail(target); continue }
            XCTAssertEqual(e.status, 400)
            XCTAssertEqual(e.code, "invalid_target")
        }
        var overlong = HTTPRequestParser()
        guard case .error(let e) = overlong.parse(Array("GET /static/%c0%ae%c0%ae/x HTTP/1.1\r\nHost: h\r\n\r\n".utf8)) else { return XCTFail() }
        XCTAssertEqual(e.code, "invalid_path")
    }

    func testParserRefusesWith400() {
        var parser = HTTPRequestParser()
        guard case .error(let e) = parser.parse(Array("GET /a/..;/admin HTTP/1.1\r\nHost: h\r\n\r\n".utf8)) else { return XCTFail() }
        XCTAssertEqual(e.status, 400)
        XCTAssertEqual(e.code, "dot_segment")
        var allowing = HTTPParserLimits()
        allowing.allowEncodedSlashes = true
        var lenient = HTTPRequestParser(limits: allowing)
        guard case .request(let r, _) = lenient.parse(Array("GET /a%2Fb HTTP/1.1\r\nHost: h\r\n\r\n".utf8)) else { return XCTFail() }
        XCTAssertEqual(r.target, "/a%2Fb")
    }
}
