/// How a composite response's body is written when some calls' results go into it only as they are.
///
/// A result that the endpoint only places in the response (`"$user"`, `"$orders.items"`: a call and keys or
/// indices, in an object or array of the template, not under an operation) and reads nowhere else (no
/// call target, header, body, fan-out, operation, schema check) does not need a tree: when its body is
/// canonical (`CanonicalJSON`), the bytes of the value are copied. Such calls are chosen once, here, from the
/// compiled endpoint; the template becomes a list of segments:
///
///     { "user": "$user", "n": 1, "x": {"$select": "a", "$limit": 2} }
///       ─▶ bytes `{"user":` · text of user · bytes `,"n":1,"x":` · value of the operation · bytes `}`
///
/// Per request a text segment copies the call's canonical text (or the part at its path); a call whose
/// body was not canonical (or empty, or failed and has its fallback) has a parsed value as before, and
/// the segment writes that. The bytes are those the tree would have serialized to: the serializer writes
/// each member with no regard for where it sits, so the pieces written one after another are the whole
/// (`ResponseBodyPlanTests` checks this against `evaluate` + `serialize`).
struct ResponseBodyPlan: Sendable {
    enum Segment: Sendable {
        /// Template text that does not depend on the request: keys, punctuation, constants.
        case bytes([UInt8])
        /// A call's result, or the part of it at `steps` (`path` is the same, for a parsed result). `member`:
        /// the first step is the call's `memberKeys` entry, found by the scan; `steps` are the rest.
        case text(call: Int, path: SourcePath, steps: [CanonicalJSON.Step], member: Bool)
        /// Anything else: evaluated and serialized as before.
        case value(ResponseTemplate)
    }

    let segments: [Segment]
    /// Per call, in `CompiledEndpoint.calls` order: whether a canonical body is kept as text.
    let textCalls: [Bool]
    /// Per call: the top-level key (as the serializer writes it) that the scan finds the value of, when a
    /// text segment starts with a key (the first such key: `"$orders.orders"` is found in the same pass).
    let memberKeys: [[UInt8]?]
    /// The exact byte count of the `bytes` segments.
    private let constantSize: Int

    /// The plan, or nil when no call qualifies (the endpoint is served from the tree, as before).
    init?(_ endpoint: CompiledEndpoint) {
        let calls = endpoint.calls
        // Each call's uses: every path the endpoint reads, and those that a text segment would serve.
        var uses = [Int](repeating: 0, count: calls.count)
        var placed = [Int](repeating: 0, count: calls.count)
        let index = Dictionary(calls.indices.map { (calls[$0].name, $0) }, uniquingKeysWith: { a, _ in a })
        for path in endpoint.sourcePaths {
            if case .call(let name) = path.root, let i = index[name] { uses[i] += 1 }
        }
        func visit(_ template: ResponseTemplate) {
            switch template {
            case .select(let p):
                if case .call(let name) = p.root, let i = index[name], Self.textSteps(p) != nil { placed[i] += 1 }
            case .object(let fields): for (_, t) in fields { visit(t) }
            case .array(let items): for t in items { visit(t) }
            case .constant, .operation: break
            }
        }
        visit(endpoint.response)
        var textCalls = [Bool](repeating: false, count: calls.count)
        for i in calls.indices {
            guard case .single = calls[i].expansion else { continue }
            textCalls[i] = placed[i] > 0 && placed[i] == uses[i]
        }
        guard textCalls.contains(true) else { return nil }

        var memberKeys = [[UInt8]?](repeating: nil, count: calls.count)
        var segments: [Segment] = []
        var pending: [UInt8] = []
        func flush() {
            if !pending.isEmpty { segments.append(.bytes(pending)); pending = [] }
        }
        func emit(_ template: ResponseTemplate) {
            switch template {
            case .constant(let v):
                pending += JSONSerializer.serialize(v)
            case .object(let fields):
                pending.append(UInt8(ascii: "{"))
                for (n, (key, t)) in fields.enumerated() {
                    if n > 0 { pending.append(UInt8(ascii: ",")) }
                    pending += JSONSerializer.serialize(.string(key))
                    pending.append(UInt8(ascii: ":"))
                    emit(t)
                }
                pending.append(UInt8(ascii: "}"))
            case .array(let items):
                pending.append(UInt8(ascii: "["))
                for (n, t) in items.enumerated() {
                    if n > 0 { pending.append(UInt8(ascii: ",")) }
                    emit(t)
                }
                pending.append(UInt8(ascii: "]"))
            case .select(let p):
                if case .call(let name) = p.root, let i = index[name], textCalls[i], var steps = Self.textSteps(p) {
                    flush()
                    var member = false
                    if case .key(let key)? = steps.first {
                        if memberKeys[i] == nil { memberKeys[i] = key }
                        if memberKeys[i] == key {
                            member = true
                            steps.removeFirst()
                        }
                    }
                    segments.append(.text(call: i, path: p, steps: steps, member: member))
                } else {
                    flush()
                    segments.append(.value(template))
                }
            case .operation:
                flush()
                segments.append(.value(template))
            }
        }
        emit(endpoint.response)
        flush()
        self.segments = segments
        self.textCalls = textCalls
        self.memberKeys = memberKeys
        constantSize = segments.reduce(0) { if case .bytes(let b) = $1 { return $0 + b.count }; return $0 }
    }

