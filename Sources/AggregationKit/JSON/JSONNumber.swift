/// A number as its JSON text, compared by its exact decimal value.
///
/// The text is kept as it came (a 64-bit id or `1.10` is serialized unchanged); comparison never goes
/// through a `Double`, which holds integers exactly only up to 2^53 and would make `9007199254740992`
/// and `9007199254740993` one id (a batch would fetch one of them, a `$lookup` would attach one
/// customer's product to another's line). Every number is reduced to a canonical decimal form,
///
///     text ─▶ sign, significant digits d₁…dₙ (no leading or trailing zeros), exponent E
///             value = ± 0.d₁d₂…dₙ × 10^E        e.g. "-12.50e1" ─▶ −, "125", E = 3  (−125)
///                                                     "1", "1.0", "1e0", "10e-1" ─▶ +, "1", E = 1
///
/// and two numbers are equal when their forms are (`-0` equals `0`). Fractions compare exactly too, not
/// as Doubles: `0.1` equals `0.10` but not `0.1000000000000000000001`. An exponent beyond ±10^15 (no real
/// payload has one) is not reduced: such a number equals only the same text, which can only keep two
/// values apart, never merge them.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    public init(text: String) { self.text = text }
    public init(_ value: Int) { text = String(value) }
    public var description: String { text }
    public var doubleValue: Double { Double(text) ?? .nan }

    public enum Ordering: Sendable { case less, equal, greater }

    /// The value as an integer, if it is one exactly (`3`, `3.0`, `3e0`) and fits in `Int`.
    public var intValue: Int? {
        var text = text
        return text.withUTF8 { bytes -> Int? in
            guard let form = DecimalForm(bytes), form.exact else { return nil }
            if form.digitCount == 0 { return 0 }
            guard form.exponent >= form.digitCount, form.exponent <= 19 else { return nil }
            // Accumulated as a negative number, so that Int.min fits.
            var v = 0
            for k in 0..<form.exponent {
                let digit = k < form.digitCount ? Int(bytes[form.position(ofDigit: k)] - 48) : 0
                let (times10, o1) = v.multipliedReportingOverflow(by: 10)
                let (next, o2) = times10.subtractingReportingOverflow(digit)
                guard !o1 && !o2 else { return nil }
                v = next
            }
            if form.negative { return v }
            let (positive, overflow) = (0).subtractingReportingOverflow(v)
            return overflow ? nil : positive
        }
    }

    /// Whether the value is an integer (`3`, `3.0`, `1e400`; not `9007199254740992.5`), exactly.
    public var isInteger: Bool {
        var text = text
        return text.withUTF8 { bytes in
            guard let form = DecimalForm(bytes) else { return false }
            return form.digitCount == 0 || form.exponent >= form.digitCount
        }
    }

    public static func == (a: JSONNumber, b: JSONNumber) -> Bool {
        if a.text == b.text { return true }
        var x = a.text, y = b.text
        return x.withUTF8 { xb in
            y.withUTF8 { yb in
                guard let fx = DecimalForm(xb), fx.exact, let fy = DecimalForm(yb), fy.exact else { return false }
                return compare(fx, xb, fy, yb) == .equal
            }
        }
    }

    public func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { bytes in
            guard let form = DecimalForm(bytes), form.exact else {
                hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
                return
            }
            hasher.combine(form.digitCount == 0 ? false : form.negative)
            hasher.combine(form.exponent)
            hasher.combine(form.digitCount)
            for k in 0..<form.digitCount { hasher.combine(bytes[form.position(ofDigit: k)]) }
        }
    }

    /// Exact numeric order (for `minimum`/`maximum`). Text that is not a JSON number is ordered as a Double.
    public static func compare(_ a: JSONNumber, _ b: JSONNumber) -> Ordering {
        var x = a.text, y = b.text
        let exact: Ordering? = x.withUTF8 { xb in
            y.withUTF8 { yb in
                guard let fx = DecimalForm(xb), let fy = DecimalForm(yb) else { return nil }
                return compare(fx, xb, fy, yb)
            }
        }
        if let exact { return exact }
        let (dx, dy) = (a.doubleValue, b.doubleValue)
        return dx < dy ? .less : (dx > dy ? .greater : .equal)
    }

    private static func compare(_ x: DecimalForm, _ xb: UnsafeBufferPointer<UInt8>, _ y: DecimalForm, _ yb: UnsafeBufferPointer<UInt8>) -> Ordering {
        let sx = x.digitCount == 0 ? 0 : (x.negative ? -1 : 1)
        let sy = y.digitCount == 0 ? 0 : (y.negative ? -1 : 1)
        if sx != sy { return sx < sy ? .less : .greater }
        if sx == 0 { return .equal }
        // Same sign: compare magnitudes, then flip for negatives.
        var magnitude = Ordering.equal
        if x.exponent != y.exponent {
            magnitude = x.exponent < y.exponent ? .less : .greater
        } else {
            let common = min(x.digitCount, y.digitCount)
            var k = 0
            while k < common {
                let dx = xb[x.position(ofDigit: k)], dy = yb[y.position(ofDigit: k)]
                if dx != dy { magnitude = dx < dy ? .less : .greater; break }
                k += 1
            }
            if k == common && x.digitCount != y.digitCount { magnitude = x.digitCount < y.digitCount ? .less : .greater }
        }
        guard sx < 0 else { return magnitude }
        switch magnitude {
        case .less: return .greater
        case .greater: return .less
        case .equal: return .equal
        }
    }

    /// The canonical form of a number's text, read in place (no allocation): `± 0.d₁…dₙ × 10^exponent`.
    struct DecimalForm {
        var negative = false
        /// n: significant digits, without leading or trailing zeros; 0 for zero.
        var digitCount = 0
        var exponent = 0
        /// False when the exponent was beyond ±10^15 and was clamped: usable for ordering, not for equality.
        var exact = true
        // Where the mantissa digits are: the integer part, then the fraction part (the '.' skipped).
        private var integerStart = 0, integerCount = 0, fractionStart = 0
        /// Mantissa digits before d₁ (leading zeros).
        private var leading = 0

        /// Nil when the bytes are not a JSON number.
        init?(_ b: UnsafeBufferPointer<UInt8>) {
            let n = b.count
            var i = 0
            if i < n && b[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            integerStart = i
            while i < n && b[i] >= 48 && b[i] <= 57 { i += 1 }
            integerCount = i - integerStart
            guard integerCount > 0 else { return nil }
            var fractionCount = 0
            fractionStart = i
            if i < n && b[i] == UInt8(ascii: ".") {
                i += 1
                fractionStart = i
                while i < n && b[i] >= 48 && b[i] <= 57 { i += 1 }
                fractionCount = i - fractionStart
                guard fractionCount > 0 else { return nil }
            }
            var written = 0
            if i < n && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
                i += 1
                var exponentNegative = false
                if i < n && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { exponentNegative = b[i] == UInt8(ascii: "-"); i += 1 }
                let start = i
                let limit = 1_000_000_000_000_000  // 10^15
                while i < n && b[i] >= 48 && b[i] <= 57 {
                    if written <= limit { written = written * 10 + Int(b[i] - 48) }
                    i += 1
                }
                guard i > start else { return nil }
                if written > limit { written = limit; exact = false }
                if exponentNegative { written = -written }
            }
            guard i == n else { return nil }
            let total = integerCount + fractionCount
            var first = 0
            while first < total && b[Self.mantissaPosition(first, integerStart, integerCount, fractionStart)] == 48 { first += 1 }
            guard first < total else {  // zero, whatever its sign and exponent
                negative = false
                exact = true
                return
            }
            var last = total - 1
            while b[Self.mantissaPosition(last, integerStart, integerCount, fractionStart)] == 48 { last -= 1 }
            leading = first
            digitCount = last - first + 1
            exponent = integerCount - first + written
        }

        /// The byte offset of significant digit `k` (0-based).
        @inline(__always) func position(ofDigit k: Int) -> Int {
            Self.mantissaPosition(leading + k, integerStart, integerCount, fractionStart)
        }

        @inline(__always) private static func mantissaPosition(_ m: Int, _ integerStart: Int, _ integerCount: Int, _ fractionStart: Int) -> Int {
            m < integerCount ? integerStart + m : fractionStart + (m - integerCount)
        }
    }
}
