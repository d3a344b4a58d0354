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
        scanTree(path, isKnown: { known.contains($0) }).databases.filter { !known.contains($0) }
    }

    /// Databases from `dir` (the directory or one under it) that `isKnown` does not know, sorted, and the
    /// directories that were searched (`dir` and, if recursive, those under it), which a watch must watch. Known
    /// paths are never opened.
    ///
    /// `notYet`: files whose name matches but that are not SQLite databases (yet: SQLite creates a database empty
    /// and writes its header with the first transaction); a watch looks at them again.
    func scanTree(_ dir: String, isKnown: (String) -> Bool) -> (databases: [String], directories: [String], notYet: [String]) {
        var tree = Tree()
        walk(dir, into: &tree, known: isKnown)
        return (tree.found.filter { !isKnown($0) }.sorted(), tree.directories, tree.notYet)
    }

    private struct Tree {
        var found: [String] = [], directories: [String] = [], notYet: [String] = []
    }

    private func walk(_ dir: String, into tree: inout Tree, known: (String) -> Bool) {
        guard let names = try? POSIX.listDirectory(dir) else { return }
        tree.directories.append(dir)
        for name in names where name != "." && name != ".." {
            let full = dir + "/" + name
            guard let type = try? FilePath(full).stat(followTargetSymlink: false).type else { continue }
            if type == .directory {
                if isSearched(directory: name) { walk(full, into: &tree, known: known) }
                continue
            }
            guard type == .regular, isCandidate(name) else { continue }
            if known(full) { tree.found.append(full); continue }
            switch Self.contents(of: full) {
            case .database: tree.found.append(full)
            case .notYet: tree.notYet.append(full)
            case .other: break
            }
        }
    }

    /// Whether a subdirectory of that name is searched. Our own state directories hold LTX files, not databases.
    func isSearched(directory name: String) -> Bool {
        recursive && !name.hasSuffix("-litestream")
    }

    /// Whether a file of that name may be one of the databases (its contents aside).
    func isCandidate(_ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0 && !name.hasSuffix("-wal") && !name.hasSuffix("-shm") && !name.hasSuffix("-journal")
    }

    /// What a file is, from its first bytes.
    enum Contents {
        case database
        /// Empty or shorter than SQLite's magic: SQLite creates a database empty and writes its header with the
        /// first transaction. Opened now, our switch to WAL would fix the page size before the app set its own,
        /// and race the app's first statements ("database is locked").
        case notYet
        case other
    }

    static func contents(of path: String) -> Contents {
        do {
            let file = try OpenFile(path, .readOnly)
            var magic = [UInt8](repeating: 0, count: 16)
            let n = try magic.withUnsafeMutableBytes { try file.readFully($0, at: 0) }
            if n < 16 { return .notYet }
            return magic == Array("SQLite format 3\0".utf8) ? .database : .other
        } catch {
            return .other
        }
    }
}
