/// A request target with placeholders, compiled once when the configuration is loaded and filled per
/// request: the one template engine for proxy rewrites (`/orders?userId={id}`, `/store/{*}`) and for
/// composite calls (`/users/{path.userId}` plus a `query` object). Each placeholder knows where it lands,
/// and its value is encoded for that place:
///
///     /users/{id}/orders?userId={id}&{name}={value}
///            └ path segment     │     └ query name
///                               └ query value  └ query value
///
/// - Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is percent-encoded, in every
///   place: a value can never add a segment (`/`), start or end the query (`?`, `#`), add a parameter
///   (`&`, `=`), or turn into a space (`+`). The one exception: the commas joining the elements of a
///   list (`ids=1,2,3`) stay literal; commas inside an element are encoded.
/// - A path segment that comes out as a dot segment is refused, by the request parser's own rule
///   (`HTTPRequestParser.segmentProblem`): `.` or `..` once decoded and cut at `;`, each part between
///   decoded slashes counting (`..`, `..%3B`, `.%3Bx`, `..%2Fx`). Encoding cannot help: many servers decode
///   `%2E%2E` and then resolve it (RFC 3986 §6.2.2.2), and some cut `;params` first. So is a value that
///   fills a whole segment and is empty (`/users/` is a different resource from `/users/{id}`).
/// - A query appended to the target (a proxied client's own) cannot name a parameter the template sets
///   (`?userId=8` after `userId={id}`): the render fails with `.repeatedQueryParameter`.
/// - A value taken from a request path (`Value.raw`) is still percent-encoded as it came: its escapes are
///   decoded first, then the bytes are encoded for their place (so `7%26x` and `7&x` both become `7%26x`,
///   and a `%2F` stays `%2F`, never a `/`). The rest of a path (`{*}`, `Value.rawSegments`) keeps its `/`
///   between segments and encodes each segment.
///
/// Literal text is syntax: it must be visible ASCII without `#` and without dot segments (same rule),
/// checked at compile time. `{{` and `}}` stand for literal braces.
public struct TargetTemplate: Sendable, CustomStringConvertible {
    /// What a placeholder stands for.
    public enum Placeholder: Sendable, Equatable, CustomStringConvertible {
        /// A composite path (`{path.id}`, `{order.customerId}`, `{$}`).
        case source(SourcePath)
        /// A proxy route's parameter (`{id}`).
        case routeParameter(String)
        /// A proxy route's wildcard: the rest of the path (`{*}`).
        case rest

        public var description: String {
            switch self {
            case .source(let p): return p.text
            case .routeParameter(let n): return n
            case .rest: return "*"
            }
        }
    }

    public enum Position: Sendable, Equatable { case pathSegment, queryName, queryValue }

    /// A placeholder's value for one request.
    public enum Value {
        /// Text as meant (decoded): every byte is encoded for its place.
        case text(String)
        /// Elements joined by literal commas, each encoded for its place.
        case list([String])
        /// Text as it came in a request path, percent-escapes and all: decoded, then encoded.
        case raw(Substring)
        /// Several raw path segments separated by `/`: each decoded and encoded, the `/` kept (in the
        /// query, the `/` is encoded like any other byte).
        case rawSegments(Substring)
    }

