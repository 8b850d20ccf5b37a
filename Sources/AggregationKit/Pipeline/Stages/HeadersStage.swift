/// `policy.headers`: edits the request before the responder and the response on its way back, each as
/// remove, then set (every field of the name replaced by one), then add. Values are `HeaderTemplate`s.
///
/// A path parameter that decodes to a control byte (`/users/a%0D%0AX-Admin:%201`) would put CR/LF in a
/// header: such a request is refused with 400 `invalid_header_value` before anything is sent, rather
/// than sent without the field, since the field may be what the upstream relies on (a tenant or user
/// id) and silently missing it is the less safe failure. Response templates are checked at the same
/// moment, so a response is never left half-edited.
public struct HeadersStage: RequestStage {
    public var name: String { "headers" }

    /// One direction's edits, compiled.
    struct Edits: Sendable {
        /// Names removed: `remove` and the names of `set`, lower-cased, once each.
        let removed: [String]
        /// `set` then `add`: fields appended after the removal.
        let appended: [(name: String, value: HeaderTemplate)]
        /// `removed` as the names of fields (values empty), compared byte for byte with no String to open.
        let removedNames: HTTPHeaders
        /// `appended` as fields, when every value is constant (no placeholder: the usual case): appended
        /// in one copy, with nothing rendered per request.
        let constantFields: HTTPHeaders?
        /// Bit `n` set when a removed name is `n` bytes long (bit 63: 63 or more): a field of another
        /// length is not compared at all.
        let removedLengths: UInt64
        var isEmpty: Bool { removed.isEmpty && appended.isEmpty }

        init(_ edits: HeaderPolicy.Edits) {
            var removed: [String] = []
            for name in edits.remove + edits.set.map(\.name) {
                let lower = name.lowercased()
                if !removed.contains(lower) { removed.append(lower) }
            }
            self.removed = removed
            appended = edits.set + edits.add
            var names = HTTPHeaders()
            var lengths: UInt64 = 0
            for name in removed {
                names.add(name, "")
                lengths |= 1 << UInt64(min(name.utf8.count, 63))
            }
            removedNames = names
            removedLengths = lengths
            if appended.allSatisfy({ $0.value.constant != nil }) {
                var fields = HTTPHeaders()
                for (name, template) in appended { fields.add(name, template.constant ?? "") }
                constantFields = fields
            } else {
                constantFields = nil
            }
        }

        /// Applies the edits; the context's parameters, request id and claims are read only when a value
        /// has a placeholder (each read of the context is a retain and an exclusivity check).
        func apply(to headers: inout HTTPHeaders, context: RequestContext) {
            if removedNames.count > 0 {
                var found = false
                for i in 0..<headers.count where isRemoved(headers, i) { found = true; break }
                if found { headers.keepFieldsInPlace { headers, i in !isRemoved(headers, i) } }
            }
            if let constantFields { return headers.append(fieldsOf: constantFields) }
            apply(to: &headers, parameters: context.pathParameters, requestID: context.requestID, claims: context.identity.claims)
        }

        private func apply(to headers: inout HTTPHeaders, parameters: [(name: String, value: String)], requestID: String, claims: JSONObject) {
            for (name, template) in appended {
                if let value = template.render(parameters: parameters, requestID: requestID, claims: claims) { headers.add(name, value) }
            }
        }

        @inline(__always) private func isRemoved(_ headers: HTTPHeaders, _ i: Int) -> Bool {
            guard removedLengths & (1 << UInt64(min(headers.nameLength(at: i), 63))) != 0 else { return false }
            for j in 0..<removedNames.count where headers.nameEquals(at: i, nameAt: j, of: removedNames) { return true }
            return false
        }
    }

    let request: Edits
    let response: Edits
    /// Path parameters used by any template: checked once per request.
    let checkedParameters: [String]
    let usesRequestID: Bool
    /// Templates with `{claims.…}`: checked once per request.
    let claimTemplates: [HeaderTemplate]
    /// The response edits name no `Via` (hop-by-hop names are refused by the configuration): then the
    /// stage may see a proxied response before the proxy's hop edits (`RequestStage.leavesHopFieldsAlone`).
    public let leavesHopFieldsAlone: Bool

    public init(policy: HeaderPolicy) {
        request = Edits(policy.request)
        response = Edits(policy.response)
        checkedParameters = policy.parameterNames.sorted()
        usesRequestID = (request.appended + response.appended).contains { $0.value.usesRequestID }
        claimTemplates = (request.appended + response.appended).map(\.value).filter(\.usesClaims)
        leavesHopFieldsAlone = !(response.removed + response.appended.map(\.name)).contains { $0.lowercased() == "via" }
    }

    public func process(_ request: inout HTTPRequest, context: RequestContext) -> StageDecision {
        for name in checkedParameters {
            if let raw = context.pathParameter(name), !HeaderTemplate.isSafe(parameter: raw) {
                return .fail(HTTPError(status: 400, code: "invalid_header_value",
                                       detail: "the path parameter '\(name)' contains a control character, which cannot go into a header"))
            }
        }
        if usesRequestID && !HeaderTemplate.isSafe(text: context.requestID) {
            return .fail(HTTPError(status: 400, code: "invalid_header_value", detail: "the request id cannot go into a header"))
        }
        if !claimTemplates.isEmpty {
            let claims = context.identity.claims
            for template in claimTemplates where !template.claimsAreSafe(claims) {
                return .fail(HTTPError(status: 400, code: "invalid_header_value", detail: "a claim of the token contains a control character, which cannot go into a header"))
            }
        }
        if !self.request.isEmpty { self.request.apply(to: &request.headers, context: context) }
        return .proceed
    }

    public func processResponse(_ response: inout HTTPResponse, request: HTTPRequest, context: RequestContext) {
        guard !self.response.isEmpty else { return }
        self.response.apply(to: &response.headers, context: context)
    }
}
