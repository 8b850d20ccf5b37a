#if canImport(Glibc)
import Glibc
#endif

/// The top-level `redis` section of gateway.json: where the shared Redis is and how the client treats
/// it. Absent: no Redis, every store is the embedded default (in memory, or the key file).
///
/// ```json
/// "redis": { "url": "redis://:secret@10.0.0.5:6379/0", "commandTimeoutMs": 1000, "connectTimeoutMs": 1000,
///            "maxConnectionsPerLoop": 2, "pipelineDepth": 128, "maxQueuedCommands": 1024,
///            "reconnectInitialMs": 50, "reconnectMaxMs": 2000 }
/// ```
///
/// The URL may come from the environment instead (`BFF_REDIS_URL`), so a password need not be written
/// into a file; the section must still be there (an environment variable alone never switches the
/// gateway's stores to Redis), and setting both is an error (which one wins would be a guess).
/// Errors never repeat the URL: it may carry a password.
public enum RedisConfigurationReader {
    /// The environment variable that may carry `redis.url`.
    public static let environmentVariable = "BFF_REDIS_URL"
    static let keys = ["url", "commandTimeoutMs", "connectTimeoutMs", "maxConnectionsPerLoop", "pipelineDepth", "maxQueuedCommands",
                       "reconnectInitialMs", "reconnectMaxMs"]

    /// The process environment, read with `getenv`.
    public static let processEnvironment: @Sendable (String) -> String? = { name in getenv(name).map { String(cString: $0) } }

    /// Reads `redis` (absent: nil). `environment` answers `BFF_REDIS_URL`.
    static func read(_ value: JSONValue?, environment: (String) -> String?, reader r: ConfigReader) -> RedisClient.Configuration? {
        guard let value else { return nil }
        let before = r.issues.count
        guard let o = r.object(value, "$.redis", allowed: keys) else { return nil }
        let fileURL = r.string(o, "url", "$.redis")
        let environmentURL = environment(environmentVariable).flatMap { $0.isEmpty ? nil : $0 }
        var endpoint: RedisEndpoint?
        switch (fileURL, environmentURL) {
        case (nil, nil):
            if o["url"] == nil { r.issue("$.redis.url", "required (or set the environment variable \(environmentVariable))") }
        case (_?, _?):
            r.issue("$.redis.url", "also set by the environment variable \(environmentVariable): set only one")
        case (let url?, nil):
            do { endpoint = try RedisEndpoint(url: url) } catch { r.issue("$.redis.url", "not a Redis URL: \(error.reason)") }
        case (nil, let url?):
            do { endpoint = try RedisEndpoint(url: url) } catch { r.issue("$.redis.url", "\(environmentVariable) is not a Redis URL: \(error.reason)") }
        }
        var pool = RedisPoolStateMachine.Configuration()
        if let v = r.int(o, "maxConnectionsPerLoop", "$.redis", range: 1...64) { pool.maxConnections = v }
        if let v = r.int(o, "pipelineDepth", "$.redis", range: 1...10_000) { pool.maxInFlightPerConnection = v }
        if let v = r.int(o, "maxQueuedCommands", "$.redis", range: 0...1_000_000) { pool.maxQueuedCommands = v }
        if let v = r.int(o, "connectTimeoutMs", "$.redis", range: 1...60_000) { pool.connectTimeout = UInt64(v) * 1_000_000 }
        let initial = r.int(o, "reconnectInitialMs", "$.redis", range: 1...60_000) ?? Int(pool.backoff.initialDelay / 1_000_000)
        let maximum = r.int(o, "reconnectMaxMs", "$.redis", range: 1...300_000) ?? max(initial, Int(pool.backoff.maxDelay / 1_000_000))
        if maximum < initial {
            r.issue("$.redis.reconnectMaxMs", "must be at least reconnectInitialMs (\(initial))")
        } else {
            pool.backoff = RedisBackoff(initialDelay: UInt64(initial) * 1_000_000, maxDelay: UInt64(maximum) * 1_000_000)
        }
        let timeout = r.int(o, "commandTimeoutMs", "$.redis", range: 1...60_000) ?? 1000
        guard r.issues.count == before, let endpoint else { return nil }
        return RedisClient.Configuration(endpoint: endpoint, pool: pool, commandTimeout: UInt64(timeout) * 1_000_000)
    }
}
