import Foundation
import LTX
import Logging
import Synchronization
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

private typealias S = CompactionTestSupport

/// An idle database must cost no requests: once maintenance has looked, it lists nothing again until something
/// can have changed (a file aged past l0-retention, or a level moved).
@Suite struct MaintenanceIdleTests {
    @Test func l0RetentionListsOnlyWhenAFileCanHaveAgedOut() async throws {
        let dir = try S.TempDir()
        let file = FileReplicaClient(path: dir.path)
        let now: Int64 = 1_800_000_000_000
        let page = S.page(1, version: 1)
        for tx in UInt64(1)...5 {
            let bytes = try S.encode(S.header(min: tx, max: tx, commit: 1, timestamp: now - 1000 + Int64(tx)), pages: [(1, page)])
            try await S.store(bytes, level: 0, in: file)
        }
        try await S.store(try S.encode(S.header(min: 1, max: 5, commit: 1, timestamp: now), pages: [(1, page)]), level: 1, in: file)
        try await S.store(try S.encode(S.header(min: 1, max: 5, commit: 1, timestamp: now), pages: [(1, page)]), level: 9, in: file)

        let replica = ProbeReplica(file)
        var config = Maintenance.Configuration()
        config.levels = [CompactionLevel(level: 1, interval: .seconds(3600))]
        config.l0Retention = .seconds(10)
        config.l0RetentionCheckInterval = .zero
        var m = Maintenance(configuration: config, replica: replica, logger: .init(label: "test"))
        m.uploaded(through: TXID(5))
        func run(at t: Int64) async throws -> Int {
            let before = replica.listings.withLock { $0 }
            try await m.run(now: t, snapshot: { true }, deleteLocalL0: { _ in }, localL0Path: { _ in nil })
            return replica.listings.withLock { $0 } - before
        }
        // The first round learns the levels and looks at L0 retention: every L0 file is still young.
        #expect(try await run(at: now) > 0)
        #expect(try await file.ltxFiles(level: 0).count == 5)
        // Idle: nothing can age out before the oldest file is 10 s old, and no level moved: no listing at all.
        for t in stride(from: now + 1000, to: now + 8000, by: 1000) { #expect(try await run(at: t) == 0) }
        // Once it can have aged out, retention lists again and deletes the covered files (keeping the newest).
        #expect(try await run(at: now + 10_000) > 0)
        let left = try await file.ltxFiles(level: 0).map(\.maxTXID)
        #expect(left.count < 5, "covered, aged L0 files were deleted: \(left)")
        // And then, with everything covered retained, idle again.
        #expect(try await run(at: now + 20_000) == 0)
    }
    /// A scheduled compaction lists each of its two levels once: it listed the destination twice (to see whether
    /// the boundary passed, then again to plan), one LIST request too many every 30 s on an object store.
    @Test func aScheduledCompactionListsEachLevelOnce() async throws {
        let dir = try S.TempDir()
        let file = FileReplicaClient(path: dir.path)
        let now: Int64 = 1_800_000_000_000
        let page = S.page(1, version: 1)
        for tx in UInt64(1)...3 {
            let bytes = try S.encode(S.header(min: tx, max: tx, commit: 1, timestamp: now - 60_000 + Int64(tx)), pages: [(1, page)])
            try await S.store(bytes, level: 0, in: file)
        }
        let replica = ProbeReplica(file)
        let compactor = Compactor(client: replica, levels: [CompactionLevel(level: 1, interval: .seconds(30))])
        let outcome = try await compactor.compactIfDue(level: 1, now: now)
        guard case .compacted(let info) = outcome else { Issue.record("not compacted: \(outcome)"); return }
        #expect(info.maxTXID == TXID(3))
        #expect(replica.listings.withLock { $0 } == 2)
    }
    /// L1 moving on is no reason to list L0 again for retention: nothing uploaded since the last listing can be
    /// older than what it kept. It listed L0 and L1 after every L1 compaction, two LISTs every 30 s under writes.
    @Test func l0RetentionDoesNotListAfterEachCompaction() async throws {
        let dir = try S.TempDir()
        let file = FileReplicaClient(path: dir.path)
        let now: Int64 = 1_800_000_000_000  // on a 30 s boundary
        let page = S.page(1, version: 1)
        func upload(_ txs: ClosedRange<UInt64>, at t: Int64) async throws {
            for tx in txs {
                try await S.store(try S.encode(S.header(min: tx, max: tx, commit: 1, timestamp: t + Int64(tx)), pages: [(1, page)]), level: 0, in: file)
            }
        }
        try await upload(1...5, at: now - 1000)
        let replica = ProbeReplica(file)
        var config = Maintenance.Configuration()
        config.levels = [CompactionLevel(level: 1, interval: .seconds(30))]
        config.snapshotInterval = .zero
        config.l0Retention = .seconds(60)
        config.l0RetentionCheckInterval = .zero
        var m = Maintenance(configuration: config, replica: replica, logger: .init(label: "test"))
        m.uploaded(through: TXID(5))
        func run(at t: Int64) async throws -> Int {
            let before = replica.listings.withLock { $0 }
            try await m.run(now: t, snapshot: { true }, deleteLocalL0: { _ in }, localL0Path: { _ in nil })
            return replica.listings.withLock { $0 } - before
        }
        #expect(try await run(at: now) > 0)  // learns the levels, compacts 1-5, looks at retention
        #expect(m.compactedThrough == TXID(5))
        try await upload(6...8, at: now + 29_000)
        m.uploaded(through: TXID(8))
        // The next boundary's compaction lists L0 and L1 once each, and retention nothing: 1-5 are not old enough.
        #expect(try await run(at: now + 30_000) == 2)
        #expect(m.compactedThrough == TXID(8))
        #expect(try await file.ltxFiles(level: 0).count == 8)
        // Once 1-5 are a minute old, a listing deletes them (the newest covered file may stay) and keeps 6-8.
        _ = try await run(at: now + 60_000)
        let left = try await file.ltxFiles(level: 0).map(\.maxTXID.rawValue)
        #expect(left.allSatisfy { $0 >= 5 } && left.contains(8), "\(left)")
    }
}
