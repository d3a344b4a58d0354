import Foundation

/// File paths in the configuration: `~` and `~/x` mean the home directory, relative paths are made absolute
/// against the working directory (Litestream's `expand` + `filepath.Abs`), and `sqlite://`/`sqlite3://` prefixes
/// on database paths are dropped.
enum PathExpansion {
    /// The home directory: `$HOME` from the (expansion) environment, else the process's.
    static func home(environment: [String: String]) -> String {
        if let h = environment["HOME"], !h.isEmpty { return h }
        return NSHomeDirectory()
    }

    /// `~` expansion and absolutisation; the path is otherwise kept as written (no symlink resolution).
    static func expand(_ path: String, home: String) -> String {
        var p = path
        if p == "~" {
            p = home
        } else if p.hasPrefix("~/") {
            p = home + p.dropFirst(1)
        }
        if !p.hasPrefix("/") {
            p = FileManager.default.currentDirectoryPath + "/" + p
        }
        return normalize(p)
    }

    /// Removes `.`, `..` and repeated `/` lexically. Symlinks are kept as written (`/var/run` stays `/var/run`),
    /// so the printed configuration matches the file.
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for c in path.split(separator: "/") {
            switch c {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(c)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Drops a `sqlite://` or `sqlite3://` prefix (Litestream accepts database paths written as such URLs).
    static func stripSQLiteScheme(_ path: String) -> String {
        for prefix in ["sqlite3://", "sqlite://"] where path.lowercased().hasPrefix(prefix) {
            return String(path.dropFirst(prefix.count))
        }
        return path
    }
}
