/// A text with `{path}` placeholders (`/users/{path.userId}`, `{order.customerId}`, `{$.id}`), filled
/// from an `EvaluationScope`; arrays are joined with commas. `{{` and `}}` stand for literal braces.
public struct StringTemplate: Sendable, CustomStringConvertible {
    enum Part: Sendable { case text(String), value(SourcePath) }
    let parts: [Part]
    public let text: String
    public var description: String { text }

    public var paths: [SourcePath] { parts.compactMap { if case .value(let p) = $0 { return p }; return nil } }

    public init(_ text: String) throws(SourcePath.ParseError) {
        self.text = text
        var parts: [Part] = []
        var literal = ""
        var rest = Substring(text)
        while let c = rest.first {
            if rest.hasPrefix("{{") { literal += "{"; rest = rest.dropFirst(2); continue }
            if rest.hasPrefix("}}") { literal += "}"; rest = rest.dropFirst(2); continue }
            if c == "{" {
                guard let close = rest.firstIndex(of: "}") else { throw SourcePath.ParseError(text: text, reason: "unclosed '{'") }
                if !literal.isEmpty { parts.append(.text(literal)); literal = "" }
                parts.append(.value(try SourcePath(String(rest[rest.index(after: rest.startIndex)..<close]))))
                rest = rest[rest.index(after: close)...]
                continue
            }
            if c == "}" { throw SourcePath.ParseError(text: text, reason: "unmatched '}'") }
            literal.append(c)
            rest = rest.dropFirst()
        }
        if !literal.isEmpty { parts.append(.text(literal)) }
        self.parts = parts
    }

    /// The filled text, or nil when a placeholder has no value (or an object value). Not encoded: for
    /// header values. Request targets are `TargetTemplate`s, which encode each value for where it lands.
    public func render(_ scope: EvaluationScope) -> String? {
        var out = ""
        for part in parts {
            switch part {
            case .text(let t): out += t
            case .value(let p):
                guard let v = scope.resolve(p), let s = Self.scalarText(v) else { return nil }
                out += s
            }
        }
        return out
    }

    static func scalarText(_ v: JSONValue) -> String? {
        switch v {
        case .string(let s): return s
        case .number(let n): return n.text
        case .bool(let b): return b ? "true" : "false"
        case .array(let items):
            let parts = items.compactMap(scalarText)
            return parts.count == items.count ? parts.joined(separator: ",") : nil
        case .null, .object: return nil
        }
    }
}
