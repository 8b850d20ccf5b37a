import Foundation
@testable import AggregationKit

/// The shipped contract folders (`contracts/<client>`) as in-process tests run them, and request fields
/// that pass their owner-or-admin routes (tests about proxying, not about auth): with the gateway's own
/// sessions (`auth.sessions`), an admin session opened in the configuration's in-memory store and its
/// credentials as the client sends them (cookies + CSRF for the web, a bearer token for mobile); with
/// other JWT providers, their keys replaced by a key pair made for the test (as the contract-test runner
/// does) and an admin bearer token.
enum ShippedContracts {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `adminFields`: header lines (`Name: value\r\n` each) to add to a raw request.
    static func load(_ client: String) throws -> (configuration: GatewayConfiguration, adminFields: String) {
        var config = try GatewayConfiguration.load(directory: root.appendingPathComponent("contracts/\(client)").path)
        let issuers = try ContractTestRunner.substituteThrowawayKeys(in: &config)
        let claims = JSONObject([("sub", .string("3")), ("roles", .array([.string("admin")]))])
        let now = Int64(Date().timeIntervalSince1970)
        if let sessions = config.auth.sessions {
            guard let store = sessions.store as? InMemorySessionStore else { throw TestError("contracts/\(client): the session store is not in memory") }
            let credentials = try ContractTestRunner.sessionCredentials(for: claims, sessions: sessions, now: now)
            try store.create(credentials.session, token: credentials.refreshToken, now: now)
            return (config, credentials.fields.map { "\($0.0): \($0.1)\r\n" }.joined())
        }
        guard let provider = config.auth.providers.first, let issuer = issuers[provider.name] else {
            throw TestError("contracts/\(client) configures no sessions and no JWT provider")
        }
        return (config, "Authorization: Bearer \(try ContractTestRunner.token(for: claims, issuer: issuer, now: now))\r\n")
    }
}
