/// A strict, incremental RESP3 (and RESP2) reply parser: bytes in, replies out. Pure: it never touches a
/// socket, and it never allocates more than `RedisReplyLimits` allows, whatever the bytes say.
///
/// The caller keeps the bytes. Each `parse` call reads whole tokens (a line, or a bulk string's header,
/// payload and CRLF) from the front of the buffer and reports how many bytes it used; the caller drops
/// them and calls again when more arrive. A partly received aggregate lives in the parser (a stack of
/// frames, no recursion: nesting costs no machine stack), so bytes are never read twice, except a
/// partial line or bulk string, which is left in the buffer until it is whole (bounded by
/// `maxLineBytes` and `maxBulkBytes`).
///
///     bytes ─▶ token (line, or header + payload) ─▶ scalar ─┬─▶ top of the frame stack ─▶ …
///                                    aggregate header ─▶ new frame      └─▶ stack empty: the reply
///
/// After it throws, the parser is in an undefined state: close the connection.
public struct RedisReplyParser: Sendable {
    public enum Result: Equatable, Sendable {
        /// No whole reply yet: drop `consumed` bytes from the front and call again when more arrive.
        case needMore(consumed: Int)
        /// One whole reply, which ended `consumed` bytes in: drop them and call again for the next.
        case reply(RedisValue, consumed: Int)
    }

    private enum AggregateKind: Sendable { case array, set, map, push, attribute }

    private struct Frame: Sendable {
        var kind: AggregateKind
        /// Values still to come (keys and values count separately in maps and attributes).
        var remaining: Int
        var items: [RedisValue]
    }

    public let limits: RedisReplyLimits
    private var stack: [Frame] = []
    /// Wire bytes of the reply in progress, and the values its aggregates declared.
    private var replyBytes = 0
    private var elements = 0

    public init(limits: RedisReplyLimits = RedisReplyLimits()) { self.limits = limits }

    /// Whether part of a reply has been read (a close now would cut it).
    public var isInsideReply: Bool { replyBytes > 0 }

