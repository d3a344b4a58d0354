import Foundation
import Logging

/// Log lines in Litestream's (Go slog) formats: text, `time=… level=INFO msg="…" key=value`, or JSON lines,
/// `{"time":"…","level":"INFO","msg":"…","key":"value"}` (`logging.type: json`). Always on stderr: stdout
/// carries command output (and an `-exec` child's).
struct SlogTextHandler: LogHandler {
    enum Format: Sendable { case text, json }

    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    let label: String
    let format: Format

    init(label: String, level: Logger.Level, format: Format = .text) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level: String
        switch event.level {
        case .trace, .debug: level = "DEBUG"
        case .info, .notice: level = "INFO"
        case .warning: level = "WARN"
        case .error, .critical: level = "ERROR"
        }
        let time = RFC3339.format(milliseconds: RFC3339.nowMilliseconds(), fractional: true)
        let all = metadata.merging(event.metadata ?? [:]) { $1 }.sorted(by: { $0.key < $1.key })
        var line: String
        switch format {
        case .text:
            line = "time=\(time) level=\(level) msg=\(Self.quote(event.message.description))"
            for (k, v) in all { line += " \(k)=\(Self.quote(v.description))" }
        case .json:
            line = "{\"time\":\(jsonString(time)),\"level\":\"\(level)\",\"msg\":\(jsonString(event.message.description))"
            for (k, v) in all where !["time", "level", "msg"].contains(k) { line += ",\(jsonString(k)):\(jsonString(v.description))" }
            line += "}"
        }
        line += "\n"
        line.withCString { _ = write(2, $0, strlen($0)) }
    }

    static func quote(_ s: String) -> String {
        if !s.isEmpty && !s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) { return s }
        return "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    /// Installs the handler once per process.
    static func bootstrap(level: Logger.Level, format: Format = .text) {
        LoggingSystem.bootstrap { SlogTextHandler(label: $0, level: level, format: format) }
    }
}

extension Logger.Level {
    /// Accepts Litestream's names (trace, debug, info, warn, error).
    init?(litestream name: String) {
        switch name.lowercased() {
        case "trace": self = .trace
        case "debug": self = .debug
        case "info", "": self = .info
        case "warn", "warning": self = .warning
        case "error": self = .error
        default: return nil
        }
    }
}

/// RFC 3339 timestamps in UTC, without Foundation's formatters (which are not Sendable).
enum RFC3339 {
    static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    static func format(milliseconds ms: Int64, fractional: Bool = false) -> String {
        var t = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        var s = "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2))"
        if fractional { s += "." + pad(Int32(((ms % 1000) + 1000) % 1000), 3) }
        return s + "Z"
    }
}
