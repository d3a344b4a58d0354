import Foundation
import LTX
import ServiceLifecycle
import Testing

@testable import LitestreamClient
@testable import LitestreamCore
@testable import LitestreamServer

/// `closeIdleAfter`: an idle database's SQLite connections are closed (no descriptor, no SQLite memory), and no
/// commit is lost while they are: not even one that the app checkpoints away and restarts the WAL over before the
/// replicator has looked, which a full-database file then carries.
@Suite(.timeLimit(.minutes(4))) struct IdleCloseTests {
    struct Fixture {
        let root: URL
        var db: String { root.appendingPathComponent("app.db").path }
        var replica: String { root.appendingPathComponent("replica").path }

        init(_ name: String) throws {
            root = try TestEnvironment.temporaryDirectory(name)
            let app = try TestDatabase(path: db)
            try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('first')")
            app.close()
        }

        func replicator() throws -> Replicator {
            var c = Replicator.Configuration(database: .init(path: db), replica: FileReplicaClient(path: replica))
            c.closeIdleAfter = .milliseconds(200)
            return Replicator(configuration: c)
        }

        /// Waits until the replicator has closed the connections with every local file in the replica.
        func waitUntilClosed(_ r: Replicator) async throws {
            let closed = try await Integration.poll(timeout: .seconds(60), interval: .milliseconds(20)) {
                let s = r.monitor.status()
                return s.connectionsClosed == true && s.localTXID > .zero && s.replicas.allSatisfy { $0.txid == s.localTXID }
            }
            #expect(closed, "connections never closed: \(r.monitor.status())")
        }

        /// The descriptors of this process open on the database, its WAL, its -shm or its local state.
        func openDescriptors() -> [String] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
                .filter { $0.hasPrefix(db) || $0.hasPrefix(root.appendingPathComponent(".app.db-litestream").path) }
        }
    }

    /// Connections closed; then a write burst, the app's `PRAGMA wal_checkpoint(TRUNCATE)` (which nothing holds
    /// back now) and more writes in a new WAL generation, all before the replicator may look (it is held on its
    /// lock meanwhile). The replica must still restore every row, by our restore and by Litestream 0.5.17's.
    @Test func aCheckpointWhileClosedStillGivesEveryRow() async throws {
        let f = try Fixture("idle-close-checkpoint")
        defer { try? FileManager.default.removeItem(at: f.root) }
        let r = try f.replicator()
        try await withServices([r]) {
            try await f.waitUntilClosed(r)
            let db = f.db
            // Under the engine's lock: no sync can open the connections until the app is done.
            let (wasClosed, checkpointed) = try r.engine.withEngine { e -> (Bool, [String?]) in
                let app = try TestDatabase(path: db)
                defer { app.close() }
                try app.exec("BEGIN")
                for i in 0..<500 { try app.exec("INSERT INTO t (v) VALUES ('burst \(i) \(String(repeating: "x", count: 200))')") }
                try app.exec("COMMIT")
                for i in 0..<20 { try app.exec("INSERT INTO t (v) VALUES ('single \(i)')") }
                let result = try app.checkpoint("TRUNCATE")
                // A new WAL generation after the truncation.
                for i in 0..<10 { try app.exec("INSERT INTO t (v) VALUES ('after \(i)')") }
                return (e.isSuspended, result)
            }
            #expect(wasClosed)
            #expect(checkpointed.first == "0", "the app's TRUNCATE checkpoint was held back: \(checkpointed)")
            // The next WAL event opens the connections again, and the replica catches up.
            let expected = try #require(try TestDatabase(path: db).scalar("SELECT count(*) FROM t"))
            #expect(expected == "531")
            let caughtUp = try await Integration.poll(timeout: .seconds(60), interval: .milliseconds(20)) {
                let s = r.monitor.status()
                return s.connectionsClosed == true && s.replicas[0].txid == s.localTXID
            }
            #expect(caughtUp, "\(r.monitor.status())")
        }
        let digest = try TestDatabase.contentDigest(path: f.db)
        let ours = f.root.appendingPathComponent("ours.db").path
        let restorer = Restorer(replica: FileReplicaClient(path: f.replica))
        _ = try await restorer.restore(to: ours, plan: try await restorer.plan(txid: nil), integrityCheck: .full)
        #expect(try TestDatabase.contentDigest(path: ours) == digest)
        let theirs = f.root.appendingPathComponent("theirs.db").path
        let reference = try TestEnvironment.requireLitestreamBinary()
        let result = try TestEnvironment.run(reference, ["restore", "-o", theirs, "file://" + f.replica])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try TestDatabase.contentDigest(path: theirs) == digest)
        #expect(try TestDatabase.integrityCheck(path: theirs) == "ok")
    }

    /// A commit to a closed database opens it again and reaches the replica in the next TXID; an idle closed
    /// database holds no descriptor of its files.
    @Test(.enabled(if: FileEventHub.shared != nil, "counts descriptors in /proc (Linux)"))
    func aClosedDatabaseHoldsNoDescriptorAndWakesOnACommit() async throws {
        let f = try Fixture("idle-close-fds")
        defer { try? FileManager.default.removeItem(at: f.root) }
        let r = try f.replicator()
        try await withServices([r]) {
            try await f.waitUntilClosed(r)
            #expect(f.openDescriptors() == [], "descriptors left open while closed")
            let before = r.monitor.status().localTXID
            let app = try TestDatabase(path: f.db)
            try app.exec("INSERT INTO t (v) VALUES ('after idle')")
            let replicated = try await Integration.poll(timeout: .seconds(60), interval: .milliseconds(5)) {
                r.monitor.status().replicas[0].txid > before
            }
            #expect(replicated)
            app.close()
            try await f.waitUntilClosed(r)
            #expect(f.openDescriptors() == [])
            // The commit went out incrementally, in the next TXID. (A full-database file may follow it: the app's
            // close can checkpoint and delete the WAL while the engine's connections are closed.)
            let l0 = try await FileReplicaClient(path: f.replica).ltxFiles(level: 0)
            #expect(l0.contains { $0.minTXID == before.next && $0.maxTXID == before.next }, "\(l0)")
        }
        let digest = try TestDatabase.contentDigest(path: f.db)
        let out = f.root.appendingPathComponent("restored.db").path
        let restorer = Restorer(replica: FileReplicaClient(path: f.replica))
        _ = try await restorer.restore(to: out, plan: try await restorer.plan(txid: nil), integrityCheck: .full)
        #expect(try TestDatabase.contentDigest(path: out) == digest)
    }

    /// A snapshot of a closed database whose WAL is empty (no app connection since the start: a tenant's usual
    /// state). Opening the connections writes a full-database file first (nothing vouches for an empty WAL), so
    /// the snapshot must be of the position after it. Taken before, every such snapshot failed with "position
    /// moved", reopened the database on each retry, and moved its position again: 10,000 idle tenants churned
    /// for minutes after a start.
    @Test func aSnapshotOfAClosedDatabaseWithAnEmptyWAL() async throws {
        let f = try Fixture("idle-close-snapshot")
        defer { try? FileManager.default.removeItem(at: f.root) }
        // Driven by hand (as `replicate -once` does): the worker's own loop would race the snapshot for uploads.
        let r = try f.replicator()
        try await r.open()
        try await r.runOnce()
        #expect((try? FileManager.default.attributesOfItem(atPath: f.db + "-wal")[.size] as? Int) ?? 0 < 32,
            "the WAL has a header")
        #expect(r.engine.suspendIfIdle(for: .zero))
        // Opened once more without a write: a full-database file at the next TXID, then closed again.
        try r.engine.sync()
        try await r.upload()
        #expect(r.engine.position > TXID(1))
        #expect(r.engine.suspendIfIdle(for: .zero))
        try await r.snapshot()
        let snapshots = try await FileReplicaClient(path: f.replica).ltxFiles(level: LTXLevel.snapshot)
        #expect(snapshots.last?.maxTXID == r.engine.position, "\(snapshots)")
        try await r.shutdown()
        let out = f.root.appendingPathComponent("restored.db").path
        let restorer = Restorer(replica: FileReplicaClient(path: f.replica))
        _ = try await restorer.restore(to: out, plan: try await restorer.plan(txid: nil), integrityCheck: .full)
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: f.db))
    }

    /// Many databases at once: they start through the gate, at most `StartGate.shared.limit` at a time, and while
    /// more than `Replicator.crowdedOpenDatabases` of the process are open an idle one closes after
    /// `crowdedCloseDelay`, not after its own (long) `closeIdleAfter`: the number open stays bounded.
    @Test func aCrowdOfDatabasesStartsThroughTheGateAndClosesEarly() async throws {
        let root = try TestEnvironment.temporaryDirectory("idle-close-crowd")
        defer { try? FileManager.default.removeItem(at: root) }
        let n = 100
        let paths = (0..<n).map { root.appendingPathComponent("tenant-\($0).db").path }
        for p in paths {
            let db = try TestDatabase(path: p)
            try db.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x')")
            db.close()
        }
        let server = ReplicationServer()
        for p in paths {
            var c = Replicator.Configuration(database: .init(path: p),
                replica: FileReplicaClient(path: root.appendingPathComponent("replicas/" + POSIX.basename(p)).path))
            c.closeIdleAfter = .seconds(3600)
            server.register(c)
        }
        try await withServices([server]) {
            var mostInside = 0
            let replicated = try await Integration.poll(timeout: .seconds(120), interval: .milliseconds(2)) {
                mostInside = max(mostInside, StartGate.shared.inside)
                let s = server.statuses()
                return s.count == n && s.allSatisfy { $0.replicas[0].txid >= TXID(1) }
            }
            #expect(replicated)
            #expect(mostInside <= StartGate.shared.limit)
            // Crowded: all but about `crowdedOpenDatabases` close long before their hour is up.
            let closedEarly = try await Integration.poll(timeout: .seconds(60), interval: .milliseconds(50)) {
                server.statuses().filter { $0.connectionsClosed == true }.count >= n - Replicator.crowdedOpenDatabases
            }
            #expect(closedEarly, "\(server.statuses().filter { $0.connectionsClosed == true }.count) of \(n) closed")
        }
    }
}
