import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

private typealias S = CompactionTestSupport

private let hour: Int64 = 3_600_000

@Suite("Retention")
struct RetentionTests {
    @Test("snapshot retention: old snapshots go, the floor trims levels 1...n, each level keeps its newest")
    func snapshotPlan() {
        let now: Int64 = 100 * hour
        let s1 = S.info(9, 1, 10, at: now - 50 * hour)
        let s2 = S.info(9, 1, 20, at: now - 30 * hour)
        let s3 = S.info(9, 1, 30, at: now - 10 * hour)
        let l1 = [S.info(1, 1, 5), S.info(1, 6, 12), S.info(1, 13, 19), S.info(1, 20, 25), S.info(1, 26, 30)]
        let l2 = [S.info(2, 1, 19)]
        let l3 = [S.info(3, 11, 18), S.info(3, 1, 10)]
        let l0 = [S.info(0, 1, 1), S.info(0, 2, 2)]
        let plan = Retention.planSnapshotRetention(
            files: S.listing([s3, s1, s2] + l1 + l2 + l3 + l0), now: now, retention: .seconds(24 * 3600))
        #expect(plan.snapshots == [s1, s2])
        #expect(plan.floor == 20)
        #expect(Set(plan.levelFiles) == Set(l1.prefix(3) + [S.info(3, 1, 10)]))
        #expect(plan.all.count == 6)
        #expect(Retention.isRestorable(Self.remove(plan.all, from: S.listing([s1, s2, s3] + l1 + l2 + l3 + l0))))
    }

    @Test("the newest snapshot is kept however old; no deleted snapshot means no level trimming")
    func keepNewestSnapshot() {
        let now: Int64 = 100 * hour
        let only = S.info(9, 1, 10, at: 0)
        let plan = Retention.planSnapshotRetention(
            files: S.listing([only, S.info(1, 1, 5), S.info(1, 6, 10)]), now: now)
        #expect(plan.snapshots.isEmpty && plan.floor == .zero && plan.levelFiles.isEmpty)

        // Exactly at the cutoff is not "before" it.
        let atCutoff = S.info(9, 1, 5, at: now - 24 * hour)
        let plan2 = Retention.planSnapshotRetention(files: S.listing([atCutoff, only.with(createdAt: now)]), now: now)
        #expect(plan2.snapshots.isEmpty)
        let plan3 = Retention.planSnapshotRetention(
            files: S.listing([atCutoff.with(createdAt: now - 24 * hour - 1), only.with(createdAt: now)]), now: now)
        #expect(plan3.snapshots == [atCutoff.with(createdAt: now - 24 * hour - 1)] && plan3.floor == 5)
    }

    @Test("the floor is the MaxTXID of the snapshot just before the first one kept, as Litestream")
    func floorRule() {
        let now: Int64 = 100 * hour
        // Non-monotonic times: the first snapshot is recent, so even though the second is deleted the floor is 0.
        let a = S.info(9, 1, 10, at: now - 1 * hour)
        let b = S.info(9, 1, 20, at: now - 40 * hour)
        let c = S.info(9, 1, 30, at: now - 1 * hour)
        let plan = Retention.planSnapshotRetention(files: S.listing([a, b, c, S.info(1, 1, 15), S.info(1, 16, 30)]), now: now)
        #expect(plan.snapshots == [b])
        #expect(plan.floor == .zero && plan.levelFiles.isEmpty)

        // Levels 0 and 9 are never trimmed by the floor even if asked.
        let old = S.info(9, 1, 10, at: 0), kept = S.info(9, 1, 30, at: now)
        let plan2 = Retention.planSnapshotRetention(
            files: S.listing([old, kept, S.info(0, 1, 1), S.info(0, 2, 2), S.info(4, 1, 3), S.info(4, 4, 9)]),
            now: now, levels: [0, 4, 9])
        #expect(plan2.floor == 10)
        #expect(plan2.snapshots == [old])
        #expect(plan2.levelFiles == [S.info(4, 1, 3)])
    }

