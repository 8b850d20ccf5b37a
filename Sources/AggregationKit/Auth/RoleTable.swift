/// `auth.roles`: what each role may do, with inheritance resolved once at load.
///
/// ```json
/// "roles": { "admin": { "permissions": ["users:write"], "inherits": ["user"] },
///            "user":  { "permissions": ["users:read", "orders:read"] } }
/// ```
///
/// `admin` then grants `users:write`, `users:read` and `orders:read`. A role a token names that is not
/// configured grants nothing (it still counts for `require.roles`). Immutable; share freely.
public struct RoleTable: Sendable {
    /// Each configured role's permissions, inherited ones included.
    public let permissionsByRole: [String: Set<String>]

    public init(permissionsByRole: [String: Set<String>] = [:]) {
        self.permissionsByRole = permissionsByRole
    }

    /// A role's own permissions and the roles it inherits, as configured.
    public struct Definition: Sendable {
        public var permissions: [String]
        public var inherits: [String]
        public init(permissions: [String] = [], inherits: [String] = []) {
            self.permissions = permissions
            self.inherits = inherits
        }
    }

    public enum ResolutionError: Error, Equatable, Sendable {
        case unknownRole(role: String, inherits: String)
        case cycle([String])
    }

    /// Resolves inheritance: every role gets the permissions of every role it reaches. A role that
    /// inherits an undefined role, or a cycle, is an error (a typo must not silently grant less or loop).
    public static func resolve(_ definitions: [String: Definition]) throws(ResolutionError) -> RoleTable {
        for name in definitions.keys.sorted() {
            for parent in definitions[name]!.inherits where definitions[parent] == nil {
                throw .unknownRole(role: name, inherits: parent)
            }
        }
        var resolved: [String: Set<String>] = [:]
        for name in definitions.keys.sorted() {
            var permissions: Set<String> = []
            var visiting: [String] = []
            try collect(name, definitions, &permissions, &visiting)
            resolved[name] = permissions
        }
        return RoleTable(permissionsByRole: resolved)
    }

    private static func collect(_ name: String, _ definitions: [String: Definition], _ permissions: inout Set<String>,
                                _ visiting: inout [String]) throws(ResolutionError) {
        if let start = visiting.firstIndex(of: name) { throw .cycle(Array(visiting[start...]) + [name]) }
        visiting.append(name)
        let definition = definitions[name]!
        permissions.formUnion(definition.permissions)
        for parent in definition.inherits { try collect(parent, definitions, &permissions, &visiting) }
        visiting.removeLast()
    }

    /// The permissions `roles` grant together.
    public func permissions(of roles: Set<String>) -> Set<String> {
        var out: Set<String> = []
        for role in roles { if let granted = permissionsByRole[role] { out.formUnion(granted) } }
        return out
    }
}