    public mutating func parse(_ buffer: UnsafeRawBufferPointer) throws(RedisProtocolError) -> Result {
        var offset = 0
        while offset < buffer.count {
            if buffer[offset] == 13 || buffer[offset] == 10 { throw RedisProtocolError(.invalidType, "a line without a type byte") }
            guard let lineEnd = try findLineEnd(buffer, from: offset) else { return .needMore(consumed: offset) }
            let type = buffer[offset]
            let content = UnsafeRawBufferPointer(rebasing: buffer[(offset + 1)..<lineEnd])
            var tokenLength = lineEnd + 2 - offset
            let value: RedisValue?
            switch type {
            case UInt8(ascii: "+"):
                value = .simpleString(String(decoding: content, as: UTF8.self))
            case UInt8(ascii: "-"):
                value = .error(RedisServerError(message: String(decoding: content, as: UTF8.self)))
            case UInt8(ascii: ":"):
                value = .integer(try Self.integer(content))
            case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
                if content.count == 1 && content[0] == UInt8(ascii: "?") {
                    throw RedisProtocolError(.unsupported, "streamed strings ($?) are not supported")
                }
                guard let length = try Self.length(content, allowNull: type == UInt8(ascii: "$")) else {
                    value = .null
                    break
                }
                guard length <= limits.maxBulkBytes else {
                    throw RedisProtocolError(.bulkTooLarge, "a bulk string of \(length) bytes (limit \(limits.maxBulkBytes))")
                }
                let start = lineEnd + 2
                tokenLength += length + 2
                // Checked before waiting for the payload: an oversized reply is refused at its header.
                try checkReplyBytes(adding: tokenLength)
                guard start + length + 2 <= buffer.count else { return .needMore(consumed: offset) }
                guard buffer[start + length] == 13 && buffer[start + length + 1] == 10 else {
                    throw RedisProtocolError(.invalidLineEnding, "a bulk string not followed by CRLF")
                }
                let payload = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + length)])
                switch type {
                case UInt8(ascii: "$"):
                    value = .bulkString(Array(payload))
                case UInt8(ascii: "!"):
                    value = .error(RedisServerError(message: String(decoding: payload, as: UTF8.self)))
                default:
                    value = try Self.verbatim(payload)
                }
            case UInt8(ascii: ","):
                value = .double(try Self.double(content))
            case UInt8(ascii: "("):
                value = .bigNumber(try Self.bigNumber(content))
            case UInt8(ascii: "#"):
                guard content.count == 1, content[0] == UInt8(ascii: "t") || content[0] == UInt8(ascii: "f") else {
                    throw RedisProtocolError(.invalidValue, "a boolean other than #t or #f")
                }
                value = .boolean(content[0] == UInt8(ascii: "t"))
            case UInt8(ascii: "_"):
                guard content.isEmpty else { throw RedisProtocolError(.invalidValue, "a null (_) with content") }
                value = .null
            case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: ">"), UInt8(ascii: "|"):
                if content.count == 1 && content[0] == UInt8(ascii: "?") {
                    throw RedisProtocolError(.unsupported, "streamed aggregates are not supported")
                }
                let kind: AggregateKind
                switch type {
                case UInt8(ascii: "*"): kind = .array
                case UInt8(ascii: "~"): kind = .set
                case UInt8(ascii: "%"): kind = .map
                case UInt8(ascii: ">"): kind = .push
                default: kind = .attribute
                }
                if kind == .push && !stack.isEmpty {
                    throw RedisProtocolError(.misplacedPush, "a push inside another value")
                }
                guard let count = try Self.length(content, allowNull: kind == .array) else {
                    value = .null
                    break
                }
                let paired = kind == .map || kind == .attribute
                // A count has at most 18 digits, so doubling it cannot overflow.
                let declared = paired ? count * 2 : count
                guard declared <= limits.maxElements - elements else {
                    throw RedisProtocolError(.tooManyElements, "a reply of more than \(limits.maxElements) values")
                }
                if declared == 0 {
                    switch kind {
                    case .array: value = .array([])
                    case .set: value = .set([])
                    case .map: value = .map([])
                    case .push: value = .push([])
                    case .attribute: value = nil
                    }
                    break
                }
                guard stack.count < limits.maxDepth else {
                    throw RedisProtocolError(.tooDeep, "aggregates nested deeper than \(limits.maxDepth)")
                }
                elements += declared
                // Capacity grows with values that arrived, never with what a header declares.
                var items: [RedisValue] = []
                items.reserveCapacity(min(declared, 16))
                stack.append(Frame(kind: kind, remaining: declared, items: items))
                value = nil
            case UInt8(ascii: "?"), UInt8(ascii: ";"), UInt8(ascii: "."):
                throw RedisProtocolError(.unsupported, "streamed-type parts are not supported")
            default:
                throw RedisProtocolError(.invalidType, "unknown type byte \(type)")
            }
            try checkReplyBytes(adding: tokenLength)
            replyBytes += tokenLength
            offset += tokenLength
            if let value, let reply = complete(value) {
                replyBytes = 0
                elements = 0
                return .reply(reply, consumed: offset)
            }
        }
        return .needMore(consumed: offset)
    }

    // MARK: -

    private func checkReplyBytes(adding length: Int) throws(RedisProtocolError) {
        guard length <= limits.maxReplyBytes - replyBytes else {
            throw RedisProtocolError(.replyTooLarge, "a reply of more than \(limits.maxReplyBytes) bytes")
        }
    }

    /// Adds a finished value to the aggregate being read; returns the reply when the value finished it
    /// (a finished attribute is dropped: the value it describes follows).
    private mutating func complete(_ value: RedisValue) -> RedisValue? {
        var value = value
        while !stack.isEmpty {
            let last = stack.count - 1
            stack[last].items.append(value)
            stack[last].remaining -= 1
            guard stack[last].remaining == 0 else { return nil }
            let frame = stack.removeLast()
            switch frame.kind {
            case .array: value = .array(frame.items)
            case .set: value = .set(frame.items)
            case .push: value = .push(frame.items)
            case .map:
                var pairs: [RedisValue.Pair] = []
                pairs.reserveCapacity(frame.items.count / 2)
                var i = 0
                while i + 1 < frame.items.count {
                    pairs.append(RedisValue.Pair(key: frame.items[i], value: frame.items[i + 1]))
                    i += 2
                }
                value = .map(pairs)
            case .attribute:
                return nil
            }
        }
        return value
    }

    /// The index of the CR ending the line that starts at `start`, or nil when it has not all arrived.
    /// Lines end in CRLF exactly: a CR followed by anything else, or a bare LF, is refused.
    private func findLineEnd(_ buffer: UnsafeRawBufferPointer, from start: Int) throws(RedisProtocolError) -> Int? {
        // The type byte, at most maxLineBytes of content, then CR.
        let lastCR = start + 1 + limits.maxLineBytes
        let end = min(buffer.count, lastCR + 1)
        var i = start + 1
        while i < end {
            let byte = buffer[i]
            if byte == 13 {
                guard i + 1 < buffer.count else { return nil }
                guard buffer[i + 1] == 10 else { throw RedisProtocolError(.invalidLineEnding, "a CR not followed by LF") }
                return i
            }
            if byte == 10 { throw RedisProtocolError(.invalidLineEnding, "a bare LF") }
            i += 1
        }
        if buffer.count > lastCR {
            throw RedisProtocolError(.lineTooLong, "a line longer than \(limits.maxLineBytes) bytes")
        }
        return nil
    }

    @inline(__always) private static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    /// A length or count: decimal digits without sign or leading zeros; `-1` (null) where RESP2 allows it.
    private static func length(_ content: UnsafeRawBufferPointer, allowNull: Bool) throws(RedisProtocolError) -> Int? {
        if allowNull && content.count == 2 && content[0] == UInt8(ascii: "-") && content[1] == UInt8(ascii: "1") { return nil }
        guard !content.isEmpty, content.count <= 18, content.allSatisfy(isDigit), content.count == 1 || content[0] != 48 else {
            throw RedisProtocolError(.invalidLength, "a malformed length")
        }
        var n = 0
        for b in content { n = n * 10 + Int(b - 48) }
        return n
    }

    private static func integer(_ content: UnsafeRawBufferPointer) throws(RedisProtocolError) -> Int64 {
        var digits = content[...]
        var negative = false
        if let first = digits.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.allSatisfy(isDigit), digits.count == 1 || digits.first != 48 else {
            throw RedisProtocolError(.invalidNumber, "a malformed integer")
        }
        // Accumulated negatively so Int64.min fits.
        var n: Int64 = 0
        for b in digits {
            let (times, o1) = n.multipliedReportingOverflow(by: 10)
            let (next, o2) = times.subtractingReportingOverflow(Int64(b - 48))
            guard !o1 && !o2 else { throw RedisProtocolError(.invalidNumber, "an integer out of the 64-bit range") }
            n = next
        }
        if negative { return n }
        guard n != Int64.min else { throw RedisProtocolError(.invalidNumber, "an integer out of the 64-bit range") }
        return -n
    }

    /// `[+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?`, or `inf`, `-inf`, `+inf`, `nan`.
    private static func double(_ content: UnsafeRawBufferPointer) throws(RedisProtocolError) -> Double {
        let text = String(decoding: content, as: UTF8.self)
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan": return .nan
        default: break
        }
        let bytes = Array(content)
        var i = 0
        func digits() -> Int {
            let s = i
            while i < bytes.count && isDigit(bytes[i]) { i += 1 }
            return i - s
        }
        if i < bytes.count && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) { i += 1 }
        var mantissa = digits()
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            i += 1
            mantissa += digits()
        }
        var valid = mantissa > 0 && bytes.count <= 512
        if valid && i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            if i < bytes.count && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) { i += 1 }
            valid = digits() > 0
        }
        guard valid, i == bytes.count, let d = Double(text) else {
            throw RedisProtocolError(.invalidNumber, "a malformed double")
        }
        return d
    }

    private static func bigNumber(_ content: UnsafeRawBufferPointer) throws(RedisProtocolError) -> String {
        var digits = content[...]
        if let first = digits.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.allSatisfy(isDigit) else {
            throw RedisProtocolError(.invalidNumber, "a malformed big number")
        }
        return String(decoding: content, as: UTF8.self)
    }

    /// `txt:…`: three format characters (letters or digits), a colon, the text.
    private static func verbatim(_ payload: UnsafeRawBufferPointer) throws(RedisProtocolError) -> RedisValue {
        func isFormat(_ b: UInt8) -> Bool { isDigit(b) || (b | 0x20 >= 97 && b | 0x20 <= 122) }
        guard payload.count >= 4, payload[3] == UInt8(ascii: ":"), isFormat(payload[0]), isFormat(payload[1]), isFormat(payload[2]) else {
            throw RedisProtocolError(.invalidValue, "a verbatim string without a format prefix")
        }
        return .verbatimString(format: String(decoding: payload[0..<3], as: UTF8.self),
                               text: Array(UnsafeRawBufferPointer(rebasing: payload[4...])))
    }
}