    @Test("level retention keeps the newest file even below the floor")
    func levelRetention() {
        let files = [S.info(2, 7, 9), S.info(2, 1, 3), S.info(2, 4, 6)]
        #expect(Retention.planLevelRetention(files, below: 100) == [S.info(2, 1, 3), S.info(2, 4, 6)])
        #expect(Retention.planLevelRetention(files, below: 6) == [S.info(2, 1, 3)])
        #expect(Retention.planLevelRetention(files, below: 7) == [S.info(2, 1, 3), S.info(2, 4, 6)])
        #expect(Retention.planLevelRetention(files, below: 0).isEmpty)
        #expect(Retention.planLevelRetention([], below: 10).isEmpty)
    }

    @Test("L0 retention: covered by L1 and old enough, in order, stopping at the first recent file")
    func l0Plan() {
        let now: Int64 = 10 * hour
        let old = now - 10 * 60_000, recent = now - 60_000
        let l1 = [S.info(1, 1, 4), S.info(1, 5, 10)]
        let l0 = (5...15).map { S.info(0, UInt64($0), UInt64($0), at: $0 <= 12 ? old : recent) }
        #expect(Retention.planL0Retention(l0: l0.shuffled(), l1: l1, now: now) == Array(l0.prefix(6)))  // 5...10

        // A recent file in the middle stops the scan: 8...10 stay although old and covered.
        var gap = l0
        gap[2] = gap[2].with(createdAt: recent)  // TXID 7
        #expect(Retention.planL0Retention(l0: gap, l1: l1, now: now).map(\.maxTXID) == [5, 6])

        // All old and covered: the newest L0 file is kept.
        let all = (5...10).map { S.info(0, UInt64($0), UInt64($0), at: old) }
        #expect(Retention.planL0Retention(l0: all, l1: [S.info(1, 1, 12)], now: now).map(\.maxTXID) == [5, 6, 7, 8, 9])

        // At exactly the threshold a file counts as old enough.
        let edge = [S.info(0, 1, 1, at: now - 300_000), S.info(0, 2, 2, at: now - 299_999)]
        #expect(Retention.planL0Retention(l0: edge, l1: [S.info(1, 1, 2)], now: now).map(\.maxTXID) == [1])

        // Disabled by a zero retention, and nothing goes while L1 is empty.
        #expect(Retention.planL0Retention(l0: all, l1: [S.info(1, 1, 12)], now: now, retention: .zero).isEmpty)
        #expect(Retention.planL0Retention(l0: all, l1: [], now: now).isEmpty)
    }

