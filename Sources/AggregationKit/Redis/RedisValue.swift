/// One reply (or one element of a reply) from Redis, in RESP3's types; RESP2 replies map onto the
/// subset RESP2 has (`$-1` and `*-1` are `.null`). Attributes (`|`) are read, counted against the
/// limits and dropped: nothing we send asks for them, and RESP3 lets a client ignore them.
public enum RedisValue: Sendable, Hashable {
    /// `+OK`
    case simpleString(String)
    /// `$5 hello`: binary-safe.
    case bulkString([UInt8])
    /// `=15 txt:Some string`: a bulk string with a three-letter format (`txt`, `mkd`).
    case verbatimString(format: String, text: [UInt8])
    /// `:42`
    case integer(Int64)
    /// `,3.14`, `,inf`, `,-inf`, `,nan`
    case double(Double)
    /// `(3492890328409238509324850943850943825024385`: kept as its decimal text.
    case bigNumber(String)
    /// `#t`, `#f`
    case boolean(Bool)
    /// `_`, and RESP2's `$-1` and `*-1`.
    case null
    /// `-ERR …` or `!21 SYNTAX invalid syntax`: an error reply. `RedisClient.send` throws it when it is
    /// the whole reply; inside an aggregate (a transaction's results) it stays a value.
    case error(RedisServerError)
    case array([RedisValue])
    case set([RedisValue])
    /// Pairs in the order the server sent them.
    case map([Pair])
    /// Out-of-band data (`>`): never the reply to a command. The connection drops them (we subscribe
    /// to nothing), but the parser returns them so that decision stays with the connection.
    case push([RedisValue])

    public struct Pair: Sendable, Hashable {
        public var key: RedisValue
        public var value: RedisValue
        public init(key: RedisValue, value: RedisValue) {
            self.key = key
            self.value = value
        }
    }
}

extension RedisValue {
    /// The bytes of a bulk, simple or verbatim string; nil for anything else.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let b): b
        case .simpleString(let s): Array(s.utf8)
        case .verbatimString(_, let text): text
        default: nil
        }
    }

    /// A bulk, simple or verbatim string as text (invalid UTF-8 repaired); nil for anything else.
    public var string: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    /// An integer reply, or a string holding a decimal integer (what `GET` returns for a counter).
    public var int: Int64? {
        switch self {
        case .integer(let i): i
        case .bulkString, .simpleString: string.flatMap { Int64($0) }
        default: nil
        }
    }

    /// The elements of an array, set or push; nil for anything else (a map is not a list).
    public var elements: [RedisValue]? {
        switch self {
        case .array(let a), .set(let a), .push(let a): a
        default: nil
        }
    }

    public var isNull: Bool { self == .null }

    /// The RESP type's name, for messages (`"bulk string"`).
    public var typeName: String {
        switch self {
        case .simpleString: "simple string"
        case .bulkString: "bulk string"
        case .verbatimString: "verbatim string"
        case .integer: "integer"
        case .double: "double"
        case .bigNumber: "big number"
        case .boolean: "boolean"
        case .null: "null"
        case .error: "error"
        case .array: "array"
        case .set: "set"
        case .map: "map"
        case .push: "push"
        }
    }
}
