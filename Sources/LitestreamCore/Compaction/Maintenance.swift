import LitestreamClient
import LTX
import Logging

/// A replica's housekeeping: level-9 snapshots on their interval, L1...Ln compaction on wall-clock boundaries, and
/// retention, with Litestream 0.5.17's rules and defaults.
///
/// It remembers the newest TXID of each level, so that an idle database costs no listing at all: a level is only
/// looked at when the level below it has something newer and its boundary has passed.
public struct Maintenance: Sendable {
    public struct Configuration: Sendable {
        /// Compaction levels (`levels:`). Default L1 30 s, L2 5 min, L3 1 h.
        public var levels: [CompactionLevel] = CompactionLevel.defaults
        /// Snapshot every this long, aligned like Litestream's (daily snapshots at 00:00 UTC). Default 24 h.
        public var snapshotInterval: Duration = .seconds(24 * 3600)
        /// Keep snapshots this long; the newest is always kept. Default 24 h.
        public var snapshotRetention: Duration = Retention.defaultSnapshotRetention
        /// Delete L0 files this long after L1 covers them. Default 5 min; zero keeps them.
        public var l0Retention: Duration = Retention.defaultL0Retention
        /// How often L0 retention runs at most. Default 15 s.
        public var l0RetentionCheckInterval: Duration = Retention.defaultL0RetentionCheckInterval
        /// Whether files are deleted from the replica at all (`retention.enabled`). Local files are cleaned anyway.
        public var retentionEnabled = true
        public init() {}
    }

    let configuration: Configuration
    let replica: any ReplicaClient
    let logger: Logger
    /// Newest known MaxTXID per level (nil: not listed yet).
    private var levelMax: [Int: TXID] = [:]
    private var nextCompaction: [Int: Int64] = [:]
    private var lastSnapshotAt: Int64?
    /// A due snapshot put off because the process was busy (see `run`'s `snapshot`): not before this (Unix ms).
    private var snapshotRetryAt: Int64 = 0
    /// How long the next put-off snapshot waits (ms): doubles each time, up to 16 s.
    private var snapshotRetryDelay: Int64 = 500
    private var lastL0RetentionAt: Int64 = 0
    /// L0 retention has dealt with every L0 file up to this TXID.
    private var l0RetainedThrough: TXID = .zero
    /// When the next L0 retention listing can delete something (Unix ms), given what the last one saw.
    private var l0RetentionDueAt: Int64 = 0

    init(configuration: Configuration, replica: any ReplicaClient, logger: Logger) {
        self.configuration = configuration
        self.replica = replica
        self.logger = logger
    }

    /// The newest TXID the replica's L1 is known to cover.
    var compactedThrough: TXID { levelMax[1] ?? .zero }

    /// Makes the next run write a level-9 snapshot whatever the interval: after the database's page size changed,
    /// so that a restore by Litestream 0.5.17, which starts from the newest snapshot and cannot change page size
    /// on the way, works again.
    mutating func requestSnapshot() {
        lastSnapshotAt = 0
    }

    /// Tells maintenance that L0 now reaches `txid` (after an upload).
    mutating func uploaded(through txid: TXID) {
        if txid > (levelMax[0] ?? .zero) { levelMax[0] = txid }
    }