    @Test("enforce… delete through the replica client; deleteRemote false only cleans up locally")
    func enforceThroughFileReplica() async throws {
        let dir = try S.TempDir()
        let client = FileReplicaClient(path: dir.path)
        let now: Int64 = 1_700_000_000_000
        func put(_ level: Int, _ min: UInt64, _ max: UInt64, at ts: Int64) async throws {
            let commit: UInt32 = 2
            let pages: [(UInt32, [UInt8])] = min == 1
                ? [(UInt32(1), S.page(1, version: 1)), (UInt32(2), S.page(2, version: 1))]
                : [(UInt32(1), S.page(1, version: Int(max)))]
            try await S.store(try S.encode(S.header(min: min, max: max, commit: commit, timestamp: ts), pages: pages),
                              level: level, in: client)
        }
        try await put(9, 1, 3, at: now - 30 * hour)
        try await put(9, 1, 8, at: now - 1 * hour)
        try await put(1, 1, 2, at: now - 40 * hour)
        try await put(1, 3, 5, at: now - 20 * hour)
        try await put(1, 6, 8, at: now - 1 * hour)
        for tx in UInt64(6)...10 { try await put(0, tx, tx, at: tx <= 9 ? now - hour : now) }

        let locals = LockedList()
        let l0 = try await Retention.enforceL0Retention(client: client, now: now, deleteRemote: false,
                                                         deleteLocal: { locals.append($0) })
        #expect(l0.map(\.maxTXID) == [6, 7, 8])
        #expect(locals.items == l0)
        #expect(try await client.ltxFiles(level: 0).count == 5)  // remote untouched

        let deletedL0 = try await Retention.enforceL0Retention(client: client, now: now)
        #expect(deletedL0 == l0)
        #expect(try await client.ltxFiles(level: 0).map(\.minTXID) == [9, 10])

        let plan = try await Retention.enforceSnapshotRetention(client: client, now: now)
        #expect(plan.snapshots.map(\.maxTXID) == [3] && plan.floor == 3)
        #expect(plan.levelFiles.map(\.maxTXID) == [2])
        #expect(try await client.ltxFiles(level: 9).map(\.maxTXID) == [8])
        #expect(try await client.ltxFiles(level: 1).map(\.maxTXID) == [5, 8])
        let restored = try RestorePlan.make(files: try await S.listing(client))
        #expect(restored.map(\.description) == ["L9/0000000000000001-0000000000000008.ltx",
                                                "L0/0000000000000009-0000000000000009.ltx",
                                                "L0/000000000000000a-000000000000000a.ltx"])
    }

    @Test("isRestorable detects a hole")
    func isRestorableDetectsHole() {
        let files = S.listing([S.info(9, 1, 5), S.info(0, 6, 6), S.info(0, 7, 7), S.info(0, 8, 8)])
        #expect(Retention.isRestorable(files))
        #expect(!Retention.isRestorable(Self.remove([S.info(0, 7, 7)], from: files)))
        #expect(!Retention.isRestorable(Self.remove([S.info(9, 1, 5)], from: files)))
        #expect(!Retention.isRestorable([:]))
    }

    /// Random histories run through a simulated scheduler (L0 writes, wall-clock compaction of L1-L3, snapshots,
    /// both retention rules, all with the real planning functions). After every retention pass a latest restore
    /// must still reach the newest TXID.
    @Test("retention on random histories never breaks the latest restore",
          arguments: [UInt64(101), 102, 103, 104, 105, 106])
    func randomHistories(seed: UInt64) throws {
        var rng = S.SeededRNG(seed: seed)
        var sim = Simulation(
            snapshotInterval: [10, 20, 30, 60].randomElement(using: &rng)! * 60_000,
            snapshotRetention: .seconds([2, 3, 4].randomElement(using: &rng)! * 3600),
            l0Retention: .seconds([30, 120, 300, 600].randomElement(using: &rng)!),
            start: 1_700_000_000_000 + Int64.random(in: 0..<hour, using: &rng))
        let steps = 9000
        var checks = 0
        for _ in 0..<steps {
            let deleted = try sim.step(rng: &rng)
            guard deleted else { continue }
            checks += 1
            let plan = try RestorePlan.make(files: sim.files)
            #expect(plan.last?.maxTXID.rawValue == sim.txid, "seed \(seed) at \(sim.now): plan \(plan)")
            #expect(plan.first?.minTXID == 1)
            for (a, b) in zip(plan, plan.dropFirst()) {
                #expect(b.minTXID <= a.maxTXID.next && b.maxTXID > a.maxTXID)
            }
        }
        #expect(checks > 50)  // retention actually ran and deleted things
        #expect(sim.deletedCount > 500)
        #expect(sim.files[9, default: []].count < 30)  // and bounded the replica
    }

    static func remove(_ files: [LTXFileInfo], from listing: [Int: [LTXFileInfo]]) -> [Int: [LTXFileInfo]] {
        let gone = Set(files)
        return listing.mapValues { $0.filter { !gone.contains($0) } }
    }
}

/// A minimal replica scheduler over listings: one L0 file per sync, compaction of each level on its boundary
/// (`compactIfDue` semantics), snapshots on their boundary, L0 retention every 15 s and after L1 compaction,
/// snapshot retention after each snapshot tick.
private struct Simulation {
    var files: [Int: [LTXFileInfo]] = [:]
    var txid: UInt64 = 0
    var now: Int64
    var deletedCount = 0
    let levels = CompactionLevel.defaults
    let snapshot: CompactionLevel
    let snapshotRetention: Duration
    let l0Retention: Duration
    var wake: [Int: Int64] = [:]
    var nextL0Retention: Int64
    var outageUntil: Int64 = 0

