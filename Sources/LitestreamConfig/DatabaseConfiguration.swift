import Foundation
import Yams

/// One entry of `dbs:`: a database file (`path`) or a directory of databases (`dir` + `pattern`), and its replicas.
public struct DatabaseConfiguration: Sendable, Equatable {
    /// Directory mode: every file matching `pattern` under `dir` is replicated (Litestream's directory watcher).
    public struct Directory: Sendable, Equatable {
        /// `dir`, absolute.
        public var path: String
        /// `pattern`, a glob such as `*.db`. Required.
        public var pattern: String
        /// `recursive`: also look in subdirectories. Default false.
        public var recursive: Bool = false
        /// `watch`: pick up databases created later. Default false.
        public var watch: Bool = false

        public init(path: String, pattern: String, recursive: Bool = false, watch: Bool = false) {
            self.path = path
            self.pattern = pattern
            self.recursive = recursive
            self.watch = watch
        }
    }

    /// `path`: the database file, absolute (`~` expanded, `sqlite://` dropped). Nil in directory mode.
    public var path: String?
    /// `dir`/`pattern`/`recursive`/`watch`. Nil for a single database.
    public var directory: Directory?
    /// `meta-path` (or, in directory mode, `meta-dir`): where local state lives. Default: `.<name>-litestream`
    /// beside the database.
    public var metaPath: String?
    /// `monitor-interval`: how often the WAL is polled. Default 1 s.
    public var monitorInterval: Duration = .seconds(1)
    /// `checkpoint-interval`: time-based PASSIVE checkpoint. Default 1 min; 0 turns it off.
    public var checkpointInterval: Duration = .seconds(60)
    /// `busy-timeout` of Litestream's own connection. Default 1 s.
    public var busyTimeout: Duration = .seconds(1)
    /// `min-checkpoint-page-count`: PASSIVE checkpoint above this many WAL frames. Default 1000.
    public var minCheckpointPageCount: Int = 1000
    /// `truncate-page-n`: TRUNCATE checkpoint above this many WAL frames. Default 121,359; nil is off (written as a
    /// negative number; 0 means the default, as in Litestream).
    public var truncatePageCount: Int? = 121_359
    /// `max-sync-wal-bytes`: WAL bytes read per sync pass. Default 64 MiB. (Litestream wants a plain integer; we
    /// also accept sizes like `64MiB`.)
    public var maxSyncWALBytes: Int64 = 64 << 20
    /// `restore-if-db-not-exists`: restore from the replica before replicating when the file is missing.
    public var restoreIfDatabaseNotExists = false
    /// `replica:` and/or `replicas:`, in that order. At least one; names are unique.
    public var replicas: [ReplicaConfiguration] = []

    /// The line of the entry in the file, for messages (not part of equality).
    public var line: Int?

    public init(path: String) { self.path = path }

    public init(directory: Directory) { self.directory = directory }

    public static func == (a: Self, b: Self) -> Bool {
        a.path == b.path && a.directory == b.directory && a.metaPath == b.metaPath
            && a.monitorInterval == b.monitorInterval && a.checkpointInterval == b.checkpointInterval
            && a.busyTimeout == b.busyTimeout && a.minCheckpointPageCount == b.minCheckpointPageCount
            && a.truncatePageCount == b.truncatePageCount && a.maxSyncWALBytes == b.maxSyncWALBytes
            && a.restoreIfDatabaseNotExists == b.restoreIfDatabaseNotExists && a.replicas == b.replicas
    }

    /// What identifies the entry in messages: its path or directory.
    public var displayName: String { path ?? directory.map { "\($0.path)/\($0.pattern)" } ?? "?" }

    static let keys: Set<String> = [
        "path", "dir", "pattern", "recursive", "watch", "meta-path", "meta-dir", "monitor-interval",
        "checkpoint-interval", "busy-timeout", "min-checkpoint-page-count", "truncate-page-n", "max-sync-wal-bytes",
        "restore-if-db-not-exists", "replica", "replicas", "snapshot",
    ]

    static let removedKeys: [String: String] = [
        "max-checkpoint-page-count":
            "removed in 0.5: use 'truncate-page-n' for the emergency TRUNCATE threshold",
        "shadow-retention-count": "removed in 0.5: there is no shadow WAL any more",
    ]
}

