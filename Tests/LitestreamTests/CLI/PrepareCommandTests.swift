import Foundation
import Testing

/// `litestream prepare` with the built binary and file replicas: restore when missing, never over a database that
/// exists, stale `-wal`/`-shm` moved aside, WAL mode.
@Suite(.ownThreads) struct PrepareCommandTests {
    typealias Setup = SupervisorContractTests.Setup

    struct Report: Decodable, Equatable {
        var path: String
        var action: String
        var switchedToWAL: Bool
    }

    static func prepare(_ s: Setup, _ args: [String] = []) throws -> [Report] {
        let r = try s.run(["prepare", "-config", s.config, "-json"] + args)
        try #require(r.status == 0, "prepare: \(r.stderr)")
        return try JSONDecoder().decode([Report].self, from: Data(r.stdout.utf8))
    }

    /// A backup of three rows in the replica (`replicate -once`).
    static func backUp(_ s: Setup) throws {
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('a'), ('b'), ('c')")
        let r = try s.run(["replicate", "-config", s.config, "-once"])
        try #require(r.status == 0, "replicate -once: \(r.stderr)")
    }

    static func files(_ s: Setup) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: s.dir.path).sorted()
    }

    static func inode(_ path: String) -> UInt64? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? NSNumber)?.uint64Value
    }

    /// Leaves at `database`-wal and -shm the side files of another database, whose WAL holds a commit SQLite
    /// would replay onto any database file at that name (a table `t` with the single row 'stale').
    static func writeStaleWAL(_ s: Setup, to database: String) throws {
        let other = s.path("other.db")
        let script = """
            import shutil, sqlite3, sys
            conn = sqlite3.connect(sys.argv[1], isolation_level=None)
            conn.execute("PRAGMA journal_mode=wal")
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            conn.execute("INSERT INTO t (v) VALUES ('stale')")
            shutil.copy(sys.argv[1] + "-wal", sys.argv[2] + "-wal")
            shutil.copy(sys.argv[1] + "-shm", sys.argv[2] + "-shm")
            """
        let r = try TestEnvironment.run("python3", ["-c", script, other, database])
        try #require(r.status == 0, "\(r.stderr)")
    }

    @Test(.timeLimit(.minutes(3))) func missingDatabaseIsRestoredAndStaleWALMovedAside() throws {
        let s = try Setup("prepare-restore")
        defer { s.remove() }
        try s.writeConfig()
        try Self.backUp(s)
        // The database is lost, but a -wal and -shm of another database are left at its name: SQLite would replay
        // that WAL onto the restored file.
        try FileManager.default.removeItem(atPath: s.db)
        try? FileManager.default.removeItem(atPath: s.db + "-wal")
        try? FileManager.default.removeItem(atPath: s.db + "-shm")
        try Self.writeStaleWAL(s, to: s.db)

        let r = try s.run(["prepare", "-config", s.config, "-json"])
        #expect(r.status == 0, "\(r.stderr)")
        let reports = try JSONDecoder().decode([Report].self, from: Data(r.stdout.utf8))
        #expect(reports == [Report(path: s.db, action: "restored", switchedToWAL: false)])
        #expect(r.stderr.contains("moved aside"), "the move is logged: \(r.stderr)")
        let names = try Self.files(s)
        #expect(names.contains { $0.hasPrefix("app.db-wal.stale-") }, "\(names)")
        #expect(names.contains { $0.hasPrefix("app.db-shm.stale-") }, "\(names)")
        #expect(!names.contains { $0.contains(".tmp") }, "no temporary file left: \(names)")
        #expect(try TestEnvironment.sqlite3(s.db, "PRAGMA integrity_check") == "ok")
        #expect(try TestEnvironment.sqlite3(s.db, "SELECT group_concat(v) FROM t") == "a,b,c")
        #expect(try TestEnvironment.sqlite3(s.db, "PRAGMA journal_mode") == "wal")

        // Run again: it exists now; nothing happens.
        #expect(try Self.prepare(s) == [Report(path: s.db, action: "exists", switchedToWAL: false)])
    }

    @Test(.timeLimit(.minutes(3))) func existingDatabaseIsNeverRestoredOver() throws {
        let s = try Setup("prepare-exists")
        defer { s.remove() }
        try s.writeConfig()
        try Self.backUp(s)
        // The live database moved on since the backup (and is held open by nobody): prepare must not touch it.
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('newer'); PRAGMA wal_checkpoint(TRUNCATE);")
        let before = try Data(contentsOf: URL(fileURLWithPath: s.db))
        let inode = Self.inode(s.db)
        #expect(try Self.prepare(s) == [Report(path: s.db, action: "exists", switchedToWAL: false)])
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.db)) == before, "same bytes")
        #expect(Self.inode(s.db) == inode, "same file")
        // The same for restore -if-db-not-exists.
        let restore = try s.run(["restore", "-config", s.config, "-if-db-not-exists", "-if-replica-exists", s.db])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.db)) == before)
        #expect(Self.inode(s.db) == inode)

        // A second instance booting while the first one replicates and writes: the same.
        let replicate = try TestEnvironment.launch(s.litestream, ["replicate", "-config", s.config])
        defer { replicate.signal(SIGKILL) }
        #expect(s.waitFor { replicate.output.stderr.contains("msg=replicating") }, "\(replicate.output.stderr)")
        try TestEnvironment.sqlite3(s.db, ".timeout 5000\nINSERT INTO t (v) VALUES ('live')")
        #expect(try Self.prepare(s) == [Report(path: s.db, action: "exists", switchedToWAL: false)])
        #expect(Self.inode(s.db) == inode)
        #expect(try TestEnvironment.sqlite3(s.db, ".timeout 5000\nSELECT group_concat(v) FROM t") == "a,b,c,newer,live")
        replicate.interrupt()
        #expect(try replicate.wait(timeout: .seconds(60)).status == 0)
    }

    @Test(.timeLimit(.minutes(3))) func noBackupCreatesAnEmptyWALDatabase() throws {
        let s = try Setup("prepare-nobackup", database: false)
        defer { s.remove() }
        try s.writeConfig()
        try Self.writeStaleWAL(s, to: s.db)
        #expect(try Self.prepare(s) == [Report(path: s.db, action: "noBackup", switchedToWAL: true)])
        #expect(try TestEnvironment.sqlite3(s.db, "PRAGMA journal_mode") == "wal")
        #expect(try TestEnvironment.sqlite3(s.db, "SELECT count(*) FROM sqlite_master") == "0")
        #expect(try Self.files(s).contains { $0.hasPrefix("app.db-wal.stale-") })
    }

    @Test(.timeLimit(.minutes(3))) func rollbackJournalDatabaseIsSwitchedToWAL() throws {
        let s = try Setup("prepare-wal", database: false)
        defer { s.remove() }
        try s.writeConfig()
        // What Fluent's SQLite driver leaves: a database in the default rollback-journal mode.
        try TestEnvironment.sqlite3(s.db, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ann');")
        #expect(try TestEnvironment.sqlite3(s.db, "PRAGMA journal_mode") == "delete")
        let inode = Self.inode(s.db)
        let r = try s.run(["prepare", "-config", s.config, "-json", s.db])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try JSONDecoder().decode([Report].self, from: Data(r.stdout.utf8)) == [Report(path: s.db, action: "exists", switchedToWAL: true)])
        #expect(r.stderr.contains("switched to WAL"), "said once in the log: \(r.stderr)")
        #expect(try TestEnvironment.sqlite3(s.db, "PRAGMA journal_mode") == "wal")
        #expect(try TestEnvironment.sqlite3(s.db, "SELECT name FROM users") == "ann")
        #expect(Self.inode(s.db) == inode)
        // Already WAL: not again.
        let again = try s.run(["prepare", "-config", s.config, s.db])
        #expect(again.status == 0 && !again.stderr.contains("switched to WAL"), "\(again.stderr)")
        #expect(again.stdout.contains("\(s.db): exists"), "\(again.stdout)")
    }

    @Test func unknownDatabaseIsAnError() throws {
        let s = try Setup("prepare-unknown")
        defer { s.remove() }
        try s.writeConfig()
        let r = try s.run(["prepare", "-config", s.config, s.path("nope.db")])
        #expect(r.status == 1)
        #expect(r.stderr.contains("nope.db is not a database of the configuration file"), "\(r.stderr)")
    }
}
