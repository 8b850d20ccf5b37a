/// A partner API key as the gateway knows it: never the key itself, only its SHA-256 digest with what
/// the key grants. Stored by an `APIKeyStore`; the key is shown once, when it is created.
///
///     key     = "bffk_" + base64url(32 random bytes)          48 characters, e.g. bffk_3q2-7w…
///     digest  = hex(SHA-256(key's bytes, prefix included))   what the store keeps and looks up
public struct APIKeyRecord: Sendable, Equatable {
    public enum Status: String, Sendable { case active, revoked }

    /// `key_` + 12 base64url characters: names the key in `keys list|revoke|rotate` and in logs.
    public var id: String
    /// Lower-case hex SHA-256 of the key.
    public var digest: String
    public var partner: String
    public var tier: String
    public var scopes: [String]
    /// Unix seconds.
    public var created: Int64
    /// Unix seconds; nil = does not expire. Refused from this second on.
    public var expires: Int64?
    public var status: Status

    public init(id: String, digest: String, partner: String, tier: String, scopes: [String], created: Int64, expires: Int64?, status: Status) {
        self.id = id
        self.digest = digest
        self.partner = partner
        self.tier = tier
        self.scopes = scopes
        self.created = created
        self.expires = expires
        self.status = status
    }

    /// Why a presented key is refused, or nil when it is usable at `now` (Unix seconds).
    public func refusal(now: Int64) -> APIKeyRefusal? {
        if status == .revoked { return .revoked }
        if let expires, now >= expires { return .expired }
        return nil
    }
}

/// A stable reason (metric label, log field; never sent to the client, which gets one answer for all).
public enum APIKeyRefusal: String, Error, Sendable {
    case malformed, unknown, revoked, expired
}

/// Making and recognising keys.
public enum APIKeyFormat {
    public static let prefix = "bffk_"
    static let randomBytes = 32
    /// 5 + 43 (32 bytes in unpadded base64url).
    public static let length = 48

    /// A fresh key (256 random bits), its id and digest. The key must be shown once and dropped.
    public static func generate() throws(CryptoError) -> (key: String, id: String, digest: String) {
        let key = prefix + Base64URL.encode(try SecureRandom.bytes(randomBytes))
        let id = "key_" + Base64URL.encode(try SecureRandom.bytes(9))
        return (key, id, digestHex(Array(key.utf8)))
    }

    public static func digestHex(_ key: [UInt8]) -> String { Digest.hex(Digest.sha256(key)) }

    /// Whether `bytes` have a key's shape (prefix, 43 base64url characters): anything else is refused
    /// before it is hashed or looked up.
    static func isWellFormed(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count == length else { return false }
        for (i, p) in prefix.utf8.enumerated() where bytes[i] != p { return false }
        for i in prefix.utf8.count..<length {
            let c = bytes[i]
            let ok = (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F
            if !ok { return false }
        }
        return true
    }
}

/// Where keys are managed (the command line's side): the JSON file, the embedded default
/// (`APIKeyFileStore`), or Redis (`APIKeyRedisStore`). Gateways read through `APIKeySource`.
/// Implementations are safe from any thread.
public protocol APIKeyStore: Sendable {
    /// Every record, in creation order.
    func records() async throws -> [APIKeyRecord]
    /// Adds a record (its id and digest must be new).
    func add(_ record: APIKeyRecord) async throws
    /// Applies `change` to the record `id` and returns the result; throws `APIKeyStoreError.notFound`.
    @discardableResult
    func update(id: String, _ change: (inout APIKeyRecord) -> Void) async throws -> APIKeyRecord
}

public struct APIKeyStoreError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
    static func notFound(_ id: String) -> APIKeyStoreError { APIKeyStoreError("no key with id '\(id)'") }
}
