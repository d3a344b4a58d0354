import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// The replication loop as it runs in production: wake-ups, uploads, compaction on boundaries, retention and the
/// final sync at graceful shutdown.
@Suite struct ReplicatorLoopTests {
    @Test(.timeLimit(.minutes(3))) func loopCompactsRetainsAndRestores() async throws {
        let f = try EngineTests.Fixture("loop")
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        var config = Replicator.Configuration(database: .init(path: f.dbPath), replica: f.replica)
        config.minSyncInterval = .milliseconds(5)
        config.monitorInterval = .milliseconds(200)
        config.maintenance.levels = [CompactionLevel(level: 1, interval: .seconds(1)), CompactionLevel(level: 2, interval: .seconds(2))]
        config.maintenance.l0Retention = .milliseconds(500)
        config.maintenance.l0RetentionCheckInterval = .zero

        try await withServices([Replicator(configuration: config)]) {
            // Commit until compaction and retention have visibly run (seconds on an idle machine; the deadline is
            // generous because parallel tests can starve this one), then stop the loop: its final sync must carry
            // the last commit.
            let deadline = ContinuousClock.now + .seconds(90)
            var i = 0
            while ContinuousClock.now < deadline {
                i += 1
                try app.exec("INSERT INTO t (v) VALUES ('\(i)')")
                try await Task.sleep(for: .milliseconds(20))
                if i % 25 == 0,
                    try await !f.replica.ltxFiles(level: 2).isEmpty,
                    try await f.replica.ltxFiles(level: 0).first.map({ $0.minTXID > TXID(1) }) == true
                {
                    break
                }
            }
            try app.exec("INSERT INTO t (v) VALUES ('last')")
        }
        let l0 = try await f.replica.ltxFiles(level: 0)
        let l1 = try await f.replica.ltxFiles(level: 1)
        let l2 = try await f.replica.ltxFiles(level: 2)
        let l9 = try await f.replica.ltxFiles(level: 9)
        #expect(!l1.isEmpty, "L1 compaction ran")
        #expect(!l2.isEmpty, "L2 compaction ran")
        #expect(!l9.isEmpty, "a snapshot was taken at start")
        #expect(l0.first.map { $0.minTXID > TXID(1) } == true, "L0 retention removed old L0 files")
        // Local L0 files covered by retention were removed too, but never the newest.
        let local = try LocalLTXStore(metaPath: LocalLTXStore.defaultMetaPath(forDatabase: f.dbPath)).files()
        #expect(local.count < (l0.last?.maxTXID.rawValue ?? 0))
        try await f.assertRestoreMatches()
        #expect(try app.scalar("SELECT v FROM t ORDER BY id DESC LIMIT 1") == "last")
        // Past states stay restorable at the granularity compaction left (the end of each L1 file).
        let restorer = Restorer(replica: f.replica)
        let mid = l1[l1.count / 2].maxTXID
        let out = f.dir.appendingPathComponent("mid.db").path
        let result = try await restorer.restore(to: out, plan: try await restorer.plan(txid: mid), integrityCheck: .full)
        #expect(result.txid == mid)
    }

    /// Batching under sustained writes (the minimum interval) never makes a sync request wait: `sync -wait` and
    /// the integration's durable write are served at once, with the commit in the replica when they return.
    @Test(.timeLimit(.minutes(2))) func aSyncRequestDoesNotWaitOutTheMinimumInterval() async throws {
        let f = try EngineTests.Fixture("sync-request")
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        var config = Replicator.Configuration(database: .init(path: f.dbPath), replica: f.replica)
        // Long enough that waiting it out cannot pass for serving at once, even on a loaded machine: in the full
        // suite, other tests' replicators share the engine's threads, and sync requests were served in 4 s and
        // (beside a benchmark) 10.7 s.
        config.minSyncInterval = .seconds(60)
        let replicator = Replicator(configuration: config)
        try await withServices([replicator]) {
            #expect(try await Integration.poll(timeout: .seconds(30), interval: .milliseconds(20)) { replicator.monitor.isRunning })
            try app.exec("INSERT INTO t (v) VALUES ('first')")
            _ = try await replicator.monitor.sync(waitForReplicas: true, timeout: .seconds(30))
            for i in 1...3 {
                // The commit's own WAL write starts a sync at once, which writes a file: the loop then batches.
                try app.exec("INSERT INTO t (v) VALUES ('durable \(i)')")
                let began = ContinuousClock.now
                let txid = try await replicator.monitor.sync(waitForReplicas: true, timeout: .seconds(30))
                let waited = ContinuousClock.now - began
                #expect(waited < .seconds(20), "sync request \(i) waited \(waited) (the interval is 60 s)")
                #expect(try await f.replica.ltxFiles(level: 0).last.map { $0.maxTXID >= txid } == true)
            }
        }
        try await f.assertRestoreMatches()
    }
}