    /// Runs whatever is due at `now` (Unix ms).
    ///
    /// `snapshot` returns false when it put the snapshot off (the process busy starting databases or writing
    /// others' snapshots); it is tried again after a delay that grows while that lasts, and compaction goes on.
    /// `checkL0` sees each listing of level 0 that compaction makes, before anything is merged, and throws to stop
    /// it (another writer's files, or the replicator's own gone).
    mutating func run(
        now: Int64, snapshot: @Sendable () async throws -> Bool,
        checkL0: (@Sendable ([LTXFileInfo]) throws -> Void)? = nil,
        deleteLocalL0: @escaping @Sendable (LTXFileInfo) -> Void,
        localL0Path: @escaping @Sendable (LTXFileInfo) -> String?
    ) async throws {
        // Snapshots: when none exists yet, or a boundary passed since the newest.
        let interval = configuration.snapshotInterval.wholeMilliseconds
        if lastSnapshotAt == nil {
            lastSnapshotAt = try await replica.ltxFiles(level: LTXLevel.snapshot).map(\.createdAt).max() ?? 0
        }
        let snapshotDue = interval > 0 && lastSnapshotAt.map { $0 == 0 || $0 < now - now % interval } == true
        if snapshotDue, now >= snapshotRetryAt {
            if try await snapshot() {
                snapshotRetryDelay = 500
                lastSnapshotAt = now
                if configuration.retentionEnabled {
                    let plan = try await Retention.enforceSnapshotRetention(
                        client: replica, now: now, retention: configuration.snapshotRetention,
                        levels: configuration.levels.map(\.level))
                    if !plan.all.isEmpty {
                        logger.info("snapshot retention", metadata: ["deleted": "\(plan.all.count)", "floor": "\(plan.floor)"])
                    }
                }
            } else {
                // Jittered, so that thousands put off together do not all come back in the same instant.
                snapshotRetryAt = now + snapshotRetryDelay + Int64.random(in: 0...snapshotRetryDelay)
                snapshotRetryDelay = min(snapshotRetryDelay * 2, 16_000)
            }
        }

        // Compaction, lowest level first, each only when the level below has moved on.
        var compactor = Compactor(client: replica, levels: configuration.levels, localL0Path: localL0Path)
        compactor.checkL0 = checkL0
        for level in configuration.levels.sorted(by: { $0.level < $1.level }) {
            let k = level.level
            if levelMax[k - 1] == nil { levelMax[k - 1] = try await replica.ltxFiles(level: k - 1).map(\.maxTXID).max() ?? .zero }
            if levelMax[k] == nil { levelMax[k] = try await replica.ltxFiles(level: k).map(\.maxTXID).max() ?? .zero }
            guard levelMax[k - 1]! > levelMax[k]!, now >= nextCompaction[k, default: 0] else { continue }
            switch try await compactor.compactIfDue(level: level, now: now) {
            case .compacted(let info):
                levelMax[k] = info.maxTXID
                logger.debug("compaction complete", metadata: ["level": "\(k)", "min": "\(info.minTXID)", "max": "\(info.maxTXID)"])
            case .tooEarly, .nothingToCompact:
                break
            }
            nextCompaction[k] = level.nextBoundary(after: now)
        }

        // L0 retention: files covered by L1 and older than l0Retention; the local copies go with them. A listing
        // says when the next one can delete something: when the oldest file it kept (covered or not yet) ages
        // out. Files uploaded after it are younger still, so L1 moving on is no reason to list again: that listed
        // L0 and L1 after every L1 compaction (two LISTs every 30 s under writes) to delete nothing.
        let l1Max = levelMax[1] ?? .zero
        let retention = configuration.l0Retention.wholeMilliseconds
        if retention > 0, l1Max > l0RetainedThrough,
            now - lastL0RetentionAt >= configuration.l0RetentionCheckInterval.wholeMilliseconds,
            now >= l0RetentionDueAt
        {
            lastL0RetentionAt = now
            let l0 = try await replica.ltxFiles(level: 0)
            let l1 = try await replica.ltxFiles(level: 1)
            let deleted = Retention.planL0Retention(l0: l0, l1: l1, now: now, retention: configuration.l0Retention)
            try await Retention.apply(
                deleted, client: replica, deleteRemote: configuration.retentionEnabled, deleteLocal: deleteLocalL0)
            let coveredMax = l1.map(\.maxTXID).max() ?? .zero
            let young = l0.filter { $0.maxTXID <= coveredMax && $0.createdAt > now - retention }
            if young.isEmpty { l0RetainedThrough = coveredMax }
            // The oldest file kept, covered or not. One uploaded after this listing may be stamped up to a sync
            // interval before it; it is deleted that much later, never earlier: each listing decides afresh.
            let kept = l0.filter { $0.maxTXID > coveredMax || $0.createdAt > now - retention }.map(\.createdAt)
            l0RetentionDueAt = min(kept.min() ?? now, now) + retention
        }
    }

    /// When `run` next has something to do (Unix ms; `now` when it has not looked yet), or nil when nothing is
    /// due until L0 moves on (an upload, after which the uploader runs it anyway). An idle replica's uploader sleeps
    /// until then: with the defaults, once the latest uploads are compacted up to L3 and their L0 files retired,
    /// that is the next daily snapshot.
    func nextDue(now: Int64) -> Int64? {
        var due: Int64?
        func atMost(_ t: Int64) { due = min(due ?? t, t) }
        let interval = configuration.snapshotInterval.wholeMilliseconds
        if interval > 0 {
            if let last = lastSnapshotAt {
                let boundary = now - now % interval
                atMost(last == 0 || last < boundary ? max(now, snapshotRetryAt) : boundary + interval)
            } else {
                atMost(now)
            }
        }
        for level in configuration.levels {
            let k = level.level
            guard let below = levelMax[k - 1], let this = levelMax[k] else {
                atMost(now)
                continue
            }
            if below > this { atMost(nextCompaction[k, default: 0]) }
        }
        let retention = configuration.l0Retention.wholeMilliseconds
        let l1Max = levelMax[1] ?? .zero
        if retention > 0, l1Max > l0RetainedThrough {
            let checkable = lastL0RetentionAt + configuration.l0RetentionCheckInterval.wholeMilliseconds
            atMost(max(checkable, l0RetentionDueAt))
        }
        return due.map { max($0, now) }
    }

    /// Applies snapshot and L0 retention now (`replicate -once -enforce-retention`).
    func enforceRetention(now: Int64, deleteLocalL0: @escaping @Sendable (LTXFileInfo) -> Void) async throws {
        guard configuration.retentionEnabled else { return }
        try await Retention.enforceSnapshotRetention(
            client: replica, now: now, retention: configuration.snapshotRetention, levels: configuration.levels.map(\.level))
        try await Retention.enforceL0Retention(
            client: replica, now: now, retention: configuration.l0Retention, deleteLocal: deleteLocalL0)
    }
}
