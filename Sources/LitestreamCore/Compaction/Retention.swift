import LitestreamClient
public import LTX

/// Which replica files retention deletes (`DB.EnforceSnapshotRetention`, `Compactor.EnforceRetentionByTXID`,
/// `DB.EnforceL0RetentionByTime`). The `plan…` functions are pure over listings; the `enforce…` functions list,
/// plan and delete.
///
/// Neither rule ever leaves a latest restore without a chain: snapshot retention keeps the newest snapshot and only
/// trims levels below the newest deleted snapshot, and L0 retention only deletes files L1 already covers, in order,
/// stopping at the first recent one.
public enum Retention {
    /// `snapshot.retention` default: 24 h.
    public static let defaultSnapshotRetention: Duration = .seconds(24 * 60 * 60)
    /// `l0-retention` default: 5 min.
    public static let defaultL0Retention: Duration = .seconds(5 * 60)
    /// How often L0 retention runs by default: every 15 s (and after every L1 compaction).
    public static let defaultL0RetentionCheckInterval: Duration = .seconds(15)

    /// What snapshot retention deletes.
    public struct SnapshotPlan: Sendable, Equatable {
        /// Level-9 snapshots older than the retention period, never the newest snapshot.
        public var snapshots: [LTXFileInfo]
        /// Files of levels 1...n below `floor`: each level keeps its newest file.
        public var levelFiles: [LTXFileInfo]
        /// The MaxTXID of the newest deleted snapshot (more precisely of the snapshot just before the first one
        /// kept, as Litestream): files of levels 1...n ending below it go. Zero when no snapshot precedes the kept
        /// ones, and then no level file is deleted.
        public var floor: TXID

        public var all: [LTXFileInfo] { snapshots + levelFiles }
    }

    /// Plans snapshot retention at wall-clock `now` (Unix ms).
    ///
    /// Snapshots created before `now - retention` are deleted, except the newest snapshot. Then, for each of
    /// `levels` (Litestream's configured levels 1...n; 0 and 9 are ignored), files whose MaxTXID is below the floor
    /// are deleted, always keeping the level's newest file. The floor is deliberately conservative (#1437): a
    /// restore planned from the deleted snapshot, still running, keeps its later files.
    public static func planSnapshotRetention(
        files: [Int: [LTXFileInfo]], now: Int64, retention: Duration = defaultSnapshotRetention,
        levels: [Int] = Array(1...(LTXLevel.snapshot - 1))
    ) -> SnapshotPlan {
        let snapshots = Compactor.sortedByName(files[LTXLevel.snapshot] ?? [])
        let cutoff = now - retention.wholeMilliseconds
        var deleted = snapshots.filter { $0.createdAt < cutoff }
        if let last = snapshots.last, deleted.last == last { deleted.removeLast() }

        let deletedSet = Set(deleted)
        var floor = TXID.zero
        if let firstKept = snapshots.firstIndex(where: { !deletedSet.contains($0) }), firstKept > 0 {
            floor = snapshots[firstKept - 1].maxTXID
        }

        var levelFiles: [LTXFileInfo] = []
        for level in levels where level > 0 && level < LTXLevel.snapshot {
            levelFiles += planLevelRetention(files[level] ?? [], below: floor)
        }
        return SnapshotPlan(snapshots: deleted, levelFiles: levelFiles, floor: floor)
    }

    /// Files of one level whose MaxTXID is below `floor`, except the level's newest file
    /// (`EnforceRetentionByTXID`).
    public static func planLevelRetention(_ files: [LTXFileInfo], below floor: TXID) -> [LTXFileInfo] {
        let sorted = Compactor.sortedByName(files)
        var deleted = sorted.filter { $0.maxTXID < floor }
        if let last = sorted.last, deleted.last == last { deleted.removeLast() }
        return deleted
    }

