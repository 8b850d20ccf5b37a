/// An IPv4 or IPv6 address as 16 bytes; IPv4 is held as IPv4-mapped IPv6 (`::ffff:a.b.c.d`, RFC 4291
/// §2.5.5.2), so a client that a dual-stack listener reports as `::ffff:10.0.0.1` is the same as `10.0.0.1`.
public struct IPAddress: Sendable, Equatable, CustomStringConvertible {
    public let bytes: [UInt8]
    public var isIPv4: Bool { bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF }

    /// Parses the text forms: dotted-quad IPv4 (four decimal parts 0...255, no leading zeros, which some
    /// parsers read as octal) and RFC 4291 §2.2 IPv6 (with `::` and a dotted-quad tail; no zone `%eth0`).
    public init?(_ text: Substring) {
        guard let address = Self(ipv4: text) ?? Self(ipv6: text) else { return nil }
        self = address
    }

    public init?(_ text: String) { self.init(Substring(text)) }

    /// Only the IPv6 text form (what stands between `[` and `]`).
    init?(ipv6 text: Substring) {
        guard let v6 = Self.parseIPv6(text) else { return nil }
        bytes = v6
    }

    /// Only the dotted-quad IPv4 form.
    init?(ipv4 text: Substring) {
        guard let v4 = Self.parseIPv4(text) else { return nil }
        bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + v4
    }

    public var description: String {
        if isIPv4 { return bytes[12...].map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }

    static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                  part.count == 1 || part.first != "0", let n = Int(part), n <= 255 else { return nil }
            out.append(UInt8(n))
        }
        return out
    }

    static func parseIPv6(_ text: Substring) -> [UInt8]? {
        guard text.contains(":") else { return nil }
        // Split around "::" (at most one).
        let halves = text.split(separator: "::", maxSplits: 2, omittingEmptySubsequences: false)
        guard halves.count <= 2 else { return nil }
        func groups(_ s: Substring, allowIPv4Tail: Bool) -> [UInt8]? {
            if s.isEmpty { return [] }
            var out: [UInt8] = []
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, part) in parts.enumerated() {
                if i == parts.count - 1 && allowIPv4Tail && part.contains(".") {
                    guard let v4 = parseIPv4(part) else { return nil }
                    out += v4
                    continue
                }
                guard (1...4).contains(part.count), part.utf8.allSatisfy({ ByteClass.hexValue($0) != nil }),
                      let n = UInt16(part, radix: 16) else { return nil }
                out += [UInt8(n >> 8), UInt8(n & 0xFF)]
            }
            return out
        }
        if halves.count == 1 {
            guard let all = groups(halves[0], allowIPv4Tail: true), all.count == 16 else { return nil }
            return all
        }
        guard let head = groups(halves[0], allowIPv4Tail: false), let tail = groups(halves[1], allowIPv4Tail: true),
              head.count + tail.count <= 14 else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }
}

/// A block of addresses in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`; a bare address is one host).
/// Parsed strictly, with a reason for every refusal: a prefix longer than the family allows, or bits set
/// after the prefix (`10.0.0.1/8` is a typo for `10.0.0.0/8` or `10.0.0.1/32`, and guessing is wrong
/// either way for a list that decides whom to believe).
public struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
    public let address: IPAddress
    /// Prefix length over the 128-bit form (an IPv4 `/8` is 104 here).
    let prefixLength: Int
    public let text: String
    public var description: String { text }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let text: String
        public let reason: String
        public var description: String { "'\(text)' is not a network: \(reason)" }
    }

    public init(_ text: String) throws(ParseError) {
        self.text = text
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else {
            throw ParseError(text: text, reason: "'\(parts[0])' is not an IPv4 or IPv6 address")
        }
        let familyBits = address.isIPv4 ? 32 : 128
        var length = familyBits
        if parts.count == 2 {
            let p = parts[1]
            guard !p.isEmpty, p.count <= 3, p.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), p.count == 1 || p.first != "0",
                  let n = Int(p), n <= familyBits else {
                throw ParseError(text: text, reason: "the prefix length must be a number 0...\(familyBits)")
            }
            length = n
        }
        self.address = address
        prefixLength = length + (address.isIPv4 ? 96 : 0)
        for bit in prefixLength..<128 where address.bytes[bit / 8] & (0x80 >> UInt8(bit % 8)) != 0 {
            throw ParseError(text: text, reason: "bits are set after the /\(length) prefix")
        }
    }

    public func contains(_ other: IPAddress) -> Bool {
        var bit = 0
        while bit < prefixLength {
            let byte = bit / 8
            let take = min(8, prefixLength - bit)
            let mask: UInt8 = take == 8 ? 0xFF : ~(0xFF >> UInt8(take))
            if address.bytes[byte] & mask != other.bytes[byte] & mask { return false }
            bit += take
        }
        return true
    }
}
