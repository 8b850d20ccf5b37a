#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// What differs between the three executables.
public struct ClientProfile: Sendable {
    public let executable: String
    public let client: String
    public let defaultConfigDirectory: String
    public let defaultPort: Int
    public init(executable: String, client: String, defaultConfigDirectory: String, defaultPort: Int) {
        self.executable = executable
        self.client = client
        self.defaultConfigDirectory = defaultConfigDirectory
        self.defaultPort = defaultPort
    }

    public static let web = ClientProfile(executable: "BFFWeb", client: "web", defaultConfigDirectory: "contracts/web", defaultPort: 8080)
    public static let mobile = ClientProfile(executable: "BFFMobile", client: "mobile", defaultConfigDirectory: "contracts/mobile", defaultPort: 8081)
    public static let partner = ClientProfile(executable: "BFFPartner", client: "partner", defaultConfigDirectory: "contracts/partner", defaultPort: 8082)
}

public let gatewayVersion = "0.1.0"

/// The command line shared by the three executables.
public enum GatewayCommand {
    struct Options {
        var command = "serve"
        var configDirectory: String?
        var host: String?
        var port: Int?
        var adminPort: Int?
        var threads: Int?
        var demo = false
        var demoFailing: Set<String> = []
        var logLevel: LogLevel?
    }

    static func usage(_ p: ClientProfile) -> String {
        """
        \(p.executable) \(gatewayVersion): the \(p.client) backend-for-frontend gateway.

        Usage: \(p.executable) [serve|check|contract-test] [options]
               \(p.executable) keys create|list|revoke|rotate ...   (partner API keys; keys --help)
               \(p.executable) speed [--seconds S] [ALG ...]        (JWT verifications per second on one thread)

        Commands:
          serve            Run the gateway (default).
          check            Validate the configuration and exit (0 valid, 2 invalid).
          contract-test    Run the contract test cases (<config>/tests/*.json) through the real gateway
                           with stub downstreams; exit 0 if all pass, 1 if any fails, 2 if invalid.

        Options:
          --config DIR     Contract folder (default: \(p.defaultConfigDirectory)).
          --host HOST      Listen address (overrides listen.host).
          --port PORT      Listen port (overrides listen.port; default \(p.defaultPort)).
          --admin-port P   Admin listener port for GET /metrics (overrides admin.port; default: the listen
                           port + 1000, \(p.defaultPort + 1000) unless --port is given; on admin.host, 127.0.0.1).
          --threads N      Event-loop threads (default: one per core).
          --demo           Start built-in demo services on loopback and send every service to them.
          --demo-fail S    With --demo: the demo services S (comma-separated) answer 503 (see a partial response).
          --log-level L    Application log threshold: \(LogLevel.namesForUsage) (default: info,
                           or the environment variable BFF_LOG_LEVEL; this flag wins over it).
          --help           Show this help.
          --version        Show the version.
        """
    }

