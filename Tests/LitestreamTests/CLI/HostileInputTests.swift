import Foundation
import Testing

/// Inputs from issue 19 ("found by trying to break it") that hung the process or destroyed a file: each is refused
/// at once, with a message that says what is wrong.
@Suite(.ownThreads) struct HostileInputTests {
    let litestream: String
    let dir: URL

    init() throws {
        litestream = try #require(TestEnvironment.ourBinary()?.path, "build the litestream executable first")
        dir = try TestEnvironment.temporaryDirectory("hostile-input")
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// A file replica holding one transaction.
    func makeReplica() throws -> String {
        let db = path("app.db"), replica = "file://" + path("replica")
        try TestEnvironment.sqlite3(db, "PRAGMA journal_mode=wal; CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        let r = try TestEnvironment.run(litestream, ["replicate", "-once", db, replica])
        try #require(r.status == 0, "replicate -once: \(r.stderr)")
        return replica
    }

    /// #19.10: anchors merged into each other (10^8 merges) are refused in well under the timeout.
    @Test func mergeKeyBombIsRefusedAsExcessiveAliasing() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        var yaml = "l0: &l0 {a: 1}\n"
        for i in 1...8 { yaml += "l\(i): &l\(i) {<<: [\(Array(repeating: "*l\(i - 1)", count: 10).joined(separator: ", "))]}\n" }
        yaml += "<<: *l8\ndbs: []\n"
        try yaml.write(toFile: path("bomb.yml"), atomically: true, encoding: .utf8)
        let start = ContinuousClock.now
        let r = try TestEnvironment.run(litestream, ["databases", "-config", path("bomb.yml")], timeout: .seconds(20))
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("excessive aliasing"), "\(r.stderr)")
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    /// #19.11: `-force -o` onto a FIFO, a character device or a directory is refused before anything is written.
    @Test func restoreRefusesAnOutputThatIsNotARegularFile() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let replica = try makeReplica()
        try #require(mkfifo(path("fifo"), 0o600) == 0)
        try FileManager.default.createDirectory(atPath: path("dir"), withIntermediateDirectories: false)
        // /dev/null itself is never touched: a symlink to it is followed, as the restore would have.
        try FileManager.default.createSymbolicLink(atPath: path("null"), withDestinationPath: "/dev/null")
        for (output, kind) in [("fifo", "a FIFO"), ("dir", "a directory"), ("null", "a character device")] {
            let r = try TestEnvironment.run(litestream, ["restore", "-force", "-o", path(output), replica])
            #expect(r.status == 1, "\(output): \(r.stderr)")
            #expect(r.stderr.contains("cannot restore to \(path(output)): it is \(kind), not a database file"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: path(output) + ".tmp"))
        }
        func type(_ p: String) -> FileAttributeType? { (try? FileManager.default.attributesOfItem(atPath: p))?[.type] as? FileAttributeType }
        #expect(type(path("fifo")) != nil && type(path("fifo")) != .typeRegular)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: path("null")) == "/dev/null")
        #expect(type("/dev/null") == .typeCharacterSpecial)
    }

    /// #19.12: `-f -follow-interval 0` (or 1ns) busy-looped; it is a usage error naming the minimum.
    @Test(arguments: ["0", "1ns", "99ms"]) func followIntervalBelowTheMinimumIsRefused(interval: String) throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try TestEnvironment.run(litestream,
            ["restore", "-f", "-follow-interval", interval, "-o", path("out.db"), "file://" + path("replica")], timeout: .seconds(20))
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("invalid -follow-interval \(interval): want at least 100ms"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path("out.db")))
    }
}

extension HostileInputTests {
    /// #19.14 (part): messages that name the input, the problem and what to do.
    @Test func messagesSayWhatIsWrong() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        var r = try TestEnvironment.run(litestream, ["databases", "-config", dir.path])
        #expect(r.status == 1 && r.stderr.contains("cannot read configuration file \(dir.path): it is a directory; give the path of a YAML file"),
            "\(r.stderr)")
        #expect(!r.stderr.contains("NSCocoaErrorDomain"))
        r = try TestEnvironment.run(litestream, ["databases", "-config", "/dev/zero"], timeout: .seconds(20))
        #expect(r.status == 1 && r.stderr.contains("cannot read configuration file /dev/zero: it is not a regular file"), "\(r.stderr)")
    }

    /// #19.14: an empty replica URL is an error that says so, never the working directory (where `replicate` wrote
    /// a replica and `restore` found "no matching backup files").
    @Test func anEmptyReplicaURLIsRefused() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = path("app.db")
        try TestEnvironment.sqlite3(db, "PRAGMA journal_mode=wal; CREATE TABLE t(x);")
        let empty = "the replica URL is empty; give one such as s3://bucket/path or file:///var/backups/db"
        // In the test's directory: the working directory is where an empty path pointed.
        func runHere(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try TestEnvironment.run("/bin/sh", ["-c", #"cd "$0" && exec "$@""#, dir.path, litestream] + args)
        }
        var r = try runHere(["restore", "-o", path("out.db"), ""])
        #expect(r.status != 0 && r.stderr.contains(empty), "\(r.stderr)")
        r = try runHere(["replicate", "-once", db, ""])
        #expect(r.status != 0 && r.stderr.contains(empty), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path("ltx")), "a replica was written in the working directory")
        r = try runHere(["ltx", ""])
        #expect(r.status != 0 && r.stderr.contains(empty), "\(r.stderr)")
    }

    /// #19.14: `-txid -1` (Go's flag package takes a value that starts with a dash) names the bad value rather than
    /// claiming the value is missing.
    @Test(arguments: [["-txid", "-1"], ["-timestamp", "-5"]])
    func aNegativeValueIsNamed(flag: [String]) throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let replica = try makeReplica()
        let r = try TestEnvironment.run(litestream, ["restore", "-o", path("out.db")] + flag + [replica])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains(flag[1]) && !r.stderr.contains("Missing value"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path("out.db")))
    }

    /// #19.14: a restore that fails its integrity check names the output, says nothing was written there, and
    /// what to try; not a bare "database disk image is malformed".
    @Test func aFailedIntegrityCheckNamesTheOutputAndSaysWhatToDo() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = path("app.db")
        try TestEnvironment.sqlite3(db, "PRAGMA page_size=4096; CREATE TABLE t(x); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
            + "SELECT i + 1 FROM c WHERE i < 2000) INSERT INTO t SELECT randomblob(100) FROM c;")
        // A b-tree page overwritten with garbage: the replica faithfully ships a database SQLite cannot read.
        let file = try #require(FileHandle(forWritingAtPath: db))
        try file.seek(toOffset: 4096 * 2)
        try file.write(contentsOf: Data(repeating: 0xA5, count: 4096))
        try file.close()
        let replica = "file://" + path("replica")
        let shipped = try TestEnvironment.run(litestream, ["replicate", "-once", db, replica])
        try #require(shipped.status == 0, "replicate -once: \(shipped.stderr)")

        let out = path("restored.db")
        let r = try TestEnvironment.run(litestream, ["restore", "-integrity-check", "full", "-o", out, replica])
        #expect(r.status != 0)
        #expect(r.stderr.contains("restore to \(out) at TXID "), "\(r.stderr)")
        #expect(r.stderr.contains("nothing was written to \(out)") && r.stderr.contains("try an earlier point"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