    /// Why a target could not be filled.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public enum Reason: Sendable {
            case missing, dotSegment, emptySegment
            /// The query appended to the target (a proxied client's own) names a parameter the template sets.
            case repeatedQueryParameter
        }
        /// The placeholder whose value is missing or refused; nil for `.repeatedQueryParameter`.
        public let placeholder: Placeholder?
        public let reason: Reason
        /// For `.repeatedQueryParameter`: the appended query's parameter name, as it came.
        public let parameter: String?

        init(placeholder: Placeholder?, reason: Reason, parameter: String? = nil) {
            self.placeholder = placeholder
            self.reason = reason
            self.parameter = parameter
        }

        public var description: String {
            let name = placeholder?.description ?? ""
            switch reason {
            case .missing: return "no value for '{\(name)}'"
            case .dotSegment: return "the value of '{\(name)}' makes a '.' or '..' path segment"
            case .emptySegment: return "the value of '{\(name)}' is empty and would leave an empty path segment"
            case .repeatedQueryParameter:
                return "the query parameter '\(parameter ?? "")' repeats one the target sets"
            }
        }
    }

    public struct CompileError: Error, Sendable, CustomStringConvertible {
        public let text: String
        public let reason: String
        public var description: String { "invalid target '\(text)': \(reason)" }
    }

    enum Part: Sendable {
        case literal([UInt8])
        /// `wholeSegment`: the placeholder is all of a path segment (`/{id}/`), so an empty value is refused.
        case value(Placeholder, Position, wholeSegment: Bool)
    }

    /// Up to `?`.
    let path: [Part]
    /// After `?` (without it); empty when the template has no query.
    let query: [Part]
    let hasQuery: Bool
    /// Query parameters given apart from the text (a composite call's `query` object): name already
    /// encoded, value parts in `.queryValue` position; a pair whose value is missing is left out.
    let optionalPairs: [(name: [UInt8], value: [Part])]
    /// Whether `path` has any placeholder (only then can a dot segment appear).
    private let pathHasValues: Bool
    /// Whether the literal path has a `%` (then a rendered path without `.` may still decode to a dot segment).
    private let pathLiteralHasPercent: Bool
    public let text: String
    public var description: String { text }

    /// Every placeholder, in order.
    public var placeholders: [Placeholder] {
        (path + query + optionalPairs.flatMap(\.value)).compactMap { if case .value(let p, _, _) = $0 { return p }; return nil }
    }

    /// Compiles `text` (which must start with `/`) and `optionalQuery` (name, value template) pairs.
    /// `placeholder` turns the text between braces into a placeholder, or throws why it cannot.
    public init(_ text: String, optionalQuery: [(String, String)] = [],
                placeholder: (Substring) throws(CompileError) -> Placeholder) throws(CompileError) {
        self.text = text
        guard text.hasPrefix("/") else { throw CompileError(text: text, reason: "must start with '/'") }
        let pieces = try Self.split(text, placeholder: placeholder)
        var path: [Part] = []
        var query: [Part] = []
        var inQuery = false
        var inValue = false
        var literal: [UInt8] = []
        var segment: [UInt8] = []  // the literal text of the current path segment, for the dot check
        var segmentHasValue = false
        var percentInPath = false
        func flush(_ into: inout [Part]) {
            if !literal.isEmpty { into.append(.literal(literal)); literal = [] }
        }
        func endSegment() throws(CompileError) {
            if !segmentHasValue && Self.isDotSegment(segment[...]) {
                throw CompileError(text: text, reason: "a '.' or '..' segment")
            }
            segment = []
            segmentHasValue = false
        }
        for (index, piece) in pieces.enumerated() {
            switch piece {
            case .literal(let bytes):
                for b in bytes {
                    guard ByteClass.isTargetByte(b), b != UInt8(ascii: "#") else {
                        throw CompileError(text: text, reason: "'\(Unicode.Scalar(b).escaped(asASCII: true))' cannot appear in a target (visible ASCII without '#')")
                    }
                    if !inQuery {
                        if b == UInt8(ascii: "?") {
                            try endSegment()
                            flush(&path)
                            inQuery = true
                            continue
                        }
                        if b == UInt8(ascii: "/") { try endSegment() } else { segment.append(b) }
                        if b == UInt8(ascii: "%") { percentInPath = true }
                    } else if b == UInt8(ascii: "&") {
                        inValue = false
                    } else if b == UInt8(ascii: "=") {
                        inValue = true
                    }
                    literal.append(b)
                }
            case .value(let p):
                if inQuery {
                    flush(&query)
                    query.append(.value(p, inValue ? .queryValue : .queryName, wholeSegment: false))
                } else {
                    flush(&path)
                    let startsSegment = path.last.map { if case .literal(let l) = $0 { return l.last == UInt8(ascii: "/") }; return false } ?? false
                    let endsSegment: Bool
                    if index + 1 < pieces.count, case .literal(let next) = pieces[index + 1] {
                        endsSegment = next.first == UInt8(ascii: "/") || next.first == UInt8(ascii: "?")
                    } else {
                        endsSegment = index + 1 == pieces.count
                    }
                    path.append(.value(p, .pathSegment, wholeSegment: startsSegment && endsSegment))
                    segmentHasValue = true
                }
            }
        }
        if inQuery { flush(&query) } else { try endSegment(); flush(&path) }
        self.path = path
        self.query = query
        self.hasQuery = inQuery
        pathHasValues = path.contains { if case .value = $0 { return true }; return false }
        pathLiteralHasPercent = percentInPath

        var pairs: [(name: [UInt8], value: [Part])] = []
        for (name, valueText) in optionalQuery {
            var encodedName: [UInt8] = []
            Self.appendEncoded(name.utf8, to: &encodedName)
            var value: [Part] = []
            for piece in try Self.split(valueText, placeholder: placeholder) {
                switch piece {
                case .literal(let bytes):
                    // Literal text of a value is data, not syntax: encoded like a value.
                    var encoded: [UInt8] = []
                    Self.appendEncoded(bytes, to: &encoded)
                    value.append(.literal(encoded))
                case .value(let p):
                    value.append(.value(p, .queryValue, wholeSegment: false))
                }
            }
            pairs.append((encodedName, value))
        }
        optionalPairs = pairs
    }

    private enum Piece { case literal([UInt8]), value(Placeholder) }

    private static func split(_ text: String, placeholder: (Substring) throws(CompileError) -> Placeholder) throws(CompileError) -> [Piece] {
        var pieces: [Piece] = []
        var literal: [UInt8] = []
        var rest = Substring(text)
        while let c = rest.first {
            if rest.hasPrefix("{{") { literal.append(UInt8(ascii: "{")); rest = rest.dropFirst(2); continue }
            if rest.hasPrefix("}}") { literal.append(UInt8(ascii: "}")); rest = rest.dropFirst(2); continue }
            if c == "{" {
                guard let close = rest.firstIndex(of: "}") else { throw CompileError(text: text, reason: "unclosed '{'") }
                if !literal.isEmpty { pieces.append(.literal(literal)); literal = [] }
                pieces.append(.value(try placeholder(rest[rest.index(after: rest.startIndex)..<close])))
                rest = rest[rest.index(after: close)...]
                continue
            }
            if c == "}" { throw CompileError(text: text, reason: "unmatched '}'") }
            literal.append(contentsOf: String(c).utf8)
            rest = rest.dropFirst()
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        return pieces
    }

    // MARK: Filling

    /// The target for one request. `value` gives each placeholder's value (nil: it has none);
    /// `appendingQuery` (the client's own query string, as it came) goes after the template's.
    public func render(appendingQuery extra: Substring? = nil, _ value: (Placeholder) -> Value?) -> Result<String, Failure> {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 32)
        for part in path {
            switch part {
            case .literal(let bytes): out.append(contentsOf: bytes)
            case .value(let p, let position, let whole):
                guard let v = value(p) else { return .failure(Failure(placeholder: p, reason: .missing)) }
                let before = out.count
                Self.append(v, position, to: &out)
                if whole && out.count == before, !Self.isSegments(v) { return .failure(Failure(placeholder: p, reason: .emptySegment)) }
            }
        }
        if pathHasValues, let segment = Self.dotSegment(in: out, literalHasPercent: pathLiteralHasPercent) {
            return .failure(Failure(placeholder: blame(segment, value), reason: .dotSegment))
        }
        var separator: UInt8? = UInt8(ascii: "?")
        let queryStart = out.count + 1
        if hasQuery {
            out.append(UInt8(ascii: "?"))
            separator = query.isEmpty ? nil : UInt8(ascii: "&")
            for part in query {
                switch part {
                case .literal(let bytes): out.append(contentsOf: bytes)
                case .value(let p, let position, _):
                    guard let v = value(p) else { return .failure(Failure(placeholder: p, reason: .missing)) }
                    Self.append(v, position, to: &out)
                }
            }
        }
        pairs: for (name, parts) in optionalPairs {
            let mark = out.count
            if let s = separator { out.append(s) }
            out.append(contentsOf: name)
            out.append(UInt8(ascii: "="))
            for part in parts {
                switch part {
                case .literal(let bytes): out.append(contentsOf: bytes)
                case .value(let p, let position, _):
                    guard let v = value(p) else {
                        out.removeSubrange(mark...)  // absent values are left out, with their name
                        continue pairs
                    }
                    Self.append(v, position, to: &out)
                }
            }
            separator = UInt8(ascii: "&")
        }
        if let extra, !extra.isEmpty {
            // A parameter the template sets cannot come again from the appended query: frameworks disagree on
            // which of two values counts (PHP and Rails take the last, Express makes a list), so the
            // client could replace the value the route put there (`?userId=8` after `userId={id}`).
            if queryStart < out.count, let name = Self.repeatedParameter(out[queryStart...], extra.utf8) {
                return .failure(Failure(placeholder: nil, reason: .repeatedQueryParameter, parameter: String(Substring(name))))
            }
            if let s = separator { out.append(s) }
            out.append(contentsOf: extra.utf8)
        }
        return .success(String(decoding: out, as: UTF8.self))
    }

    private static func isSegments(_ v: Value) -> Bool {
        if case .rawSegments = v { return true }
        return false
    }

    /// The byte range of the first segment (between raw slashes) of a rendered path that is a dot segment
    /// by the request parser's rule (`HTTPRequestParser.segmentProblem`: `.` or `..` after decoding and
    /// before `;`, decoded slashes splitting parts: `..%3B`, `.%3Bx`, `..%2Fx`), if any.
    private static func dotSegment(in out: [UInt8], literalHasPercent: Bool) -> Range<Int>? {
        // Values never encode `.` (it is unreserved), so without a `.` only a literal escape could make one.
        guard literalHasPercent || out.contains(UInt8(ascii: ".")) else { return nil }
        return out.withUnsafeBytes { bytes in
            var start = 0
            for i in 0...bytes.count where i == bytes.count || bytes[i] == UInt8(ascii: "/") {
                if i > start, HTTPRequestParser.segmentProblem(bytes, start..<i, allowEncodedSlashes: true, dotsOnly: true) != nil {
                    return start..<i
                }
                start = i + 1
            }
            return nil
        }
    }

    /// Whether `segment` (encoded, without `/`) is a dot segment by the request parser's rule.
    private static func isDotSegment(_ segment: ArraySlice<UInt8>) -> Bool {
        segment.withUnsafeBytes { HTTPRequestParser.segmentProblem($0, 0..<$0.count, allowEncodedSlashes: true, dotsOnly: true) != nil }
    }

    /// The first parameter name of `client` (a query string as it came) that `template` (the query the
    /// template rendered) also sets. Names are compared percent-decoded, with `+` as a space, and ignoring
    /// ASCII case (some frameworks bind `userid` to `userId`); parameters are split at `&` and at `;` (a
    /// separator to older parsers). No allocation: a few short names compared in place.
    static func repeatedParameter<T: Collection<UInt8>, C: Collection<UInt8>>(_ template: T, _ client: C) -> C.SubSequence? {
        forEachParameterName(client) { clientName in
            forEachParameterName(template) { !$0.isEmpty && sameParameterName(clientName, $0) } != nil
        }
    }

    /// Calls `body` with each parameter name of `query` until it returns true; returns that name.
    @discardableResult
    private static func forEachParameterName<C: Collection<UInt8>>(_ query: C, _ body: (C.SubSequence) -> Bool) -> C.SubSequence? {
        var start = query.startIndex
        while true {
            var end = start
            var nameEnd: C.Index? = nil
            while end != query.endIndex && query[end] != UInt8(ascii: "&") && query[end] != UInt8(ascii: ";") {
                if nameEnd == nil && query[end] == UInt8(ascii: "=") { nameEnd = end }
                end = query.index(after: end)
            }
            let name = query[start..<(nameEnd ?? end)]
            if body(name) { return name }
            guard end != query.endIndex else { return nil }
            start = query.index(after: end)
        }
    }

    /// Whether two encoded query names are the same once decoded (`%XX`, `+` as a space) and ASCII case folded.
    private static func sameParameterName<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
        var i = a.startIndex, j = b.startIndex
        while true {
            let x = decodedQueryByte(a, &i), y = decodedQueryByte(b, &j)
            guard let x, let y else { return x == nil && y == nil }
            if asciiLowercase(x) != asciiLowercase(y) { return false }
        }
    }

    @inline(__always) private static func asciiLowercase(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b + 32 : b }

    /// The next byte of a query component, decoded; a `%` without two hex digits is itself.
    private static func decodedQueryByte<C: Collection<UInt8>>(_ c: C, _ i: inout C.Index) -> UInt8? {
        guard i != c.endIndex else { return nil }
        let b = c[i]
        i = c.index(after: i)
        if b == UInt8(ascii: "+") { return UInt8(ascii: " ") }
        guard b == UInt8(ascii: "%"), i != c.endIndex, let h = ByteClass.hexValue(c[i]) else { return b }
        let second = c.index(after: i)
        guard second != c.endIndex, let l = ByteClass.hexValue(c[second]) else { return b }
        i = c.index(after: second)
        return UInt8(h * 16 + l)
    }

    /// The placeholder whose value wrote into `segment` of the rendered path (literal segments were
    /// checked at compile time, so one did). Renders the path again to find out: this is the rare path.
    private func blame(_ segment: Range<Int>, _ value: (Placeholder) -> Value?) -> Placeholder {
        var out: [UInt8] = []
        var first: Placeholder? = nil
        for part in path {
            switch part {
            case .literal(let bytes): out.append(contentsOf: bytes)
            case .value(let p, let position, _):
                first = first ?? p
                let start = out.count
                if let v = value(p) { Self.append(v, position, to: &out) }
                let wroteInto = start < segment.upperBound && out.count > segment.lowerBound
                let emptyInside = out.count == start && (segment.lowerBound...segment.upperBound).contains(start)
                if wroteInto || emptyInside { return p }
            }
        }
        return first ?? .rest
    }

    private static func append(_ v: Value, _ position: Position, to out: inout [UInt8]) {
        switch v {
        case .text(let s):
            appendEncoded(s.utf8, to: &out)
        case .list(let items):
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendEncoded(item.utf8, to: &out)
            }
        case .raw(let s):
            appendDecodedAndEncoded(s.utf8, to: &out)
        case .rawSegments(let s):
            guard position == .pathSegment else { appendDecodedAndEncoded(s.utf8, to: &out); return }
            var first = true
            for segment in s.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
                if !first { out.append(UInt8(ascii: "/")) }
                first = false
                appendDecodedAndEncoded(segment, to: &out)
            }
        }
    }

    @inline(__always) static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 46 || b == 95 || b == 126
    }

    private static let hex: [UInt8] = Array("0123456789ABCDEF".utf8)

    @inline(__always) static func appendByte(_ b: UInt8, to out: inout [UInt8]) {
        if isUnreserved(b) {
            out.append(b)
        } else {
            out.append(UInt8(ascii: "%"))
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 15)])
        }
    }

    /// Every byte that is not unreserved, percent-encoded.
    static func appendEncoded<S: Sequence<UInt8>>(_ bytes: S, to out: inout [UInt8]) {
        for b in bytes { appendByte(b, to: &out) }
    }

    /// Valid `%XX` escapes decoded, then every byte encoded as `appendEncoded` does (a stray `%` becomes `%25`).
    static func appendDecodedAndEncoded<C: Collection<UInt8>>(_ bytes: C, to out: inout [UInt8]) {
        var i = bytes.startIndex
        while i != bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "%") {
                let h1 = bytes.index(after: i)
                if h1 != bytes.endIndex, let h = ByteClass.hexValue(bytes[h1]) {
                    let h2 = bytes.index(after: h1)
                    if h2 != bytes.endIndex, let l = ByteClass.hexValue(bytes[h2]) {
                        appendByte(UInt8(h * 16 + l), to: &out)
                        i = bytes.index(after: h2)
                        continue
                    }
                }
            }
            appendByte(b, to: &out)
            i = bytes.index(after: i)
        }
    }
}

