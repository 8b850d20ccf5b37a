/// Login lockout in Redis, shared by every instance: one hash per key,
///
///     P l:a:<sha256(account)>   hash failures last locked   TTL: until the entry is stale
///     P l:c:<sha256(client)>    hash failures last locked   (`LockoutPolicy.secondsToKeep`)
///
/// under the prefix `P` (default `bff:login:`). `recordFailure` is one Lua script that applies
/// `LockoutPolicy.recordFailure` to both keys atomically: the rule is written twice, in Swift and in
/// Lua (`failureScript`), and the two must stay identical (`LoginThrottleConformanceTests` compares
/// them at hand-driven times). `retryAfter` reads both entries in one script and decides in Swift;
/// `recordSuccess` is a single `DEL`. `beginAttempt` (what the login uses) is the lock check and the
/// failure rule in one script (`attemptScript`), `refundAttempt` one more (`refundScript`). Times are the
/// caller's, never Redis `TIME`.
///
/// Fails closed like the session store (`SessionStoreError`): the login endpoint answers 503.
public final class RedisLoginThrottle: LoginThrottle {
    public static let defaultPrefix = "bff:login:"

    public let redis: RedisClient
    public let prefix: String
    public let accountPolicy: LockoutPolicy
    public let clientPolicy: LockoutPolicy
    public let timeout: UInt64?

    public init(redis: RedisClient, prefix: String = RedisLoginThrottle.defaultPrefix,
                accountPolicy: LockoutPolicy = LockoutPolicy(), clientPolicy: LockoutPolicy = LockoutPolicy(threshold: 20),
                timeout: UInt64? = nil) {
        precondition(RedisSessionStore.isValidPrefix(prefix), "RedisLoginThrottle: the prefix must be 1–64 printable ASCII characters without spaces")
        self.redis = redis
        self.prefix = prefix
        self.accountPolicy = accountPolicy
        self.clientPolicy = clientPolicy
        self.timeout = timeout
    }

    /// ARGV: accountKey, clientKey. Replies {failures, last, locked} for each (zeros when absent).
    static let readScript = RedisScript("""
        local out = {}
        for i = 1, 2 do
          local e = redis.call('HMGET', ARGV[i], 'failures', 'last', 'locked')
          out[#out + 1] = tonumber(e[1]) or 0
          out[#out + 1] = tonumber(e[2]) or 0
          out[#out + 1] = tonumber(e[3]) or 0
        end
        return out
        """)

    /// `LockoutPolicy.recordFailure` and `secondsToKeep`, in Lua, for both keys. ARGV: accountKey,
    /// clientKey, now, then threshold window base maximum for the account and for the client.
    /// Replies {failures, last, locked, lock} for each, lock -1 when none started.
    static let failureScript = RedisScript(failurePrelude + """
        local a = fail(ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]))
        local c = fail(ARGV[2], tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]))
        return {a[1], a[2], a[3], a[4], c[1], c[2], c[3], c[4]}
        """)

    /// `beginAttempt`: the lock check and `failureScript` in one script (same ARGV). Replies
    /// {0, accountWait, clientWait} when either key is locked (nothing counted), else {1} followed by
    /// `failureScript`'s eight integers.
    static let attemptScript = RedisScript(failurePrelude + """
        local wa, wc = 0, 0
        local la = tonumber(redis.call('HGET', ARGV[1], 'locked')) or 0
        local lc = tonumber(redis.call('HGET', ARGV[2], 'locked')) or 0
        if la > now then wa = la - now end
        if lc > now then wc = lc - now end
        if wa > 0 or wc > 0 then return {0, wa, wc} end
        local a = fail(ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]))
        local c = fail(ARGV[2], tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]))
        return {1, a[1], a[2], a[3], a[4], c[1], c[2], c[3], c[4]}
        """)

    /// `refundAttempt`. ARGV: accountKey, clientKey, succeeded (1/0). One failure less on each key (a
    /// `HSET` keeps the key's TTL), or the account key deleted on success. Replies 1.
    static let refundScript = RedisScript("""
        local function refund(key)
          local f = tonumber(redis.call('HGET', key, 'failures'))
          if f and f > 0 then redis.call('HSET', key, 'failures', f - 1) end
        end
        if ARGV[3] == '1' then redis.call('DEL', ARGV[1]) else refund(ARGV[1]) end
        refund(ARGV[2])
        return 1
        """)

    /// The shared part of `failureScript` and `attemptScript`: `now` and `fail`.
    static let failurePrelude = """
        local now = tonumber(ARGV[3])
        local function fail(key, threshold, window, base, maximum)
          local e = redis.call('HMGET', key, 'failures', 'last', 'locked')
          local failures, last, locked = tonumber(e[1]) or 0, tonumber(e[2]) or 0, tonumber(e[3]) or 0
          if now - last >= window then failures = 0 end
          failures = failures + 1
          last = now
          local lock = -1
          if failures >= threshold then
            local doublings = failures - threshold
            if doublings >= 40 then lock = maximum else lock = math.min(base * 2 ^ doublings, maximum) end
            locked = now + lock
          end
          redis.call('HSET', key, 'failures', failures, 'last', last, 'locked', locked)
          redis.call('EXPIRE', key, math.max(1, math.max(last + window, locked) - now))
          return {failures, last, locked, lock}
        end

        """

