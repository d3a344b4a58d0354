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
        r = try TestEnvironment.run(litestream, ["restore", "-o", path("out.db"), "gs://bucket/db"])
        #expect(r.status == 1 && r.stderr.contains("use a file:// or s3:// replica"), "\(r.stderr)")
    }
}
