import Foundation
import Logging

/// One log line of the child, parsed: `litestream` writes Go slog's text format on stderr
/// (`time=2026-01-01T00:00:00.000Z level=INFO msg="replica sync" db=/data/app.db replica=s3`), or JSON lines with
/// `logging.type: json` (`{"time":"…","level":"INFO","msg":"…","db":"…"}`).
struct ChildLogLine: Sendable, Equatable {
    var level: Logger.Level
    var message: String
    /// Every key/value but `time`, `level` and `msg` (the app's logger stamps its own time).
    var metadata: [String: String]

    /// Parses a slog text or JSON line; nil when the line is neither (a crash message, a stray print).
    init?(parsing line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("{") {
            guard let fields = Self.json(trimmed) else { return nil }
            self.init(fields: fields)
        } else {
            guard let fields = Self.text(trimmed) else { return nil }
            self.init(fields: fields)
        }
    }

    private init?(fields: [(String, String)]) {
        guard let levelName = fields.first(where: { $0.0 == "level" })?.1,
            let level = Self.level(levelName),
            let message = fields.first(where: { $0.0 == "msg" })?.1
        else { return nil }
        self.level = level
        self.message = message
        var metadata: [String: String] = [:]
        for (key, value) in fields where !["time", "level", "msg"].contains(key) { metadata[key] = value }
        self.metadata = metadata
    }

    /// slog's level names, with its offsets (`DEBUG-4` is our trace, `INFO+2` still info, …).
    static func level(_ name: String) -> Logger.Level? {
        let upper = name.uppercased()
        if upper.hasPrefix("DEBUG") { return upper.hasPrefix("DEBUG-") ? .trace : .debug }
        if upper.hasPrefix("INFO") { return .info }
        if upper.hasPrefix("WARN") { return .warning }
        if upper.hasPrefix("ERROR") { return .error }
        return nil
    }

    // MARK: - slog text

    /// `key=value` pairs separated by spaces; a value is bare (up to the next space) or a Go-quoted string.
    static func text(_ line: String) -> [(String, String)]? {
        var fields: [(String, String)] = []
        var rest = Substring(line)
        while true {
            rest = rest.drop { $0 == " " }
            if rest.isEmpty { break }
            guard let equals = rest.firstIndex(of: "="), !rest[..<equals].contains(" "), equals != rest.startIndex else {
                return nil
            }
            let key = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
            if rest.first == "\"" {
                guard let (value, after) = unquote(rest) else { return nil }
                fields.append((key, value))
                rest = after
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                fields.append((key, String(rest[..<end])))
                rest = rest[end...]
            }
        }
        // A line of ours always starts with time= or level=: anything else is not slog (a shell's `a=b` output).
        guard let first = fields.first?.0, first == "time" || first == "level" else { return nil }
        return fields
    }

    /// A Go `strconv.Quote`d string at the start of `s`: its value and what follows it.
    static func unquote(_ s: Substring) -> (String, Substring)? {
        var scalars = s.unicodeScalars.dropFirst()
        var value = String.UnicodeScalarView()
        while let c = scalars.first {
            scalars = scalars.dropFirst()
            switch c {
            case "\"":
                return (String(value), Substring(scalars))
            case "\\":
                guard let e = scalars.first else { return nil }
                scalars = scalars.dropFirst()
                switch e {
                case "n": value.append("\n")
                case "t": value.append("\t")
                case "r": value.append("\r")
                case "a": value.append("\u{07}")
                case "b": value.append("\u{08}")
                case "f": value.append("\u{0C}")
                case "v": value.append("\u{0B}")
                case "x", "u", "U":
                    let count = e == "x" ? 2 : e == "u" ? 4 : 8
                    let digits = String(String.UnicodeScalarView(scalars.prefix(count)))
                    guard digits.count == count, let code = UInt32(digits, radix: 16),
                        let scalar = Unicode.Scalar(code)
                    else { return nil }
                    scalars = scalars.dropFirst(count)
                    value.append(scalar)
                default: value.append(e)  // \\, \", \'
                }
            default:
                value.append(c)
            }
        }
        return nil
    }

    // MARK: - JSON

    static func json(_ line: String) -> [(String, String)]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return nil
        }
        return object.sorted { $0.key < $1.key }.map { key, value in
            switch value {
            case let string as String: (key, string)
            case let number as NSNumber: (key, number.stringValue)
            case is NSNull: (key, "null")
            default:
                (key, (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]))
                    .map { String(decoding: $0, as: UTF8.self) } ?? "\(value)")
            }
        }
    }
}