    static func parse(_ args: [String], profile: ClientProfile) -> Result<Options, GatewayCommandError> {
        var o = Options()
        var i = 0
        func value(_ flag: String) -> Result<String, GatewayCommandError> {
            i += 1
            guard i < args.count else { return .failure(GatewayCommandError("\(flag) needs a value")) }
            return .success(args[i])
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "serve", "check", "contract-test": o.command = a
            case "--demo": o.demo = true
            case "--demo-fail":
                switch value(a) {
                case .success(let v): o.demo = true; o.demoFailing = Set(v.split(separator: ",").map(String.init))
                case .failure(let e): return .failure(e)
                }
            case "--help", "-h": o.command = "help"
            case "--version": o.command = "version"
            case "--config":
                switch value(a) { case .success(let v): o.configDirectory = v; case .failure(let e): return .failure(e) }
            case "--host":
                switch value(a) { case .success(let v): o.host = v; case .failure(let e): return .failure(e) }
            case "--port":
                switch value(a) {
                case .success(let v):
                    guard let p = Int(v), (0...65535).contains(p) else { return .failure(GatewayCommandError("--port takes 0...65535, not '\(v)'")) }
                    o.port = p
                case .failure(let e): return .failure(e)
                }
            case "--admin-port":
                switch value(a) {
                case .success(let v):
                    guard let p = Int(v), (0...65535).contains(p) else { return .failure(GatewayCommandError("--admin-port takes 0...65535, not '\(v)'")) }
                    o.adminPort = p
                case .failure(let e): return .failure(e)
                }
            case "--log-level":
                switch value(a) {
                case .success(let v):
                    guard let level = LogLevel(name: v) else { return .failure(GatewayCommandError("--log-level takes \(LogLevel.namesForUsage), not '\(v)'")) }
                    o.logLevel = level
                case .failure(let e): return .failure(e)
                }
            case "--threads":
                switch value(a) {
                case .success(let v):
                    guard let t = Int(v), (1...256).contains(t) else { return .failure(GatewayCommandError("--threads takes 1...256, not '\(v)'")) }
                    o.threads = t
                case .failure(let e): return .failure(e)
                }
            default:
                return .failure(GatewayCommandError("unknown argument '\(a)'"))
            }
            i += 1
        }
        return .success(o)
    }

    /// Runs the command line and exits: 0 success, 1 runtime failure, 2 usage or configuration error.
    public static func main(profile: ClientProfile, arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        if arguments.first == "keys" { APIKeyCommand.main(Array(arguments.dropFirst()), profile: profile) }
        if arguments.first == "speed" { SpeedCommand.main(Array(arguments.dropFirst()), profile: profile) }
        let options: Options
        switch parse(arguments, profile: profile) {
        case .success(let o): options = o
        case .failure(let e):
            printError("\(profile.executable): \(e.message)\nRun '\(profile.executable) --help' for usage.")
            exit(2)
        }
        switch options.command {
        case "help": print(usage(profile)); exit(0)
        case "version": print("\(profile.executable) \(gatewayVersion)"); exit(0)
        default: break
        }
        let logLevel: LogLevel
        switch resolveLogLevel(flag: options.logLevel, environment: getenv("BFF_LOG_LEVEL").map { String(cString: $0) }) {
        case .success(let level): logLevel = level
        case .failure(let e):
            printError("\(profile.executable): \(e.message)\nRun '\(profile.executable) --help' for usage.")
            exit(2)
        }
        let directory = options.configDirectory ?? profile.defaultConfigDirectory
        if options.command == "contract-test" { runContractTests(directory: directory, profile: profile) }
        var configuration: GatewayConfiguration
        do {
            configuration = try GatewayConfiguration.load(directory: directory)
        } catch {
            printError("\(profile.executable): invalid configuration (\(error.issues.count) problem\(error.issues.count == 1 ? "" : "s")):")
            for issue in error.issues { printError("  \(issue)") }
            exit(2)
        }
        if options.command == "check" {
            print("\(directory): OK (\(configuration.services.count) services, \(configuration.routes.count) routes, \(configuration.endpoints.count) endpoints)")
            exit(0)
        }
        if !configuration.portConfigured { configuration.server.port = profile.defaultPort }
        if let host = options.host { configuration.server.host = host }
        if let port = options.port { configuration.server.port = port }
        if let port = options.adminPort { configuration.admin.port = port }
        if let threads = options.threads { configuration.threads = threads }
        serve(configuration, profile: profile, demo: options.demo, demoFailing: options.demoFailing, logLevel: logLevel)
    }

    /// The application log's threshold: `--log-level` if given, else `BFF_LOG_LEVEL` if set and not
    /// empty, else `info`. An invalid environment value is an error even though it has a default: a
    /// typo must not silently log at a level nobody chose.
    static func resolveLogLevel(flag: LogLevel?, environment: String?) -> Result<LogLevel, GatewayCommandError> {
        if let flag { return .success(flag) }
        guard let environment, !environment.isEmpty else { return .success(.info) }
        guard let level = LogLevel(name: environment) else {
            return .failure(GatewayCommandError("BFF_LOG_LEVEL takes \(LogLevel.namesForUsage), not '\(environment)'"))
        }
        return .success(level)
    }

    /// The log streams of a `serve` run: application lines on standard output from `logLevel` up; the
    /// access log on standard output, or appended to `accessLog.path` (opened here, before anything
    /// starts, so a bad path is a start error, not a silent loss), or off.
    static func openLogStreams(_ configuration: GatewayConfiguration, logLevel: LogLevel) throws(SystemError) -> LogStreams {
        let application = Logger(threshold: logLevel, writer: .standardOutput)
        guard configuration.server.accessLog else { return LogStreams(application: application, access: nil) }
        guard let path = configuration.accessLogPath else { return LogStreams(application: application, access: .standardOutput) }
        return LogStreams(application: application, access: try LogWriter.appending(toFile: path))
    }

    static func serve(_ initial: GatewayConfiguration, profile: ClientProfile, demo: Bool, demoFailing: Set<String>, logLevel: LogLevel) -> Never {
        signal(SIGPIPE, SIG_IGN)
        // Before any thread exists: every thread created from here on inherits the blocked mask.
        Syscall.blockSignals(stopSignals)
        var configuration = initial
        let logging: LogStreams
        do {
            logging = try openLogStreams(configuration, logLevel: logLevel)
        } catch {
            printError("\(profile.executable): cannot open the access log file '\(configuration.accessLogPath ?? "")': \(error)")
            exit(2)
        }
        let log = logging.application
        log.debug("configuration loaded", [.string("directory", configuration.directory), .int("services", configuration.services.count),
                                           .int("routes", configuration.routes.count), .int("endpoints", configuration.endpoints.count),
                                           .string("access_log", configuration.server.accessLog ? configuration.accessLogPath ?? "stdout" : nil),
                                           .string("log_level", logLevel.name)])
        var demoServices: DemoServices?
        if demo {
            do {
                let services = try DemoServices.start(failing: demoFailing, logging: LogStreams(application: log, access: nil))
                demoServices = services
                for i in configuration.services.indices {
                    let name = configuration.services[i].demo ?? configuration.services[i].name
                    guard let port = services.ports[name] else {
                        printError("\(profile.executable): --demo has no built-in service '\(name)' for service '\(configuration.services[i].name)' (built in: \(services.ports.keys.sorted().joined(separator: ", ")))")
                        exit(2)
                    }
                    configuration.services[i].instances = [InstanceConfiguration(host: "127.0.0.1", port: port)]
                    log.debug("demo service", [.string("service", configuration.services[i].name), .string("demo", name), .int("port", port)])
                }
            } catch {
                printError("\(profile.executable): cannot start the demo services: \(error)")
                exit(1)
            }
        }
        // Descriptors: take what the hard limit allows, and keep upstream calls their share.
        let budget = DescriptorBudget(descriptorLimit: Syscall.raiseDescriptorLimit(), configuredConnections: configuration.server.maxConnections)
        configuration.server.maxConnections = budget.clientConnections
        log.log(budget.isCapped ? .warning : .info, "descriptors", [.int("limit", budget.descriptorLimit), .int("maxConnections", budget.clientConnections),
                                                                      .int("configuredMaxConnections", budget.configuredConnections)])
        for service in configuration.services {
            log.debug("service", [.string("service", service.name),
                                  .string("instances", service.instances.map { "\($0.host):\($0.port)" }.joined(separator: ","))])
        }
        let gateway: Gateway
        do {
            let group = try EventLoopGroup(threads: configuration.threads ?? EventLoopGroup.coreCount, logging: logging)
            gateway = try Gateway(configuration: configuration, group: group, client: profile.client)
        } catch let error as ConfigurationError {
            // A configuration that only turns out wrong once the command line is applied (ports).
            printError("\(profile.executable): invalid configuration (\(error.issues.count) problem\(error.issues.count == 1 ? "" : "s")):")
            for issue in error.issues { printError("  \(issue)") }
            exit(2)
        } catch {
            printError("\(profile.executable): cannot start: \(error)")
            exit(1)
        }
        // Started in this order, stopped in the reverse: the listener drains first, the loops and the
        // demo's stand-in services stop last.
        var services: [any LifecycleService] = []
        if let demoServices { services.append(ServiceHooks("demo-services", stop: { demoServices.shutdown() })) }
        services.append(ServiceHooks("event-loops", stop: { gateway.group.shutdown() }))
        services.append(contentsOf: gateway.services)
        let lifecycle = ServiceGroup(services) { event, service, error in
            if let error {
                log.error("service \(event)", [.string("service", service), .string("error", error)])
            } else {
                log.info("service \(event)", [.string("service", service)])
            }
        }
        do {
            try lifecycle.start()
        } catch {
            printError("\(profile.executable): cannot start: \(error)")
            logging.flush(timeout: 2_000_000_000)
            exit(1)
        }
        let threads = configuration.threads ?? EventLoopGroup.coreCount
        var listening: [LogField] = [.string("client", profile.client), .string("address", "http://\(configuration.server.host):\(gateway.server.port)")]
        if let admin = gateway.adminServer { listening.append(.string("admin", "http://\(admin.configuration.host):\(admin.port)")) }
        log.info("listening", listening + [.int("threads", threads), .int("routes", configuration.routes.count), .bool("demo", demo)])

        // Signals: blocked in every thread (the mask was set before any thread started, and threads inherit
        // it), taken here by sigwait. A signal handler (or Dispatch's, which relies on the signal being
        // blocked everywhere) could otherwise be run on a loop thread and the SIGTERM lost.
        let signal = Syscall.waitForSignal(stopSignals)
        log.info("draining", [.int("signal", Int(signal))])
        let failures = lifecycle.stop()
        log.log(failures.isEmpty ? .info : .error, "stopped", [.bool("clean", failures.isEmpty)])
        // A reader that stopped reading must not keep the process alive: give the logs 2 s.
        logging.flush(timeout: 2_000_000_000)
        exit(failures.isEmpty ? 0 : 1)
    }

    /// SIGTERM and SIGINT, taken by `sigwait` on the main thread.
    static let stopSignals: [Int32] = [SIGTERM, SIGINT]

    static func runContractTests(directory: String, profile: ClientProfile) -> Never {
        signal(SIGPIPE, SIG_IGN)
        final class Outcome: @unchecked Sendable { var code: Int32 = 0 }
        let outcome = Outcome()
        let done = DispatchSemaphoreLite()
        Task.detached {
            do {
                let summary = try await ContractTestRunner.run(directory: directory)
                printOut(summary.report, terminator: "")
                outcome.code = summary.failed > 0 ? 1 : 0
            } catch let error as ConfigurationError {
                printError("\(profile.executable): invalid contracts (\(error.issues.count) problem\(error.issues.count == 1 ? "" : "s")):")
                for issue in error.issues { printError("  \(issue)") }
                outcome.code = 2
            } catch {
                printError("\(profile.executable): contract tests could not run: \(error)")
                outcome.code = 2
            }
            done.signal()
        }
        done.wait()
        exit(outcome.code)
    }

    static func printError(_ text: String) { writeLine(text, fd: 2) }
    /// Standard output goes through the log writer's queue: in order with the access log, and never
    /// blocking the caller on a stalled pipe.
    static func printOut(_ text: String, terminator: String = "\n") {
        guard terminator == "\n" else { return writeLine(text, fd: 1, terminator: terminator) }
        LogWriter.standardOutput.submit(line: text)
    }

    /// Unbuffered, so lines reach a pipe at once and never interleave with the loops' log writes mid-line.
    static func writeLine(_ text: String, fd: Int32, terminator: String = "\n") {
        let bytes = Array((text + terminator).utf8)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                guard let n = try? Syscall.write(fd, raw.baseAddress! + offset, raw.count - offset), n > 0 else { return }
                offset += n
            }
        }
    }
}

struct GatewayCommandError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
