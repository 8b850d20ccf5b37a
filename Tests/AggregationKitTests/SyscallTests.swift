import XCTest
@testable import AggregationKit

final class SyscallTests: XCTestCase {
    /// `peek` tells a clean idle socket (nil) from one with bytes waiting (1) or closed by its peer (0),
    /// and reads nothing.
    func testPeekSeesPendingBytesAndEndOfFileWithoutConsuming() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        defer { close(fds[0]) }
        XCTAssertNil(try Syscall.peek(fds[0]))
        var byte: UInt8 = 42
        XCTAssertEqual(Glibc.send(fds[1], &byte, 1, 0), 1)
        XCTAssertEqual(try Syscall.peek(fds[0]), 1)
        XCTAssertEqual(try Syscall.peek(fds[0]), 1, "still there: peeking does not consume")
        var read: UInt8 = 0
        XCTAssertEqual(Glibc.recv(fds[0], &read, 1, 0), 1)
        XCTAssertEqual(read, 42)
        XCTAssertNil(try Syscall.peek(fds[0]))
        close(fds[1])
        XCTAssertEqual(try Syscall.peek(fds[0]), 0)
    }
}
