import Synchronization

/// The API key store in Redis, shared by the command line and every gateway instance that points at
/// the same Redis. Records are the key file's record objects, as JSON:
///
///     <prefix>apikeys            hash  id     → record JSON (digest, partner, tier, scopes, created, expires, status)
///     <prefix>apikeys:digests    hash  digest → id                (a digest is never stored twice)
///     <prefix>apikeys:version    a random token, new with every write (what the gateways poll)
///
/// Writers (the command line) change a record and the version in one Lua script, so a reader never
/// sees a new record without a new version; an update is a compare-and-set on the record's JSON
/// (retried when another writer got there first). The version is a random token, not a counter: a
/// Redis that lost its data and was written again cannot come back to a version a gateway already
/// holds with different records behind it.
///
/// Readers (gateways) never touch Redis on the request path. One task per gateway polls every
/// `reloadInterval` (200 ms): one script call returns the version and, only when it changed, every
/// record; a new snapshot is built once and each loop takes it at its next look.
///
///     poll ──▶ EVALSHA: GET version; changed? HVALS ──▶ snapshot (shared) ──▶ each loop's copy ─▶ stage
///
/// **Fail closed after `maxStaleness`.** A snapshot is trusted for `maxStaleness` (1 s) after the last
/// poll that confirmed it was *sent*: a revocation written at t is either seen by a poll sent after t,
/// or the instance stops trusting its older snapshot by t + `maxStaleness`. So with Redis unreachable,
/// slow or partitioned from one instance, every key of that instance is refused with 503 after at
/// most a second (never a revoked key kept working), and keys work again with the first good poll.
public final class APIKeyRedisStore: APIKeyStore, APIKeySource {
    public struct Settings: Sendable, Equatable {
        /// Prefix of the three Redis keys (`bff:` by default), so deployments can share one Redis.
        public var keyPrefix: String
        /// Nanoseconds between polls (and between a loop's looks at the shared snapshot).
        public var reloadInterval: UInt64
        /// Nanoseconds a snapshot is trusted after the last poll that confirmed it was sent.
        public var maxStaleness: UInt64

        public init(keyPrefix: String = "bff:", reloadInterval: UInt64 = 200_000_000, maxStaleness: UInt64 = 1_000_000_000) {
            self.keyPrefix = keyPrefix
            self.reloadInterval = reloadInterval
            self.maxStaleness = maxStaleness
        }
    }

    /// Records a snapshot may hold; a store past it is read as a failure (every key refused), not cut.
    static let maximumRecords = 100_000
    /// Compare-and-set rounds before an update gives up (another writer keeps changing the record).
    static let maximumUpdateAttempts = 8

    public let settings: Settings
    public var reloadInterval: UInt64 { settings.reloadInterval }
    let redis: RedisClient
    let clock: any GatewayClock
    let recordsKey: String
    let digestsKey: String
    let versionKey: String

    private struct State {
        var snapshot = APIKeySnapshot(records: [], failure: "not read yet")
        /// Monotonic send time of the last poll that confirmed `snapshot` (nil: none yet).
        var confirmedAt: UInt64?
    }
    private let state = Mutex(State())
    private let poller = Mutex<Task<Void, Never>?>(nil)
    /// Polls finished since the start (for `start(waitForFirst:)`).
    private let pollsDone = Atomic<Int>(0)

    /// `clock`: the gateway's (the stage compares `usableUntil` with its loop's monotonic reading).
    public init(redis: RedisClient, settings: Settings = Settings(), clock: any GatewayClock = SystemClock()) {
        self.redis = redis
        self.settings = settings
        self.clock = clock
        recordsKey = settings.keyPrefix + "apikeys"
        digestsKey = settings.keyPrefix + "apikeys:digests"
        versionKey = settings.keyPrefix + "apikeys:version"
    }

    // MARK: APIKeySource (the stage)

    public func refreshed(_ current: APIKeySnapshot?) -> (snapshot: APIKeySnapshot, usableUntil: UInt64) {
        state.withLock { s in (s.snapshot, s.confirmedAt.map { $0 &+ settings.maxStaleness } ?? 0) }
    }

    // MARK: Polling (the gateway)

    /// `GET version`; when it differs from `ARGV[1]`, the records too: one atomic round trip.
    static let pollScript = RedisScript("""
        local v = redis.call('GET', KEYS[1]) or '0'
        if v == ARGV[1] then return {v} end
        return {v, redis.call('HVALS', KEYS[2])}
        """)

    /// One poll, as if sent at `sentAt` (monotonic ns; the clock's reading when called by the poller).
    /// Returns whether it confirmed a snapshot. A failed poll changes nothing: the snapshot ages toward
    /// `maxStaleness`.
    @discardableResult
    public func poll(sentAt: UInt64) async -> Bool {
        let known = state.withLock { $0.confirmedAt == nil ? "" : ($0.snapshot.version ?? "") }
        let reply: RedisValue
        do {
            reply = try await redis.evalScript(Self.pollScript, keys: [versionKey, recordsKey], arguments: [known],
                                               timeout: min(redis.configuration.commandTimeout, settings.maxStaleness))
        } catch {
            return false
        }
        guard let parts = reply.elements, let version = parts.first?.string, parts.count <= 2 else { return false }
        var made: APIKeySnapshot? = nil
        if parts.count == 2 {
            made = Self.snapshot(version: version, values: parts[1].elements)
        } else if version != known {
            return false
        }
        state.withLock { s in
            guard (s.confirmedAt ?? 0) <= sentAt else { return }
            if let made { s.snapshot = made }
            s.confirmedAt = sentAt
        }
        return true
    }

