/// Compiles a route's effective policy into its stages, in a fixed order. A route with no policy has
/// no stages. (Placeholder until the policy stages land: no stages yet.)
public enum PipelineCompiler {
    public static func stages(for policy: RoutePolicy) -> [any RequestStage] { [] }
}

extension GatewayConfiguration {
    /// A proxy route's effective policy (placeholder: none yet).
    func policy(of route: RouteConfiguration) -> RoutePolicy { RoutePolicy() }
    /// A composite endpoint's effective policy (placeholder: none yet).
    func policy(of endpoint: CompiledEndpoint) -> RoutePolicy { RoutePolicy() }
}
