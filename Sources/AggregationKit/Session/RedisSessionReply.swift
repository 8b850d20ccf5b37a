/// Strict readers for the replies of `RedisSessionStore`'s scripts, pure (tested without a socket).
/// Anything that is not exactly what the script returns — a wrong type, a missing or extra field, a
/// number with a sign or a leading zero, a record that contradicts the request — is `unexpectedReply`:
/// a broken or hostile Redis must never crash the gateway or produce a "logged in".
enum RedisSessionReply {
    /// Field size bounds when reading back (what we write is far below them).
    static let maximumIDBytes = 256
    static let maximumSubjectBytes = 4096
    static let maximumRolesBytes = 65_536
    static let maximumRoles = 1024
    static let maximumClientBytes = 64
    static let maximumUserAgentBytes = 4096

    /// `roles` as stored: a JSON array of strings.
    static func encodeRoles(_ roles: [String]) -> String {
        JSONSerializer.string(.array(roles.map { .string($0) }))
    }

    static func decodeRoles(_ bytes: [UInt8], _ operation: String) throws(SessionStoreError) -> [String] {
        guard bytes.count <= maximumRolesBytes, let json = try? JSONParser.parse(bytes, maxDepth: 2), let array = json.arrayValue,
              array.count <= maximumRoles else {
            throw .malformed(operation, "roles that are not a JSON array")
        }
        var roles: [String] = []
        roles.reserveCapacity(array.count)
        for element in array {
            guard let role = element.stringValue else { throw .malformed(operation, "a role that is not a string") }
            roles.append(role)
        }
        return roles
    }

    /// A bulk string of valid UTF-8, `1...maximum` bytes (`0...` when `allowEmpty`).
    static func text(_ value: RedisValue, _ maximum: Int, allowEmpty: Bool = false, _ operation: String, _ field: String) throws(SessionStoreError) -> String {
        guard case .bulkString(let bytes) = value, bytes.count <= maximum, allowEmpty || !bytes.isEmpty,
              let string = String(validating: bytes, as: UTF8.self) else {
            throw .malformed(operation, "a bad \(field) (\(value.typeName))")
        }
        return string
    }

    /// A bulk string holding a decimal Int64 exactly as we write them: `-?[0-9]+`, no leading zero, no `+`.
    static func integer(_ value: RedisValue, _ operation: String, _ field: String) throws(SessionStoreError) -> Int64 {
        guard case .bulkString(let bytes) = value, !bytes.isEmpty, bytes.count <= 20 else {
            throw .malformed(operation, "a bad \(field) (\(value.typeName))")
        }
        let digits = bytes.first == UInt8(ascii: "-") ? bytes.dropFirst() : bytes[...]
        guard !digits.isEmpty, digits.allSatisfy({ (0x30...0x39).contains($0) }),
              digits.count == 1 || digits.first != 0x30,
              let n = Int64(String(decoding: bytes, as: UTF8.self)) else {
            throw .malformed(operation, "a bad \(field) (not a decimal integer)")
        }
        return n
    }

    /// `id sub roles client ua created refreshed expires`.
    static func record(_ value: RedisValue, _ operation: String) throws(SessionStoreError) -> SessionRecord {
        guard case .array(let f) = value, f.count == 8 else {
            throw .malformed(operation, "a session that is not an array of 8 fields")
        }
        guard case .bulkString(let roles) = f[2] else { throw .malformed(operation, "roles that are not a string") }
        let record = SessionRecord(
            id: try text(f[0], maximumIDBytes, operation, "id"),
            subject: try text(f[1], maximumSubjectBytes, operation, "subject"),
            roles: try decodeRoles(roles, operation),
            client: try text(f[3], maximumClientBytes, allowEmpty: true, operation, "client"),
            userAgent: try text(f[4], maximumUserAgentBytes, allowEmpty: true, operation, "user agent"),
            createdAt: try integer(f[5], operation, "createdAt"),
            lastRefreshedAt: try integer(f[6], operation, "lastRefreshedAt"),
            expiresAt: try integer(f[7], operation, "expiresAt"))
        return record
    }

    /// A status word (`rotated`, `invalid`, …) as the first element of an array reply, and the rest (a record).
    static func status(_ value: RedisValue, _ operation: String) throws(SessionStoreError) -> (String, [RedisValue]) {
        guard case .array(let elements) = value, elements.count >= 1, elements.count <= 2,
              case .bulkString(let word) = elements[0], word.count <= 16 else {
            throw .malformed(operation, "\(value.typeName) instead of a status array")
        }
        return (String(decoding: word, as: UTF8.self), Array(elements.dropFirst()))
    }

    static func rotation(_ value: RedisValue, now: Int64) throws(SessionStoreError) -> RotationResult {
        let operation = "rotate"
        let (word, rest) = try status(value, operation)
        switch (word, rest.count) {
        case ("invalid", 0):
            return .invalid
        case ("rotated", 1):
            let record = try record(rest[0], operation)
            // The script has just set `refreshed` to `now`, and never rotates an expired family.
            guard record.lastRefreshedAt == now, !record.isExpired(now: now) else {
                throw .malformed(operation, "a rotation that contradicts the request")
            }
            return .rotated(record)
        case ("reused", 1):
            return .reused(try record(rest[0], operation))
        default:
            throw .malformed(operation, "an unknown status or field count")
        }
    }

    static func revokedToken(_ value: RedisValue, now: Int64) throws(SessionStoreError) -> SessionRecord? {
        let operation = "revoke"
        let (word, rest) = try status(value, operation)
        switch (word, rest.count) {
        case ("none", 0): return nil
        case ("revoked", 1): return try record(rest[0], operation)
        default: throw .malformed(operation, "an unknown status or field count")
        }
    }

    /// `:0` or `:1`.
    static func flag(_ value: RedisValue, _ operation: String) throws(SessionStoreError) -> Bool {
        switch value {
        case .integer(0): return false
        case .integer(1): return true
        default: throw .malformed(operation, "\(value.typeName) instead of 0 or 1")
        }
    }

    static func sessions(_ value: RedisValue, subject: String, now: Int64, most: Int) throws(SessionStoreError) -> [SessionRecord] {
        let operation = "sessions"
        guard case .array(let elements) = value, elements.count <= most else {
            throw .malformed(operation, "\(value.typeName) instead of at most \(most) sessions")
        }
        var records: [SessionRecord] = []
        records.reserveCapacity(elements.count)
        for element in elements {
            let record = try record(element, operation)
            guard record.subject == subject, !record.isExpired(now: now), !records.contains(where: { $0.id == record.id }) else {
                throw .malformed(operation, "a session that contradicts the request")
            }
            records.append(record)
        }
        return records
    }
}
