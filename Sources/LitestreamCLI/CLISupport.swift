import ArgumentParser
import Foundation
import Litestream

// What every command uses: the error and its printing, duration flags, files, JSON and tables.

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
}

/// A duration flag's value: Go's syntax (`500ms`, `1m30s`; with `bareSeconds`, `30` is 30s), not negative. Else
/// a usage error naming the flag.
func durationFlag(_ flag: String, _ value: String, bareSeconds: Bool = false) throws(ValidationError) -> Duration {
    guard let d = GoDuration.parse(value, bareSeconds: bareSeconds), d >= .zero else {
        let want = (bareSeconds ? "seconds or " : "") + "a duration such as 500ms, 30s or 1h30m, from 0 to 2562047h"
        throw ValidationError("invalid -\(flag) \(value): want \(want)")
    }
    return d
}

func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

/// Our own JSON shapes (docs/status.md), pretty-printed with sorted keys.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Litestream's listings byte for byte, as Go's `json.MarshalIndent(rows, "", "  ")` prints them: keys in the
/// order given and `"key": value`, neither of which JSONEncoder keeps. Values are JSON text (`jsonString`, numbers).
func goJSON(_ rows: [KeyValuePairs<String, String>]) -> String {
    let objects = rows.map { "  {\n" + $0.map { "    \"\($0.key)\": \($0.value)" }.joined(separator: ",\n") + "\n  }" }
    return objects.isEmpty ? "[]" : "[\n" + objects.joined(separator: ",\n") + "\n]"
}

/// `s` as a JSON string, escaped by Foundation; for output that must keep its key order (`goJSON`, log records).
func jsonString(_ s: String) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .withoutEscapingSlashes
    return (try? encoder.encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
}

/// Left-aligned columns separated by two spaces, like Go's tabwriter as Litestream uses it (widths in runes).
enum Table {
    static func render(_ rows: [[String]]) -> String {
        guard let n = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: n)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.unicodeScalars.count) } }
        var out = ""
        for r in rows {
            var line = ""
            for (i, c) in r.enumerated() {
                line += i == r.count - 1 ? c : c + String(repeating: " ", count: widths[i] + 2 - c.unicodeScalars.count)
            }
            out += line + "\n"
        }
        return out
    }
}
