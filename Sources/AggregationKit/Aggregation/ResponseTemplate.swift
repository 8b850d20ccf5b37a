/// The output tree of a composite endpoint, compiled once from the contract's `response` and then
/// evaluated per request (pure: results in, JSON out).
///
/// Template forms:
/// - a number, boolean, null, or a string not starting with `$`: that constant;
/// - `"$<path>"`: the value at a `SourcePath` (`"$user.name"`, `"$orders.orders[*].id"`, `"$.id"` for
///   the current element); absent → `null`;
/// - an object without `$` keys: an object built key by key (keys in template order);
/// - an array: each element built in turn;
/// - an operation: an object whose keys start with `$`, applied in this order:
///
///       source ($select | $const | $merge | $lookup)
///         ▶ $default ▶ $flatten ▶ $limit ▶ $map ▶ $pick ▶ $omit ▶ $rename ▶ $groupBy
///
///   `$select` a path; `$const` a literal (for a string that starts with `$`); `$merge` a list of
///   templates merged under `$collision` (`error` (default), `first`, `last`, `deep`) with arrays
///   concatenated when `$arrays` is `concat` (else the collision rule applies); `$lookup` finds, in the
///   array at a path, the element whose `$key` field equals the value at `$on` (a join by id);
///   `$default` replaces null/absent; `$flatten` flattens one level of nested arrays; `$limit` keeps the
///   first N elements; `$map` builds each element with a template in which `$` is that element;
///   `$pick` keeps only the named keys (of the object, or of each object in an array, at any depth;
///   a name is a key, not a path); `$omit` drops keys (dotted paths reach nested ones, through arrays:
///   `cards.number` drops the number of every card); `$rename` renames keys (a renamed key replaces a member already named so:
///   an object never holds a key twice, see `JSONObject`); `$groupBy` turns an array of objects into an
///   object of arrays keyed by a field's value (in first-seen order).
public indirect enum ResponseTemplate: Sendable {
    case constant(JSONValue)
    case select(SourcePath)
    case object([(String, ResponseTemplate)])
    case array([ResponseTemplate])
    case operation(Operation)

    public enum CollisionPolicy: String, Sendable { case error, first, last, deep }

    public struct Operation: Sendable {
        enum Source: Sendable {
            case select(SourcePath)
            case constant(JSONValue)
            case merge([ResponseTemplate], CollisionPolicy, concatArrays: Bool)
            case lookup(in: SourcePath, on: SourcePath, key: String)
        }
        let source: Source
        let defaultValue: JSONValue?
        let flatten: Bool
        let limit: Int?
        let map: ResponseTemplate?
        let pick: [String]?
        let omit: [[String]]?
        let rename: [(String, String)]
        let groupBy: String?
    }

    public struct CompileError: Error, Sendable, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// A merge that the collision rule `error` refuses, or a malformed input at run time.
    public struct EvaluationError: Error, Sendable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    static let operationKeys: Set<String> = ["$select", "$const", "$merge", "$collision", "$arrays", "$lookup", "$on", "$key",
                                             "$default", "$flatten", "$limit", "$map", "$pick", "$omit", "$rename", "$groupBy"]

    // MARK: Compiling

    public static func compile(_ value: JSONValue, path: String = "$.response") throws(CompileError) -> ResponseTemplate {
        switch value {
        case .null, .bool, .number: return .constant(value)
        case .string(let s):
            guard s.hasPrefix("$") else { return .constant(value) }
            return .select(try parsePath(pathText(s), at: path))
        case .array(let items):
            var out: [ResponseTemplate] = []
            for (i, item) in items.enumerated() { out.append(try compile(item, path: "\(path)[\(i)]")) }
            return .array(out)
        case .object(let o):
            let dollar = o.keys.filter { $0.hasPrefix("$") }
            if dollar.isEmpty {
                var out: [(String, ResponseTemplate)] = []
                var seen: Set<String> = []
                for (k, v) in o.entries {
                    guard seen.insert(k).inserted else { throw CompileError(path: "\(path).\(k)", reason: "key written twice") }
                    out.append((k, try compile(v, path: "\(path).\(k)")))
                }
                return .object(out)
            }
            guard dollar.count == o.count else {
                throw CompileError(path: path, reason: "mixes operation keys (\(dollar.joined(separator: ", "))) with output keys; put output keys in a nested object")
            }
            return .operation(try compileOperation(o, path: path))
        }
    }

    /// `"$user.name"` → `user.name`; `"$"`, `"$.id"`, `"$[0]"` stay (the current element); `"user"` stays.
    static func pathText(_ s: String) -> String {
        if s == "$" || s.hasPrefix("$.") || s.hasPrefix("$[") { return s }
        return s.hasPrefix("$") ? String(s.dropFirst()) : s
    }

    private static func parsePath(_ text: String, at path: String) throws(CompileError) -> SourcePath {
        do { return try SourcePath(text) } catch { throw CompileError(path: path, reason: error.description) }
    }

    private static func compileOperation(_ o: JSONObject, path: String) throws(CompileError) -> Operation {
        for key in o.keys where !operationKeys.contains(key) {
            throw CompileError(path: "\(path).\(key)", reason: "unknown operation (known: \(operationKeys.sorted().joined(separator: ", ")))")
        }
        func string(_ key: String) throws(CompileError) -> String? {
            guard let v = o[key] else { return nil }
            guard case .string(let s) = v else { throw CompileError(path: "\(path).\(key)", reason: "must be a string") }
            return s
        }
        func strings(_ key: String) throws(CompileError) -> [String]? {
            guard let v = o[key] else { return nil }
            guard case .array(let a) = v, let list = Optional(a.compactMap(\.stringValue)), list.count == a.count else {
                throw CompileError(path: "\(path).\(key)", reason: "must be an array of strings")
            }
            return list
        }
        let sources = ["$select", "$const", "$merge", "$lookup"].filter { o[$0] != nil }
        guard sources.count == 1 else {
            throw CompileError(path: path, reason: sources.isEmpty ? "an operation needs one source: $select, $const, $merge or $lookup" : "more than one source: \(sources.joined(separator: ", "))")
        }
        let source: Operation.Source
        switch sources[0] {
        case "$select":
            guard let s = try string("$select") else { fatalError() }
            source = .select(try parsePath(pathText(s), at: "\(path).$select"))
        case "$const":
            source = .constant(o["$const"]!)
        case "$merge":
            guard case .array(let parts) = o["$merge"]! else { throw CompileError(path: "\(path).$merge", reason: "must be an array of templates") }
            var compiled: [ResponseTemplate] = []
            for (i, p) in parts.enumerated() { compiled.append(try compile(p, path: "\(path).$merge[\(i)]")) }
            let policyText = try string("$collision") ?? "error"
            guard let policy = CollisionPolicy(rawValue: policyText) else {
                throw CompileError(path: "\(path).$collision", reason: "'\(policyText)' is not error, first, last or deep")
            }
            let arrays = try string("$arrays") ?? "replace"
            guard arrays == "concat" || arrays == "replace" else { throw CompileError(path: "\(path).$arrays", reason: "must be concat or replace") }
            if policy == .error {
                // Known keys that two parts would both write: refused now, not at run time.
                var seen: [String: Int] = [:]
                for (i, part) in compiled.enumerated() {
                    for key in part.staticKeys ?? [] {
                        if let j = seen[key] {
                            throw CompileError(path: "\(path).$merge", reason: "parts \(j) and \(i) both write '\(key)' and $collision is error")
                        }
                        seen[key] = i
                    }
                }
            }
            source = .merge(compiled, policy, concatArrays: arrays == "concat")
        default:
            guard let from = try string("$lookup") else { fatalError() }
            guard let on = try string("$on"), let key = try string("$key") else {
                throw CompileError(path: path, reason: "$lookup needs $on (the value to find) and $key (the field to match)")
            }
            source = .lookup(in: try parsePath(pathText(from), at: "\(path).$lookup"), on: try parsePath(pathText(on), at: "\(path).$on"), key: key)
        }
        var limit: Int? = nil
        if let l = o["$limit"] {
            guard case .number(let n) = l, let i = n.intValue, i >= 0 else { throw CompileError(path: "\(path).$limit", reason: "must be a non-negative integer") }
            limit = i
        }
        var flatten = false
        if let f = o["$flatten"] {
            guard case .bool(let b) = f else { throw CompileError(path: "\(path).$flatten", reason: "must be true or false") }
            flatten = b
        }
        var rename: [(String, String)] = []
        if let r = o["$rename"] {
            guard case .object(let ro) = r else { throw CompileError(path: "\(path).$rename", reason: "must be an object of old: new names") }
            for (k, v) in ro.entries {
                guard case .string(let n) = v else { throw CompileError(path: "\(path).$rename.\(k)", reason: "must be a string") }
                rename.append((k, n))
            }
        }
        var groupBy: String? = nil
        if let g = try string("$groupBy") { groupBy = g.hasPrefix("$.") ? String(g.dropFirst(2)) : g }
        let map = try o["$map"].map { v throws(CompileError) in try compile(v, path: "\(path).$map") }
        return Operation(source: source, defaultValue: o["$default"], flatten: flatten, limit: limit, map: map,
                         pick: try strings("$pick"), omit: try strings("$omit")?.map { $0.split(separator: ".").map(String.init) },
                         rename: rename, groupBy: groupBy)
    }

    /// The keys this template writes when they are known before run time (for collision checks).
    var staticKeys: [String]? {
        switch self {
        case .object(let fields): return fields.map(\.0)
        case .operation(let op):
            guard let pick = op.pick else { return nil }
            return pick.map { key in op.rename.first { $0.0 == key }?.1 ?? key }
        default: return nil
        }
    }

    /// Every path the template reads, with whether it is read where `$` (a current element) exists.
    public func paths(inElement: Bool = false) -> [(SourcePath, inElement: Bool)] {
        switch self {
        case .constant: return []
        case .select(let p): return [(p, inElement)]
        case .array(let items): return items.flatMap { $0.paths(inElement: inElement) }
        case .object(let fields): return fields.flatMap { $0.1.paths(inElement: inElement) }
        case .operation(let op):
            var out: [(SourcePath, inElement: Bool)] = []
            switch op.source {
            case .select(let p): out.append((p, inElement))
            case .constant: break
            case .merge(let parts, _, _): out += parts.flatMap { $0.paths(inElement: inElement) }
            case .lookup(let from, let on, _): out += [(from, inElement), (on, inElement)]
            }
            if let map = op.map { out += map.paths(inElement: true) }
            return out
        }
    }

    // MARK: Evaluating

    public func evaluate(_ scope: EvaluationScope) throws(EvaluationError) -> JSONValue {
        var lookups = LookupIndexes()
        return try evaluate(scope, &lookups)
    }

    func evaluate(_ scope: EvaluationScope, _ lookups: inout LookupIndexes) throws(EvaluationError) -> JSONValue {
        switch self {
        case .constant(let v): return v
        case .select(let p): return scope.resolve(p) ?? .null
        case .array(let items):
            var out: [JSONValue] = []
            out.reserveCapacity(items.count)
            for item in items { out.append(try item.evaluate(scope, &lookups)) }
            return .array(out)
        case .object(let fields):
            var entries: [(key: String, value: JSONValue)] = []
            entries.reserveCapacity(fields.count)
            for (k, t) in fields { entries.append((k, try t.evaluate(scope, &lookups))) }
            return .object(JSONObject(uniqueEntries: entries))  // compile refused a key written twice
        case .operation(let op):
            return try op.evaluate(scope, &lookups)
        }
    }
}

