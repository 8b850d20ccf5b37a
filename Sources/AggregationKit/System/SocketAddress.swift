#if canImport(Glibc)
import Glibc
#endif
internal import CLinuxIO

/// An IPv4 or IPv6 socket address.
public struct SocketAddress: Sendable, CustomStringConvertible, Hashable {
    var storage: sockaddr_storage
    var length: socklen_t

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// Resolves `host` (a literal address or a name, looked up once) and `port`.
    public init(host: String, port: Int) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw SystemError("getaddrinfo(\(host))", errno: rc == EAI_SYSTEM ? Glibc.errno : EINVAL)
        }
        defer { freeaddrinfo(result) }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        }
        self.storage = storage
        self.length = first.pointee.ai_addrlen
    }

    var family: Int32 { Int32(storage.ss_family) }

    func withSockAddr<R, E: Error>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(E) -> R) throws(E) -> R {
        var copy = storage
        let len = length
        return try withUnsafePointer(to: &copy) { p throws(E) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp throws(E) in try body(sp, len) }
        }
    }

    public var port: Int {
        var copy = storage
        return withUnsafePointer(to: &copy) { p in
            if Int32(p.pointee.ss_family) == AF_INET6 {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    /// The address without the port, as text (`127.0.0.1`, `::1`).
    public var ipString: String {
        var copy = storage
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        withUnsafePointer(to: &copy) { p in
            if Int32(p.pointee.ss_family) == AF_INET6 {
                p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sp in
                    var a = sp.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &a, &buffer, socklen_t(buffer.count))
                }
            } else {
                p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sp in
                    var a = sp.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &a, &buffer, socklen_t(buffer.count))
                }
            }
        }
        let end = buffer.firstIndex(of: 0) ?? buffer.count
        return String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String { family == AF_INET6 ? "[\(ipString)]:\(port)" : "\(ipString):\(port)" }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}
