/// Line-level pieces shared by the request and response parsers.
enum HTTPWire {
    /// The options of `Connection` fields the parsers act on.
    struct ConnectionOptions: Sendable {
        var close = false
        var keepAlive = false
        var upgrade = false

        /// Adds the options a `Connection` value (bytes `range` of `buffer`) lists: its comma-separated
        /// elements, OWS around them ignored, compared ASCII case-insensitively. Read in place, so a
        /// message costs no String and no array for its `Connection: keep-alive`.
        mutating func add(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) {
            // The usual values, whole: one element, nothing to split or trim (the value is already trimmed
            // of OWS and holds no control byte, as `equalsLowercaseLiteral` requires).
            if buffer.equalsLowercaseLiteral(range, "keep-alive") { keepAlive = true; return }
            if buffer.equalsLowercaseLiteral(range, "close") { close = true; return }
            var start = range.lowerBound
            while start < range.upperBound {
                var end = start
                while end < range.upperBound && buffer[end] != UInt8(ascii: ",") { end += 1 }
                var a = start, b = end
                while a < b && (buffer[a] == 32 || buffer[a] == 9) { a += 1 }
                while b > a && (buffer[b - 1] == 32 || buffer[b - 1] == 9) { b -= 1 }
                if buffer.equalsIgnoringCase(a..<b, "close") { close = true }
                else if buffer.equalsIgnoringCase(a..<b, "keep-alive") { keepAlive = true }
                else if buffer.equalsIgnoringCase(a..<b, "upgrade") { upgrade = true }
                start = end + 1
            }
        }
    }

    /// A field line the one-pass scan accepted (`scanPlainField`): name and value (trimmed of OWS) as byte
    /// ranges, and the index of the CR that ends the line (an LF follows it).
    struct PlainFieldLine {
        var name: Range<Int>
        var value: Range<Int>
        var end: Int
    }

    /// One pass over the field line starting at `start`, for the line every message is made of: a token
    /// name, a colon, a value of field-value bytes (RFC 9110 §5.5), CR LF. Nil for any other line, valid or
    /// not, and for a line not complete in `buffer`: the caller then runs the line-by-line checks
    /// (`lineEnd`/`findCRLF`, then `parseField`), which give every verdict and problem code. So this never
    /// refuses anything; it accepts only lines those checks accept, with the same ranges:
    ///
    /// - every byte before the CR is a tchar, the colon, or a field-value byte, so none is a CR or an LF:
    ///   the CR found is the line's first, with no bare LF before it, and an LF after it;
    /// - the name is non-empty tchars up to the first colon, so `parseField` finds the same colon;
    /// - the value's bytes are all field-value bytes, so its check passes; OWS is trimmed the same way.
    ///
    /// Replaces, per line, two or three memchr calls, the name loop, and the value check as separate
    /// passes (some 450 instructions a line on a typical upstream head, about 180 now).
    @inline(__always)
    static func scanPlainField(_ buffer: UnsafeRawBufferPointer, from start: Int) -> PlainFieldLine? {
        let count = buffer.count
        var i = start
        while i < count && ByteClass.isToken(buffer[i]) { i += 1 }
        guard i > start, i < count, buffer[i] == UInt8(ascii: ":") else { return nil }
        let nameEnd = i
        i += 1
        while i < count && (buffer[i] == 32 || buffer[i] == 9) { i += 1 }
        let valueStart = i
        guard let end = valueEnd(buffer, from: valueStart) else { return nil }
        var valueEnd = end
        while valueEnd > valueStart && (buffer[valueEnd - 1] == 32 || buffer[valueEnd - 1] == 9) { valueEnd -= 1 }
        return PlainFieldLine(name: start..<nameEnd, value: valueStart..<valueEnd, end: end)
    }

