/// An immutable version of a key store, as the API-key stage reads it: records by the SHA-256 of their
/// key (the digest's 32 bytes), each with the identity it gives, built once when the version is read.
/// Shared by every loop of a process; a new version is a new snapshot.
public final class APIKeySnapshot: Sendable {
    /// The file's stamp when read (file store only: what the next look compares).
    let stamp: Syscall.FileStamp?
    /// The store's version when read (Redis store only).
    let version: String?
    let byDigest: [TokenDigest: Entry]
    /// Why the store could not be read: then the snapshot is empty and every key is refused.
    let failure: String?

    init(stamp: Syscall.FileStamp? = nil, version: String? = nil, records: [APIKeyRecord], failure: String?) {
        self.stamp = stamp
        self.version = version
        self.failure = failure
        var map: [TokenDigest: Entry] = [:]
        for record in records {
            guard let bytes = APIKeyFileStore.bytes(hex: record.digest), bytes.count == 32 else { continue }
            let digest = TokenDigest(digestBytes: bytes)
            // Two records for one key (a hand-edited file, a Redis written around the command line): which
            // one a hash's order puts last must not decide, or a revoked key could come back as active.
            // The key is refused (as revoked) until the store is fixed.
            if map[digest] != nil {
                var refused = record
                refused.status = .revoked
                map[digest] = Entry(record: refused)
            } else {
                map[digest] = Entry(record: record)
            }
        }
        byDigest = map
    }

    /// The number of keys it holds.
    public var count: Int { byDigest.count }

    /// A record with the identity it gives, built once per load (no per-request building).
    struct Entry: Sendable {
        let record: APIKeyRecord
        let identity: Identity
        init(record: APIKeyRecord) {
            self.record = record
            var identity = Identity()
            identity.principal = record.partner
            identity.scopes = Set(record.scopes)
            identity.claims = JSONObject([("sub", .string(record.partner)), ("tier", .string(record.tier)), ("keyId", .string(record.id)),
                                          ("scope", .string(record.scopes.joined(separator: " ")))])
            self.identity = identity
        }
    }

    /// The record for a presented key (nil when malformed or unknown), and why it is refused (nil:
    /// usable) at `now` (Unix seconds). A pure hash-table probe: keys are never compared byte-wise.
    func lookup(_ key: UnsafeBufferPointer<UInt8>, now: Int64) -> (entry: Entry?, refusal: APIKeyRefusal?) {
        guard APIKeyFormat.isWellFormed(key) else { return (nil, .malformed) }
        let digest = TokenDigest(of: UnsafeRawBufferPointer(key))
        guard let entry = byDigest[digest] else { return (nil, .unknown) }
        return (entry, entry.record.refusal(now: now))
    }
}

/// Where the API-key stage takes its snapshots from: the key file (`APIKeyFileStore`) or Redis
/// (`APIKeyRedisStore`). The stage stays synchronous: each loop asks at most every `reloadInterval`
/// for a newer snapshot (a `stat`, or a lock and a load), and between looks only reads its own copy.
public protocol APIKeySource: AnyObject, Sendable {
    /// Nanoseconds between a loop's looks.
    var reloadInterval: UInt64 { get }
    /// The snapshot a loop should use from now on (`current` itself when nothing changed; nil at the
    /// first look), and the monotonic nanoseconds until which it may be used: past them the stage
    /// answers 503 instead of trusting a set that may miss a revocation. Any thread.
    func refreshed(_ current: APIKeySnapshot?) -> (snapshot: APIKeySnapshot, usableUntil: UInt64)
}

/// The source of a policy whose store is Redis in a gateway that has none: every key refused with 503.
/// (Configuration parsing makes this impossible; it keeps the stage total instead of trapping.)
final class UnavailableAPIKeySource: APIKeySource {
    static let shared = UnavailableAPIKeySource()
    let reloadInterval: UInt64 = 1_000_000_000
    private let empty = APIKeySnapshot(records: [], failure: "no key store")
    func refreshed(_ current: APIKeySnapshot?) -> (snapshot: APIKeySnapshot, usableUntil: UInt64) { (empty, 0) }
}
