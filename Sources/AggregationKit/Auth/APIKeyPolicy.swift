/// A route's `policy.auth` when it takes partner API keys (`"apiKey": true`): the store keys are looked
/// up in (the top-level `auth.apiKeys`) and the scopes a key must carry.
///
/// ```json
/// "auth": { "apiKey": true, "require": [ { "scopes": ["orders:read"] }, { "scopes": ["admin"] } ] }
/// ```
public struct APIKeyPolicy: Sendable {
    public var store: APIKeyStoreChoice
    /// Alternatives of scope lists: a key passes when it carries every scope of any one. Empty: any
    /// active key passes.
    public var require: [[String]]

    public init(store: APIKeyStoreChoice, require: [[String]] = []) {
        self.store = store
        self.require = require
    }

    public init(store: APIKeyFileStore, require: [[String]] = []) {
        self.init(store: .file(store), require: require)
    }
}

/// `auth.apiKeys`: which store holds the keys. The file store is made (and read once) when the
/// configuration is loaded; the Redis store needs the gateway's Redis client, so the gateway makes it
/// (one per gateway) from these settings.
public enum APIKeyStoreChoice: Sendable {
    case file(APIKeyFileStore)
    case redis(APIKeyRedisStore.Settings)

    /// The file store, when that is the choice.
    public var fileStore: APIKeyFileStore? {
        if case .file(let store) = self { return store }
        return nil
    }

    /// The Redis store's settings, when that is the choice.
    public var redisSettings: APIKeyRedisStore.Settings? {
        if case .redis(let settings) = self { return settings }
        return nil
    }
}

/// Where a request carries its API key: `X-API-Key: <key>` or `Authorization: ApiKey <key>`. Read
/// without making Strings.
enum APIKeyCredentials {
    enum Reading: Equatable {
        case missing
        /// Several key fields, or both forms: which one counts would be a guess, so neither does.
        case ambiguous
        /// The key's bytes are at `range` of field `field`'s value.
        case key(field: Int, range: Range<Int>)
    }

    static func read(_ headers: HTTPHeaders) -> Reading {
        var found: Reading = .missing
        for i in 0..<headers.count {
            let length = headers.nameLength(at: i)
            if length == 9, headers.nameEquals(at: i, "x-api-key") {
                guard case .missing = found else { return .ambiguous }
                found = headers.withValueBytes(at: i) { .key(field: i, range: trimmed($0)) }
            } else if length == 13, headers.nameEquals(at: i, "authorization") {
                let range: Range<Int>? = headers.withValueBytes(at: i) { apiKeyScheme($0) }
                guard let range else { continue }
                guard case .missing = found else { return .ambiguous }
                found = .key(field: i, range: range)
            }
        }
        return found
    }

    static func trimmed(_ value: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        var start = 0, end = value.count
        while start < end, value[start] == 0x20 || value[start] == 0x09 { start += 1 }
        while end > start, value[end - 1] == 0x20 || value[end - 1] == 0x09 { end -= 1 }
        return start..<end
    }

    /// The credentials' range when the scheme is `ApiKey` (case-insensitive), else nil.
    static func apiKeyScheme(_ value: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        let all = trimmed(value)
        let scheme = "apikey".utf8
        guard all.count > 6, zip(value[all.lowerBound..<all.lowerBound + 6], scheme).allSatisfy({ ($0 | 0x20) == $1 }),
              value[all.lowerBound + 6] == 0x20 else { return nil }
        var start = all.lowerBound + 7
        while start < all.upperBound, value[start] == 0x20 { start += 1 }
        return start..<all.upperBound
    }
}
