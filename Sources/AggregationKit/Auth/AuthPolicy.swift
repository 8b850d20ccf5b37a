/// A route's `policy.auth`: which provider's bearer tokens it accepts, what a token must grant, which
/// claims travel downstream as headers, and whether the token itself does.
///
/// ```json
/// "auth": { "provider": "main",
///           "require": [ { "owner": { "param": "id", "claim": "sub" } }, { "roles": ["admin"] } ],
///           "claimsToHeaders": { "sub": "X-User-Id" }, "forwardToken": false }
/// ```
///
/// Deny by default: with `auth` set, a request without a valid token never reaches the responder.
public struct AuthPolicy: Sendable {
    public var provider: JWTProvider
    /// Alternatives: a token passes when it satisfies any one of them (each one's conditions all hold).
    /// Empty: any valid token of the provider passes.
    public var require: [AuthRequirement]
    /// Claim → downstream header; incoming fields of these names are always removed first.
    public var claimsToHeaders: [(claim: ClaimPath, header: String)]
    /// Whether the client's `Authorization` field goes on to the responder (default: removed).
    public var forwardToken: Bool

    public init(provider: JWTProvider, require: [AuthRequirement] = [], claimsToHeaders: [(claim: ClaimPath, header: String)] = [],
                forwardToken: Bool = false) {
        self.provider = provider
        self.require = require
        self.claimsToHeaders = claimsToHeaders
        self.forwardToken = forwardToken
    }

    /// Path parameters the owner checks compare with (each must be captured by the route's path).
    public var parameterNames: Set<String> { Set(require.compactMap { $0.owner?.parameter }) }
}

/// One alternative of `require`: every listed scope, permission and role, and ownership when set.
public struct AuthRequirement: Sendable {
    /// Scopes the token must carry (`scope` / `scp`).
    public var scopes: [String]
    /// Permissions the token's roles must grant (through `auth.roles`, inheritance included).
    public var permissions: [String]
    /// Roles the token must carry itself (`rolesClaim`).
    public var roles: [String]
    /// The request is about its own resource: a path parameter equals a claim.
    public var owner: Owner?

    /// `{"param": "userId", "claim": "sub"}`: the percent-decoded path parameter must equal the claim
    /// exactly (a string claim, or an integer claim's digits).
    public struct Owner: Sendable {
        public var parameter: String
        public var claim: ClaimPath
        public init(parameter: String, claim: ClaimPath) {
            self.parameter = parameter
            self.claim = claim
        }
    }

    public init(scopes: [String] = [], permissions: [String] = [], roles: [String] = [], owner: Owner? = nil) {
        self.scopes = scopes
        self.permissions = permissions
        self.roles = roles
        self.owner = owner
    }

    /// Whether `token` meets every condition for a request with these path parameters.
    func isSatisfied(by token: JWTProvider.Authenticated, pathParameters: [(name: String, value: String)]) -> Bool {
        for scope in scopes where !token.identity.scopes.contains(scope) { return false }
        for permission in permissions where !token.permissions.contains(permission) { return false }
        for role in roles where !token.identity.roles.contains(role) { return false }
        if let owner {
            guard let raw = pathParameters.first(where: { $0.name == owner.parameter })?.value else { return false }
            let claimed: String
            switch owner.claim.value(in: token.identity.claims) {
            case .string(let s)?: claimed = s
            case .number(let n)? where n.isInteger: claimed = n.text
            default: return false
            }
            // An empty claim owns nothing (an empty parameter cannot be routed anyway).
            guard !claimed.isEmpty else { return false }
            let decoded = EvaluationScope.percentDecode(Substring(raw), plusIsSpace: false)
            guard decoded.utf8.elementsEqual(claimed.utf8) else { return false }
        }
        return true
    }
}

/// How a claim's value is written into a header (`claimsToHeaders`, `{claims.…}` templates): a string as
/// is, a number as its JSON text, a boolean as `true`/`false`, an array of those joined with commas.
/// Objects, null and nested arrays have no header form (nil).
enum ClaimText {
    static func headerText(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let s)?: return s
        case .number(let n)?: return n.text
        case .bool(let b)?: return b ? "true" : "false"
        case .array(let items)?:
            var parts: [String] = []
            for item in items {
                switch item {
                case .string(let s): parts.append(s)
                case .number(let n): parts.append(n.text)
                case .bool(let b): parts.append(b ? "true" : "false")
                default: return nil
                }
            }
            return parts.joined(separator: ",")
        default: return nil
        }
    }
}
