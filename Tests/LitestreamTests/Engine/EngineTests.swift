import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// The engine and file replica end to end, in-process: the application writes through the system SQLite, the
/// engine syncs, uploads and restores, and the restore must equal the source.
@Suite struct EngineTests {
    struct Fixture {
        let dir: URL
        var dbPath: String { dir.appendingPathComponent("app.db").path }
        var replicaPath: String { dir.appendingPathComponent("replica").path }
        var replica: FileReplicaClient { FileReplicaClient(path: replicaPath) }

        init(_ name: String) throws { dir = try TestEnvironment.temporaryDirectory(name) }

        func replicator(_ configure: (inout Replicator.Configuration) -> Void = { _ in }) -> Replicator {
            var c = Replicator.Configuration(database: .init(path: dbPath), replica: replica)
            configure(&c)
            return Replicator(configuration: c)
        }

        /// Restores the latest state and checks it against the source database.
        func assertRestoreMatches(txid: TXID? = nil, sourceDigest: String? = nil) async throws {
            let out = dir.appendingPathComponent("restored-\(UUID().uuidString).db").path
            let restorer = Restorer(replica: replica)
            let plan = try await restorer.plan(txid: txid)
            try await restorer.restore(to: out, plan: plan, integrityCheck: .full)
            #expect(try TestDatabase.integrityCheck(path: out) == "ok")
            let expected = try sourceDigest ?? TestDatabase.contentDigest(path: dbPath)
            #expect(try TestDatabase.contentDigest(path: out) == expected)
        }
    }

    @Test func replicatesAndRestores() async throws {
        let f = try Fixture("basic")
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let r = f.replicator()
        try await r.open()
        for i in 1...20 {
            try app.exec("INSERT INTO t (v) VALUES ('row \(i) \(String(repeating: "x", count: i * 50))')")
            try await r.runOnce()
        }
        // The first sync is a snapshot holding the table and row 1 (TXID 1), then one file per commit.
        #expect(r.engine.position == TXID(20))
        #expect(r.replicaPosition == TXID(20))
        try await f.assertRestoreMatches()
        // A point-in-time restore stops at that TXID.
        let out = f.dir.appendingPathComponent("at5.db").path
        let restorer = Restorer(replica: f.replica)
        try await restorer.restore(to: out, plan: try await restorer.plan(txid: TXID(5)))
        #expect(try TestDatabase(path: out).scalar("SELECT count(*) FROM t") == "5")
        try await r.shutdown()
    }

    @Test func resumesIncrementallyAfterRestart() async throws {
        let f = try Fixture("resume")
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (v)")
        do {
            let r = f.replicator()
            try await r.open()
            try app.exec("INSERT INTO t VALUES (1)")
            try await r.runOnce()
            try await r.shutdown()
        }
        try app.exec("INSERT INTO t VALUES (2)")
        let r = f.replicator()
        try await r.open()
        let result = try r.engine.sync()
        #expect(result.snapshotReason == nil, "the WAL did not change generation, so an incremental file suffices")
        #expect(result.written.count == 1)
        try await r.upload()
        try await f.assertRestoreMatches()
        try await r.shutdown()
    }

    @Test func checkpointByAnotherProcessWhileStoppedForcesSnapshot() async throws {
        let f = try Fixture("external-truncate")
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (v)")
        do {
            let r = f.replicator()
            try await r.open()
            try app.exec("INSERT INTO t VALUES (1)")
            try await r.runOnce()
            try await r.shutdown()
        }
        // While we are stopped, the app commits and truncates the WAL: those frames are gone from the WAL.
        try app.exec("INSERT INTO t VALUES (2)")
        try app.exec("INSERT INTO t VALUES (3)")
        let cp = try app.checkpoint("TRUNCATE")
        #expect(cp.first == "0")
        try app.exec("INSERT INTO t VALUES (4)")
        let r = f.replicator()
        try await r.open()
        let result = try r.engine.sync()
        #expect(result.snapshotReason != nil)
        try await r.upload()
        try await f.assertRestoreMatches()
        try await r.shutdown()
    }

    @Test func truncateCheckpointByAppWhileReplicating() async throws {
        let f = try Fixture("app-truncate")
        let app = try TestDatabase(path: f.dbPath, busyTimeoutMilliseconds: 20)
        try app.exec("CREATE TABLE t (v)")
        let r = f.replicator()
        try await r.open()
        var snapshots = 0
        for i in 1...30 {
            try app.exec("INSERT INTO t VALUES (\(i))")
            if i % 3 == 0 { _ = try? app.checkpoint("TRUNCATE") }
            if i % 2 == 0 {
                let res = try r.engine.sync()
                if res.snapshotReason != nil { snapshots += 1 }
                try await r.upload()
            }
        }
        try await r.runOnce()
        // Only the very first sync should have been a full snapshot: the engine's read mark keeps TRUNCATE from
        // discarding unsynced frames.
        #expect(snapshots == 1)
        try await f.assertRestoreMatches()
        try await r.shutdown()
    }

