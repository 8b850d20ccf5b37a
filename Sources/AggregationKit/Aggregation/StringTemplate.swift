/// A text with `{path}` placeholders (`/users/{path.userId}`, `{order.customerId}`, `{$.id}`), filled
/// from an `EvaluationScope`. Values are percent-encoded for URLs when asked; arrays are joined with
/// commas (for `ids=1,2,3`). `{{` and `}}` stand for literal braces.
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

    public enum Encoding: Sendable { case none, pathSegment, queryValue }

    /// The filled text, or nil when a placeholder has no value (or an object value).
    public func render(_ scope: EvaluationScope, encoding: Encoding = .none) -> String? {
        var out = ""
        for part in parts {
            switch part {
            case .text(let t): out += t
            case .value(let p):
                guard let v = scope.resolve(p), let s = Self.scalarText(v) else { return nil }
                out += Self.encode(s, encoding)
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

    static func encode(_ s: String, _ encoding: Encoding) -> String {
        guard encoding != .none else { return s }
        var out = ""
        for b in s.utf8 {
            let unreserved = (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 46 || b == 95 || b == 126
                || (encoding == .queryValue && b == 44)
            if unreserved {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b & 15)]))
            }
        }
        return out
    }
}