extension DatabaseConfiguration {
    /// Reads one `dbs:` entry. Returns the per-database `snapshot:` too, which the caller promotes to global.
    static func read(_ m: ConfigMapping, defaults: ReplicaSettings, home: String) throws
        -> (DatabaseConfiguration, snapshot: (interval: Duration?, retention: Duration?, node: Node)?)
    {
        try m.checkKeys(allowed: keys, removed: removedKeys)
        let rawPath = try m.string("path")
        let dir = try m.string("dir")
        var db: DatabaseConfiguration
        switch (rawPath, dir) {
        case (nil, nil):
            throw m.error(.missingValue, "a database needs 'path' (or 'dir' with 'pattern') \(m.place)\(ConfigMapping.atLine(m.node))")
        case (.some, .some):
            throw m.error(.invalidValue, "a database has either 'path' or 'dir', not both, \(m.place)\(ConfigMapping.atLine(m.location("dir")))",
                at: m.location("dir"))
        case (let path?, nil):
            for key in ["pattern", "recursive", "watch", "meta-dir"] where m.has(key) {
                throw m.error(.invalidValue, "'\(key)' only applies with 'dir' (directory mode) \(m.place)\(ConfigMapping.atLine(m.location(key)))",
                    at: m.location(key))
            }
            let stripped = PathExpansion.stripSQLiteScheme(path)
            guard !stripped.isEmpty else { throw m.error(.missingValue, "empty database path \(m.place)", at: m.location("path")) }
            db = DatabaseConfiguration(path: PathExpansion.expand(stripped, home: home))
        case (nil, let dir?):
            guard let pattern = try m.string("pattern"), !pattern.isEmpty else {
                throw m.error(.missingValue, "'pattern' is required with 'dir' \(m.place)\(ConfigMapping.atLine(m.location("dir")))",
                    at: m.location("dir"))
            }
            db = DatabaseConfiguration(directory: Directory(
                path: PathExpansion.expand(dir, home: home), pattern: pattern,
                recursive: try m.bool("recursive") ?? false, watch: try m.bool("watch") ?? false))
        }
        db.line = m.node.mark?.line
        if m.has("meta-path") && m.has("meta-dir") {
            throw m.error(.invalidValue, "give 'meta-path' or 'meta-dir', not both, \(m.place)", at: m.location("meta-dir"))
        }
        db.metaPath = try (m.string("meta-path") ?? m.string("meta-dir")).map { PathExpansion.expand($0, home: home) }
        if let v = try m.duration("monitor-interval") {
            guard v > .zero else {
                throw m.error(.invalidValue, "monitor-interval must be positive \(m.place)", at: m.location("monitor-interval"))
            }
            db.monitorInterval = v
        }
        if let v = try m.duration("checkpoint-interval") { db.checkpointInterval = v }
        if let v = try m.duration("busy-timeout") { db.busyTimeout = v }
        if let v = try m.int("min-checkpoint-page-count", range: 0...Int.max) { db.minCheckpointPageCount = v }
        if let v = try m.int("truncate-page-n") { db.truncatePageCount = v < 0 ? nil : (v == 0 ? 121_359 : v) }
        if let v = try m.size("max-sync-wal-bytes") {
            guard v > 0 else { throw m.error(.invalidValue, "max-sync-wal-bytes must be positive \(m.place)", at: m.location("max-sync-wal-bytes")) }
            db.maxSyncWALBytes = v
        }
        if let v = try m.bool("restore-if-db-not-exists") { db.restoreIfDatabaseNotExists = v }

        // Replicas: `replica:` then `replicas:`.
        var replicas: [(ReplicaConfiguration, explicitName: Bool, node: Node)] = []
        if let one = try m.mapping("replica") {
            replicas.append((try ReplicaConfiguration(reading: one, defaults: defaults, home: home), one.has("name"), one.node))
        }
        if let list = try m.sequence("replicas") {
            for (i, node) in list.enumerated() {
                let r = try ConfigMapping(node, context: ConfigMapping.join(m.context, "replicas[\(i)]"), source: m.source)
                replicas.append((try ReplicaConfiguration(reading: r, defaults: defaults, home: home), r.has("name"), node))
            }
        }
        guard !replicas.isEmpty else {
            throw m.error(.missingValue, "database \(db.displayName) has no replica (add 'replica:' with a url or path) \(m.place)\(ConfigMapping.atLine(m.node))")
        }
        // Names: explicit ones must be unique; the others get their type, then type-2, type-3, ….
        var used = Set<String>()
        for (r, explicit, node) in replicas where explicit {
            guard used.insert(r.name).inserted else {
                throw ConfigMapping.error(.invalidValue, "duplicate replica name '\(r.name)' \(m.place)\(ConfigMapping.atLine(node))",
                    at: node, source: m.source)
            }
        }
        for (r, explicit, _) in replicas {
            var r = r
            if !explicit {
                var candidate = r.type.rawValue
                var n = 1
                while used.contains(candidate) {
                    n += 1
                    candidate = "\(r.type.rawValue)-\(n)"
                }
                used.insert(candidate)
                r.name = candidate
            }
            db.replicas.append(r)
        }

        var snapshot: (interval: Duration?, retention: Duration?, node: Node)?
        if let s = try m.mapping("snapshot") {
            try s.checkKeys(allowed: ["interval", "retention"])
            snapshot = (interval: try s.duration("interval"), retention: try s.duration("retention"), node: s.node)
        }
        return (db, snapshot)
    }
}
