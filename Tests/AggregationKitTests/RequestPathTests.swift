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
            ("http://h/a/..;/b", "dot_segment"), ("http://h/a%2Fb?x", "invalid_path"), ("http://h#x", "fragment_in_target"),
        ]
        for (target, expected) in cases { XCTAssertEqual(code(target), expected, target) }
    }

    func testAccepted() {
        for target in ["/", "/a/b", "/a/.../b..c/.d/e.", "/a;x=1/b", "/a/%41%2e", "/a/b?x=../..%2F&y=\\&z=%zz", "/a//b", "//",
                       "/a/..b", "/a/%2e%2e%2e", "*", "example.com:443", "http://h", "http://h?x=/..", "http://u%12@h/a", "/caf%C3%A9"] {
            XCTAssertNil(code(target), target)
        }
    }

    func testEncodedSlashesWhenAllowed() {
        XCTAssertNil(code("/a/b%2Fc", allowEncodedSlashes: true))
        XCTAssertEqual(code("/a/..%2Fb", allowEncodedSlashes: true), "dot_segment", "each part between decoded slashes is checked")
        XCTAssertEqual(code("/a/b%2F.", allowEncodedSlashes: true), "dot_segment")
        XCTAssertEqual(code("/a/b%2F.;x", allowEncodedSlashes: true), "dot_segment")
        XCTAssertEqual(code("/a/b%5Cc", allowEncodedSlashes: true), "invalid_path")
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