    /// The snapshot of the records' JSON values; any record that does not read fails it whole (every
    /// key refused until a writer fixes the store), as a corrupt key file does.
    static func snapshot(version: String, values: [RedisValue]?) -> APIKeySnapshot {
        guard let values else { return APIKeySnapshot(version: version, records: [], failure: "the records are not a list") }
        guard values.count <= maximumRecords else {
            return APIKeySnapshot(version: version, records: [], failure: "more than \(maximumRecords) keys")
        }
        var records: [APIKeyRecord] = []
        records.reserveCapacity(values.count)
        for value in values {
            guard let bytes = value.bytes, let json = try? JSONParser.parse(bytes, maxDepth: 8, duplicateKeys: .reject),
                  let record = try? APIKeyFileStore.record(json) else {
                return APIKeySnapshot(version: version, records: [], failure: "a record is not valid")
            }
            records.append(record)
        }
        return APIKeySnapshot(version: version, records: records, failure: nil)
    }

    /// Starts polling (every `reloadInterval`, the first poll at once) until `stop()`. `waitForFirst`:
    /// nanoseconds to wait for the first poll's outcome (so a gateway that starts with Redis up serves
    /// keys from its first request); a Redis that does not answer in time does not hold up the start.
    /// Idempotent. Any thread but a loop's when waiting.
    public func start(waitForFirst: UInt64 = 0) {
        let started: Bool = poller.withLock { task in
            guard task == nil else { return false }
            task = Task { [self] in
                while !Task.isCancelled {
                    await poll(sentAt: clock.monotonicNanoseconds())
                    pollsDone.add(1, ordering: .releasing)
                    try? await Task.sleep(nanoseconds: settings.reloadInterval)
                }
            }
            return true
        }
        guard started, waitForFirst > 0 else { return }
        let deadline = Syscall.monotonicNanoseconds() &+ waitForFirst
        while pollsDone.load(ordering: .acquiring) == 0, Syscall.monotonicNanoseconds() < deadline { Syscall.sleep(nanoseconds: 5_000_000) }
    }

    /// Stops polling (the snapshot then ages out: keys are refused after `maxStaleness`). Idempotent.
    public func stop() {
        poller.withLock { task in
            task?.cancel()
            task = nil
        }
    }

    // MARK: APIKeyStore (the command line)

    static let addScript = RedisScript("""
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
        redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
        redis.call('SET', KEYS[3], ARGV[4])
        return 1
        """)

    /// Replaces record ARGV[1] with ARGV[3] when it is still ARGV[2] (0: it changed or is gone).
    static let compareAndSetScript = RedisScript("""
        if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
        redis.call('SET', KEYS[2], ARGV[4])
        return 1
        """)

    /// 128 random bits, hex.
    static func newVersion() throws -> String { Digest.hex(try SecureRandom.bytes(16)) }

    public func records() async throws -> [APIKeyRecord] {
        let reply = try await redis.send(["HVALS", recordsKey])
        guard let values = reply.elements else { throw APIKeyStoreError("the key records in Redis are not a hash") }
        var out: [APIKeyRecord] = []
        for value in values {
            guard let bytes = value.bytes, let json = try? JSONParser.parse(bytes, maxDepth: 8, duplicateKeys: .reject) else {
                throw APIKeyStoreError("a key record in Redis is not JSON")
            }
            out.append(try APIKeyFileStore.record(json))
        }
        return out.sorted { ($0.created, $0.id) < ($1.created, $1.id) }
    }

    public func add(_ record: APIKeyRecord) async throws {
        let json = String(decoding: JSONSerializer.serialize(APIKeyFileStore.json(record)), as: UTF8.self)
        let reply = try await redis.evalScript(Self.addScript, keys: [recordsKey, digestsKey, versionKey], arguments: [record.id, record.digest, json, try Self.newVersion()])
        guard reply.int == 1 else { throw APIKeyStoreError("a key with this id or digest exists") }
    }

    @discardableResult
    public func update(id: String, _ change: (inout APIKeyRecord) -> Void) async throws -> APIKeyRecord {
        for _ in 0..<Self.maximumUpdateAttempts {
            guard let bytes = try await redis.send(["HGET", recordsKey, id]).bytes else { throw APIKeyStoreError.notFound(id) }
            guard let json = try? JSONParser.parse(bytes, maxDepth: 8, duplicateKeys: .reject) else {
                throw APIKeyStoreError("the record of '\(id)' in Redis is not JSON")
            }
            var record = try APIKeyFileStore.record(json)
            let before = record
            change(&record)
            precondition(record.id == before.id && record.digest == before.digest, "an update may not change a key's id or digest")
            let new = String(decoding: JSONSerializer.serialize(APIKeyFileStore.json(record)), as: UTF8.self)
            let reply = try await redis.evalScript(Self.compareAndSetScript, keys: [recordsKey, versionKey],
                                                   arguments: [id, String(decoding: bytes, as: UTF8.self), new, try Self.newVersion()])
            if reply.int == 1 { return record }
        }
        throw APIKeyStoreError("the record of '\(id)' kept changing: try again")
    }
}
