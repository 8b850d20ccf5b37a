#if canImport(Glibc)
import Glibc
#endif
internal import CLinuxIO

/// An IPv4, IPv6 or Unix-domain socket address.
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

    /// A Unix-domain socket at `path` (at most 107 bytes: `sun_path` holds a NUL too).
    public init(unixPath path: String) throws {
        let bytes = Array(path.utf8)
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw SystemError("unix socket path", errno: bytes.isEmpty || bytes.contains(0) ? EINVAL : ENAMETOOLONG)
        }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { dst in
            dst.copyBytes(from: bytes)
            dst[bytes.count] = 0
        }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { dst in
            withUnsafeBytes(of: &address) { dst.copyMemory(from: $0) }
        }
        self.storage = storage
        self.length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
    }

    var family: Int32 { Int32(storage.ss_family) }

    /// The path of a Unix-domain socket address; nil for IP addresses.
    public var unixPath: String? {
        guard family == AF_UNIX else { return nil }
        var copy = storage
        return withUnsafePointer(to: &copy) { p in
            p.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { sp in
                withUnsafeBytes(of: sp.pointee.sun_path) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
            }
        }
    }

    func withSockAddr<R, E: Error>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(E) -> R) throws(E) -> R {
        var copy = storage
        let len = length
        return try withUnsafePointer(to: &copy) { p throws(E) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp throws(E) in try body(sp, len) }
        }
    }

    public var port: Int {
        if family == AF_UNIX { return 0 }
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

    public var description: String {
        if let path = unixPath { return "unix:\(path)" }
        return family == AF_INET6 ? "[\(ipString)]:\(port)" : "\(ipString):\(port)"
    }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}
