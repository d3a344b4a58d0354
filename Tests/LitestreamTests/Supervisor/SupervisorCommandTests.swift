import ArgumentParser
import Foundation
import LitestreamClient
import Logging
import Testing

@testable import LitestreamSupervisor

/// The commands the supervisor runs with its configuration: `prepare` (restore on boot, WAL mode), `verify` (and
/// the VerificationService), and any `litestream` command for the app's command line.
@Suite(.serialized) struct SupervisorCommandTests {
    typealias T = SupervisorTesting

    @Test(.timeLimit(.minutes(3))) func prepareSwitchesToWALThenRestoresAMissingDatabase() async throws {
        let dir = try TestEnvironment.temporaryDirectory("supervisor-prepare")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("app.db").path
        let fresh = dir.appendingPathComponent("fresh.db").path
        // What a Fluent app leaves: a rollback-journal database.
        try sqlite3(db, "PRAGMA journal_mode=delete; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('kept');")
        let c = try T.configuration(databases: [
            .init(path: db, replica: "file://" + dir.appendingPathComponent("replica").path),
            .init(path: fresh, replica: "file://" + dir.appendingPathComponent("replica-fresh").path),
        ])
        let log = T.Log()
        let first = try await ReplicationSupervisor(configuration: c, logger: log.logger).prepareDatabases()
        #expect(first == [
            PreparedDatabase(path: db, action: .exists, switchedToWAL: true),
            PreparedDatabase(path: fresh, action: .noBackup, switchedToWAL: true),
        ])
        #expect(try sqlite3(db, "PRAGMA journal_mode") == "wal")
        #expect(log.contains { $0.level == .notice && $0.message.contains("WAL mode") && $0.metadata["db"] == db })

        // Replicate it, then lose it.
        let supervisor = ReplicationSupervisor(configuration: c)
        try await T.withRunning(supervisor) {
            try await T.waitFor("the replicator to run") { await supervisor.status().state == .running }
            try sqlite3(db, "INSERT INTO t(v) VALUES ('shipped')")
            try await supervisor.sync(db)
        }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        let second = try await ReplicationSupervisor(configuration: c, logger: log.logger).prepareDatabases()
        #expect(second.first == PreparedDatabase(path: db, action: .restored, switchedToWAL: false))
        #expect(try sqlite3(db, "SELECT group_concat(v) FROM t") == "kept,shipped")
        #expect(log.contains { $0.level == .notice && $0.message.contains("restored from its replica") })
        // Switched off: nothing is touched.
        var off = c
        off.isEnabled = false
        #expect(try await ReplicationSupervisor(configuration: off).prepareDatabases().isEmpty)
    }

    @Test(.timeLimit(.minutes(3))) func verifyAndTheVerificationServiceProveTheBackupRestores() async throws {
        let dir = try TestEnvironment.temporaryDirectory("supervisor-verify")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("app.db").path
        try T.makeDatabase(db, rows: 3)
        let c = try T.configuration(databases: [.init(path: db, replica: "file://" + dir.appendingPathComponent("replica").path)])
        let log = T.Log()
        let supervisor = ReplicationSupervisor(configuration: c, logger: log.logger)
        // Not running yet: nothing to verify against.
        guard case .failed(let reason) = await supervisor.verify(db, timeout: .seconds(5)) else {
            Issue.record("verify without a replicator did not fail")
            return
        }
        #expect(reason.contains("no replicator is running"), "\(reason)")

        let service = VerificationService(
            supervisor: supervisor, configuration: .init(interval: .seconds(3600), initialDelay: .zero, timeout: .seconds(20)),
            logger: log.logger)
        try await withServices([supervisor, service]) {
            try await T.waitFor("the replicator to run") { await supervisor.status().state == .running }
            let direct = await supervisor.verify(db, timeout: .seconds(20))
            #expect(direct == .verified, "\(direct)")
            try await T.waitFor("the service's first verification") { service.lastResults[db] != nil }
            #expect(service.lastResults[db]?.result == .verified)
        }
        #expect(log.contains { $0.level == .info && $0.message == "litestream: backup verified" && $0.metadata["db"] == db })
        // The user's table is untouched; the sentinel lives in a table of its own.
        #expect(try sqlite3(db, "SELECT count(*) FROM t") == "3")
        #expect(try sqlite3(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            == "_litestream_verification\nt")
    }

    @Test(.timeLimit(.minutes(3))) func commandsThroughTheAppMatchTheExecutable() async throws {
        let dir = try TestEnvironment.temporaryDirectory("supervisor-commands")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("app.db").path
        let replica = "file://" + dir.appendingPathComponent("replica").path
        try T.makeDatabase(db, rows: 2)
        _ = try TestEnvironment.run(try T.litestream(), ["replicate", "-once", db, replica], timeout: .seconds(60))
        // The same databases in a file of the user's own, for the plain executable.
        let config = dir.appendingPathComponent("litestream.yml").path
        try "dbs:\n  - path: \(db)\n    replica: {url: \"\(replica)\"}\n".write(toFile: config, atomically: true, encoding: .utf8)
        let host = try T.host()
        let litestream = try T.litestream()
        let restoredByApp = dir.appendingPathComponent("by-app.db").path
        let restoredByCLI = dir.appendingPathComponent("by-cli.db").path
        let cases: [(app: [String], cli: [String], status: Int32)] = [
            (["databases"], ["databases", "-config", config], 0),
            (["ltx", db], ["ltx", "-config", config, db], 0),
            (["restore", "-o", restoredByApp, db], ["restore", "-config", config, "-o", restoredByCLI, db], 0),
            (["restore", "-bogus", db], ["restore", "-bogus", db], 64),
            (["status", "-socket", dir.appendingPathComponent("none.sock").path],
             ["status", "-socket", dir.appendingPathComponent("none.sock").path], 1),
        ]
        for (app, cli, status) in cases {
            let throughApp = try await Integration.offload {
                try TestEnvironment.run(host, ["--db", db, "--replica", replica, "--log-level", "error", "--"] + app)
            }
            let direct = try await Integration.offload { try TestEnvironment.run(litestream, cli) }
            #expect(throughApp.status == status && direct.status == status, "\(app): \(throughApp.stderr) vs \(direct.stderr)")
            #expect(!throughApp.stdout.isEmpty || !throughApp.stderr.isEmpty, "\(app) printed something")
            #expect(throughApp.stdout == direct.stdout.replacingOccurrences(of: "by-cli", with: "by-app"), "\(app)")
            #expect(Self.withoutTimes(throughApp.stderr) == Self.withoutTimes(direct.stderr)
                .replacingOccurrences(of: "by-cli", with: "by-app"), "\(app)")
        }
        #expect(try sqlite3(restoredByApp, "SELECT count(*) FROM t") == "2")
    }

    @Test func theSubcommandPassesArgumentsThroughUntouched() throws {
        struct Provider: LitestreamConfigurationProvider {
            static func litestreamConfiguration() throws -> ReplicationSupervisor.Configuration { .init() }
        }
        let arguments = ["restore", "-o", "/tmp/x.db", "-timestamp", "2026-01-01T00:00:00Z", "--", "-weird", "s3://b/db"]
        let parsed = try LitestreamSubcommand<Provider>.parse(arguments)
        #expect(parsed.arguments == arguments)
        #expect(try LitestreamSubcommand<Provider>.parse(["-h"]).arguments == ["-h"])
    }

    /// Log lines without their times and durations, for comparing two runs.
    static func withoutTimes(_ text: String) -> String {
        text.replacing(#/\ ?(time|duration)=("[^"]*"|\S+)/#, with: "")
    }
}
