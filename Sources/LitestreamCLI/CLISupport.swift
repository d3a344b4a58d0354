import ArgumentParser
import Foundation
import Litestream

// What every command uses: the error and its printing, files and paths, JSON strings and tables.

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

func jsonString(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
        }
    }
    return out + "\""
}

/// Left-aligned columns separated by two spaces, like Go's tabwriter as Litestream uses it.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        guard let n = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: n)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        var out = ""
        for r in rows {
            var line = ""
            for (i, c) in r.enumerated() {
                line += i == r.count - 1 ? c : c.padding(toLength: widths[i] + 2, withPad: " ", startingAt: 0)
            }
            out += line + "\n"
        }
        return out
    }
}