    /// Plans L0 retention at wall-clock `now` (Unix ms): an L0 file goes only when L1 already covers it
    /// (MaxTXID ≤ the highest L1 TXID) and it was created at or before `now - retention`. The scan, in TXID order,
    /// stops at the first file too recent, so no hole opens between kept files, and the newest L0 file is kept.
    /// A retention of zero or less disables it (as `l0-retention: 0`); so does an empty L1.
    public static func planL0Retention(
        l0: [LTXFileInfo], l1: [LTXFileInfo], now: Int64, retention: Duration = defaultL0Retention
    ) -> [LTXFileInfo] {
        let ms = retention.wholeMilliseconds
        guard ms > 0 else { return [] }
        let maxL1 = l1.map(\.maxTXID).max() ?? .zero
        guard maxL1 > .zero else { return [] }
        let threshold = now - ms
        let sorted = Compactor.sortedByName(l0)
        var deleted: [LTXFileInfo] = []
        var processedAll = true
        for file in sorted {
            if file.createdAt > threshold {
                processedAll = false
                break
            }
            if file.maxTXID <= maxL1 { deleted.append(file) }
        }
        if processedAll, let last = sorted.last, deleted.last == last { deleted.removeLast() }
        return deleted
    }

    /// Lists the replica, plans snapshot retention and deletes the planned files.
    ///
    /// - Parameters:
    ///   - deleteRemote: false keeps the replica's files (`retention.enabled: false`, when a bucket lifecycle rule
    ///     does the deleting); `deleteLocal` still runs.
    ///   - deleteLocal: called for each planned file, to drop a local copy.
    @discardableResult
    public static func enforceSnapshotRetention(
        client: any ReplicaClient, now: Int64, retention: Duration = defaultSnapshotRetention,
        levels: [Int] = Array(1...(LTXLevel.snapshot - 1)), deleteRemote: Bool = true,
        deleteLocal: ((LTXFileInfo) -> Void)? = nil
    ) async throws -> SnapshotPlan {
        let snapshots = try await client.ltxFiles(level: LTXLevel.snapshot)
        var plan = planSnapshotRetention(files: [LTXLevel.snapshot: snapshots], now: now, retention: retention, levels: [])
        if plan.floor > .zero {
            for level in levels where level > 0 && level < LTXLevel.snapshot {
                plan.levelFiles += planLevelRetention(try await client.ltxFiles(level: level), below: plan.floor)
            }
        }
        try await apply(plan.all, client: client, deleteRemote: deleteRemote, deleteLocal: deleteLocal)
        return plan
    }

    /// Lists L0 and L1, plans L0 retention and deletes the planned files. See `enforceSnapshotRetention` for the
    /// parameters.
    @discardableResult
    public static func enforceL0Retention(
        client: any ReplicaClient, now: Int64, retention: Duration = defaultL0Retention, deleteRemote: Bool = true,
        deleteLocal: ((LTXFileInfo) -> Void)? = nil
    ) async throws -> [LTXFileInfo] {
        guard retention.wholeMilliseconds > 0 else { return [] }
        let l1 = try await client.ltxFiles(level: 1)
        guard !l1.isEmpty else { return [] }
        let l0 = try await client.ltxFiles(level: 0)
        let deleted = planL0Retention(l0: l0, l1: l1, now: now, retention: retention)
        try await apply(deleted, client: client, deleteRemote: deleteRemote, deleteLocal: deleteLocal)
        return deleted
    }

    /// Deletes `files` from the replica (unless `deleteRemote` is false), then calls `deleteLocal` for each.
    public static func apply(
        _ files: [LTXFileInfo], client: any ReplicaClient, deleteRemote: Bool = true,
        deleteLocal: ((LTXFileInfo) -> Void)? = nil
    ) async throws {
        guard !files.isEmpty else { return }
        if deleteRemote { try await client.deleteLTXFiles(files) }
        if let deleteLocal { files.forEach(deleteLocal) }
    }

    /// Whether a latest restore of this listing has a plan (see `RestorePlan.make`).
    public static func isRestorable(_ files: [Int: [LTXFileInfo]]) -> Bool {
        (try? RestorePlan.make(files: files)) != nil
    }
}
