import XCTest
import Foundation
@testable import AggregationKit

/// The demo identity service (`POST /verify`), over a real socket: the API the gateway's login calls.
final class DemoIdentityTests: XCTestCase {
    var demo: DemoServices!

    override func setUpWithError() throws {
        demo = try DemoServices.start(logging: .disabled)
    }

    override func tearDown() {
        demo?.shutdown()
    }

    private func post(_ body: String, path: String = "/verify", contentType: String? = "application/json", method: String = "POST") throws -> HTTPResponse {
        let c = try RawClient(port: try XCTUnwrap(demo.ports["identity"]))
        c.send("\(method) \(path) HTTP/1.1\r\nHost: id\r\n" + (contentType.map { "Content-Type: \($0)\r\n" } ?? "")
               + "Content-Length: \(body.utf8.count)\r\n\r\n" + body)
        return try XCTUnwrap(c.readResponse(), "no response to \(body.debugDescription)")
    }

    func testDemoUsersVerify() throws {
        for (user, password, expected) in [("alice", "wonderland", #"{"sub":"1","roles":["user"]}"#),
                                           ("bob", "builder", #"{"sub":"2","roles":["user"]}"#),
                                           ("admin", "change-me-admin", #"{"sub":"3","roles":["admin"]}"#)] {
            let r = try post(#"{"username":"\#(user)","password":"\#(password)"}"#)
            XCTAssertEqual(r.status, 200, user)
            XCTAssertEqual(r.headers["Content-Type"], "application/json")
            XCTAssertEqual(r.text, expected)
        }
        // Member order does not matter; a charset parameter on the media type is fine.
        XCTAssertEqual(try post(#"{"password":"builder","username":"bob"}"#, contentType: "application/json; charset=utf-8").status, 200)
        XCTAssertEqual(try post(#"{"username":"alice","password":"wonderland"}"#, contentType: nil).status, 200)
    }

    /// A wrong password and an unknown user get the same answer. `wonderland\0` is a different password
    /// that PBKDF2 (HMAC's zero padding of short keys) derives the same hash for: refused too.
    func testWrongCredentialsAre401() throws {
        for body in [#"{"username":"alice","password":"builder"}"#, #"{"username":"alice","password":"Wonderland"}"#,
                     #"{"username":"alice","password":""}"#, #"{"username":"mallory","password":"wonderland"}"#,
                     #"{"username":"","password":""}"#, #"{"username":"ALICE","password":"wonderland"}"#,
                     #"{"username":"alice ","password":"wonderland"}"#, #"{"username":"alice","password":"wonderland\u0000"}"#,
                     #"{"username":"alice","password":"wonderland\u0000\u0000"}"#] {
            let r = try post(body)
            XCTAssertEqual(r.status, 401, body)
            XCTAssertEqual(r.text, #"{"error":"invalid_credentials"}"#, body)
        }
    }

    func testGarbageIs400() throws {
        for body in ["", "not json", "[]", "null", #""alice""#, #"{"username":"alice"}"#, #"{"password":"wonderland"}"#,
                     #"{"username":"alice","password":"wonderland","admin":true}"#,
                     #"{"username":"alice","username":"bob","password":"builder"}"#,
                     #"{"username":"alice","password":12345}"#, #"{"username":["alice"],"password":"wonderland"}"#,
                     #"{"username":"alice","password":"wonderland"} trailing"#, #"{"username":"alice","password":"wonderland""#] {
            let r = try post(body)
            XCTAssertEqual(r.status, 400, body)
            XCTAssertEqual(r.text, #"{"error":"invalid_request"}"#, body)
        }
    }

    func testLimitsAndMethods() throws {
        let big = #"{"username":"alice","password":"\#(String(repeating: "x", count: 5000))"}"#
        XCTAssertEqual(try post(big).status, 413)
        XCTAssertEqual(try post(#"{"username":"alice","password":"wonderland"}"#, contentType: "text/plain").status, 415)
        XCTAssertEqual(try post(#"{"username":"alice","password":"wonderland"}"#, contentType: "application/x-www-form-urlencoded").status, 415)
        XCTAssertEqual(try post("", method: "GET").status, 405)
        XCTAssertEqual(try post(#"{"username":"alice","password":"wonderland"}"#, path: "/verify/x").status, 404)
    }

    /// PBKDF2-HMAC-SHA256 test vectors (RFC 7914 §11 and the widely used ones derived from RFC 6070's inputs).
    func testPBKDF2Vectors() throws {
        XCTAssertEqual(Digest.hex(try PBKDF2.derive(password: Array("password".utf8), salt: Array("salt".utf8), iterations: 1, length: 32)),
                       "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b")
        XCTAssertEqual(Digest.hex(try PBKDF2.derive(password: Array("password".utf8), salt: Array("salt".utf8), iterations: 4096, length: 32)),
                       "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a")
        XCTAssertEqual(Digest.hex(try PBKDF2.derive(password: Array("passwd".utf8), salt: Array("salt".utf8), iterations: 1, length: 64)),
                       "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
        XCTAssertEqual(try PBKDF2.derive(password: [], salt: Array("salt".utf8), iterations: 1, length: 32).count, 32)
    }
}
