/// The bounded label values the gateway records with, each a small index so that recording is an array
/// offset, never string work.

/// A request method as a label: the methods of RFC 9110 and PATCH, anything else as `other` (so a client
/// inventing methods cannot create series).
public struct MethodLabel: Sendable, Equatable {
    /// The label values, by index.
    public static let values = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "other"]
    /// `values.count`, as a constant (no lazy global on the hot path).
    public static var count: Int { 10 }

    public let index: Int

    /// The label of `method` (case-sensitive, as methods are). A few comparisons of short strings, the
    /// common methods first; a route can also keep the label of a method it always sees.
    @inline(__always)
    public init(_ method: String) {
        switch method {
        case "GET": index = 0
        case "POST": index = 2
        case "HEAD": index = 1
        case "PUT": index = 3
        case "DELETE": index = 4
        case "OPTIONS": index = 6
        case "PATCH": index = 8
        case "CONNECT": index = 5
        case "TRACE": index = 7
        default: index = 9
        }
    }

    public var value: String { Self.values[index] }
}

/// A response status as its class label, `1xx` … `5xx`; statuses outside 100–599 count with the
/// nearest class.
public enum StatusClassLabel {
    public static let values = ["1xx", "2xx", "3xx", "4xx", "5xx"]
    /// `values.count`, as a constant.
    public static var count: Int { 5 }

    @inline(__always)
    public static func index(of status: Int) -> Int {
        let hundreds = status / 100
        return hundreds < 1 ? 0 : (hundreds > 5 ? 4 : hundreds - 1)
    }
}

/// How an upstream call ended, as the registry's outcome report says it (the same labels). `cancelled`:
/// the client went away and the call was abandoned; `rejected`: the gateway refused the call itself (a
/// full pool, no instance available, shutting down), which says nothing about the instance.
public enum UpstreamCallOutcome: Int, Sendable, CaseIterable {
    case success, connectFailure, timeout, serverError, protocolError, cancelled, rejected

    /// `allCases.count`, as a constant (no array, no lazy global on the hot path).
    public static var count: Int { 7 }

    /// The label value.
    public var label: String {
        switch self {
        case .success: "success"
        case .connectFailure: "connect_failure"
        case .timeout: "timeout"
        case .serverError: "server_error"
        case .protocolError: "protocol_error"
        case .cancelled: "cancelled"
        case .rejected: "rejected"
        }
    }
}
