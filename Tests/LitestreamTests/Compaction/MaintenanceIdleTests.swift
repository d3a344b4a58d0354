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
            try await m.run(now: t, snapshot: {}, deleteLocalL0: { _ in }, localL0Path: { _ in nil })
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
}
