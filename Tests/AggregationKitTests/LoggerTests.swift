import XCTest
import Foundation
@testable import AggregationKit

/// A log writer on a pipe, read back after the writer thread has written everything it was given.
final class CapturedLog {
    let readEnd: Int32
    let writeEnd: Int32
    let writer: LogWriter

    init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        readEnd = fds[0]
        writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        writer = LogWriter(fd: writeEnd)
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    /// Everything written so far, as bytes.
    func bytes() -> [UInt8] {
        XCTAssertTrue(writer.flush(timeout: 10_000_000_000))
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress!, $0.count) }
            guard n > 0 else { break }
            result += buffer[0..<n]
        }
        return result
    }

    /// Every line written so far, each parsed by our JSON parser with duplicate keys rejected (a line
    /// that is not one valid JSON object fails the test).
    func entries(file: StaticString = #filePath, line: UInt = #line) -> [JSONObject] {
        let all = bytes()
        XCTAssertTrue(all.isEmpty || all.last == 10, "every line ends with a newline", file: file, line: line)
        return all.split(separator: 10, omittingEmptySubsequences: false).dropLast().compactMap { raw in
            do {
                guard case .object(let o) = try JSONParser.parse(Array(raw), duplicateKeys: .reject) else {
                    XCTFail("not an object: \(String(decoding: raw, as: UTF8.self))", file: file, line: line)
                    return nil
                }
                return o
            } catch {
                XCTFail("invalid JSON line (\(error)): \(String(decoding: raw, as: UTF8.self))", file: file, line: line)
                return nil
            }
        }
    }
}

final class LoggerTests: XCTestCase {
    // MARK: Levels

