import XCTest
@testable import AggregationKit
#if canImport(Glibc)
import Glibc
#endif

/// The byte-offset lookup against the String-index lookup it replaced, over random route tables and
/// random paths (literals, parameters, wildcards, methods, empty segments, trailing slashes, non-ASCII).
final class RouterDifferentialTests: XCTestCase {
    func testLookupsAgreeWithTheReference() throws {
        var generator = SystemRandomNumberGenerator()
        let words = ["api", "users", "user", "v1", "v2", "orders", "a", "b", "é", "ab", "legacy", "x"]
        let methods = ["GET", "POST", "DELETE", "HEAD", "OPTIONS", "PUT"]
        var compared = 0
        for _ in 0..<300 {
            var router = Router<Int>(), reference = ReferenceRouter<Int>()
            for value in 0..<Int.random(in: 1...12, using: &generator) {
                var segments: [String] = []
                for _ in 0..<Int.random(in: 0...4, using: &generator) {
                    switch Int.random(in: 0..<6, using: &generator) {
                    case 0: segments.append("{p\(segments.count)}")
                    default: segments.append(words.randomElement(using: &generator)!)
                    }
                }
                if Bool.random(using: &generator) { segments.append("*") }
                let template = "/" + segments.joined(separator: "/")
                let method = Bool.random(using: &generator) ? nil : methods.randomElement(using: &generator)!
                let a = Result { try router.add(method: method, template: template, value: value) }
                let b = Result { try reference.add(method: method, template: template, value: value) }
                XCTAssertEqual(a.isSuccess, b.isSuccess, template)
            }
            for _ in 0..<60 {
                var segments: [String] = []
                for _ in 0..<Int.random(in: 0...5, using: &generator) {
                    segments.append(Int.random(in: 0..<5, using: &generator) == 0 ? "" : words.randomElement(using: &generator)!)
                }
                let path = "/" + segments.joined(separator: "/")
                let method = methods.randomElement(using: &generator)!
                for candidate in [Substring(path), Substring("xx" + path).dropFirst(2)] {
                    XCTAssertEqual(Self.describe(router.lookup(method: method, path: candidate)),
                                   Self.describe(reference.lookup(method: method, path: candidate)), "\(method) \(path)")
                    compared += 1
                }
            }
        }
        XCTAssertGreaterThan(compared, 30_000)
    }

    /// The edges of the byte lookup, against the reference: segments of 62, 63, 64 and 200 bytes (63 and
    /// over share one length bit), nodes with 8, 9 and 20 literal children (the byte list, then the
    /// dictionary), empty segments, `//`, a trailing `/`, percent-encoded and other visible bytes.
    func testLongSegmentsManyLiteralsAndOddPathsAgreeWithTheReference() throws {
        func word(_ n: Int, _ c: Character) -> String { String(repeating: c, count: n) }
        let long = [word(62, "a"), word(63, "a"), word(64, "a"), word(63, "b"), word(200, "a"), word(199, "a") + "b"]
        for literals in [8, 9, 20] {
            var router = Router<Int>(), reference = ReferenceRouter<Int>()
            var templates = (0..<literals).map { "/n/w\($0)/x" } + long.map { "/l/\($0)" } + long.map { "/p/\($0)/{id}" }
            templates += ["/n/{id}/x", "/e//x", "/e/", "/t/%2F/x", "/t/a%20b", "/t/~!$&'()+,;=:@", "/w/*", "/n/w0/*"]
            for (value, template) in templates.enumerated() {
                XCTAssertNoThrow(try router.add(method: value % 3 == 0 ? "GET" : nil, template: template, value: value), template)
                XCTAssertNoThrow(try reference.add(method: value % 3 == 0 ? "GET" : nil, template: template, value: value), template)
            }
            var paths = (0..<(literals + 2)).flatMap { ["/n/w\($0)/x", "/n/w\($0)", "/n/w\($0)/x/", "/n/w\($0)/y/z"] }
            paths += long.flatMap { ["/l/\($0)", "/l/\($0)/", "/p/\($0)/7", "/p/\($0)/", "/l/\($0.dropLast())", "/l/\($0)a"] }
            paths += ["/", "//", "/e//x", "/e/", "/e", "/e///x", "/t/%2F/x", "/t/%2f/x", "/t/a%20b", "/t/a b", "/t/~!$&'()+,;=:@",
                      "/w", "/w/", "/w//", "/w/a//b", "/n//x", "/n/w0//", "/l/", "/p//7", "/n/W0/x", "/n/w0/X"]
            for path in paths {
                for method in ["GET", "HEAD", "POST"] {
                    for candidate in [Substring(path), Substring("xx" + path).dropFirst(2)] {
                        XCTAssertEqual(Self.describe(router.lookup(method: method, path: candidate)),
                                       Self.describe(reference.lookup(method: method, path: candidate)), "\(literals) literals: \(method) \(path)")
                    }
                }
            }
        }
    }