    init(snapshotInterval: Int64, snapshotRetention: Duration, l0Retention: Duration, start: Int64) {
        self.snapshot = CompactionLevel(level: LTXLevel.snapshot, interval: .milliseconds(snapshotInterval))
        self.snapshotRetention = snapshotRetention
        self.l0Retention = l0Retention
        self.now = start
        self.nextL0Retention = start
        for l in levels { wake[l.level] = start }
        wake[LTXLevel.snapshot] = start
    }

    /// Advances time, maybe writes and runs what is due. Returns whether retention deleted anything.
    mutating func step(rng: inout CompactionTestSupport.SeededRNG) throws -> Bool {
        now += Int64.random(in: 100...4000, using: &rng)
        if txid == 0 || Int.random(in: 0..<10, using: &rng) < 8 {
            txid += 1
            files[0, default: []].append(CompactionTestSupport.info(0, txid, txid, at: now))
        }
        // Compaction sometimes fails (a bad file, an unreachable replica) for a while; retention keeps running.
        if Int.random(in: 0..<1500, using: &rng) == 0 { outageUntil = now + Int64.random(in: 60_000...1_800_000, using: &rng) }
        var deleted = false
        for level in levels where now >= wake[level.level]! {
            wake[level.level] = level.nextBoundary(after: now)
            if now < outageUntil || Int.random(in: 0..<8, using: &rng) == 0 { continue }
            let dst = files[level.level, default: []]
            guard level.shouldCompact(newestAt: Compactor.newest(dst)?.createdAt, now: now) else { continue }
            let inputs = try Compactor.plan(level: level.level, source: files[level.level - 1, default: []], destination: dst)
            guard let first = inputs.first, let last = inputs.last else { continue }
            files[level.level, default: []].append(CompactionTestSupport.info(
                level.level, first.minTXID.rawValue, last.maxTXID.rawValue, at: inputs.map(\.createdAt).max()!))
            if level.level == 1 { deleted = runL0Retention() || deleted }
        }
        if now >= wake[LTXLevel.snapshot]! {
            wake[LTXLevel.snapshot] = snapshot.nextBoundary(after: now)
            let snaps = files[LTXLevel.snapshot, default: []]
            let newest = Compactor.newest(snaps)
            if snapshot.shouldCompact(newestAt: newest?.createdAt, now: now), (newest?.maxTXID.rawValue ?? 0) < txid {
                files[LTXLevel.snapshot, default: []].append(CompactionTestSupport.info(LTXLevel.snapshot, 1, txid, at: now))
            }
            let plan = Retention.planSnapshotRetention(
                files: files, now: now, retention: snapshotRetention, levels: levels.map(\.level))
            deleted = remove(plan.all) || deleted
        }
        if now >= nextL0Retention {
            nextL0Retention = now + 15_000
            deleted = runL0Retention() || deleted
        }
        return deleted
    }

    private mutating func runL0Retention() -> Bool {
        remove(Retention.planL0Retention(l0: files[0, default: []], l1: files[1, default: []], now: now, retention: l0Retention))
    }

    private mutating func remove(_ gone: [LTXFileInfo]) -> Bool {
        guard !gone.isEmpty else { return false }
        let set = Set(gone)
        files = files.mapValues { $0.filter { !set.contains($0) } }
        deletedCount += gone.count
        return true
    }
}

/// Collects values from a non-async callback.
private final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [LTXFileInfo] = []
    func append(_ v: LTXFileInfo) { lock.withLock { values.append(v) } }
    var items: [LTXFileInfo] { lock.withLock { values } }
}

extension LTXFileInfo {
    fileprivate func with(createdAt: Int64) -> LTXFileInfo {
        var copy = self
        copy.createdAt = createdAt
        return copy
    }
}
