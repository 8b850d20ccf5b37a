import Foundation
@testable import AggregationKit

/// The shipped contract folders (`contracts/<client>`) as in-process tests run them: every JWT provider's
/// keys replaced by a key pair made for the test, as the contract-test runner does, and an admin token of
/// the first provider, which passes the owner-or-admin routes (tests about proxying, not about auth).
enum ShippedContracts {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func load(_ client: String) throws -> (configuration: GatewayConfiguration, adminToken: String) {
        var config = try GatewayConfiguration.load(directory: root.appendingPathComponent("contracts/\(client)").path)
        let issuers = try ContractTestRunner.substituteThrowawayKeys(in: &config)
        guard let provider = config.auth.providers.first, let issuer = issuers[provider.name] else {
            throw TestError("contracts/\(client) configures no JWT provider")
        }
        let claims = JSONObject([("sub", .string("3")), ("roles", .array([.string("admin")]))])
        return (config, try ContractTestRunner.token(for: claims, issuer: issuer, now: Int64(Date().timeIntervalSince1970)))
    }
}
