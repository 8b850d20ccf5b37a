/// A header value of the `headers` policy, compiled once: literal text with `{path.<name>}` (the route's
/// path parameter, percent-decoded), `{claims.<path>}` (a claim of the verified token, see `ClaimText`;
/// empty without one) and `{requestId}` placeholders; `{{` and `}}` are literal braces.
///
/// A header value must never carry a control byte to the wire (CR or LF would split the field: header
/// injection). Literals are checked at load; a decoded path parameter is checked per request by
/// `isSafe(parameter:)` before anything is rendered, and `render` re-checks what it built.
public struct HeaderTemplate: Sendable, CustomStringConvertible {
    enum Part: Sendable, Equatable {
        case literal(String)
        case pathParameter(String)
        case claim(ClaimPath)
        case requestID
    }

    struct ParseError: Error {
        let reason: String
    }

    let parts: [Part]
    /// The value when there is no placeholder (most values): used as is, no work per request.
    let constant: String?
    public let text: String
    public var description: String { text }

    init(_ text: String) throws(ParseError) {
        self.text = text
        var parts: [Part] = []
        var literal = ""
        var rest = Substring(text)
        while let c = rest.first {
            if rest.hasPrefix("{{") { literal += "{"; rest = rest.dropFirst(2); continue }
            if rest.hasPrefix("}}") { literal += "}"; rest = rest.dropFirst(2); continue }
            if c == "}" { throw ParseError(reason: "unmatched '}' (write '}}' for a literal brace)") }
            if c == "{" {
                guard let close = rest.firstIndex(of: "}") else { throw ParseError(reason: "unclosed '{' (write '{{' for a literal brace)") }
                let name = rest[rest.index(after: rest.startIndex)..<close]
                if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
                if name == "requestId" {
                    parts.append(.requestID)
                } else if name.hasPrefix("path."), name.count > 5 {
                    parts.append(.pathParameter(String(name.dropFirst(5))))
                } else if name.hasPrefix("claims."), name.count > 7 {
                    do { parts.append(.claim(try ClaimPath(String(name.dropFirst(7))))) } catch {
                        throw ParseError(reason: error.reason)
                    }
                } else {
                    throw ParseError(reason: "unknown placeholder '{\(name)}' (use {path.<name>}, {claims.<name>} or {requestId})")
                }
                rest = rest[rest.index(after: close)...]
                continue
            }
            literal.append(c)
            rest = rest.dropFirst()
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        if parts.contains(where: { if case .literal(let l) = $0 { return l.utf8.contains(where: Self.isControl) }; return false }) {
            throw ParseError(reason: "control characters (CR, LF, NUL, tab, …) are not allowed in a header value")
        }
        self.parts = parts
        switch parts.count {
        case 0: constant = ""
        case 1: if case .literal(let l) = parts[0] { constant = l } else { constant = nil }
        default: constant = nil
        }
    }

    /// Path parameter names the template uses.
    public var parameterNames: [String] {
        parts.compactMap { if case .pathParameter(let n) = $0 { return n }; return nil }
    }

    var usesRequestID: Bool { parts.contains(.requestID) }

    /// Whether the template reads the token's claims.
    var usesClaims: Bool { parts.contains { if case .claim = $0 { return true }; return false } }

    /// Whether every claim the template uses has a header form free of control bytes.
    func claimsAreSafe(_ claims: JSONObject) -> Bool {
        for case .claim(let path) in parts {
            if let text = ClaimText.headerText(path.value(in: claims)), text.utf8.contains(where: Self.isControl) { return false }
        }
        return true
    }

    /// The value for a request, or nil when it would contain a control byte (the field is then not sent;
    /// `HeadersStage` refuses such a request before it gets here). A parameter the route does not
    /// capture (which the configuration check rules out) renders as empty.
    func render(parameters: [(name: String, value: String)], requestID: String, claims: JSONObject = JSONObject()) -> String? {
        if let constant { return constant }
        var out = ""
        for part in parts {
            switch part {
            case .literal(let l): out += l
            case .requestID: out += requestID
            case .claim(let path): out += ClaimText.headerText(path.value(in: claims)) ?? ""
            case .pathParameter(let name):
                guard let raw = parameters.first(where: { $0.name == name })?.value else { continue }
                out += EvaluationScope.percentDecode(Substring(raw), plusIsSpace: false)
            }
        }
        return out.utf8.contains(where: Self.isControl) ? nil : out
    }

    /// Whether a raw (still percent-encoded) path parameter decodes to text without control bytes.
    /// Reads bytes only; allocates nothing.
    static func isSafe(parameter raw: String) -> Bool {
        var utf8 = raw.utf8[...]
        while let b = utf8.first {
            utf8 = utf8.dropFirst()
            if isControl(b) { return false }
            if b == UInt8(ascii: "%"), utf8.count >= 2,
               let h = ByteClass.hexValue(utf8[utf8.startIndex]), let l = ByteClass.hexValue(utf8[utf8.index(after: utf8.startIndex)]) {
                if isControl(UInt8(h * 16 + l)) { return false }
                utf8 = utf8.dropFirst(2)
            }
        }
        return true
    }

    /// Whether `text` (the request id) has no control byte.
    static func isSafe(text: String) -> Bool { !text.utf8.contains(where: isControl) }

    /// C0 controls (tab included: never useful in a generated value) and DEL.
    @inline(__always) static func isControl(_ b: UInt8) -> Bool { b < 0x20 || b == 0x7F }
}
