/// One part of the process with a start and a stop: listeners, loops, upstream pools, later health
/// checkers, Redis clients, exporters.
public protocol LifecycleService: Sendable {
    var name: String { get }
    /// Starts the service; throws if it cannot (the services started before it are then stopped).
    func start() throws
    /// Stops the service and returns when it has; throws if it could not stop cleanly.
    func stop() throws
}

/// A service made of two closures.
public struct ServiceHooks: LifecycleService {
    public let name: String
    let onStart: @Sendable () throws -> Void
    let onStop: @Sendable () throws -> Void
    public init(_ name: String, start: @escaping @Sendable () throws -> Void = {}, stop: @escaping @Sendable () throws -> Void = {}) {
        self.name = name
        onStart = start
        onStop = stop
    }
    public func start() throws { try onStart() }
    public func stop() throws { try onStop() }
}

/// Services started in order and stopped in reverse order: what starts first (the downstream stand-ins,
/// the loops) stops last, so nothing is stopped while something that depends on it still runs.
public final class ServiceGroup: Sendable {
    public struct StopFailure: Error, Sendable, CustomStringConvertible {
        public let service: String
        public let reason: String
        public var description: String { "\(service): \(reason)" }
    }

    public struct StartFailure: Error, Sendable, CustomStringConvertible {
        public let service: String
        public let underlying: String
        /// Services that were started and had to be stopped again, and any of those that failed to stop.
        public let stopFailures: [StopFailure]
        public var description: String { "\(service): \(underlying)" }
    }

    public let services: [any LifecycleService]
    /// Called with each step (`starting`, `started`, `stopping`, `stopped`, `failed`), for the log.
    let report: @Sendable (_ event: String, _ service: String, _ error: String?) -> Void

    public init(_ services: [any LifecycleService],
                report: @escaping @Sendable (_ event: String, _ service: String, _ error: String?) -> Void = { _, _, _ in }) {
        self.services = services
        self.report = report
    }

    /// Starts every service in order. If one fails, those already started are stopped in reverse order
    /// and the failure is thrown.
    public func start() throws(StartFailure) {
        for (i, service) in services.enumerated() {
            do {
                try service.start()
                report("started", service.name, nil)
            } catch {
                report("failed", service.name, "\(error)")
                let failures = stop(services[..<i])
                throw StartFailure(service: service.name, underlying: "\(error)", stopFailures: failures)
            }
        }
    }

    /// Stops every service in reverse order, each even when an earlier one failed to stop. Returns the
    /// failures (empty: a clean stop).
    @discardableResult
    public func stop() -> [StopFailure] { stop(services[...]) }

    private func stop(_ started: ArraySlice<any LifecycleService>) -> [StopFailure] {
        var failures: [StopFailure] = []
        for service in started.reversed() {
            do {
                try service.stop()
                report("stopped", service.name, nil)
            } catch {
                report("failed", service.name, "\(error)")
                failures.append(StopFailure(service: service.name, reason: "\(error)"))
            }
        }
        return failures
    }
}
