#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// `keys create|list|revoke|rotate`: manages the partner API keys in the store the gateway reads
/// (`auth.apiKeys` of the configuration: the key file, or Redis with a `redis` section; or `--keys-file`). Available to every executable, documented
/// for BFFPartner. Exit codes as the rest of the command line: 0 done, 1 failed (I/O, unknown id),
/// 2 usage or configuration error.
enum APIKeyCommand {
    static func usage(_ p: ClientProfile) -> String {
        """
        Usage: \(p.executable) keys <command> [options]

        Commands:
          create --partner P --tier T [--scopes a,b] [--expires-days N]
                           Make a key; prints its id and the key itself, once (only its SHA-256 is stored).
          list             The keys without secrets: id, partner, tier, scopes, created, expires, status.
          revoke ID        Revoke a key; running gateways refuse it within a second.
          rotate ID [--grace-seconds N]
                           Make a new key with the same partner, tier, scopes and expiry; the old one is
                           revoked at once, or expires after N seconds (0...604800; default 0).

        Options:
          --config DIR     Contract folder whose auth.apiKeys names the key store: its key file, or Redis
                           when it has a redis section (default: \(p.defaultConfigDirectory)).
          --keys-file F    The key file itself (instead of --config).
        """
    }

    struct Options {
        var command = ""
        var id: String?
        var partner: String?
        var tier: String?
        var scopes: [String] = []
        var expiresDays: Int?
        var graceSeconds = 0
        var configDirectory: String?
        var keysFile: String?
    }