extension TargetTemplate {
    /// A proxy route's rewrite (`/orders?userId={id}`, `/store/{*}`): placeholders are the route's
    /// parameter names, and `*` for the rest of a wildcard route.
    public static func proxy(_ text: String) throws(CompileError) -> TargetTemplate {
        try TargetTemplate(text) { (name: Substring) throws(CompileError) -> Placeholder in
            if name == "*" { return .rest }
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw CompileError(text: text, reason: "'{\(name)}' is not a parameter name")
            }
            return .routeParameter(String(name))
        }
    }

    /// A composite call's target: `path` and its `query` object, placeholders are source paths.
    public static func call(_ path: String, query: [(String, String)] = []) throws(CompileError) -> TargetTemplate {
        try TargetTemplate(path, optionalQuery: query) { (text: Substring) throws(CompileError) -> Placeholder in
            do throws(SourcePath.ParseError) {
                return .source(try SourcePath(String(text)))
            } catch {
                throw CompileError(text: path, reason: error.description)
            }
        }
    }

    /// A JSON value as a placeholder's value: scalars as text, arrays as lists; nil for null and objects.
    public static func value(_ json: JSONValue) -> Value? {
        if case .array(let items) = json {
            var out: [String] = []
            for item in items {
                guard let s = StringTemplate.scalarText(item) else { return nil }
                out.append(s)
            }
            return .list(out)
        }
        return StringTemplate.scalarText(json).map(Value.text)
    }
}