    /// The path's steps in text form, when it has no `[*]`.
    private static func textSteps(_ path: SourcePath) -> [CanonicalJSON.Step]? {
        var out: [CanonicalJSON.Step] = []
        for step in path.steps {
            guard let s = CanonicalJSON.Step(step) else { return nil }
            out.append(s)
        }
        return out
    }

    /// The body: `texts[i]` is call i's canonical text, if it had one (else its result, if any, is in
    /// `scope.results` as before). Throws what `ResponseTemplate.evaluate` throws, in the same order.
    func render(_ scope: EvaluationScope, texts: [CanonicalJSON?]) throws(ResponseTemplate.EvaluationError) -> [UInt8] {
        enum Piece {
            case segment(Int)
            case text(Int, Range<Int>)
            case value(JSONValue)
        }
        var pieces: [Piece] = []
        pieces.reserveCapacity(segments.count)
        var size = constantSize
        var lookups = ResponseTemplate.LookupIndexes()
        for (n, segment) in segments.enumerated() {
            switch segment {
            case .bytes:
                pieces.append(.segment(n))
            case .text(let call, let path, let steps, let member):
                if let text = texts[call] {
                    let found = member ? text.member.flatMap { text.follow(steps, from: $0) } : text.follow(steps)
                    if let range = found {
                        pieces.append(.text(call, range))
                        size += range.count
                    } else {
                        pieces.append(.value(.null))
                        size += 4
                    }
                } else {
                    let value = scope.resolve(path) ?? .null
                    size += JSONSerializer.encodedSize(value)
                    pieces.append(.value(value))
                }
            case .value(let template):
                let value = try template.evaluate(scope, &lookups)
                size += JSONSerializer.encodedSize(value)
                pieces.append(.value(value))
            }
        }
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var writer = JSONSerializer.Writer(buffer)
            for piece in pieces {
                switch piece {
                case .segment(let n):
                    guard case .bytes(let bytes) = segments[n] else { continue }
                    bytes.withUnsafeBufferPointer { writer.bytes($0) }
                case .text(let call, let range):
                    texts[call]!.document.withUnsafeBufferPointer { writer.bytes(UnsafeBufferPointer(rebasing: $0[range])) }
                case .value(let value):
                    writer.write(value)
                }
            }
            precondition(writer.position == size, "ResponseBodyPlan: sized \(size) bytes, wrote \(writer.position)")
            initialized = writer.position
        }
    }
}
