/// A path into the values a composite endpoint can see:
///
/// | root | meaning |
/// | --- | --- |
/// | `path.<name>` | a path parameter of the route |
/// | `query.<name>` | a query parameter (first value) |
/// | `header.<name>` | a request header (case-insensitive) |
/// | `claims.<name>` | a claim of the request's identity (the verified token's, or an API key's); needs `policy.auth` |
/// | `<call>` | the JSON result of a call |
/// | `$` | the current element (inside `$map`, or a call's `forEach`) |
///
/// After the root: `.name`, `["name with dots"]`, `[0]` (an index; negative counts from the end), and
/// `[*]` (every element; a path with `[*]` yields an array, flattened across several `[*]`).
/// Selecting through something that is not there yields nothing (`nil`), never an error.
public struct SourcePath: Sendable, Equatable, CustomStringConvertible {
    public enum Root: Sendable, Equatable {
        case pathParameter(String)
        case query(String)
        case header(String)
        case claim(String)
        case call(String)
        case current
    }

    public enum Step: Sendable, Equatable {
        case key(String)
        case index(Int)
        case each
    }

    public let root: Root
    public let steps: [Step]
    public let text: String

    /// Whether the value comes from the client's request (path, query, headers, claims), not from a
    /// downstream's answer.
    public var isClientInput: Bool {
        switch root {
        case .pathParameter, .query, .header, .claim: return true
        case .call, .current: return false
        }
    }

    public var description: String { text }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let text: String
        public let reason: String
        public var description: String { "invalid path '\(text)': \(reason)" }
    }

    /// A path made of parts (tests: keys that the text syntax cannot spell); `text` names it in messages.
    init(root: Root, steps: [Step], text: String) {
        self.root = root
        self.steps = steps
        self.text = text
    }

    public init(_ text: String) throws(ParseError) {
        self.text = text
        var chars = Substring(text)
        func readName() -> Substring {
            let end = chars.firstIndex { $0 == "." || $0 == "[" } ?? chars.endIndex
            let name = chars[..<end]
            chars = chars[end...]
            return name
        }
        var steps: [Step] = []
        if chars.hasPrefix("$") {
            chars = chars.dropFirst()
            root = .current
        } else {
            let first = readName()
            guard !first.isEmpty else { throw ParseError(text: text, reason: "empty root") }
            switch first {
            case "path", "query", "header", "claims":
                guard chars.hasPrefix(".") else { throw ParseError(text: text, reason: "'\(first)' needs a name: '\(first).<name>'") }
                chars = chars.dropFirst()
                let name = readName()
                guard !name.isEmpty else { throw ParseError(text: text, reason: "empty name after '\(first).'") }
                switch first {
                case "path": root = .pathParameter(String(name))
                case "query": root = .query(String(name))
                case "header": root = .header(String(name).lowercased())
                default: root = .claim(String(name))
                }
            default:
                guard first.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                    throw ParseError(text: text, reason: "a call name may contain letters, digits, '_' and '-' only")
                }
                root = .call(String(first))
            }
        }
        while !chars.isEmpty {
            if chars.hasPrefix(".") {
                chars = chars.dropFirst()
                let name = readName()
                guard !name.isEmpty else { throw ParseError(text: text, reason: "empty name after '.'") }
                steps.append(.key(String(name)))
            } else if chars.hasPrefix("[") {
                guard let close = chars.firstIndex(of: "]") else { throw ParseError(text: text, reason: "unclosed '['") }
                let inside = chars[chars.index(after: chars.startIndex)..<close]
                if inside == "*" {
                    steps.append(.each)
                } else if let i = Int(inside) {
                    steps.append(.index(i))
                } else if inside.count >= 2, inside.first == "\"", inside.last == "\"" {
                    steps.append(.key(String(inside.dropFirst().dropLast())))
                } else {
                    throw ParseError(text: text, reason: "'[\(inside)]' is not [N], [*] or [\"key\"]")
                }
                chars = chars[chars.index(after: close)...]
            } else {
                throw ParseError(text: text, reason: "unexpected '\(chars.first!)'")
            }
        }
        self.steps = steps
    }

    /// Follows the steps from `value`.
    public func follow(_ value: JSONValue?) -> JSONValue? {
        guard let value else { return nil }
        return Self.follow(value, steps[...])
    }

    private static func follow(_ value: JSONValue, _ steps: ArraySlice<Step>) -> JSONValue? {
        guard let step = steps.first else { return value }
        let rest = steps.dropFirst()
        switch step {
        case .key(let k):
            guard case .object(let o) = value, let next = o[k] else { return nil }
            return follow(next, rest)
        case .index(let i):
            guard case .array(let a) = value else { return nil }
            let idx = i < 0 ? a.count + i : i
            guard idx >= 0 && idx < a.count else { return nil }
            return follow(a[idx], rest)
        case .each:
            guard case .array(let a) = value else { return nil }
            var out: [JSONValue] = []
            let nested = rest.contains(.each)
            for element in a {
                guard let v = follow(element, rest) else { continue }
                if nested, case .array(let inner) = v { out.append(contentsOf: inner) } else { out.append(v) }
            }
            return .array(out)
        }
    }
}

/// What a path is evaluated against: the request's inputs, the call results so far, the current element.
public struct EvaluationScope: Sendable {
    public var pathParameters: [String: String]
    public var query: [String: String]
    public var headers: HTTPHeaders
    /// The identity's claims, as the auth stage verified them (shared storage: no copy per request).
    public var claims: JSONObject
    public var results: [String: JSONValue]
    public var current: JSONValue?

    public init(pathParameters: [String: String] = [:], query: [String: String] = [:], headers: HTTPHeaders = HTTPHeaders(),
                claims: JSONObject = JSONObject(), results: [String: JSONValue] = [:], current: JSONValue? = nil) {
        self.pathParameters = pathParameters
        self.query = query
        self.headers = headers
        self.claims = claims
        self.results = results
        self.current = current
    }

    public func resolve(_ path: SourcePath) -> JSONValue? {
        let base: JSONValue?
        switch path.root {
        case .pathParameter(let n): base = pathParameters[n].map(JSONValue.string)
        case .query(let n): base = query[n].map(JSONValue.string)
        case .header(let n): base = headers[n].map(JSONValue.string)
        case .claim(let n): base = claims[n]
        case .call(let n): base = results[n]
        case .current: base = current
        }
        return path.follow(base)
    }

    /// Query parameters of a target, percent-decoded, first value of each name.
    public static func parseQuery(_ query: Substring?) -> [String: String] {
        guard let query, !query.isEmpty else { return [:] }
        var out: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecode(parts[0])
            if out[name] == nil { out[name] = parts.count > 1 ? percentDecode(parts[1]) : "" }
        }
        return out
    }

    /// `%XX` escapes decoded; `+` is a space only in a query string (`plusIsSpace`), never in a path.
    static func percentDecode(_ s: Substring, plusIsSpace: Bool = true) -> String {
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else { return String(s) }
        var bytes: [UInt8] = []
        var u = Array(s.utf8)[...]
        while let b = u.first {
            u = u.dropFirst()
            if plusIsSpace && b == UInt8(ascii: "+") { bytes.append(32); continue }
            if b == UInt8(ascii: "%"), u.count >= 2, let h = ByteClass.hexValue(u[u.startIndex]), let l = ByteClass.hexValue(u[u.startIndex + 1]) {
                bytes.append(UInt8(h * 16 + l))
                u = u.dropFirst(2)
                continue
            }
            bytes.append(b)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