    static func parse(_ args: [String]) -> Result<Options, GatewayCommandError> {
        var o = Options()
        var i = 0
        func value(_ flag: String) throws(GatewayCommandError) -> String {
            i += 1
            guard i < args.count else { throw GatewayCommandError("\(flag) needs a value") }
            return args[i]
        }
        func name(_ flag: String) throws(GatewayCommandError) -> String {
            let v = try value(flag)
            guard !v.isEmpty, v.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "\"") }) else {
                throw GatewayCommandError("\(flag) takes a name of printable characters without spaces, commas or quotes")
            }
            return v
        }
        do throws(GatewayCommandError) {
            while i < args.count {
                let a = args[i]
                switch a {
                case "create", "list", "revoke", "rotate", "help", "--help", "-h":
                    guard o.command.isEmpty else { throw GatewayCommandError("unexpected '\(a)'") }
                    o.command = a.hasPrefix("-") ? "help" : a
                    if a == "revoke" || a == "rotate" { o.id = try value(a) }
                case "--partner": o.partner = try name(a)
                case "--tier": o.tier = try name(a)
                case "--scopes":
                    let list = try value(a).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                    guard list.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") } }) else {
                        throw GatewayCommandError("--scopes takes names separated by commas, without spaces")
                    }
                    o.scopes = list
                case "--expires-days":
                    let v = try value(a)
                    guard let d = Int(v), (1...3650).contains(d) else { throw GatewayCommandError("--expires-days takes 1...3650, not '\(v)'") }
                    o.expiresDays = d
                case "--grace-seconds":
                    let v = try value(a)
                    guard let s = Int(v), (0...604_800).contains(s) else { throw GatewayCommandError("--grace-seconds takes 0...604800, not '\(v)'") }
                    o.graceSeconds = s
                case "--config": o.configDirectory = try value(a)
                case "--keys-file": o.keysFile = try value(a)
                default: throw GatewayCommandError("unknown argument '\(a)'")
                }
                i += 1
            }
            if o.command.isEmpty { throw GatewayCommandError("keys needs a command: create, list, revoke or rotate") }
            if o.command == "create" {
                if o.partner == nil { throw GatewayCommandError("create needs --partner") }
                if o.tier == nil { throw GatewayCommandError("create needs --tier") }
            } else if o.partner != nil || o.tier != nil || !o.scopes.isEmpty || o.expiresDays != nil {
                throw GatewayCommandError("--partner, --tier, --scopes and --expires-days are for create")
            }
            if o.graceSeconds != 0 && o.command != "rotate" { throw GatewayCommandError("--grace-seconds is for rotate") }
            if o.keysFile != nil && o.configDirectory != nil { throw GatewayCommandError("give --keys-file or --config, not both") }
            return .success(o)
        } catch {
            return .failure(error)
        }
    }

    static func main(_ args: [String], profile: ClientProfile) -> Never {
        let options: Options
        switch parse(args) {
        case .success(let o): options = o
        case .failure(let e):
            GatewayCommand.printError("\(profile.executable) keys: \(e.message)\nRun '\(profile.executable) keys --help' for usage.")
            exit(2)
        }
        if options.command == "help" { GatewayCommand.writeLine(usage(profile), fd: 1); exit(0) }
        let store: any APIKeyStore
        var redis: (client: RedisClient, group: EventLoopGroup)? = nil
        if let file = options.keysFile {
            store = APIKeyFileStore(path: file)
        } else {
            let directory = options.configDirectory ?? profile.defaultConfigDirectory
            let configuration: GatewayConfiguration
            do {
                configuration = try GatewayConfiguration.load(directory: directory)
            } catch {
                GatewayCommand.printError("\(profile.executable) keys: invalid configuration (\(error.issues.count) problem\(error.issues.count == 1 ? "" : "s")):")
                for issue in error.issues { GatewayCommand.printError("  \(issue)") }
                exit(2)
            }
            switch configuration.auth.apiKeys {
            case nil:
                GatewayCommand.printError("\(profile.executable) keys: \(directory) configures no key store (auth.apiKeys); add it or pass --keys-file")
                exit(2)
            case .file(let configured)?:
                store = configured
            case .redis(let settings)?:
                // The same Redis and keys the gateways poll (configuration parsing made sure redis is set).
                do {
                    let group = try EventLoopGroup(threads: 1, logging: .disabled)
                    let client = try RedisClient(configuration: configuration.redis!, group: group)
                    redis = (client, group)
                    store = APIKeyRedisStore(redis: client, settings: settings)
                } catch {
                    GatewayCommand.printError("\(profile.executable) keys: cannot set up the Redis client: \(error)")
                    exit(1)
                }
            }
        }
        // Changes are security events: one JSON line each on standard error (an audit trail for whoever
        // collects the operator's output), never the key itself.
        let writer = LogWriter(fd: 2)
        let audit = Logger(threshold: .notice, writer: writer)
        let storeName = redis == nil ? "file" : "redis"
        let outcome = runBlocking { try await run(options, store: store, now: Int64(time(nil)), audit: audit, storeName: storeName) }
        _ = writer.flush(timeout: 2_000_000_000)
        if let redis {
            redis.client.shutdown()
            redis.group.shutdown()
        }
        if let failure = outcome {
            GatewayCommand.printError("\(profile.executable) keys: \(failure)")
            exit(1)
        }
        exit(0)
    }

    /// Runs `body` in a task and waits for it (the command line has no loop of its own). Returns the
    /// error's description, nil on success.
    static func runBlocking(_ body: @escaping @Sendable () async throws -> Void) -> String? {
        let result = Mutex<String??>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            var failure: String? = nil
            do { try await body() } catch { failure = "\(error)" }
            let outcome = failure
            result.withLock { $0 = .some(outcome) }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 } ?? "interrupted"
    }

    /// The command against `store`; output on standard output. Throws what the store throws.
    /// Each change is recorded on `audit` as a security event (`apikey.created`, `apikey.revoked`,
    /// `apikey.rotated`) with the key id, partner and tier.
    static func run(_ o: Options, store: any APIKeyStore, now: Int64, audit: Logger = .disabled, storeName: String = "file") async throws {
        func out(_ line: String) { GatewayCommand.writeLine(line, fd: 1) }
        func event(_ kind: SecurityEvents.Kind, _ message: String, _ record: APIKeyRecord, _ more: [LogField] = []) {
            SecurityEvents.unmetered.record(kind, message, logger: audit, [.string("key_id", record.id), .string("partner", record.partner),
                                                                           .string("tier", record.tier), .string("store", storeName)] + more)
        }
        switch o.command {
        case "create":
            let made = try APIKeyFormat.generate()
            let record = APIKeyRecord(id: made.id, digest: made.digest, partner: o.partner!, tier: o.tier!, scopes: o.scopes, created: now,
                                      expires: o.expiresDays.map { now + Int64($0) * 86_400 }, status: .active)
            try await store.add(record)
            event(.apiKeyCreated, "API key created", record)
            out("id: \(made.id)")
            out("key: \(made.key)")
            GatewayCommand.printError("The key is shown this once: only its SHA-256 digest is stored.")
        case "list":
            out("id\tpartner\ttier\tscopes\tcreated\texpires\tstatus")
            for r in try await store.records() {
                out("\(r.id)\t\(r.partner)\t\(r.tier)\t\(r.scopes.isEmpty ? "-" : r.scopes.joined(separator: ","))\t\(utc(r.created))\t\(r.expires.map(utc) ?? "-")\t\(r.refusal(now: now)?.rawValue ?? "active")")
            }
        case "revoke":
            let r = try await store.update(id: o.id!) { $0.status = .revoked }
            event(.apiKeyRevoked, "API key revoked", r)
            out("revoked: \(r.id)")
        case "rotate":
            let old = try await store.records().first { $0.id == o.id! }
            guard let old else { throw APIKeyStoreError.notFound(o.id!) }
            guard old.refusal(now: now) == nil else { throw APIKeyStoreError("key '\(old.id)' is \(old.refusal(now: now)!.rawValue): create a new one instead") }
            let made = try APIKeyFormat.generate()
            let replacement = APIKeyRecord(id: made.id, digest: made.digest, partner: old.partner, tier: old.tier, scopes: old.scopes, created: now,
                                           expires: old.expires, status: .active)
            try await store.add(replacement)
            event(.apiKeyCreated, "API key created", replacement, [.string("replaces", old.id)])
            // Shown as soon as it exists: if retiring the old key fails below, the new one is still known
            // (never an active key nobody has).
            out("id: \(made.id)")
            out("key: \(made.key)")
            // Revoked after the new key exists: a failure in between leaves two working keys, never none.
            if o.graceSeconds == 0 {
                try await store.update(id: old.id) { $0.status = .revoked }
            } else {
                let until = now + Int64(o.graceSeconds)
                try await store.update(id: old.id) { $0.expires = min($0.expires ?? until, until) }
            }
            event(.apiKeyRotated, "API key rotated", old, [.string("replacement", made.id), .int("grace_seconds", o.graceSeconds)])
            out(o.graceSeconds == 0 ? "revoked: \(old.id)" : "expires: \(old.id) at \(utc(now + Int64(o.graceSeconds)))")
            GatewayCommand.printError("The key is shown this once: only its SHA-256 digest is stored.")
        default:
            throw APIKeyStoreError("unknown command")
        }
    }

    /// `2026-11-27T02:55:32Z`.
    static func utc(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))Z"
    }
}
