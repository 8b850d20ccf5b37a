@testable import AggregationKit

// libFuzzer harness: the configuration loader (built by scripts/fuzz.sh, not by SwiftPM).
//
// Input: the bytes of a file. They are loaded both as `gateway.json` and as an endpoint contract
// (`endpoints/*.json`), as `GatewayConfiguration.load` does, and the route tables are checked for
// conflicts. A compiled endpoint's response template is evaluated and its schema applied to the result.
// Errors are fine (every error must carry at least one issue); a crash or a hang is not.

private let services: Set<String> = ["users", "orders", "catalog", "notifications", "legacy"]

/// A valid gateway.json, for the endpoint to be checked against when the input is not one.
private let baseConfiguration: GatewayConfiguration = {
    let text = #"""
    { "name": "fuzz", "services": {
        "users": { "instances": ["127.0.0.1:9101"] }, "orders": { "instances": ["127.0.0.1:9102"] },
        "catalog": { "instances": ["127.0.0.1:9103"] }, "notifications": { "instances": ["127.0.0.1:9104"] },
        "legacy": { "instances": ["127.0.0.1:9100"] } },
      "routes": [ { "name": "user", "method": "GET", "path": "/api/users/{id}", "proxy": { "service": "users", "path": "/users/{id}" } },
                  { "name": "catalog", "path": "/api/catalog/*", "proxy": { "service": "catalog", "stripPrefix": "/api/catalog" } } ] }
    """#
    do { return try GatewayConfiguration.parse(Array(text.utf8), file: "base/gateway.json") } catch { fatalError("base configuration: \(error)") }
}()

private let scope = EvaluationScope(pathParameters: ["userId": "7", "id": "7"], query: ["limit": "5"],
                                    results: ["user": .object(JSONObject([("id", .number(JSONNumber(7))), ("name", .string("Ada"))])),
                                              "orders": .object(JSONObject([("orders", .array([.object(JSONObject([("id", .number(JSONNumber(1)))]))]))]))])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    var configuration = baseConfiguration
    do {
        configuration = try GatewayConfiguration.parse(bytes, file: "fuzz/gateway.json")
        _ = GatewayConfiguration.routeConflicts(configuration)
    } catch {
        guard !error.issues.isEmpty else { fatalError("a configuration error without issues") }
        _ = error.description
    }

    switch GatewayConfiguration.compileEndpoint(bytes, file: "fuzz/endpoints/fuzz.json", services: services) {
    case .success(let endpoint):
        configuration.endpoints.append(endpoint)
        _ = GatewayConfiguration.routeConflicts(configuration)
        if let output = try? endpoint.response.evaluate(scope), let schema = endpoint.schema {
            _ = schema.validate(output)
        }
    case .failure(let error):
        guard !error.issues.isEmpty else { fatalError("an endpoint error without issues") }
        _ = error.description
    }
    return 0
}
