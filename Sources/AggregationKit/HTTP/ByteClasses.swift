/// Character classes of RFC 9110 §5.6, as lookup tables over bytes.
enum ByteClass {
    /// The classes of each byte, one character per byte value (the first for 0x00, sixteen a row), whose
    /// code's low bits say: bit 0, a tchar; bit 1, a Host byte (`HTTPRequestParser.validHost`). So `0` is
    /// neither, `1` a tchar only, `2` a Host byte only, `3` both.
    ///
    /// A `StaticString` because its bytes are constant data: a lookup is one load from a fixed address, with
    /// no lazy initialisation to check (a `static let` array) and no branches (the 64-bit sets this replaces
    /// cost some 11 instructions a byte in a name, 7 now). It has 256 characters, so any byte indexes it
    /// (`ByteClassTests.testByteClassTableCoversEveryByte`).
    @inline(__always) private static var table: StaticString {
        """
        0000000000000000\
        0000000000000000\
        0301333322332330\
        3333333333220200\
        0333333333333333\
        3333333333320213\
        1333333333333333\
        3333333333301030\
        0000000000000000\
        0000000000000000\
        0000000000000000\
        0000000000000000\
        0000000000000000\
        0000000000000000\
        0000000000000000\
        0000000000000000
        """
    }

    /// The number of entries of the class table: 256, one per byte value.
    static var tableCount: Int { table.utf8CodeUnitCount }

    /// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
    @inline(__always) static func isToken(_ b: UInt8) -> Bool { table.utf8Start[Int(b)] & 1 != 0 }

    /// A byte allowed in a Host value: ALPHA, DIGIT, `-._~%!$&'()*+,;=:[]`.
    @inline(__always) static func isHostByte(_ b: UInt8) -> Bool { table.utf8Start[Int(b)] & 2 != 0 }

    /// field-vchar / SP / HTAB (obs-text allowed).
    @inline(__always) static func isFieldValue(_ b: UInt8) -> Bool { b == 9 || (b >= 0x20 && b != 0x7F) }

    /// Whether every byte of `range` is `isFieldValue`. Eight bytes at a time while they are all plain
    /// (no byte below 0x20, none 0x7F: the usual value), byte by byte from the first word that is not
    /// (a tab, or an error): the same verdict as the byte loop, at a fraction of its cost on a header.
    static func areFieldValue(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        var j = range.lowerBound
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while j + 8 <= range.upperBound {
            let w = buffer.loadUnaligned(fromByteOffset: j, as: UInt64.self)
            // A byte below 0x20 (high bit clear, so obs-text is not caught), or a byte equal to 0x7F:
            // the classic "has a byte less than n" and "has a zero byte" word tricks.
            let below = (w &- ones &* 0x20) & ~w & highs
            let x = w ^ (ones &* 0x7F)
            let del = (x &- ones) & ~x & highs
            if below | del != 0 { break }
            j += 8
        }
        while j < range.upperBound {
            if !isFieldValue(buffer[j]) { return false }
            j += 1
        }
        return true
    }
    /// What a UTF-8 lead byte (RFC 3629 §4) asks of the bytes after it: how many continuation bytes, and
    /// the range the first of them must fall in (narrower after E0, ED, F0, F4: no overlong forms, no
    /// surrogates, nothing above U+10FFFF; later ones are 80...BF). Nil for a byte that cannot lead.
    @inline(__always) static func utf8Lead(_ b: UInt8) -> (continuations: Int, low: UInt8, high: UInt8)? {
        switch b {
        case 0xC2...0xDF: return (1, 0x80, 0xBF)
        case 0xE0: return (2, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: return (2, 0x80, 0xBF)
        case 0xED: return (2, 0x80, 0x9F)
        case 0xF0: return (3, 0x90, 0xBF)
        case 0xF1...0xF3: return (3, 0x80, 0xBF)
        case 0xF4: return (3, 0x80, 0x8F)
        default: return nil
        }
    }
    /// Visible ASCII: what a request target may contain.
    @inline(__always) static func isTargetByte(_ b: UInt8) -> Bool { b > 0x20 && b < 0x7F }
    @inline(__always) static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(b - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always) func string(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: self[range]), as: UTF8.self)
    }

    /// Whether bytes `range` equal `literal` exactly (no case folding).
    @inline(__always) func equals(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let lit = literal.utf8Start
        for i in 0..<range.count where self[range.lowerBound + i] != lit[i] { return false }
        return true
    }

    /// `equalsIgnoringCase` a word at a time, for a `literal` of lower-case letters, digits and `-`
    /// compared with bytes that hold no control byte but HTAB (a validated name or value).
    ///
    /// Each byte is OR-ed with 0x20 and compared: that maps `A`-`Z` to `a`-`z` and leaves other letters,
    /// digits and `-` alone, as `equalsIgnoringCase` does. The only other bytes it maps onto such a literal
    /// byte are 0x10-0x19 (onto a digit) and CR (onto `-`), controls, which a validated name or value does
    /// not hold: so the verdict is the same. (HTAB maps to `)`, in no literal.)
    @inline(__always) func equalsLowercaseLiteral(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard range.count == n else { return false }
        let lit = UnsafeRawPointer(literal.utf8Start)
        let base = range.lowerBound
        if n >= 8 {
            // Whole words, the last one overlapping the one before when n is not a multiple of 8.
            var k = 0
            while true {
                let a = loadUnaligned(fromByteOffset: base + k, as: UInt64.self) | 0x2020_2020_2020_2020
                if a != lit.loadUnaligned(fromByteOffset: k, as: UInt64.self) { return false }
                if k + 8 == n { return true }
                k = Swift.min(k + 8, n - 8)
            }
        }
        if n >= 4 {
            let a = loadUnaligned(fromByteOffset: base, as: UInt32.self) | 0x2020_2020
            let b = loadUnaligned(fromByteOffset: base + n - 4, as: UInt32.self) | 0x2020_2020
            return a == lit.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
                && b == lit.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
        }
        for i in 0..<n where self[base + i] | 0x20 != lit.load(fromByteOffset: i, as: UInt8.self) { return false }
        return true
    }

    /// Whether bytes `range` equal `literal`, ignoring ASCII case.
    @inline(__always) func equalsIgnoringCase(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let lit = literal.utf8Start
        for i in 0..<range.count {
            var b = self[range.lowerBound + i]
            if b >= 65 && b <= 90 { b |= 0x20 }
            if b != lit[i] { return false }
        }
        return true
    }
}
