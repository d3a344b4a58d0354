import Foundation
import Testing

/// `replicate -exec CMD`: the command runs once replication has started, replicate exits when it exits, with its
/// status, and the command's last writes are replicated by the final sync.
@Suite(.ownThreads) struct ExecTests {
    @Test func childExitStatusAndFinalSync() throws {
        let litestream = try #require(TestEnvironment.ourBinary()?.path, "build the litestream executable first")
        let dir = try TestEnvironment.temporaryDirectory("exec")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("app.db").path
        let replica = "file://" + dir.appendingPathComponent("replica").path
        try TestEnvironment.sqlite3(db, "PRAGMA journal_mode=wal; CREATE TABLE t (v);")
        // The "application": two commits, the last right before it exits with status 7.
        let app = "sh -c 'sqlite3 \(db) \"INSERT INTO t VALUES (1)\"; sleep 0.2; sqlite3 \(db) \"INSERT INTO t VALUES (2)\"; exit 7'"
        let result = try TestEnvironment.run(litestream, ["replicate", "-exec", app, db, replica], timeout: .seconds(60))
        #expect(result.status == 7, "replicate exits with the child's status; stderr: \(result.stderr)")
        let out = dir.appendingPathComponent("restored.db").path
        let restore = try TestEnvironment.run(litestream, ["restore", "-o", out, replica])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try TestEnvironment.sqlite3(out, "SELECT count(*) FROM t") == "2")
    }

    @Test func signalGoesToTheChild() throws {
        let litestream = try #require(TestEnvironment.ourBinary()?.path, "build the litestream executable first")
        let dir = try TestEnvironment.temporaryDirectory("exec-signal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("app.db").path
        try TestEnvironment.sqlite3(db, "PRAGMA journal_mode=wal; CREATE TABLE t (v);")
        let replicate = try TestEnvironment.launch(
            litestream, ["replicate", "-exec", "sleep 60", db, "file://" + dir.appendingPathComponent("replica").path])
        defer { replicate.signal(SIGKILL) }
        // Wait until the child has started, then interrupt replicate: the child gets SIGINT and replicate exits
        // with the child's status (128 + SIGINT).
        let deadline = ContinuousClock.now + .seconds(30)
        while !replicate.output.stderr.contains("starting child process") && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        Thread.sleep(forTimeInterval: 0.3)
        replicate.signal(SIGINT)
        let result = try replicate.wait(timeout: .seconds(30))
        #expect(result.status == 130, "stderr: \(result.stderr)")
    }

    /// The application starts while hundreds of databases are open. Foundation's `Process.run()` crashed (SIGSEGV)
    /// in a process with more than about 1,300 descriptors open; the child is spawned without it now, and it gets
    /// none of those descriptors (only standard input, output and error).
    @Test func manyDatabasesOpenWhenTheChildStarts() throws {
        let litestream = try #require(TestEnvironment.ourBinary()?.path, "build the litestream executable first")
        let dir = try TestEnvironment.temporaryDirectory("exec-many")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbs = dir.appendingPathComponent("dbs").path
        try FileManager.default.createDirectory(atPath: dbs, withIntermediateDirectories: true)
        // Listed one by one (not `dir:`): the child starts once every listed database is open.
        var yaml = "dbs:\n"
        for i in 0..<250 {
            let db = "\(dbs)/tenant\(i).db"
            try TestEnvironment.sqlite3(db, "PRAGMA journal_mode=wal; CREATE TABLE t (v); INSERT INTO t VALUES (\(i));")
            yaml += "  - path: \(db)\n    replica:\n      url: file://\(dir.path)/replica/\(i)\n"
        }
        // The "application" reports how many descriptors replicate (its parent) and it itself hold, then exits 7.
        let app = "sh -c 'echo parent=$(ls /proc/$PPID/fd | wc -l); echo own=$(ls /proc/self/fd | wc -l); exit 7'"
        let config = dir.appendingPathComponent("litestream.yml").path
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try TestEnvironment.run(
            litestream, ["replicate", "-config", config, "-exec", app], timeout: .seconds(120))
        #expect(result.status == 7, "replicate exits with the child's status; stderr: \(result.stderr.suffix(2000))")
        func count(_ name: String) -> Int? {
            result.stdout.split(separator: "\n").first { $0.hasPrefix("\(name)=") }.flatMap { Int($0.dropFirst(name.count + 1)) }
        }
        let parent = try #require(count("parent"), "stdout: \(result.stdout)")
        let own = try #require(count("own"), "stdout: \(result.stdout)")
        #expect(parent > 1_300, "the databases were open when the child started (the case that crashed)")
        // ls's own listing: 0, 1, 2 and the directory it reads.
        #expect(own <= 4, "the child inherited \(own) descriptors")
    }
}