extension ResponseTemplate {
    /// The arrays that `$lookup`s search, indexed by the matched field on first use, for one evaluation.
    ///
    /// A `$lookup` inside a `$map` is a join: each of n elements searches the same m candidates, and both
    /// sizes are a downstream's to choose, so a scan per element is O(n·m) (seconds for 20 000 × 20 000).
    /// An array read from a call result (not from `$`, the current element) is the same array for every
    /// element of one evaluation, so it is indexed once (value → first matching position) and each search
    /// is a hash lookup. Small arrays are scanned: an index would cost more than it saves.
    struct LookupIndexes {
        private struct Source: Hashable {
            let path: JSONObject.ExactKey
            let field: JSONObject.ExactKey
        }
        private var indexes: [Source: [JSONValue: Int]] = [:]

        /// The first candidate whose `field` equals `wanted` (JSON equality), or null.
        mutating func find(_ wanted: JSONValue, field: String, in candidates: [JSONValue], at path: SourcePath) -> JSONValue {
            if candidates.count <= JSONObject.indexThreshold || path.root == .current {
                return candidates.first { $0[field] == wanted } ?? .null
            }
            let source = Source(path: JSONObject.ExactKey(path.text), field: JSONObject.ExactKey(field))
            if indexes[source] == nil {
                var index: [JSONValue: Int] = [:]
                index.reserveCapacity(candidates.count)
                for (i, candidate) in candidates.enumerated() {
                    if let v = candidate[field], index[v] == nil { index[v] = i }
                }
                indexes[source] = index
            }
            return indexes[source]![wanted].map { candidates[$0] } ?? .null
        }
    }
}

