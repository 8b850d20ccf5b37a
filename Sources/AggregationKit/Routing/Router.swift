#if canImport(Glibc)
import Glibc
#endif
/// Routes over method + path template, built once and then frozen.
///
/// Templates: literal segments, `{name}` for one segment, and a final `*` for the rest of the path
/// (at least one more segment, possibly empty: `/legacy/*` matches `/legacy/` and `/legacy/a/b`, not
/// `/legacy`). Precedence at each segment: literal, then parameter, then wildcard; a route for a
/// specific method wins over an any-method route on the same template. Two routes with the same method
/// and the same template shape (parameter names aside) are a conflict, reported when they are added.
public struct Router<Value: Sendable>: Sendable {
    public struct Match: Sendable {
        public let value: Value
        public let parameters: [(name: String, value: String)]
        public let template: String
    }

    public enum Lookup: Sendable {
        case matched(Match)
        /// The path exists for other methods (for `405` with `Allow`).
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    public struct Conflict: Error, Sendable, CustomStringConvertible {
        public let template: String
        public let existing: String
        public let method: String
        public var description: String { "route '\(method) \(template)' conflicts with '\(method) \(existing)'" }
    }

    public struct InvalidTemplate: Error, Sendable, CustomStringConvertible {
        public let template: String
        public let reason: String
        public var description: String { "invalid path template '\(template)': \(reason)" }
    }

    /// A class: a lookup hands one reference around, not a retain of each of three fields.
    private final class Entry: Sendable {
        let value: Value
        let names: [String]
        let template: String
        init(value: Value, names: [String], template: String) {
            self.value = value
            self.names = names
            self.template = template
        }
    }

    private final class Node: @unchecked Sendable {
        // `@exclusivity(unchecked)` here and below: see docs/dev-notes/exclusivity.md (no access to these
        // properties may span a call that can reach back into this object; each such access is audited).
        @exclusivity(unchecked) var literals: [Substring: Node] = [:] {
            didSet { literalList = literals.count <= 8 ? literals.map { (Array($0.key.utf8), $0.value) } : nil }
        }
        /// `literals` as bytes while there are few of them: compared by length and bytes, no hashing.
        /// (Byte equality and the dictionary's String equality agree on what reaches a lookup: the request
        /// parser lets only visible ASCII into a target.)
        @exclusivity(unchecked) var literalList: [(name: [UInt8], node: Node)]? = []
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

        /// The literal child named `segment`, if any.
        func literal(_ segment: UnsafeBufferPointer<UInt8>) -> Node? {
            guard let list = literalList else {
                return literals[Substring(String(decoding: segment, as: UTF8.self))]
            }
            for (name, node) in list where name.count == segment.count {
                if name.withUnsafeBufferPointer({ memcmp($0.baseAddress!, segment.baseAddress!, segment.count) == 0 }) { return node }
            }
            return nil
        }
    }

    private let root = Node()

    public private(set) var count = 0

    public init() {}

    /// Adds a route. `method` nil means any method.
    public mutating func add(method: String?, template: String, value: Value) throws {
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

    public func lookup(method: String, path: Substring) -> Lookup {
        // Through the base String's bytes (the Substring's own view is a generic `Slice`, not specialized).
        let base = path.base.utf8
        let found = base.withContiguousStorageIfAvailable { bytes -> Lookup in
            let from = base.distance(from: base.startIndex, to: path.startIndex)
            let to = base.distance(from: base.startIndex, to: path.endIndex)
            return lookup(method, UnsafeBufferPointer(rebasing: bytes[from..<to]))
        }
        if let found { return found }
        var native = String(path)
        native.makeContiguousUTF8()
        return native.utf8.withContiguousStorageIfAvailable { lookup(method, $0) } ?? .notFound
    }

    /// The lookup over the path's bytes: segments are offsets (a Substring index step costs a validation
    /// and, by Character, grapheme breaking); a literal segment is compared by bytes (`Node.literal`), or
    /// made a Substring for the dictionary of a node with more than eight literal children.
    private func lookup(_ method: String, _ bytes: UnsafeBufferPointer<UInt8>) -> Lookup {
        guard bytes.first == UInt8(ascii: "/") else { return .notFound }
        var captured: [Range<Int>] = []
        var allowed: Set<String> = []
        if let entry = search(root, from: 1, bytes, method: method, captured: &captured, allowed: &allowed) {
            let parameters = entry.names.isEmpty ? [] : zip(entry.names, captured).map {
                (name: $0, value: String(decoding: UnsafeBufferPointer(rebasing: bytes[$1]), as: UTF8.self))
            }
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

    /// `start` is the offset of the segment after a `/`; nil when the path ended. A segment runs to the
    /// next `/` (memchr) or the end.
    private func search(_ node: Node, from start: Int?, _ bytes: UnsafeBufferPointer<UInt8>, method: String,
                        captured: inout [Range<Int>], allowed: inout Set<String>) -> Entry? {
        guard let start else { return pick(node.routes, only: node.onlyRoute, method, allowed: &allowed) }
        var end = bytes.count
        if start < bytes.count, let base = bytes.baseAddress, let hit = memchr(base + start, 0x2F, bytes.count - start) {
            end = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
        let next: Int? = end < bytes.count ? end + 1 : nil
        let length = end - start
        if node.literalLengths & (1 << UInt64(min(length, 63))) != 0,
           let child = node.literal(UnsafeBufferPointer(rebasing: bytes[start..<end])),
           let found = search(child, from: next, bytes, method: method, captured: &captured, allowed: &allowed) {
            return found
        }
        if length > 0, let child = node.parameter {
            captured.append(start..<end)
            if let found = search(child, from: next, bytes, method: method, captured: &captured, allowed: &allowed) { return found }
            captured.removeLast()
        }
        if !node.wildcard.isEmpty, let e = pick(node.wildcard, only: node.onlyWildcard, method, allowed: &allowed) {
            return e
        }
        return nil
    }
}
