/// One command, encoded once as a RESP array of bulk strings (what every Redis accepts, in RESP2 and
/// RESP3), off the loop: the connection only copies the bytes. `name` (the first argument, upper-cased)
/// is for messages; the arguments themselves are never kept in text (they may be secrets).
public struct RedisCommand: Sendable {
    public let bytes: [UInt8]
    public let name: String

    public init(_ arguments: [String]) {
        self.init(arguments: arguments.map { Array($0.utf8) })
    }

    /// Binary-safe arguments.
    public init(arguments: [[UInt8]]) {
        precondition(!arguments.isEmpty, "a Redis command has at least its name")
        var out: [UInt8] = []
        out.reserveCapacity(16 + arguments.reduce(0) { $0 + $1.count + 16 })
        Self.appendHeader(UInt8(ascii: "*"), arguments.count, into: &out)
        for argument in arguments {
            Self.appendHeader(UInt8(ascii: "$"), argument.count, into: &out)
            out.append(contentsOf: argument)
            out.append(13)
            out.append(10)
        }
        bytes = out
        name = String(decoding: arguments[0].prefix(32), as: UTF8.self).uppercased()
    }

    private static func appendHeader(_ type: UInt8, _ n: Int, into out: inout [UInt8]) {
        out.append(type)
        if n == 0 {
            out.append(48)
        } else {
            var digits: [UInt8] = []
            var v = n
            while v > 0 { digits.append(UInt8(48 + v % 10)); v /= 10 }
            out.append(contentsOf: digits.reversed())
        }
        out.append(13)
        out.append(10)
    }
}
