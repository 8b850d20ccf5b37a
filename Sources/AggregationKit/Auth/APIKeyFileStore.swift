#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The API key store in one JSON file (mode 0600), shared by the command line and every running
/// gateway on the host:
///
/// ```json
/// {"version": 1, "keys": [
///   {"id": "key_Zm9vYmFyYmF6", "digest": "9f86…08", "partner": "acme", "tier": "gold",
///    "scopes": ["orders:read"], "created": 1795000000, "expires": 1797592000, "status": "active"}
/// ]}
/// ```
///
/// Writers (the command line) take an `flock` on `<file>.lock`, read, change, and replace the file
/// atomically (temporary file + rename). Readers (gateways) never lock: they `stat` the file at most
/// every `reloadInterval` per loop and re-read it when its stamp (inode, size, mtime) changed; the parsed
/// snapshot is shared by every loop of the process, so a change is read once.
public final class APIKeyFileStore: APIKeyStore, APIKeySource {
    public let path: String
    /// How often a loop looks at the file's stamp (nanoseconds, on the loop's monotonic clock).
    public let reloadInterval: UInt64
    /// Largest file read (1 MiB: ~3,000 keys).
    static let maximumFileBytes = 1 << 20

    public typealias Snapshot = APIKeySnapshot

    private let current: Mutex<Snapshot>

    public init(path: String, reloadInterval: UInt64 = 200_000_000) {
        self.path = path
        self.reloadInterval = reloadInterval
        current = Mutex(Snapshot(stamp: nil, records: [], failure: nil))
        _ = snapshot(ifStampDiffersFrom: nil, force: true)
    }

    // MARK: Reading (gateways)

    /// The snapshot for `stamp` (the file's current stamp): the shared one if it matches, else the file
    /// is read again. A file that cannot be read or parsed gives an empty snapshot with `failure` set:
    /// every key is refused (fail closed), never the last good set kept past a revocation.
    func snapshot(ifStampDiffersFrom known: Syscall.FileStamp?, force: Bool = false) -> Snapshot {
        let stamp = Syscall.fileStamp(path)
        return current.withLock { snapshot in
            if !force, snapshot.stamp == stamp { return snapshot }
            let made: Snapshot
            do {
                made = Snapshot(stamp: stamp, records: try readRecords(), failure: nil)
            } catch {
                made = Snapshot(stamp: stamp, records: [], failure: "\(error)")
            }
            snapshot = made
            return made
        }
    }

    /// The current snapshot, re-read when the file changed. Any thread.
    public func currentSnapshot() -> Snapshot { snapshot(ifStampDiffersFrom: nil) }

    // MARK: APIKeySource (the stage)

    /// The shared snapshot once the file's stamp differs from the one `current` was read with (one
    /// `stat`); a file is never stale (`usableUntil` = max).
    public func refreshed(_ current: APIKeySnapshot?) -> (snapshot: APIKeySnapshot, usableUntil: UInt64) {
        if let current, Syscall.fileStamp(path) == current.stamp { return (current, .max) }
        return (currentSnapshot(), .max)
    }

    // MARK: APIKeyStore (the command line)

    public func records() throws -> [APIKeyRecord] { try readRecords() }

    public func add(_ record: APIKeyRecord) throws {
        try modify { records in
            if records.contains(where: { $0.id == record.id || $0.digest == record.digest }) { throw APIKeyStoreError("a key with this id or digest exists") }
            records.append(record)
        }
    }

    @discardableResult
    public func update(id: String, _ change: (inout APIKeyRecord) -> Void) throws -> APIKeyRecord {
        var result: APIKeyRecord?
        try modify { records in
            guard let i = records.firstIndex(where: { $0.id == id }) else { throw APIKeyStoreError.notFound(id) }
            change(&records[i])
            result = records[i]
        }
        return result!
    }

    /// Read-modify-write under the lock, then an atomic replace.
    private func modify(_ change: (inout [APIKeyRecord]) throws -> Void) throws {
        try Syscall.withExclusiveLock(path + ".lock") {
            var records = try readRecords()
            try change(&records)
            try Syscall.replaceFile(path, with: Self.encode(records), mode: 0o600)
        }
        _ = snapshot(ifStampDiffersFrom: nil, force: true)
    }