    @Test func syncBeforeOpenOrAfterCloseIsNotOpen() throws {
        let f = try Fixture("not-open")
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (v); INSERT INTO t VALUES (1)")
        let engine = DatabaseEngine(configuration: .init(path: f.dbPath))
        let beforeOpen = #expect(throws: EngineError.self) { try engine.sync() }
        #expect(beforeOpen?.code == .notOpen)
        try engine.open()
        #expect(try engine.sync().written == [TXID(1)])
        engine.close()
        let afterClose = #expect(throws: EngineError.self) { try engine.prepareSnapshot() }
        #expect(afterClose?.code == .notOpen)
    }

    @Test func convertsRollbackJournalDatabase() async throws {
        let f = try Fixture("not-wal")
        let app = try TestDatabase(path: f.dbPath, journalMode: "delete")
        try app.exec("CREATE TABLE t (v); INSERT INTO t VALUES ('a'), ('b');")
        app.close()
        let r = f.replicator()
        try await r.open()
        try await r.runOnce()
        let app2 = try TestDatabase(path: f.dbPath)
        #expect(try app2.scalar("PRAGMA journal_mode") == "wal")
        try app2.exec("INSERT INTO t VALUES ('c')")
        try await r.runOnce()
        try await f.assertRestoreMatches()
        try await r.shutdown()
    }

    @Test func vacuumAndSchemaChanges() async throws {
        let f = try Fixture("vacuum")
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE a (id INTEGER PRIMARY KEY, v BLOB); CREATE TABLE b (x)")
        let r = f.replicator()
        try await r.open()
        try app.exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000) INSERT INTO a (v) SELECT randomblob(300) FROM n")
        try await r.runOnce()
        try app.exec("DELETE FROM a WHERE id % 3 = 0; DROP TABLE b; ALTER TABLE a ADD COLUMN w TEXT DEFAULT 'z'; CREATE INDEX ai ON a(w)")
        try await r.runOnce()
        let before = try app.scalar("PRAGMA page_count")
        try app.exec("VACUUM")
        #expect(try app.scalar("PRAGMA page_count") != before)
        try await r.runOnce()
        try app.exec("INSERT INTO a (v) VALUES (x'01')")
        try await r.runOnce()
        try await f.assertRestoreMatches()
        try await r.shutdown()
    }

    @Test func enginePassiveCheckpointLetsWALRestartWithoutSnapshot() async throws {
        let f = try Fixture("passive")
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (v)")
        let r = f.replicator { $0.database.checkpoint.minPageCount = 20 }
        try await r.open()
        let walHeader = { () throws -> WALHeader? in try WALReader(path: f.dbPath + "-wal").readHeader() }
        try app.exec("INSERT INTO t VALUES (0)")
        try await r.runOnce()
        let first = try #require(try walHeader())
        var restarted = false
        for i in 1...200 {
            try app.exec("INSERT INTO t VALUES (randomblob(3000))")
            let res = try r.engine.sync()
            #expect(res.snapshotReason == nil, "commit \(i): \(res.snapshotReason ?? "")")
            try await r.upload()
            if let h = try walHeader(), h.salt1 != first.salt1 { restarted = true }
        }
        #expect(restarted, "the WAL should restart after the engine's checkpoints")
        #expect(try app.scalar("SELECT count(*) FROM t") == "201")
        try await f.assertRestoreMatches()
        try await r.shutdown()
    }

    @Test func engineTruncateCheckpointStaysIncremental() async throws {
        let f = try Fixture("truncate")
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (v)")
        let r = f.replicator {
            $0.database.checkpoint.minPageCount = 0
            $0.database.checkpoint.truncatePageCount = 10
        }
        try await r.open()
        var truncations = 0
        for _ in 1...60 {
            try app.exec("INSERT INTO t VALUES (randomblob(5000))")
            let res = try r.engine.sync()
            if res.checkpointed == .truncate { truncations += 1 }
            #expect(res.snapshotReason == nil || r.engine.position == TXID(1))
            try await r.upload()
        }
        #expect(truncations > 0)
        try await f.assertRestoreMatches()
        try await r.shutdown()
    }

    @Test func replicatingARestoredDatabaseContinuesTheReplica() async throws {
        let f = try Fixture("restored")
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (v); INSERT INTO t VALUES (1)")
        let r = f.replicator()
        try await r.open()
        try await r.runOnce()
        try app.exec("INSERT INTO t VALUES (2)")
        try await r.runOnce()
        try await r.shutdown()
        app.close()
        // Lose the machine: restore the database elsewhere (no local state) and replicate it again.
        try FileManager.default.removeItem(atPath: f.dbPath)
        try? FileManager.default.removeItem(atPath: f.dbPath + "-wal")
        try? FileManager.default.removeItem(atPath: f.dbPath + "-shm")
        try FileManager.default.removeItem(atPath: LocalLTXStore.defaultMetaPath(forDatabase: f.dbPath))
        let restorer = Restorer(replica: f.replica)
        try await restorer.restore(to: f.dbPath, plan: try await restorer.plan())
        let app2 = try TestDatabase(path: f.dbPath)
        try app2.exec("INSERT INTO t VALUES (3)")
        let r2 = f.replicator()
        try await r2.open()
        try await r2.runOnce()
        #expect(r2.engine.position == TXID(3), "continues after the replica's TXID 2 with one full file")
        try await f.assertRestoreMatches()
        try await r2.shutdown()
    }
}