extension ResponseTemplate.Operation {
    func evaluate(_ scope: EvaluationScope, _ lookups: inout ResponseTemplate.LookupIndexes) throws(ResponseTemplate.EvaluationError) -> JSONValue {
        var value: JSONValue
        switch source {
        case .select(let p): value = scope.resolve(p) ?? .null
        case .constant(let v): value = v
        case .merge(let parts, let policy, let concat):
            value = .null
            for part in parts {
                let next = try part.evaluate(scope, &lookups)
                value = try Self.merge(value, next, policy: policy, concatArrays: concat, at: "$")
            }
        case .lookup(let from, let on, let key):
            value = .null
            if case .array(let candidates)? = scope.resolve(from), let wanted = scope.resolve(on) {
                value = lookups.find(wanted, field: key, in: candidates, at: from)
            }
        }
        if value.isNull, let defaultValue { value = defaultValue }
        if flatten, case .array(let items) = value {
            value = .array(items.flatMap { item -> [JSONValue] in
                if case .array(let inner) = item { return inner }
                return [item]
            })
        }
        if let limit, case .array(let items) = value, items.count > limit { value = .array(Array(items.prefix(limit))) }
        if let map {
            if case .array(let items) = value {
                var out: [JSONValue] = []
                out.reserveCapacity(items.count)
                var inner = scope
                for item in items {
                    inner.current = item
                    out.append(try map.evaluate(inner, &lookups))
                }
                value = .array(out)
            } else if !value.isNull {
                var inner = scope
                inner.current = value
                value = try map.evaluate(inner, &lookups)
            }
        }
        if pick != nil || omit != nil || !rename.isEmpty { value = reshape(value) }
        if let groupBy, case .array(let items) = value {
            // Groups found through a hash index of their keys (by code points, as `JSONObject` compares
            // keys): a downstream decides how many items and groups there are, so no scan per item.
            var groups: [(key: String, items: [JSONValue])] = []
            var groupIndex: [JSONObject.ExactKey: Int] = [:]
            for item in items {
                guard let k = item[groupBy].flatMap(StringTemplate.scalarText) else { continue }
                if let i = groupIndex[JSONObject.ExactKey(k)] {
                    groups[i].items.append(item)
                } else {
                    groupIndex[JSONObject.ExactKey(k)] = groups.count
                    groups.append((k, [item]))
                }
            }
            value = .object(JSONObject(uniqueEntries: groups.map { (key: $0.key, value: JSONValue.array($0.items)) }))
        }
        return value
    }