    func testLevelNamesOrderAndParsing() {
        XCTAssertEqual(LogLevel.allCases.map(\.name), ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        XCTAssertTrue(LogLevel.trace < .debug && .debug < .info && .info < .notice && .notice < .warning && .warning < .error && .error < .critical)
        for level in LogLevel.allCases {
            XCTAssertEqual(LogLevel(name: level.name), level)
            XCTAssertEqual(LogLevel(name: level.name.uppercased()), level)
        }
        for bad in ["", "warn", "verbose", "info ", "off", "0"] { XCTAssertNil(LogLevel(name: bad), bad) }
        XCTAssertEqual(LogLevel.namesForUsage, "trace, debug, info, notice, warning, error or critical")
    }

    func testBelowThresholdWritesNothingAndEvaluatesNothing() {
        let log = CapturedLog()
        let logger = Logger(threshold: .warning, writer: log.writer)
        var evaluated = 0
        func message() -> String { evaluated += 1; return "expensive" }
        func fields() -> [LogField] { evaluated += 1; return [.int("n", 1)] }
        logger.trace(message(), fields())
        logger.debug(message(), fields())
        logger.info(message(), fields())
        logger.notice(message(), fields())
        logger.log(.info, message(), fields())
        XCTAssertEqual(evaluated, 0, "neither the message nor the fields of a filtered call are built")
        XCTAssertFalse(logger.isEnabled(.notice))
        XCTAssertTrue(logger.isEnabled(.warning))
        XCTAssertTrue(log.bytes().isEmpty)

        logger.warning(message(), fields())
        logger.error(message())
        logger.critical(message())
        XCTAssertEqual(evaluated, 4)
        XCTAssertEqual(log.entries().map { $0["level"]?.stringValue }, ["warning", "error", "critical"])
    }

    func testDisabledLoggerEvaluatesNothing() {
        var evaluated = false
        Logger.disabled.critical({ evaluated = true; return "x" }())
        XCTAssertFalse(evaluated)
        XCTAssertFalse(Logger.disabled.isEnabled(.critical))
    }

    func testEveryLevelAtTraceIsWrittenWithItsName() {
        let log = CapturedLog()
        let logger = Logger(threshold: .trace, writer: log.writer)
        for level in LogLevel.allCases { logger.log(level, "m-\(level.name)") }
        let entries = log.entries()
        XCTAssertEqual(entries.map { $0["level"]?.stringValue }, LogLevel.allCases.map(\.name))
        XCTAssertEqual(entries.map { $0["msg"]?.stringValue }, LogLevel.allCases.map { "m-\($0.name)" })
    }

    // MARK: Line format

    func testLineHasTimeLevelMessageRequestIDThenTypedFieldsInOrder() throws {
        let log = CapturedLog()
        let logger = Logger(threshold: .info, writer: log.writer)
        logger.info("plain")
        logger.with(requestID: "req-42").notice("with id", [
            .string("s", "text"), .int("i", -7), .double("d", 1.5), .bool("b", true), .string("missing", nil),
            .double("nan", .nan), .double("inf", .infinity), .int("big", Int.max),
        ])
        let entries = log.entries()
        XCTAssertEqual(entries.count, 2)
        XCTAssertEqual(entries[0].keys, ["time", "level", "msg"], "no request_id when none is given")
        XCTAssertEqual(entries[1].keys, ["time", "level", "msg", "request_id", "s", "i", "d", "b", "missing", "nan", "inf", "big"])
        let e = entries[1]
        XCTAssertEqual(e["level"]?.stringValue, "notice")
        XCTAssertEqual(e["msg"]?.stringValue, "with id")
        XCTAssertEqual(e["request_id"]?.stringValue, "req-42")
        XCTAssertEqual(e["s"]?.stringValue, "text")
        XCTAssertEqual(e["i"]?.numberValue?.intValue, -7)
        XCTAssertEqual(e["d"]?.numberValue?.doubleValue, 1.5)
        XCTAssertEqual(e["b"]?.boolValue, true)
        XCTAssertEqual(e["missing"]?.isNull, true)
        XCTAssertEqual(e["nan"]?.isNull, true, "JSON has no NaN")
        XCTAssertEqual(e["inf"]?.isNull, true, "nor infinities")
        XCTAssertEqual(e["big"]?.numberValue?.intValue, Int.max)
        for entry in entries {
            let time = try XCTUnwrap(entry["time"]?.stringValue)
            XCTAssertTrue(JSONSchema.isRFC3339DateTime(time), time)
            XCTAssertTrue(time.hasSuffix("Z"), "UTC")
            XCTAssertEqual(time.count, 24, "milliseconds: \(time)")
        }
    }

    func testHostileStringsStayInsideTheirValue() {
        let log = CapturedLog()
        let logger = Logger(threshold: .info, writer: log.writer)
        let hostile = [
            "quote \" backslash \\ slash /",
            "line\nbreak\r\ncarriage",
            "\u{0}\u{1}\u{7}\u{8}\u{B}\u{C}\u{1B}[31m\u{1F}\u{7F}",
            "\"},{\"level\":\"critical\",\"msg\":\"forged",
            "tab\there",
            "é ü 日本 🎉 \u{2028}\u{2029}",
            "",
        ]
        for (i, text) in hostile.enumerated() {
            logger.with(requestID: text).info(text, [.string(text.isEmpty ? "empty" : "k\(i)", text), .string("key \"\n\u{1}", text)])
        }
        let entries = log.entries()
        XCTAssertEqual(entries.count, hostile.count, "one line per call, whatever the values hold")
        for (entry, text) in zip(entries, hostile) {
            XCTAssertEqual(entry["msg"]?.stringValue, text)
            XCTAssertEqual(entry["request_id"]?.stringValue, text)
            XCTAssertEqual(entry["key \"\n\u{1}"]?.stringValue, text, "keys are escaped too")
            XCTAssertEqual(entry["level"]?.stringValue, "info", "a forged level stays inside the message")
        }
        // The raw bytes hold no control character but the line ends.
        let raw = log.bytes()
        XCTAssertTrue(raw.isEmpty)
        logger.info(hostile[2])
        let line = log.bytes()
        XCTAssertEqual(line.filter { $0 < 0x20 }, [10])
        XCTAssertTrue(String(decoding: line, as: UTF8.self).contains(#""msg":"\u0000\u0001\u0007\u0008\u000b\u000c\u001b[31m\u001f"#), String(decoding: line, as: UTF8.self))
    }

    func testInvalidUTF8BytesAreReplacedNotCopied() throws {
        let log = CapturedLog()
        let logger = Logger(threshold: .info, writer: log.writer)
        let wire: [UInt8] = Array("GET /a".utf8) + [0xFF, 0xC3, 0x28, 0xE2, 0x82, 0x22, 0x0A, 0xED, 0xA0, 0x80] + Array("\u{e9}".utf8)
        logger.info("request line", [.bytes("line", wire)])
        let raw = log.bytes()
        XCTAssertNotNil(String(validating: raw.dropLast(), as: UTF8.self), "the line is valid UTF-8")
        let entry = try XCTUnwrap(try JSONParser.parse(Array(raw.dropLast()), duplicateKeys: .reject).objectValue)
        let text = try XCTUnwrap(entry["line"]?.stringValue)
        XCTAssertTrue(text.hasPrefix("GET /a\u{FFFD}"), text)
        XCTAssertTrue(text.contains("(\u{FFFD}\"\n"), "the valid bytes between are kept, quote and newline included: \(text.debugDescription)")
        XCTAssertTrue(text.hasSuffix("\u{e9}"))
    }

    func testFieldsNamedLikeFixedKeysOrEachOtherAreRenamed() throws {
        let log = CapturedLog()
        Logger(threshold: .info, writer: log.writer).with(requestID: "r1").info("real", [
            .string("msg", "forged"), .string("level", "critical"), .string("time", "x"), .string("request_id", "r2"),
            .int("n", 1), .int("n", 2), .string("_msg", "taken"),
        ])
        let entry = try XCTUnwrap(log.entries().first)
        XCTAssertEqual(entry.keys, ["time", "level", "msg", "request_id", "_msg", "_level", "_time", "_request_id", "n", "_n", "__msg"])
        XCTAssertEqual(entry["msg"]?.stringValue, "real")
        XCTAssertEqual(entry["level"]?.stringValue, "info")
        XCTAssertEqual(entry["request_id"]?.stringValue, "r1")
        XCTAssertEqual(entry["_msg"]?.stringValue, "forged")
        XCTAssertEqual(entry["_n"]?.numberValue?.intValue, 2)
    }

    func testTimeIsRFC3339UTCWithMilliseconds() {
        func text(_ seconds: Int, _ ms: Int) -> String {
            var out: [UInt8] = []
            LogTime.append(seconds: seconds, milliseconds: ms, into: &out)
            return String(decoding: out, as: UTF8.self)
        }
        XCTAssertEqual(text(0, 0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(text(951_782_400, 7), "2000-02-29T00:00:00.007Z")
        XCTAssertEqual(text(1_700_000_000, 42), "2023-11-14T22:13:20.042Z")
        XCTAssertEqual(text(4_102_444_799, 999), "2099-12-31T23:59:59.999Z")
        // The loops' cached clock writes the same text as the logger's.
        let clock = WallClock()
        var cached: [UInt8] = []
        clock.appendISO8601(into: &cached)
        XCTAssertTrue(JSONSchema.isRFC3339DateTime(String(decoding: cached, as: UTF8.self)))
        XCTAssertEqual(String(decoding: cached, as: UTF8.self).prefix(16), clock.iso8601().prefix(16))
    }

    // MARK: The access stream's per-loop buffer

    func testLoopBufferEntriesUseTheSameFormatAndSkipWorkWhenOff() throws {
        let log = CapturedLog()
        let buffer = LogBuffer(writer: log.writer, flushThreshold: 1 << 20)
        LogBuffer.enabled = true
        buffer.append(message: "request", requestID: "abc") { line in
            line.field("method", "GET")
            line.field("path", Substring("/a\"b"))
            line.field("route", nil as String?)
            line.field("status", 200)
            line.field("duration_ms", 1.25)
            line.field("keep_alive", false)
            line.field("target", utf8: [0x2F, 0xFF])
        }
        buffer.append(level: .warning, message: "second", requestID: nil) { _ in }
        buffer.flush()
        let entries = log.entries()
        XCTAssertEqual(entries.count, 2)
        XCTAssertEqual(entries[0].keys, ["time", "level", "msg", "request_id", "method", "path", "route", "status", "duration_ms", "keep_alive", "target"])
        XCTAssertEqual(entries[0]["path"]?.stringValue, "/a\"b")
        XCTAssertEqual(entries[0]["route"]?.isNull, true)
        XCTAssertEqual(entries[0]["target"]?.stringValue, "/\u{FFFD}")
        XCTAssertEqual(entries[1]["level"]?.stringValue, "warning")
        XCTAssertTrue(JSONSchema.isRFC3339DateTime(entries[0]["time"]?.stringValue ?? ""))

        let off = LogBuffer(writer: nil)
        var built = false
        off.append(message: "request", requestID: "x") { _ in built = true }
        off.append("{\"raw\":1}")
        XCTAssertFalse(built, "an access log that is off builds no line")
        XCTAssertEqual(off.bufferedBytes, 0)
    }

    func testStreamsCountDroppedLinesOncePerWriter() {
        let shared = LogWriter(fd: -1, capacity: 0)
        let streams = LogStreams(application: Logger(threshold: .info, writer: shared), access: shared)
        XCTAssertEqual(streams.writers.count, 1, "both streams on one writer")
        Logger(threshold: .info, writer: shared).info("dropped: the queue holds nothing")
        XCTAssertEqual(shared.droppedLines, 1)
        XCTAssertEqual(streams.droppedLines, 1, "not counted twice")
        let file = LogWriter(fd: -1, capacity: 0)
        let split = LogStreams(application: Logger(threshold: .info, writer: shared), access: file)
        [1, 2].withUnsafeBytes { _ = file.submit($0, lines: 2) }
        XCTAssertEqual(split.droppedLines, 3)
        XCTAssertEqual(LogStreams.disabled.writers.count, 0)
        XCTAssertEqual(LogStreams.disabled.droppedLines, 0)
    }

    // MARK: Command line and configuration

    func testLogLevelFlagWinsOverTheEnvironment() {
        func resolve(_ flag: LogLevel?, _ env: String?) -> String {
            switch GatewayCommand.resolveLogLevel(flag: flag, environment: env) {
            case .success(let level): return level.name
            case .failure(let e): return "error: \(e.message)"
            }
        }
        XCTAssertEqual(resolve(nil, nil), "info")
        XCTAssertEqual(resolve(nil, ""), "info", "an empty variable is an unset one")
        XCTAssertEqual(resolve(nil, "debug"), "debug")
        XCTAssertEqual(resolve(nil, "WARNING"), "warning")
        XCTAssertEqual(resolve(.error, "debug"), "error")
        XCTAssertEqual(resolve(.error, "nonsense"), "error", "the flag wins; the variable is not consulted")
        XCTAssertEqual(resolve(nil, "verbose"), "error: BFF_LOG_LEVEL takes trace, debug, info, notice, warning, error or critical, not 'verbose'")

        func parse(_ args: [String]) -> String {
            switch GatewayCommand.parse(args, profile: .web) {
            case .success(let o): return o.logLevel?.name ?? "none"
            case .failure(let e): return "error: \(e.message)"
            }
        }
        XCTAssertEqual(parse(["--log-level", "debug"]), "debug")
        XCTAssertEqual(parse(["--log-level", "Critical", "--demo"]), "critical")
        XCTAssertEqual(parse([]), "none")
        XCTAssertEqual(parse(["--log-level", "loud"]), "error: --log-level takes trace, debug, info, notice, warning, error or critical, not 'loud'")
        XCTAssertEqual(parse(["--log-level"]), "error: --log-level needs a value")
    }

    private func parseConfig(_ accessLog: String) -> Result<GatewayConfiguration, ConfigurationError> {
        Result { () throws(ConfigurationError) in
            try GatewayConfiguration.parse(Array("{\"accessLog\": \(accessLog)}".utf8), file: "gateway.json")
        }
    }

    private func issues(_ accessLog: String) -> [String] {
        guard case .failure(let e) = parseConfig(accessLog) else { return [] }
        return e.issues.map(\.description)
    }

    func testAccessLogConfiguration() throws {
        func parsed(_ text: String) throws -> (Bool, String?) {
            let c = try parseConfig(text).get()
            return (c.server.accessLog, c.accessLogPath)
        }
        XCTAssertTrue(try parsed("true") == (true, nil))
        XCTAssertTrue(try parsed("false") == (false, nil))
        XCTAssertTrue(try parsed("{}") == (true, nil))
        XCTAssertTrue(try parsed("{\"path\": \"/var/log/bff/access.log\"}") == (true, "/var/log/bff/access.log"))
        XCTAssertTrue(try parsed("{\"path\": \"/var/log/bff/access.log\", \"enabled\": false}") == (false, "/var/log/bff/access.log"))
        XCTAssertTrue(try parsed("{\"enabled\": true}") == (true, nil))
        let defaults = try GatewayConfiguration.parse(Array("{}".utf8), file: "gateway.json")
        XCTAssertTrue(defaults.server.accessLog)
        XCTAssertNil(defaults.accessLogPath)

        XCTAssertEqual(issues("{\"path\": \"/x.log\", \"rotate\": true}"), ["gateway.json: $.accessLog.rotate: unknown key (allowed: path, enabled)"])
        XCTAssertEqual(issues("{\"path\": \"logs/access.log\"}"), ["gateway.json: $.accessLog.path: expected an absolute file path, found 'logs/access.log'"])
        XCTAssertEqual(issues("{\"path\": \"\"}"), ["gateway.json: $.accessLog.path: expected an absolute file path, found ''"])
        XCTAssertEqual(issues("{\"path\": \"/var/log/\"}"), ["gateway.json: $.accessLog.path: '/var/log/' names a directory, not a file"])
        XCTAssertEqual(issues("{\"path\": 3}"), ["gateway.json: $.accessLog.path: expected a string, found number"])
        XCTAssertEqual(issues("{\"enabled\": \"yes\"}"), ["gateway.json: $.accessLog.enabled: expected true or false, found string"])
        XCTAssertEqual(issues("\"/var/log/access.log\""), ["gateway.json: $.accessLog: expected true, false or an object such as {\"path\": \"/var/log/bff/access.log\"}, found string"])
    }

    func testOpeningTheAccessLogFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bff-log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = GatewayConfiguration()
        config.accessLogPath = dir.appendingPathComponent("access.log").path
        let streams = try GatewayCommand.openLogStreams(config, logLevel: .warning)
        XCTAssertEqual(streams.application.threshold, .warning)
        XCTAssertTrue(streams.application.writer === LogWriter.standardOutput)
        let access = try XCTUnwrap(streams.access)
        XCTAssertFalse(access === LogWriter.standardOutput)
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: config.accessLogPath!)[.posixPermissions] as? Int)
        XCTAssertEqual(mode & 0o077, mode & 0o040, "not writable or readable by others: \(String(mode, radix: 8))")

        config.server.accessLog = false
        XCTAssertNil(try GatewayCommand.openLogStreams(config, logLevel: .info).access, "off: the file is not even opened")
        config.server.accessLog = true
        config.accessLogPath = nil
        XCTAssertTrue(try GatewayCommand.openLogStreams(config, logLevel: .info).access === LogWriter.standardOutput)
        config.accessLogPath = dir.appendingPathComponent("missing/access.log").path
        XCTAssertThrowsError(try GatewayCommand.openLogStreams(config, logLevel: .info)) { error in
            XCTAssertEqual((error as? SystemError)?.errno, ENOENT)
        }
    }
}