    /// The index of the CR ending a run of field-value bytes (VCHAR, SP, HTAB, obs-text) that starts at
    /// `from`, if that CR is followed by an LF; nil if another byte (a control, DEL, a bare LF) comes first
    /// or the line is not complete in `buffer`.
    ///
    /// Eight bytes at a time: a word is skipped when no byte of it is below 0x20 or is 0x7F (the "has a
    /// byte less than n" and "has a zero byte" word tricks, as `ByteClass.areFieldValue`). Those tricks can
    /// flag a byte wrongly only above a byte flagged rightly (a borrow runs upwards only from a byte that
    /// is below 0x20 or is 0x7F), so the lowest flagged byte is exactly the first control or DEL of the word.
    @inline(__always)
    static func valueEnd(_ buffer: UnsafeRawBufferPointer, from: Int) -> Int? {
        let count = buffer.count
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        var j = from
        while true {
            if j + 8 <= count {
                let w = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: j, as: UInt64.self))
                let below = (w &- ones &* 0x20) & ~w & highs
                let x = w ^ (ones &* 0x7F)
                let del = (x &- ones) & ~x & highs
                let flagged = below | del
                if flagged == 0 { j += 8; continue }
                // Little-endian: the byte at the lowest address is the lowest in the word.
                j += flagged.trailingZeroBitCount >> 3
            } else {
                while j < count && buffer[j] >= 0x20 && buffer[j] != 0x7F { j += 1 }
                guard j < count else { return nil }
            }
            switch buffer[j] {
            case 9: j += 1  // HTAB, a field-value byte: go on
            case 13: return j + 1 < count && buffer[j + 1] == 10 ? j : nil
            default: return nil
            }
        }
    }

    /// One pass over a request line starting at `start` in the form nearly every client sends:
    /// `method SP target SP HTTP/1.1` (or `HTTP/1.0`) CR LF, the method tchars, the target visible ASCII.
    /// Nil for anything else, or a line not complete in `buffer`: the caller then runs the checks of
    /// `checkRequestLinePrefix` and `parseRequestLine`, which such a line passes (a non-empty token, one
    /// SP, a non-empty run of target bytes, one SP, a version of the pattern, 1.0 or 1.1), so only they
    /// ever refuse a request line. Returns the indices of the two spaces and of the CR.
    @inline(__always)
    static func scanPlainRequestLine(_ buffer: UnsafeRawBufferPointer, from start: Int) -> (sp1: Int, sp2: Int, end: Int)? {
        let count = buffer.count
        var i = start
        while i < count && ByteClass.isToken(buffer[i]) { i += 1 }
        guard i > start, i < count, buffer[i] == 32 else { return nil }
        let sp1 = i
        i += 1
        // Target bytes are 0x21...0x7E: a word is skipped when no byte is below 0x21, none has its high bit
        // set, and none is 0x7F; the first word that fails is finished byte by byte.
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while i + 8 <= count {
            let w = buffer.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let below = (w &- ones &* 0x21) & ~w & highs
            let x = w ^ (ones &* 0x7F)
            let del = (x &- ones) & ~x & highs
            if below | del | (w & highs) != 0 { break }
            i += 8
        }
        while i < count && ByteClass.isTargetByte(buffer[i]) { i += 1 }
        guard i > sp1 + 1, i < count, buffer[i] == 32 else { return nil }
        let sp2 = i
        // "HTTP/1.1" or "HTTP/1.0", then CR LF.
        guard sp2 + 10 < count, buffer[sp2 + 1] == UInt8(ascii: "H"), buffer[sp2 + 2] == UInt8(ascii: "T"),
              buffer[sp2 + 3] == UInt8(ascii: "T"), buffer[sp2 + 4] == UInt8(ascii: "P"), buffer[sp2 + 5] == UInt8(ascii: "/"),
              buffer[sp2 + 6] == UInt8(ascii: "1"), buffer[sp2 + 7] == UInt8(ascii: "."),
              buffer[sp2 + 8] == UInt8(ascii: "1") || buffer[sp2 + 8] == UInt8(ascii: "0"),
              buffer[sp2 + 9] == 13, buffer[sp2 + 10] == 10
        else { return nil }
        return (sp1, sp2, sp2 + 9)
    }

    /// One `name: value` line (header or trailer), value trimmed of OWS.
    static func parseField(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> Swift.Result<(name: Range<Int>, value: Range<Int>), HTTPParseError> {
        var colon = range.lowerBound
        while colon < range.upperBound && buffer[colon] != UInt8(ascii: ":") {
            let b = buffer[colon]
            if !ByteClass.isToken(b) {
                if b == 32 || b == 9 {
                    // Whitespace before the colon (RFC 9112 §5.1) or inside the name.
                    var k = colon
                    while k < range.upperBound && (buffer[k] == 32 || buffer[k] == 9) { k += 1 }
                    return .failure(k < range.upperBound && buffer[k] == UInt8(ascii: ":") ? .headerNameSpace : .invalidHeaderName)
                }
                return .failure(.invalidHeaderName)
            }
            colon += 1
        }
        guard colon < range.upperBound else { return .failure(.missingColon) }
        guard colon > range.lowerBound else { return .failure(.invalidHeaderName) }
        var valueStart = colon + 1
        var valueEnd = range.upperBound
        while valueStart < valueEnd && (buffer[valueStart] == 32 || buffer[valueStart] == 9) { valueStart += 1 }
        while valueEnd > valueStart && (buffer[valueEnd - 1] == 32 || buffer[valueEnd - 1] == 9) { valueEnd -= 1 }
        if !ByteClass.areFieldValue(buffer, valueStart..<valueEnd) { return .failure(.invalidHeaderValue) }
        return .success((range.lowerBound..<colon, valueStart..<valueEnd))
    }

    /// chunk = chunk-size [ chunk-ext ] CRLF, with no whitespace (as llhttp's strict mode).
    static func parseChunkLine(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>, maxBodyBytes: Int) -> Swift.Result<Int, HTTPParseError> {
        var i = range.lowerBound
        var size = 0
        var digits = 0
        while i < range.upperBound, let h = ByteClass.hexValue(buffer[i]) {
            digits += 1
            if digits > 15 { return .failure(.invalidChunkSize) }
            size = size * 16 + h
            i += 1
        }
        guard digits > 0 else { return .failure(.invalidChunkSize) }
        if size > maxBodyBytes { return .failure(.bodyTooLarge) }
        // chunk-ext = *( ";" token [ "=" ( token / quoted-string ) ] )
        while i < range.upperBound {
            guard buffer[i] == UInt8(ascii: ";") else { return .failure(.invalidChunkSize) }
            i += 1
            let nameStart = i
            while i < range.upperBound && ByteClass.isToken(buffer[i]) { i += 1 }
            guard i > nameStart else { return .failure(.invalidChunkExtension) }
            if i < range.upperBound && buffer[i] == UInt8(ascii: "=") {
                i += 1
                if i < range.upperBound && buffer[i] == UInt8(ascii: "\"") {
                    i += 1
                    var closed = false
                    while i < range.upperBound {
                        let b = buffer[i]
                        if b == UInt8(ascii: "\"") { closed = true; i += 1; break }
                        if b == UInt8(ascii: "\\") {
                            i += 1
                            guard i < range.upperBound, ByteClass.isFieldValue(buffer[i]) else { return .failure(.invalidChunkExtension) }
                        } else if !ByteClass.isFieldValue(b) {
                            return .failure(.invalidChunkExtension)
                        }
                        i += 1
                    }
                    guard closed else { return .failure(.invalidChunkExtension) }
                } else {
                    let valueStart = i
                    while i < range.upperBound && ByteClass.isToken(buffer[i]) { i += 1 }
                    guard i > valueStart else { return .failure(.invalidChunkExtension) }
                }
            }
        }
        return .success(size)
    }

    enum LineSearch { case success(Int), failure(HTTPParseError) }

    /// Finds the CRLF ending the line that starts at `from`; a bare CR or LF is an error.
    static func findCRLF(_ buffer: UnsafeRawBufferPointer, from: Int, limit: Int) -> LineSearch? {
        var i = from
        let end = min(buffer.count, from + limit + 1)
        while i < end {
            let b = buffer[i]
            if b == 10 { return .failure(.bareLF) }
            if b == 13 {
                guard i + 1 < buffer.count else { return nil }
                return buffer[i + 1] == 10 ? .success(i) : .failure(.bareCR)
            }
            i += 1
        }
        return nil
    }

    static func bareLineEnding(_ buffer: UnsafeRawBufferPointer, from: Int) -> HTTPParseError? {
        for i in from..<buffer.count where buffer[i] == 10 { return .bareLF }
        return nil
    }

}

