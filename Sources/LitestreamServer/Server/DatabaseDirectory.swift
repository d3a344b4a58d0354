import LitestreamCore
import LitestreamClient
import SystemPackage

/// Directory mode (`dir`, `pattern`, `recursive`): finds the SQLite databases under a directory, such as one
/// database per tenant, so that they are replicated as they appear.
public struct DatabaseDirectory: Sendable {
    public var path: String
    /// A shell pattern for file names (`*.db`), as `fnmatch(3)` reads it.
    public var pattern: String
    public var recursive: Bool

    public init(path: String, pattern: String, recursive: Bool) {
        self.path = absolutePath(path)
        self.pattern = pattern
        self.recursive = recursive
    }

    /// Database files matching the pattern, sorted, excluding `known` paths. A candidate's first 16 bytes must be
    /// SQLite's magic string: only files this process has no SQLite connection to are opened (opening and closing
    /// a database that SQLite has open in this process would drop its locks).
    public func scan(excluding known: Set<String> = []) -> [String] {
        var found: [String] = []
        walk(path, into: &found, known: known)
        return found.sorted()
    }

    private func walk(_ dir: String, into found: inout [String], known: Set<String>) {
        guard let names = try? POSIX.listDirectory(dir) else { return }
        for name in names where name != "." && name != ".." {
            let full = dir + "/" + name
            guard let type = try? FilePath(full).stat(followTargetSymlink: false).type else { continue }
            if type == .directory {
                // Our own state directories hold LTX files, not databases.
                if recursive && !name.hasSuffix("-litestream") { walk(full, into: &found, known: known) }
                continue
            }
            guard type == .regular, fnmatch(pattern, name, 0) == 0,
                !name.hasSuffix("-wal"), !name.hasSuffix("-shm"), !name.hasSuffix("-journal")
            else { continue }
            if known.contains(full) || Self.isSQLiteDatabase(full) { found.append(full) }
        }
    }

    static func isSQLiteDatabase(_ path: String) -> Bool {
        do {
            let file = try OpenFile(path, .readOnly)
            var magic = [UInt8](repeating: 0, count: 16)
            let n = try magic.withUnsafeMutableBytes { try file.readFully($0, at: 0) }
            // An empty file is a database about to be created by SQLite.
            return n == 0 || (n == 16 && magic == Array("SQLite format 3\0".utf8))
        } catch {
            return false
        }
    }
}