    private static func describe(_ lookup: Router<Int>.Lookup) -> String {
        switch lookup {
        case .matched(let m): return "matched \(m.value) \(m.template) \(m.parameters.map { "\($0.name)=\($0.value)" })"
        case .methodNotAllowed(let allowed): return "405 \(allowed)"
        case .notFound: return "404"
        }
    }

    private static func describe(_ lookup: ReferenceRouter<Int>.Lookup) -> String {
        switch lookup {
        case .matched(let m): return "matched \(m.value) \(m.template) \(m.parameters.map { "\($0.name)=\($0.value)" })"
        case .methodNotAllowed(let allowed): return "405 \(allowed)"
        case .notFound: return "404"
        }
    }
}

private extension Result {
    var isSuccess: Bool { if case .success = self { return true } else { return false } }
}

/// The router as it was before lookups went over bytes (session 6), kept as the reference the byte
/// version is compared with.
struct ReferenceRouter<Value: Sendable>: Sendable {
    struct Match: Sendable {
        let value: Value
        let parameters: [(name: String, value: String)]
        let template: String
    }

    enum Lookup: Sendable {
        case matched(Match)
        /// The path exists for other methods (for `405` with `Allow`).
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    struct Conflict: Error, Sendable, CustomStringConvertible {
        let template: String
        let existing: String
        let method: String
        var description: String { "route '\(method) \(template)' conflicts with '\(method) \(existing)'" }
    }

    struct InvalidTemplate: Error, Sendable, CustomStringConvertible {
        let template: String
        let reason: String
        var description: String { "invalid path template '\(template)': \(reason)" }
    }

    private struct Entry: Sendable {
        let value: Value
        let names: [String]
        let template: String
    }

    private final class Node: @unchecked Sendable {
        // `@exclusivity(unchecked)` here and below: see docs/dev-notes/exclusivity.md (no access to these
        // properties may span a call that can reach back into this object; each such access is audited).
        @exclusivity(unchecked) var literals: [Substring: Node] = [:]
        /// Bit `n` set when some literal child is `n` bytes long (bit 63: 63 or more): a segment of
        /// another length skips the dictionary, whose hashing is most of a lookup's cost.
        @exclusivity(unchecked) var literalLengths: UInt64 = 0
        @exclusivity(unchecked) var parameter: Node?
        /// Routes ending here, by method ("*" = any method).
        @exclusivity(unchecked) var routes: [String: Entry] = [:]
        /// Routes whose template ends in `*` after this node, by method.
        @exclusivity(unchecked) var wildcard: [String: Entry] = [:]
        /// The lone any-method route of `routes` / `wildcard` (every proxy route without `methods`, `/*`
        /// among them), kept aside: it answers whatever the method, without touching the dictionary.
        @exclusivity(unchecked) var onlyRoute: Entry?
        @exclusivity(unchecked) var onlyWildcard: Entry?
    }

    private let root = Node()
    private(set) var count = 0

    init() {}

