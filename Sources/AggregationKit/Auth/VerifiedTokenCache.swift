/// The SHA-256 of a bearer token: the key of the verified-token cache. Four words, hashed and compared
/// without touching the heap. Tokens are canonical (strict base64url), so one token has one digest.
public struct TokenDigest: Hashable, Sendable {
    let a: UInt64, b: UInt64, c: UInt64, d: UInt64

    /// The digest of the token bytes in `buffer`.
    public init(of buffer: UnsafeRawBufferPointer) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { Digest.sha256(buffer, into: $0) }
        (a, b, c, d) = words
    }

    public init(of token: [UInt8]) {
        self = token.withUnsafeBytes { TokenDigest(of: $0) }
    }
}

/// A bounded least-recently-used cache of verified tokens, keyed by their digest, each entry dropped once
/// its token expires. Pure (time comes in as `now`, wall-clock seconds) and single-threaded: the auth
/// stage keeps one per loop, so a busy client's repeated token costs a hash and a lookup, not a
/// signature check, with no lock.
///
///     lookup(k, now):  hit and now < expiresAt  → move to front, return the value
///                      hit but expired          → remove, miss (the token is checked again, and refused)
///     insert(k, v, expiresAt): full → the least recently used entry goes
///
/// Storage is allocated once (`capacity` slots, the index reserved to it); entries are linked by index.
public struct VerifiedTokenCache<Value> {
    struct Entry {
        var key: TokenDigest
        var value: Value
        var expiresAt: Double
        var newer: Int32
        var older: Int32
    }

    public let capacity: Int
    private var index: [TokenDigest: Int32]
    private var entries: [Entry] = []
    /// Most and least recently used slots (-1: none).
    private var newest: Int32 = -1
    private var oldest: Int32 = -1
    /// Slots freed by expiry, reused before new ones.
    private var free: [Int32] = []

    public init(capacity: Int) {
        precondition(capacity >= 0 && capacity <= Int(Int32.max))
        self.capacity = capacity
        index = Dictionary(minimumCapacity: capacity)
        entries.reserveCapacity(capacity)
    }

    /// Entries held (expired ones not yet looked at included).
    public var count: Int { index.count }

    /// The value for `key` while `now` < its expiry; an expired entry is removed.
    public mutating func lookup(_ key: TokenDigest, now: Double) -> Value? {
        guard let slot = index[key] else { return nil }
        let i = Int(slot)
        guard now < entries[i].expiresAt else {
            unlink(slot)
            index[key] = nil
            free.append(slot)
            return nil
        }
        if slot != newest {
            unlink(slot)
            pushFront(slot)
        }
        return entries[i].value
    }

    /// Remembers `value` for `key` until `expiresAt` (not stored when that has passed or the capacity is 0).
    public mutating func insert(_ key: TokenDigest, _ value: Value, expiresAt: Double, now: Double) {
        guard capacity > 0, now < expiresAt else { return }
        if let slot = index[key] {
            entries[Int(slot)].value = value
            entries[Int(slot)].expiresAt = expiresAt
            if slot != newest { unlink(slot); pushFront(slot) }
            return
        }
        let slot: Int32
        if let reused = free.popLast() {
            slot = reused
            entries[Int(slot)] = Entry(key: key, value: value, expiresAt: expiresAt, newer: -1, older: -1)
        } else if entries.count < capacity {
            slot = Int32(entries.count)
            entries.append(Entry(key: key, value: value, expiresAt: expiresAt, newer: -1, older: -1))
        } else {
            // Full: the least recently used entry makes room.
            slot = oldest
            unlink(slot)
            index[entries[Int(slot)].key] = nil
            entries[Int(slot)] = Entry(key: key, value: value, expiresAt: expiresAt, newer: -1, older: -1)
        }
        index[key] = slot
        pushFront(slot)
    }

    private mutating func unlink(_ slot: Int32) {
        let e = entries[Int(slot)]
        if e.newer >= 0 { entries[Int(e.newer)].older = e.older } else { newest = e.older }
        if e.older >= 0 { entries[Int(e.older)].newer = e.newer } else { oldest = e.newer }
        entries[Int(slot)].newer = -1
        entries[Int(slot)].older = -1
    }

    private mutating func pushFront(_ slot: Int32) {
        entries[Int(slot)].older = newest
        entries[Int(slot)].newer = -1
        if newest >= 0 { entries[Int(newest)].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }
}
