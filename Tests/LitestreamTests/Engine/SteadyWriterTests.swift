import Foundation
import LTX
import Testing

@testable import Litestream

/// Under a steady writer the engine's read mark always trails the newest frame. Its checkpoints must still let the
/// WAL restart, or the WAL grows and the app's auto-checkpoint runs (and fsyncs) inside every commit.
@Suite struct SteadyWriterTests {
    @Test(.timeLimit(.minutes(2))) func walStaysBoundedUnderSteadyWrites() async throws {
        let f = try EngineTests.Fixture("steady")
        let setup = try TestDatabase(path: f.dbPath)
        try setup.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        let r = f.replicator { $0.database.checkpoint.minPageCount = 100 }
        try await r.open()
        try await r.runOnce()
        let dbPath = f.dbPath
        let commits = 3000
        // The application: one commit after another, on its own thread, with SQLite's default auto-checkpoint.
        let writer = Thread {
            let app = try! TestDatabase(path: dbPath)
            for i in 1...commits { try! app.exec("INSERT INTO t (v) VALUES (randomblob(1500 + \(i % 7) * 100))") }
            app.close()
        }
        writer.start()
        var maxWAL: Int64 = 0
        var restarts = 0
        var lastSalt: UInt32?
        while try setup.scalar("SELECT count(*) FROM t") != String(commits) {
            try r.engine.sync()
            let size = (try? FileManager.default.attributesOfItem(atPath: dbPath + "-wal")[.size] as? Int64) ?? 0
            maxWAL = max(maxWAL, size ?? 0)
            if let h = try WALReader(path: dbPath + "-wal").readHeader() {
                if let s = lastSalt, s != h.salt1 { restarts += 1 }
                lastSalt = h.salt1
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        try await r.runOnce()
        #expect(restarts >= 3, "the WAL must keep restarting")
        // 100-frame checkpoints: the WAL should stay around a few hundred frames, far below the ~13 MB that
        // 3000 commits of ~1.8 KB would reach if it never restarted.
        #expect(maxWAL < 4 << 20, "WAL grew to \(maxWAL) bytes")
        try await f.assertRestoreMatches()
        try await r.shutdown()
    }
}