/// De-chunks a chunked body (RFC 9112 §7.1) incrementally, with trailers. Pure.
struct ChunkedDecoder: Sendable {
    enum Outcome { case needMore, done, error(HTTPParseError) }
    private enum Phase: Sendable { case size, data(remaining: Int), dataEnd, trailers }
    private var phase: Phase = .size

    mutating func decode(_ buffer: UnsafeRawBufferPointer, position: inout Int, body: inout [UInt8],
                         trailers: inout HTTPHeaders, limits: HTTPParserLimits) -> Outcome {
        while true {
            switch phase {
            case .size:
                guard let lineEnd = HTTPWire.findCRLF(buffer, from: position, limit: limits.maxChunkLineBytes) else {
                    if buffer.count - position > limits.maxChunkLineBytes && buffer[position + limits.maxChunkLineBytes] != 13 { return .error(.chunkLineTooLong) }
                    if let e = HTTPWire.bareLineEnding(buffer, from: position) { return .error(e) }
                    return .needMore
                }
                guard case .success(let end) = lineEnd else {
                    if case .failure(let e) = lineEnd { return .error(e) }
                    return .needMore
                }
                let size: Int
                switch HTTPWire.parseChunkLine(buffer, position..<end, maxBodyBytes: limits.maxBodyBytes) {
                case .failure(let e): return .error(e)
                case .success(let s): size = s
                }
                position = end + 2
                if size == 0 {
                    phase = .trailers
                } else {
                    if body.count + size > limits.maxBodyBytes { return .error(.bodyTooLarge) }
                    phase = .data(remaining: size)
                }
            case .data(let remaining):
                let available = min(remaining, buffer.count - position)
                if available == 0 { return .needMore }
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[position..<position + available]))
                position += available
                phase = remaining == available ? .dataEnd : .data(remaining: remaining - available)
            case .dataEnd:
                guard buffer.count - position >= 2 else {
                    if buffer.count - position == 1 && buffer[position] != 13 { return .error(.missingChunkCRLF) }
                    return .needMore
                }
                guard buffer[position] == 13, buffer[position + 1] == 10 else { return .error(.missingChunkCRLF) }
                position += 2
                phase = .size
            case .trailers:
                guard let found = HTTPWire.findCRLF(buffer, from: position, limit: limits.maxHeaderBytes) else {
                    if buffer.count - position > limits.maxHeaderBytes && buffer[position + limits.maxHeaderBytes] != 13 { return .error(.headersTooLarge) }
                    if let e = HTTPWire.bareLineEnding(buffer, from: position) { return .error(e) }
                    return .needMore
                }
                guard case .success(let end) = found else {
                    if case .failure(let e) = found { return .error(e) }
                    return .needMore
                }
                if end == position {
                    position += 2
                    phase = .size
                    return .done
                }
                if buffer[position] == 32 || buffer[position] == 9 { return .error(.obsFold) }
                switch HTTPWire.parseField(buffer, position..<end) {
                case .failure(let e): return .error(e)
                case .success(let field):
                    trailers.add(name: UnsafeRawBufferPointer(rebasing: buffer[field.name]), value: UnsafeRawBufferPointer(rebasing: buffer[field.value]))
                    if trailers.count > limits.maxHeaderCount { return .error(.tooManyHeaders) }
                }
                position = end + 2
            }
        }
    }
}
