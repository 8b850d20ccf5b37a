/// The Lua scripts of `RedisSessionStore`, one per store method (each runs atomically in Redis).
///
/// Key layout under the prefix `P` (default `bff:sess:`), every key with a TTL ending at the family's
/// `expiresAt` (relative to the caller's clock at the time of writing; never Redis `TIME`):
///
///     P f:<id>        hash   sub roles client ua created refreshed expires current  (the family)
///     P t:<digest>    string <id>  for the current token and each remembered spent token
///     P s:<id>        list   spent digests, newest first, at most `spentTokensPerFamily`
///     P u:<subject>   list   family ids, oldest first, at most `maximumSessionsPerSubject`
///                            (TTL: the longest of its families')
///
/// Digests are SHA-256 hex of refresh tokens: no raw token ever reaches Redis.
///
/// The rules are `SessionRecord.isExpired` (`now >= expires`) and `isIdle` (`now - refreshed > idle`),
/// spelled in Lua; `SessionStoreConformance` runs the same cases against both stores. A family past
/// `expires` is treated as absent by every script (and deleted when touched), even while its keys still
/// live in Redis (the tests drive the clock by hand, far ahead of Redis' own).
///
/// Replies (validated strictly by `RedisSessionReply`): a record is an array of eight bulk strings
/// `id sub roles client ua created refreshed expires` (`roles` a JSON array of strings, written by us).
///
/// Not Redis Cluster compatible: a token's family key is only known inside the script.
extension RedisSessionStore {
    /// Shared helpers, prepended to each script. ARGV[1] is always the prefix.
    static let prelude = """
        local P = ARGV[1]
        local FIELDS = {'sub', 'roles', 'client', 'ua', 'created', 'refreshed', 'expires', 'current'}
        local function fkey(id) return P .. 'f:' .. id end
        local function tkey(digest) return P .. 't:' .. digest end
        local function skey(id) return P .. 's:' .. id end
        local function ukey(sub) return P .. 'u:' .. sub end
        local function record(id, f) return {id, f[1], f[2], f[3], f[4], f[5], f[6], f[7]} end
        -- Deletes a family and every key that leads to it.
        local function drop(id)
          local f = redis.call('HMGET', fkey(id), 'sub', 'current')
          if f[2] then redis.call('DEL', tkey(f[2])) end
          local spent = redis.call('LRANGE', skey(id), 0, -1)
          for i = 1, #spent do redis.call('DEL', tkey(spent[i])) end
          redis.call('DEL', fkey(id), skey(id))
          if f[1] then redis.call('LREM', ukey(f[1]), 0, id) end
        end

        """

    /// ARGV: prefix, id, sub, roles, client, ua, created, refreshed, expires, digest, now, perSubject.
    /// Replies 1.
    static let createScript = RedisScript(prelude + """
        local id, sub, digest = ARGV[2], ARGV[3], ARGV[10]
        local expires, now, cap = tonumber(ARGV[9]), tonumber(ARGV[11]), tonumber(ARGV[12])
        -- A repeated id (random 128 bits: a caller bug) replaces its family rather than linking two.
        if redis.call('EXISTS', fkey(id)) == 1 then drop(id) end
        -- The subject's dead families go first (gone by TTL, or expired by the caller's clock) ...
        local ids = redis.call('LRANGE', ukey(sub), 0, -1)
        local live = {}
        for i = 1, #ids do
          local e = redis.call('HGET', fkey(ids[i]), 'expires')
          if not e then
            redis.call('LREM', ukey(sub), 0, ids[i])
          elseif now >= tonumber(e) then
            drop(ids[i])
          else
            live[#live + 1] = ids[i]
          end
        end
        -- ... then the oldest live ones, down to one below the cap.
        local i = 1
        while #live - i + 1 >= cap do
          drop(live[i])
          i = i + 1
        end
        local ttl = math.max(1, expires - now)
        redis.call('HSET', fkey(id), 'sub', sub, 'roles', ARGV[4], 'client', ARGV[5], 'ua', ARGV[6],
          'created', ARGV[7], 'refreshed', ARGV[8], 'expires', ARGV[9], 'current', digest)
        redis.call('EXPIRE', fkey(id), ttl)
        redis.call('SET', tkey(digest), id, 'EX', ttl)
        redis.call('RPUSH', ukey(sub), id)
        if redis.call('TTL', ukey(sub)) < ttl then redis.call('EXPIRE', ukey(sub), ttl) end
        return 1
        """)

