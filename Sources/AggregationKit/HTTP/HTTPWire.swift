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