    /// The file's records; a missing file is an empty store.
    private func readRecords() throws -> [APIKeyRecord] {
        guard Syscall.fileStamp(path) != nil else { return [] }
        guard let bytes = Syscall.readSmallFile(path, limit: Self.maximumFileBytes + 1) else { throw APIKeyStoreError("cannot read '\(path)'") }
        guard bytes.count <= Self.maximumFileBytes else { throw APIKeyStoreError("'\(path)' is larger than 1 MiB") }
        return try Self.decode(bytes)
    }

    // MARK: Format

    static func decode(_ bytes: [UInt8]) throws -> [APIKeyRecord] {
        let document: JSONValue
        do { document = try JSONParser.parse(bytes, maxDepth: 8, duplicateKeys: .reject) } catch { throw APIKeyStoreError("not valid JSON") }
        guard case .object(let top) = document, top["version"] == .number(JSONNumber(1)), case .array(let list)? = top["keys"] else {
            throw APIKeyStoreError("expected {\"version\": 1, \"keys\": [...]}")
        }
        var out: [APIKeyRecord] = []
        for (i, item) in list.enumerated() {
            do { out.append(try record(item)) } catch { throw APIKeyStoreError("keys[\(i)]: \(error.description)") }
        }
        return out
    }

    /// One record object (as in the file's `keys`, and as the Redis store keeps each record).
    static func record(_ item: JSONValue) throws(APIKeyStoreError) -> APIKeyRecord {
        func fail(_ why: String) -> APIKeyStoreError { APIKeyStoreError(why) }
        guard case .object(let o) = item else { throw fail("expected an object") }
        func string(_ key: String) throws(APIKeyStoreError) -> String {
            guard case .string(let s)? = o[key], !s.isEmpty else { throw fail("\(key): expected a non-empty string") }
            return s
        }
        func seconds(_ key: String) throws(APIKeyStoreError) -> Int64? {
            guard let v = o[key], !v.isNull else { return nil }
            guard case .number(let n) = v, n.isInteger, let s = Int64(n.text) else { throw fail("\(key): expected Unix seconds") }
            return s
        }
        let digest = try string("digest")
        guard digest.utf8.count == 64, Self.bytes(hex: digest) != nil else { throw fail("digest: expected 64 hex digits") }
        guard case .array(let scopeValues)? = o["scopes"] else { throw fail("scopes: expected an array") }
        var scopes: [String] = []
        for v in scopeValues {
            guard case .string(let s) = v else { throw fail("scopes: expected strings") }
            scopes.append(s)
        }
        guard let status = APIKeyRecord.Status(rawValue: try string("status")) else { throw fail("status: expected active or revoked") }
        guard let created = try seconds("created") else { throw fail("created: required") }
        return APIKeyRecord(id: try string("id"), digest: digest.lowercased(), partner: try string("partner"), tier: try string("tier"),
                            scopes: scopes, created: created, expires: try seconds("expires"), status: status)
    }

    /// One record as a JSON object, members in a fixed order.
    static func json(_ r: APIKeyRecord) -> JSONValue {
        var entries: [(key: String, value: JSONValue)] = [
            ("id", .string(r.id)), ("digest", .string(r.digest)), ("partner", .string(r.partner)), ("tier", .string(r.tier)),
            ("scopes", .array(r.scopes.map { .string($0) })), ("created", .number(JSONNumber(Int(r.created)))),
        ]
        if let expires = r.expires { entries.append(("expires", .number(JSONNumber(Int(expires))))) }
        entries.append(("status", .string(r.status.rawValue)))
        return .object(JSONObject(entries))
    }

    /// One record per line: a diff of the file shows which key changed.
    static func encode(_ records: [APIKeyRecord]) -> [UInt8] {
        var out = Array("{\"version\": 1, \"keys\": [\n".utf8)
        for (i, r) in records.enumerated() {
            out += Array("  ".utf8) + JSONSerializer.serialize(json(r))
            out += Array((i == records.count - 1 ? "\n" : ",\n").utf8)
        }
        out += Array("]}\n".utf8)
        return out
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let high = value(digits[i]), let low = value(digits[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}

extension TokenDigest {
    /// From a SHA-256 digest already computed (32 bytes, as `init(of:)` would lay them out).
    init(digestBytes: [UInt8]) {
        precondition(digestBytes.count == 32)
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { out in digestBytes.withUnsafeBytes { out.copyMemory(from: $0) } }
        (a, b, c, d) = words
    }
}
