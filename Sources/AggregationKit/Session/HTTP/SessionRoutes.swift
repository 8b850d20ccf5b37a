/// The gateway's built-in session routes (present when `auth.sessions` is set). Their names are reserved
/// (access log, metrics) and their paths cannot be taken by configured routes or endpoints.
public enum SessionRoutes {
    public struct Entry: Sendable {
        public let name: String
        public let method: String
        public let path: String
    }

    public static let login = Entry(name: "auth.login", method: "POST", path: "/auth/login")
    public static let refresh = Entry(name: "auth.refresh", method: "POST", path: "/auth/refresh")
    public static let logout = Entry(name: "auth.logout", method: "POST", path: "/auth/logout")
    public static let list = Entry(name: "auth.sessions", method: "GET", path: "/auth/sessions")
    public static let revoke = Entry(name: "auth.sessions.revoke", method: "DELETE", path: "/auth/sessions/{id}")
    public static let jwks = Entry(name: "jwks", method: "GET", path: "/.well-known/jwks.json")

    public static let all = [login, refresh, logout, list, revoke, jwks]
    public static let names: Set<String> = Set(all.map(\.name))
}
