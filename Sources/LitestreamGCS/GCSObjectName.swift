/// Object names as Litestream's `gs` replica makes them (Go's `path.Join` and `path.Clean`), and their encoding
/// in JSON API URLs.
enum GCSObjectName {
    /// `path.Join(root, "ltx", level)`: the directory of one level.
    static func levelDirectory(root: String, level: Int) -> String { join([root, "ltx", String(level)]) }

    /// `path.Join(root, "ltx", level, "<min>-<max>.ltx")`.
    static func file(root: String, level: Int, name: String) -> String { join([root, "ltx", String(level), name]) }

    /// Go's `path.Join`: the non-empty elements joined with `/`, then cleaned; empty when all are empty.
    static func join(_ elements: [String]) -> String {
        let parts = elements.filter { !$0.isEmpty }
        return parts.isEmpty ? "" : clean(parts.joined(separator: "/"))
    }

    /// Go's `path.Clean`: one `/` between elements, no `.` elements, `..` resolved, a leading `/` kept, `.` for an
    /// empty result.
    static func clean(_ path: String) -> String {
        let rooted = path.hasPrefix("/")
        var out: [Substring] = []
        for element in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch element {
            case ".": continue
            case "..":
                if let last = out.last, last != ".." {
                    out.removeLast()
                } else if !rooted {
                    out.append(element)
                }
            default: out.append(element)
            }
        }
        let joined = out.joined(separator: "/")
        if rooted { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }

    /// A name as one URL path segment or query value: every byte but the unreserved `A-Z a-z 0-9 - . _ ~`
    /// percent-encoded (a `/` in an object name is `%2F` in the JSON API's paths).
    static func encode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = String(b, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }
}