    /// `$pick`, `$omit` and `$rename` on an object, or on each object in an array (arrays of arrays too):
    /// a list of users and a list of pages of users are reshaped alike.
    private func reshape(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let items): return .array(items.map(reshape))
        case .object(var o):
            if let pick {
                o = JSONObject(pick.compactMap { key in o[key].map { (key: key, value: $0) } })
            }
            if let omit {
                for keyPath in omit { o = Self.remove(keyPath[...], from: o) }
            }
            for (old, new) in rename {
                o.renameKey(old, to: new)
            }
            return .object(o)
        default: return value
        }
    }

    /// Drops the member at a dotted path. The path goes through arrays: the rest of it applies to each
    /// element (`cards.number` drops every card's number), because `$omit` is a deny-list and one that
    /// silently stops at an array leaks as soon as a downstream turns a field into a list.
    private static func remove(_ keyPath: ArraySlice<String>, from o: JSONObject) -> JSONObject {
        guard let first = keyPath.first else { return o }
        var out = o
        if keyPath.count == 1 {
            out.removeValue(forKey: first)
        } else if let inner = o[first] {
            out[first] = remove(keyPath.dropFirst(), from: inner)
        }
        return out
    }

    private static func remove(_ keyPath: ArraySlice<String>, from value: JSONValue) -> JSONValue {
        switch value {
        case .object(let o): return .object(remove(keyPath, from: o))
        case .array(let items): return .array(items.map { remove(keyPath, from: $0) })
        default: return value
        }
    }

    /// Deterministic merge: the result depends only on the order of the parts in the contract.
    static func merge(_ a: JSONValue, _ b: JSONValue, policy: ResponseTemplate.CollisionPolicy, concatArrays: Bool, at path: String) throws(ResponseTemplate.EvaluationError) -> JSONValue {
        if a.isNull { return b }
        if b.isNull { return a }
        switch (a, b) {
        case (.object(let x), .object(let y)):
            var out = x
            for (k, v) in y.entries {
                if let existing = out[k] {
                    out[k] = try mergeValue(existing, v, policy: policy, concatArrays: concatArrays, at: "\(path).\(k)")
                } else {
                    out[k] = v
                }
            }
            return .object(out)
        case (.array(let x), .array(let y)) where concatArrays:
            return .array(x + y)
        default:
            return try mergeValue(a, b, policy: policy, concatArrays: concatArrays, at: path)
        }
    }

    private static func mergeValue(_ a: JSONValue, _ b: JSONValue, policy: ResponseTemplate.CollisionPolicy, concatArrays: Bool, at path: String) throws(ResponseTemplate.EvaluationError) -> JSONValue {
        if concatArrays, case .array(let x) = a, case .array(let y) = b { return .array(x + y) }
        switch policy {
        case .error: throw ResponseTemplate.EvaluationError(reason: "merge collision at \(path)")
        case .first: return a
        case .last: return b
        case .deep:
            if case .object = a, case .object = b { return try merge(a, b, policy: policy, concatArrays: concatArrays, at: path) }
            return b
        }
    }
}