    public func retryAfter(account: String, client: String, now: Int64) async throws(SessionStoreError) -> Int64? {
        let reply = try await run(Self.readScript, "lockout read", [key(LoginThrottleKey.account(account)), key(LoginThrottleKey.client(client))])
        let n = try Self.integers(reply, count: 6, "lockout read")
        let a = LockoutPolicy.Entry(failures: Int(n[0]), lastFailure: n[1], lockedUntil: n[2])
        let c = LockoutPolicy.Entry(failures: Int(n[3]), lastFailure: n[4], lockedUntil: n[5])
        return LoginThrottleKey.longer(accountPolicy.retryAfter(a, now: now), clientPolicy.retryAfter(c, now: now))
    }

    public func recordFailure(account: String, client: String, now: Int64) async throws(SessionStoreError) -> Int64? {
        let reply = try await run(Self.failureScript, "lockout failure", failureArguments(account, client, now))
        return try locks(Self.integers(reply, count: 8, "lockout failure"), "lockout failure")
    }

    public func beginAttempt(account: String, client: String, now: Int64) async throws(SessionStoreError) -> LoginAttempt {
        let operation = "lockout attempt"
        let reply = try await run(Self.attemptScript, operation, failureArguments(account, client, now))
        if case .array(let elements) = reply, elements.count == 3 {
            let n = try Self.integers(reply, count: 3, operation)
            // Refused: the longer of the two waits, at least one of them running.
            guard n[0] == 0, n[1] >= 0, n[2] >= 0, let wait = LoginThrottleKey.longer(n[1] > 0 ? n[1] : nil, n[2] > 0 ? n[2] : nil) else {
                throw .malformed(operation, "a refusal without a lock")
            }
            return .refused(retryAfter: wait)
        }
        let n = try Self.integers(reply, count: 9, operation)
        guard n[0] == 1 else { throw .malformed(operation, "an unknown decision") }
        return .allowed(lockStarted: try locks(Array(n.dropFirst()), operation))
    }

    public func refundAttempt(account: String, client: String, now: Int64, succeeded: Bool) async throws(SessionStoreError) {
        let reply = try await run(Self.refundScript, "lockout refund",
                                  [key(LoginThrottleKey.account(account)), key(LoginThrottleKey.client(client)), succeeded ? "1" : "0"])
        guard reply == .integer(1) else { throw .malformed("lockout refund", "a \(reply.typeName) instead of 1") }
    }

    /// ARGV of `failureScript` and `attemptScript`: the two keys, now, then each policy's numbers.
    private func failureArguments(_ account: String, _ client: String, _ now: Int64) -> [String] {
        var arguments: [String] = [key(LoginThrottleKey.account(account)), key(LoginThrottleKey.client(client)), String(now)]
        for policy in [accountPolicy, clientPolicy] {
            arguments.append(String(policy.threshold))
            arguments.append(String(policy.windowSeconds))
            arguments.append(String(policy.baseLockSeconds))
            arguments.append(String(policy.maximumLockSeconds))
        }
        return arguments
    }

    /// The locks of `failureScript`'s eight integers: a started lock must be what the Swift rule says for
    /// that count (1 s … maximum), else -1.
    private func locks(_ n: [Int64], _ operation: String) throws(SessionStoreError) -> Int64? {
        func lock(_ value: Int64, _ failures: Int64, _ policy: LockoutPolicy) throws(SessionStoreError) -> Int64? {
            guard failures >= 1 else { throw .malformed(operation, "a failure count below 1") }
            let expected = policy.lockSeconds(failures: Int(failures))
            guard value == (expected ?? -1) else { throw .malformed(operation, "a lock the policy does not give") }
            return expected
        }
        return LoginThrottleKey.longer(try lock(n[3], n[0], accountPolicy), try lock(n[7], n[4], clientPolicy))
    }

    public func recordSuccess(account: String, client: String, now: Int64) async throws(SessionStoreError) {
        let reply: RedisValue
        do {
            reply = try await redis.send(["DEL", key(LoginThrottleKey.account(account))], timeout: timeout)
        } catch {
            throw SessionStoreError(redis: error, during: "lockout success")
        }
        guard case .integer(0...1) = reply else { throw .malformed("lockout success", "a \(reply.typeName) instead of 0 or 1") }
    }

    private func key(_ suffix: String) -> String { prefix + "l:" + suffix }

    /// An array of exactly `count` integers, each in 0...2^50 except that -1 is allowed (no lock).
    static func integers(_ value: RedisValue, count: Int, _ operation: String) throws(SessionStoreError) -> [Int64] {
        guard case .array(let elements) = value, elements.count == count else {
            throw .malformed(operation, "\(value.typeName) instead of \(count) integers")
        }
        var out: [Int64] = []
        out.reserveCapacity(count)
        for element in elements {
            guard case .integer(let n) = element, n >= -1, n <= 1 << 50 else { throw .malformed(operation, "a field that is not a small integer") }
            out.append(n)
        }
        return out
    }

    private func run(_ script: RedisScript, _ operation: String, _ arguments: [String]) async throws(SessionStoreError) -> RedisValue {
        do {
            return try await redis.evalScript(script, arguments: arguments, timeout: timeout)
        } catch {
            throw SessionStoreError(redis: error, during: operation)
        }
    }
}
