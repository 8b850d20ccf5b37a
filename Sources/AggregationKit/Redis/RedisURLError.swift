/// A Redis URL that could not be read, and why. The message never repeats the URL (it may hold a
/// password).
public struct RedisURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "invalid Redis URL: \(reason)" }
}
