import Synchronization

/// The verified-token caches of one gateway: per provider, one cache per loop (no lock on the request
/// path: a loop touches only its own). Made when the gateway compiles its routes, so every route of a
/// provider shares its caches, and two gateways built from one configuration share nothing.
public final class AuthCaches: Sendable {
    /// One loop's cache of one provider, with counters for tests and metrics. Loop thread only.
    final class Shard {
        var cache: VerifiedTokenCache<JWTProvider.Authenticated>
        /// Tokens that went through the verifier (cache misses with a token of acceptable form).
        var verifications: UInt64 = 0
        /// Requests answered from the cache.
        var hits: UInt64 = 0
        init(capacity: Int) { cache = VerifiedTokenCache(capacity: capacity) }
    }

    /// One loop's view of an API key store: the snapshot it uses, until when it may (monotonic ns;
    /// past it the stage answers 503), and when it last looked (the loop's monotonic nanoseconds; 0 =
    /// never). Loop thread only.
    final class KeyShard {
        var snapshot: APIKeySnapshot
        var usableUntil: UInt64
        var checkedAt: UInt64 = 0
        init(_ refreshed: (snapshot: APIKeySnapshot, usableUntil: UInt64)) {
            snapshot = refreshed.snapshot
            usableUntil = refreshed.usableUntil
        }
    }

    private let slots = Mutex<[ObjectIdentifier: LoopSlots<Shard>]>([:])
    private let keySlots = Mutex<[ObjectIdentifier: LoopSlots<KeyShard>]>([:])

    /// The per-loop views of `store` (made on first request). Called at compile time.
    func keySlots(for store: any APIKeySource) -> LoopSlots<KeyShard> {
        keySlots.withLock { all in
            if let existing = all[ObjectIdentifier(store)] { return existing }
            let made = LoopSlots<KeyShard>()
            all[ObjectIdentifier(store)] = made
            return made
        }
    }

    /// Where the auth stages of this gateway report refusals.
    public let events: SecurityEvents
    /// The gateway's Redis key store, for the routes whose `auth.apiKeys` store is Redis.
    public let redisAPIKeys: APIKeyRedisStore?

    /// The gateway's JWK Set clients, by provider (those with `jwksUrl`).
    private let jwksClients: [ObjectIdentifier: JWKSClient]

    public init(events: SecurityEvents = .unmetered, redisAPIKeys: APIKeyRedisStore? = nil, jwksClients: [JWKSClient] = []) {
        self.events = events
        self.redisAPIKeys = redisAPIKeys
        var clients: [ObjectIdentifier: JWKSClient] = [:]
        for client in jwksClients { clients[ObjectIdentifier(client.provider)] = client }
        self.jwksClients = clients
    }

    /// The JWK Set client of `provider` in this gateway (nil: static keys only).
    func jwksClient(for provider: JWTProvider) -> JWKSClient? { jwksClients[ObjectIdentifier(provider)] }

    /// The source a policy's keys are read from.
    func apiKeySource(for choice: APIKeyStoreChoice) -> any APIKeySource {
        switch choice {
        case .file(let store): store
        case .redis: redisAPIKeys ?? UnavailableAPIKeySource.shared
        }
    }

    /// The per-loop caches of `provider` (made on first request). Called at compile time.
    func slots(for provider: JWTProvider) -> LoopSlots<Shard> {
        slots.withLock { all in
            if let existing = all[ObjectIdentifier(provider)] { return existing }
            let made = LoopSlots<Shard>()
            all[ObjectIdentifier(provider)] = made
            return made
        }
    }
}