    /// ARGV: prefix, presented, next, now, idleSeconds, spentTokensPerFamily, reuseGraceSeconds.
    /// Replies {'rotated', record} | {'reused', record} | {'invalid'}.
    static let rotateScript = RedisScript(prelude + """
        local presented, nxt = ARGV[2], ARGV[3]
        local now, idle, keep, grace = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
        local id = redis.call('GET', tkey(presented))
        if not id then return {'invalid'} end
        local f = redis.call('HMGET', fkey(id), unpack(FIELDS))
        if not f[7] then
          redis.call('DEL', tkey(presented))
          return {'invalid'}
        end
        local expires = tonumber(f[7])
        if now >= expires then
          drop(id)
          return {'invalid'}
        end
        if f[8] ~= presented then
          -- A spent token. Leeway only for the one just spent, within the grace period.
          if grace > 0 and redis.call('LINDEX', skey(id), 0) == presented and now - tonumber(f[6]) < grace then
            return {'invalid'}
          end
          drop(id)
          return {'reused', record(id, f)}
        end
        if now - tonumber(f[6]) > idle then
          drop(id)
          return {'invalid'}
        end
        -- `next` must be fresh (a known one would link two families: a caller bug).
        if nxt == presented or redis.call('EXISTS', tkey(nxt)) == 1 then return {'invalid'} end
        local ttl = math.max(1, expires - now)
        redis.call('SET', tkey(nxt), id, 'EX', ttl)
        redis.call('HSET', fkey(id), 'current', nxt, 'refreshed', ARGV[4])
        if keep > 0 then
          redis.call('LPUSH', skey(id), presented)
          redis.call('EXPIRE', skey(id), ttl)
          while redis.call('LLEN', skey(id)) > keep do
            redis.call('DEL', tkey(redis.call('RPOP', skey(id))))
          end
        else
          redis.call('DEL', tkey(presented))
        end
        f[6] = ARGV[4]
        return {'rotated', record(id, f)}
        """)

    /// ARGV: prefix, digest, now. Replies {'revoked', record} | {'none'}.
    static let revokeTokenScript = RedisScript(prelude + """
        local id = redis.call('GET', tkey(ARGV[2]))
        if not id then return {'none'} end
        local f = redis.call('HMGET', fkey(id), unpack(FIELDS))
        if not f[7] then
          redis.call('DEL', tkey(ARGV[2]))
          return {'none'}
        end
        drop(id)
        if tonumber(ARGV[3]) >= tonumber(f[7]) then return {'none'} end
        return {'revoked', record(id, f)}
        """)

    /// ARGV: prefix, id, subject, now. Replies 1 (revoked) or 0 (no such session of this subject).
    static let revokeIDScript = RedisScript(prelude + """
        local f = redis.call('HMGET', fkey(ARGV[2]), 'sub', 'expires')
        if not f[2] or f[1] ~= ARGV[3] then return 0 end
        drop(ARGV[2])
        if tonumber(ARGV[4]) >= tonumber(f[2]) then return 0 end
        return 1
        """)

    /// ARGV: prefix, subject, now, at most. Replies an array of records, newest first, live only.
    static let sessionsScript = RedisScript(prelude + """
        local now, most = tonumber(ARGV[3]), tonumber(ARGV[4])
        local ids = redis.call('LRANGE', ukey(ARGV[2]), 0, -1)
        local out = {}
        for i = #ids, 1, -1 do
          if #out >= most then break end
          local f = redis.call('HMGET', fkey(ids[i]), unpack(FIELDS))
          if f[7] and now < tonumber(f[7]) then out[#out + 1] = record(ids[i], f) end
        end
        return out
        """)

    /// ARGV: prefix, id, now. Replies 1 (live) or 0.
    static let isLiveScript = RedisScript(prelude + """
        local e = redis.call('HGET', fkey(ARGV[2]), 'expires')
        if e and tonumber(ARGV[3]) < tonumber(e) then return 1 end
        return 0
        """)
}
