/// Where a value sits in a token's claims: `sub`, `realm_access.roles`, or, for claim names that hold
/// dots (namespaced claims such as `https://example.com/roles`), a bracketed segment:
/// `["https://example.com/roles"]`, `resource_access["bff-web"].roles`. Compiled once at load.
public struct ClaimPath: Sendable, Equatable, CustomStringConvertible {
    public let segments: [String]
    public let text: String
    public var description: String { text }

    public struct ParseError: Error, Sendable {
        public let reason: String
    }

    public init(_ text: String) throws(ParseError) {
        self.text = text
        var segments: [String] = []
        var rest = Substring(text)
        var expectSegment = true
        while !rest.isEmpty {
            if rest.hasPrefix("[\"") {
                let nameStart = rest.index(rest.startIndex, offsetBy: 2)
                var close = nameStart
                while close < rest.endIndex, !rest[close...].hasPrefix("\"]") { close = rest.index(after: close) }
                guard close < rest.endIndex else { throw ParseError(reason: "unclosed [\"…\"] in '\(text)'") }
                let name = rest[nameStart..<close]
                guard !name.isEmpty, !name.contains("\"") else { throw ParseError(reason: "empty or quoted claim name in '\(text)'") }
                segments.append(String(name))
                rest = rest[rest.index(close, offsetBy: 2)...]
                expectSegment = false
                if rest.hasPrefix(".") {
                    rest = rest.dropFirst()
                    expectSegment = true
                    if rest.isEmpty { break }
                }
                continue
            }
            guard expectSegment else { throw ParseError(reason: "expected '.' or '[\"' in '\(text)'") }
            let end = rest.firstIndex { $0 == "." || $0 == "[" } ?? rest.endIndex
            let name = rest[..<end]
            guard !name.isEmpty else { throw ParseError(reason: "empty claim name in '\(text)'") }
            segments.append(String(name))
            rest = rest[end...]
            expectSegment = false
            if rest.hasPrefix(".") {
                rest = rest.dropFirst()
                expectSegment = true
                if rest.isEmpty { break }
            }
        }
        guard !segments.isEmpty, !expectSegment else {
            throw ParseError(reason: "'\(text)' is not a claim path (write sub, realm_access.roles or [\"https://example.com/roles\"])")
        }
        guard segments.allSatisfy({ !$0.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) }) else {
            throw ParseError(reason: "control characters in the claim path '\(text)'")
        }
        self.segments = segments
    }

    /// The value at this path, or nil when any step is missing or not an object.
    public func value(in claims: JSONObject) -> JSONValue? {
        guard var value = claims[segments[0]] else { return nil }
        for segment in segments.dropFirst() {
            guard case .object(let o) = value, let next = o[segment] else { return nil }
            value = next
        }
        return value
    }
}