    /// Adds a route. `method` nil means any method.
    mutating func add(method: String?, template: String, value: Value) throws {
        guard template.hasPrefix("/") else { throw InvalidTemplate(template: template, reason: "must start with '/'") }
        let segments = template.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        var node = root
        var names: [String] = []
        let key = method ?? "*"
        for (index, segment) in segments.enumerated() {
            let isLast = index == segments.count - 1
            if segment == "*" {
                guard isLast else { throw InvalidTemplate(template: template, reason: "'*' must be the last segment") }
                if let existing = node.wildcard[key] {
                    throw Conflict(template: template, existing: existing.template, method: key)
                }
                node.wildcard[key] = Entry(value: value, names: names, template: template)
                node.onlyWildcard = node.wildcard.count == 1 ? node.wildcard["*"] : nil
                count += 1
                return
            }
            if segment.hasPrefix("{") {
                guard segment.hasSuffix("}"), segment.count > 2 else { throw InvalidTemplate(template: template, reason: "parameter segment '\(segment)' must be '{name}'") }
                let name = String(segment.dropFirst().dropLast())
                guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw InvalidTemplate(template: template, reason: "parameter name '\(name)' may contain letters, digits and '_' only")
                }
                guard !names.contains(name) else { throw InvalidTemplate(template: template, reason: "parameter '\(name)' appears twice") }
                names.append(name)
                if node.parameter == nil { node.parameter = Node() }
                node = node.parameter!
            } else {
                if segment.contains("{") || segment.contains("}") || segment.contains("*") {
                    throw InvalidTemplate(template: template, reason: "segment '\(segment)' mixes text with '{', '}' or '*'")
                }
                if let next = node.literals[segment] { node = next } else {
                    let next = Node()
                    node.literals[segment] = next
                    node.literalLengths |= 1 << UInt64(min(segment.utf8.count, 63))
                    node = next
                }
            }
        }
        if let existing = node.routes[key] {
            throw Conflict(template: template, existing: existing.template, method: key)
        }
        node.routes[key] = Entry(value: value, names: names, template: template)
        node.onlyRoute = node.routes.count == 1 ? node.routes["*"] : nil
        count += 1
    }

    func lookup(method: String, path: Substring) -> Lookup {
        guard path.first == "/" else { return .notFound }
        var captured: [Substring] = []
        var allowed: Set<String> = []
        if let (entry, values) = search(root, path.dropFirst(), method: method, captured: &captured, allowed: &allowed) {
            let parameters = entry.names.isEmpty ? [] : zip(entry.names, values).map { (name: $0, value: String($1)) }
            return .matched(Match(value: entry.value, parameters: parameters, template: entry.template))
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed.sorted())
    }

    private func pick(_ routes: [String: Entry], only: Entry?, _ method: String, allowed: inout Set<String>) -> Entry? {
        // One any-method route: it is the answer whatever the method.
        if let only { return only }
        if let e = routes[method] { return e }
        if method == "HEAD", let e = routes["GET"] { return e }
        if let e = routes["*"] { return e }
        allowed.formUnion(routes.keys)
        return nil
    }

    /// The index of the first `/` in `text` (memchr over a native string's bytes).
    @inline(__always) private static func firstSlash(_ text: Substring) -> Substring.Index? {
        let utf8 = text.utf8
        let offset: Int?? = utf8.withContiguousStorageIfAvailable { bytes -> Int? in
            guard let base = bytes.baseAddress, let hit = memchr(base, 0x2F, bytes.count) else { return nil }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
        if let offset { return offset.map { utf8.index(utf8.startIndex, offsetBy: $0) } }
        return utf8.firstIndex(of: UInt8(ascii: "/"))
    }

    /// `rest` is what follows a `/`: the current segment, then possibly `/` and more; nil when the path ended.
    private func search(_ node: Node, _ rest: Substring?, method: String,
                        captured: inout [Substring], allowed: inout Set<String>) -> (Entry, [Substring])? {
        guard let rest else {
            if let e = pick(node.routes, only: node.onlyRoute, method, allowed: &allowed) { return (e, captured) }
            return nil
        }
        let slash = Self.firstSlash(rest)
        let segment = slash.map { rest[..<$0] } ?? rest
        // Past the `/` by one byte: `index(after:)` on the Substring would step a whole Character, with
        // grapheme breaking (some 400 instructions per lookup); a target is visible ASCII (the parser
        // refuses anything else), so the two agree.
        let tail: Substring? = slash.map { rest[rest.utf8.index(after: $0)...] }
        if node.literalLengths & (1 << UInt64(min(segment.utf8.count, 63))) != 0, let next = node.literals[segment], let found = search(next, tail, method: method, captured: &captured, allowed: &allowed) {
            return found
        }
        if !segment.isEmpty, let next = node.parameter {
            captured.append(segment)
            if let found = search(next, tail, method: method, captured: &captured, allowed: &allowed) { return found }
            captured.removeLast()
        }
        if !node.wildcard.isEmpty, let e = pick(node.wildcard, only: node.onlyWildcard, method, allowed: &allowed) {
            return (e, captured)
        }
        return nil
    }
}
