import Foundation
import LTX
import Synchronization
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// Under a steady writer the engine's read mark always trails the newest frame. Its checkpoints must still let the
/// WAL restart, or the WAL grows and the app's auto-checkpoint runs (and fsyncs) inside every commit.
// Own threads: the engine's synchronous syncs would otherwise hold one of the two cooperative threads for the whole
// test, beside every other suite.
@Suite(.ownThreads) struct SteadyWriterTests {
    @Test(.timeLimit(.minutes(2))) func walStaysBoundedUnderSteadyWrites() async throws {
        let f = try EngineTests.Fixture("steady")
        let setup = try TestDatabase(path: f.dbPath)
        try setup.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        let r = f.replicator { $0.database.checkpoint.minPageCount = 100 }
        try await r.open()
        try await r.runOnce()
        let dbPath = f.dbPath
        // The application: a commit about every millisecond, on its own thread, with SQLite's default
        // auto-checkpoint, until the engine has synced 60 times alongside it (however slowly a loaded machine
        // schedules us). Unpaced, the writer filled the WAL faster the slower the machine ran the engine, and each
        // sync then had more to read: 3 s alone became 2 minutes in the full suite.
        let syncs = Atomic<Int>(0)
        let done = Atomic<Bool>(false)
        let writer = Thread {
            let app = try! TestDatabase(path: dbPath)
            var i = 0
            while syncs.load(ordering: .relaxed) < 60 {
                i += 1
                try! app.exec("INSERT INTO t (v) VALUES (randomblob(1500 + \(i % 7) * 100))")
                usleep(1000)
            }
            app.close()
            done.store(true, ordering: .releasing)
        }
        writer.start()
        var sizes: [Int64] = []  // the file never shrinks after a restart, so sizes only inform the message
        var restarts = 0
        var lastSalt: UInt32?
        while !done.load(ordering: .acquiring) {
            try r.engine.sync()
            syncs.add(1, ordering: .relaxed)
            let size = (try? FileManager.default.attributesOfItem(atPath: dbPath + "-wal")[.size] as? Int64) ?? 0
            sizes.append(size)
            if let h = try WALReader(path: dbPath + "-wal").readHeader() {
                if let s = lastSalt, s != h.salt1 { restarts += 1 }
                lastSalt = h.salt1
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        try await r.runOnce()
        #expect(restarts >= 3, "the WAL must keep restarting (\(restarts) restarts in \(sizes.count) syncs, WAL up to \(sizes.max() ?? 0) bytes)")
        try await f.assertRestoreMatches()
        try await r.shutdown()
    }
}
