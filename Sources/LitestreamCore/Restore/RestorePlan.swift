public import LTX

/// Which files a restore applies, in order (`replica.go` `CalcRestorePlan`, `restoreLevelCursor`,
/// `restoreCandidateBetter`). Pure functions over a replica listing.
public enum RestorePlan {
    /// The files to merge, oldest first, to rebuild the database at the target.
    ///
    /// 1. The snapshot is the last level-9 file (name order) with MaxTXID ≤ `txid` and createdAt < `timestamp`
    ///    (strictly), for the targets given.
    /// 2. From its MaxTXID (or 0 without a snapshot), the chain grows greedily over levels 8...0: each step takes,
    ///    among files passing the same filters with MinTXID ≤ current+1 and MaxTXID > current, the one with the
    ///    largest MaxTXID, then the smallest MinTXID, then the higher level, then the older createdAt. It stops when
    ///    no file extends it or the target TXID is reached.
    /// 3. Without a snapshot the chain must therefore start at TXID 1; an empty plan, or one that falls short of
    ///    `txid`, is `noMatchingBackupFiles`.
    /// 4. For a latest or timestamp restore, a file in levels 0...8 (created before the timestamp) starting beyond
    ///    current+1 means the replica has a hole: `nonContiguous`, "non-contiguous ltx files: have up to X but next
    ///    file starts at Y".
    ///
    /// - Parameters:
    ///   - files: the listing, by level (levels absent or empty are fine; order within a level does not matter).
    ///   - txid: restore up to exactly this TXID (nil, or 0 as in Litestream, for the latest).
    ///   - timestamp: restore the state as of this Unix-ms time (files created at or after it are ignored).
    ///     `checkTimestamp` is the separate bounds check Litestream also applies.
    public static func make(files: [Int: [LTXFileInfo]], txid: TXID? = nil, timestamp: Int64? = nil) throws -> [LTXFileInfo] {
        let target = txid == .zero ? nil : txid
        if target != nil && timestamp != nil {
            throw RestoreError(.invalidRequest, "cannot specify both TXID & timestamp to restore")
        }
        let passes = { (f: LTXFileInfo) -> Bool in
            if let target, f.maxTXID > target { return false }
            if let timestamp, f.createdAt >= timestamp { return false }
            return true
        }

        var plan: [LTXFileInfo] = []
        if let snapshot = Compactor.sortedByName(files[LTXLevel.snapshot] ?? []).last(where: passes) {
            plan.append(snapshot)
        }
        var currentMax = plan.last?.maxTXID ?? .zero
        if let target, currentMax >= target { return plan }

        var cursors = stride(from: LTXLevel.snapshot - 1, through: 0, by: -1).map {
            Cursor(files: Compactor.sortedByName(files[$0] ?? []))
        }
        while true {
            var best: Int?
            for i in cursors.indices {
                cursors[i].refresh(currentMax: currentMax, passes: passes)
                guard let candidate = cursors[i].candidate else { continue }
                if best == nil || isBetter(candidate, than: cursors[best!].candidate!) { best = i }
            }
            guard let best, let next = cursors[best].candidate else { break }
            plan.append(next)
            currentMax = next.maxTXID
            cursors[best].candidate = nil
            if let target, currentMax >= target { break }
        }

        // A timestamp target past a hole would otherwise give an older state quietly: a file before the target
        // that the chain cannot reach is the same hole a latest restore refuses.
        if !plan.isEmpty && target == nil {
            for cursor in cursors {
                if let following = cursor.files[cursor.position...].first(where: passes), following.minTXID > currentMax.next {
                    throw RestoreError(.nonContiguous,
                        "non-contiguous ltx files: have up to \(currentMax) but next file starts at \(following.minTXID)")
                }
            }
        }
        if plan.isEmpty { throw RestoreError.noMatchingBackupFiles }
        if let target, currentMax < target { throw RestoreError.noMatchingBackupFiles }
        return plan
    }

    /// `restoreCandidateBetter`: the larger MaxTXID, then the smaller MinTXID, then the higher level, then the
    /// older file.
    public static func isBetter(_ candidate: LTXFileInfo, than current: LTXFileInfo) -> Bool {
        if candidate.maxTXID != current.maxTXID { return candidate.maxTXID > current.maxTXID }
        if candidate.minTXID != current.minTXID { return candidate.minTXID < current.minTXID }
        if candidate.level != current.level { return candidate.level > current.level }
        return candidate.createdAt < current.createdAt
    }

    /// The earliest and latest createdAt over every file of every level (`Replica.TimeBounds`), nil if there are
    /// no files.
    public static func timeBounds(_ files: [Int: [LTXFileInfo]]) -> ClosedRange<Int64>? {
        var lo: Int64?, hi: Int64?
        for f in files.values.joined() {
            lo = Swift.min(lo ?? f.createdAt, f.createdAt)
            hi = Swift.max(hi ?? f.createdAt, f.createdAt)
        }
        guard let lo, let hi else { return nil }
        return lo...hi
    }

    /// Litestream 0.5.17's check on a point-in-time target (`CalcRestoreTarget`): the time must lie within
    /// [earliest createdAt, latest createdAt], so it cannot mean "now". Kept apart from `make` so a caller can
    /// choose to skip it.
    public static func checkTimestamp(_ timestamp: Int64, files: [Int: [LTXFileInfo]]) throws {
        guard let bounds = timeBounds(files) else { throw RestoreError(.noBackups, "no backups found") }
        guard bounds.contains(timestamp) else { throw RestoreError(.timestampOutOfRange, "timestamp does not exist") }
    }

    /// One level's files in name order, as `restoreLevelCursor`: `current` is the next file not yet looked at and
    /// `candidate` the best file seen so far that could extend the chain.
    private struct Cursor {
        let files: [LTXFileInfo]
        var position = 0
        var candidate: LTXFileInfo?

        init(files: [LTXFileInfo]) { self.files = files }

        var current: LTXFileInfo? { position < files.count ? files[position] : nil }

        mutating func refresh(currentMax: TXID, passes: (LTXFileInfo) -> Bool) {
            if let c = candidate, c.maxTXID <= currentMax { candidate = nil }
            while let info = current {
                if info.minTXID > currentMax.next { return }
                position += 1
                if info.maxTXID <= currentMax || !passes(info) { continue }
                if candidate == nil || RestorePlan.isBetter(info, than: candidate!) { candidate = info }
            }
        }
    }
}
