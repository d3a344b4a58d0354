public import LitestreamCore
import Foundation

/// The whole configuration file (`litestream.yml`) with Litestream 0.5.17's schema and defaults, read strictly.
///
/// ```swift
/// let config = try LitestreamConfiguration.load(path: LitestreamConfiguration.resolvePath(flag: nil).path)
/// for db in config.databases { … db.engineConfiguration() … db.replicas.map { try $0.makeClient() } }
/// ```
///
/// Differences from Litestream (see `docs/configuration.md`): unknown keys are errors, a database may have several
/// replicas, `$$` is a literal `$`, and only `file` and `s3` replicas exist.
public struct LitestreamConfiguration: Sendable, Equatable {
    /// `dbs:`.
    public var databases: [DatabaseConfiguration] = []
    /// `levels: [{interval}]`: compaction levels L1…Ln. Default 30 s, 5 min, 1 h.
    public var levels: [CompactionLevel] = CompactionLevel.defaults
    /// `snapshot.interval` / `snapshot.retention`.
    public var snapshot = Snapshot()
    /// `l0-retention`: L0 files are deleted this long after L1 covers them. Default 5 min; 0 keeps them.
    public var l0Retention: Duration = .seconds(5 * 60)
    /// `l0-retention-check-interval`. Default 15 s.
    public var l0RetentionCheckInterval: Duration = .seconds(15)
    /// `retention.enabled`: false never deletes from replicas. Default true.
    public var retentionEnabled = true
    /// `validation.interval`: periodic contiguity check of each level. Default off (nil).
    public var validationInterval: Duration?
    /// `verify-compaction`: check contiguity after each compaction. Default false.
    public var verifyCompaction = false
    /// `shutdown-sync-timeout`: how long shutdown keeps trying to upload. Default 30 s.
    public var shutdownSyncTimeout: Duration = .seconds(30)
    /// `shutdown-sync-interval`: between those attempts. Default 500 ms.
    public var shutdownSyncInterval: Duration = .milliseconds(500)
    /// `heartbeat-url`: GET when every database synced within the interval. Often holds a token, hence ``Secret``.
    public var heartbeatURL: Secret?
    /// `heartbeat-interval`. Default 5 min, at least 1 min.
    public var heartbeatInterval: Duration = .seconds(5 * 60)
    /// `addr`: the metrics listener (`:9090`).
    public var addr: String?
    /// `socket.*`: the control socket.
    public var socket = Socket()
    /// `mcp-addr`: accepted, but there is no MCP server here; see ``unsupportedFeatures``.
    public var mcpAddr: String?
    /// `exec`: a command to run as a child; replication stops when it exits.
    public var exec: String?
    /// `logging.*` (with `LOG_LEVEL` applied).
    public var logging = Logging()
    /// The replica keys written at the top level, inherited by every replica (already applied to
    /// ``DatabaseConfiguration/replicas``; kept for printing).
    public var replicaDefaults = ReplicaSettings()

    public init() {}

    /// Settings that are accepted for compatibility but do nothing here, for a warning at start-up.
    public var unsupportedFeatures: [String] {
        var r: [String] = []
        if mcpAddr != nil { r.append("mcp-addr (no MCP server in this implementation)") }
        return r
    }

    /// `snapshot:`.
    public struct Snapshot: Sendable, Equatable {
        /// `interval`: a level-9 snapshot every this long (aligned to the clock). Default 24 h.
        public var interval: Duration = .seconds(24 * 3600)
        /// `retention`: keep snapshots this long (the newest always). Default 24 h.
        public var retention: Duration = .seconds(24 * 3600)
        public init() {}
    }

    /// `socket:`.
    public struct Socket: Sendable, Equatable {
        /// `enabled`. Default false.
        public var enabled = false
        /// `path`. Default `/var/run/litestream.sock`.
        public var path = "/var/run/litestream.sock"
        /// `permissions` (octal in the file, `0600`). Default 0o600.
        public var permissions: UInt32 = 0o600
        public init() {}
    }

    /// `logging:`.
    public struct Logging: Sendable, Equatable {
        public enum Level: String, Sendable, Equatable, CaseIterable { case debug, info, warn, error }
        public enum Format: String, Sendable, Equatable, CaseIterable { case text, json }
        /// `level`, overridden by `$LOG_LEVEL`. Default info.
        public var level: Level = .info
        /// `type`: text or json. Default text.
        public var type: Format = .text
        /// `stderr`: log to stderr instead of stdout. Default false.
        public var stderr = false
        /// `source`: add the source location to each line. Default false.
        public var source = false
        public init() {}

        static func level(_ s: String) -> Level? {
            let l = s.lowercased()
            return l == "warning" ? .warn : Level(rawValue: l)
        }
    }

    static let keys: Set<String> = [
        "dbs", "levels", "snapshot", "l0-retention", "l0-retention-check-interval", "retention", "validation",
        "verify-compaction", "shutdown-sync-timeout", "shutdown-sync-interval", "heartbeat-url", "heartbeat-interval",
        "addr", "socket", "mcp-addr", "exec", "logging",
    ]
}
