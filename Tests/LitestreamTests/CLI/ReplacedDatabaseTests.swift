import Foundation
import LTX
import LitestreamClient
import Testing

/// #19.1: the database file is replaced while `replicate` runs. The replicator's connections would keep reading
/// the old file, which nobody writes any more: nothing would reach the replica and `sync -wait` would still
/// succeed. It must notice, say so, and replicate the new database from a full snapshot.
@Suite(.ownThreads) struct ReplacedDatabaseTests {
    typealias Setup = SupervisorContractTests.Setup

    enum Replacement: String, Sendable, CaseIterable, CustomTestStringConvertible {
        /// `rm app.db*`, then the app creates it again.
        case deletedAndCreated
        /// Another database renamed over it (its -wal and -shm removed first, as one must).
        case renamedOver
        /// `litestream restore -force -o app.db` from another replica.
        case restoredOver
        var testDescription: String { rawValue }
    }

    static let cases: [(Replacement, LiveReplicate.Kind)] =
        [(.deletedAndCreated, .file), (.restoredOver, .file)] + (LiveReplicate.kinds.contains(.s3) ? [(.renamedOver, .s3)] : [(.renamedOver, .file)])

    @Test(.timeLimit(.minutes(3)), arguments: cases)
    func newDatabaseIsReplicatedAndRestored(replacement: Replacement, kind: LiveReplicate.Kind) async throws {
        let s = try Setup("i19r-\(replacement.rawValue.prefix(4))-\(kind)")
        defer { s.remove() }
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('old-1'), ('old-2');")
        let url = try await kind.url(s)
        let live = try LiveReplicate.start(s, url: url)
        defer { live.process.signal(SIGKILL) }
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('old-3');")
        #expect(try live.syncWait().status == 0)

        // The new database: other rows, built beside it.
        let other = s.path("other.db")
        try TestEnvironment.sqlite3(other, "PRAGMA journal_mode=wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('new-1');")
        switch replacement {
        case .deletedAndCreated:
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: s.db + suffix) }
            try TestEnvironment.sqlite3(s.db, "PRAGMA journal_mode=wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('new-1');")
        case .renamedOver:
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: s.db + suffix) }
            try TestEnvironment.sqlite3(other, "PRAGMA wal_checkpoint(TRUNCATE);")
            #expect(rename(other, s.db) == 0)
        case .restoredOver:
            let side = "file://" + s.path("side-replica")
            let once = try s.run(["replicate", "-once", "-force-snapshot", other, side])
            #expect(once.status == 0, "\(once.stderr)")
            let restored = try s.run(["restore", "-force", "-o", s.db, side])
            #expect(restored.status == 0, "\(restored.stderr)")
        }
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('new-2');")

        // sync -wait reports the new database's state only once the replica holds it.
        let synced = try live.syncWait()
        #expect(synced.status == 0, "\(synced.stderr)")
        let status = try live.status()
        #expect(status.lastEvent?.contains("replaced") == true, "status: \(status)")
        #expect(try live.maxLagStatus("1m") == 0)
        try LiveReplicate.expectRestores(s, url: url, values: "new-1,new-2", "after the replacement")

        // Later commits follow incrementally; a graceful stop leaves a replica both tools restore.
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('new-3');")
        let stopped = try live.stop()
        #expect(stopped.status == 0)
        #expect(stopped.stderr.contains("database file was replaced"), "\(stopped.stderr.suffix(3000))")
        try LiveReplicate.expectRestores(s, url: url, values: "new-1,new-2,new-3", "after the stop")
    }
}
