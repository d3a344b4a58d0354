import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamSFTP
@testable import LitestreamServer

/// Replication to a real OpenSSH server: the engine with compaction and snapshots, restores (latest, by TXID, by
/// timestamp), a server outage in the middle, an idle database, and Litestream 0.5.17 on the other side both ways.
@Suite(.serialized, .ownThreads, .enabled(if: SSHTestServer.enabled, "needs /usr/sbin/sshd (scripts/test.sh installs openssh-server)"))
struct SFTPReplicationTests {
    static func configuration(dbPath: String, replica: SFTPReplicaClient) -> Replicator.Configuration {
        var config = Replicator.Configuration(database: .init(path: dbPath), replica: replica)
        config.minSyncInterval = .milliseconds(50)
        config.monitorInterval = .milliseconds(200)
        config.maintenance.levels = [CompactionLevel(level: 1, interval: .seconds(1)), CompactionLevel(level: 2, interval: .seconds(3))]
        config.maintenance.snapshotInterval = .seconds(4)
        config.maintenance.snapshotRetention = .seconds(60)
        config.maintenance.l0Retention = .seconds(1)
        config.maintenance.l0RetentionCheckInterval = .seconds(1)
        return config
    }

    static func maxTXID(_ replica: SFTPReplicaClient, levels: [Int] = [0, 1, 2]) async throws -> UInt64 {
        var m: UInt64 = 0
        for level in levels { m = max(m, try await replica.ltxFiles(level: level).map(\.maxTXID.rawValue).max() ?? 0) }
        return m
    }

    static func waitForCatchUp(dbPath: String, replica: SFTPReplicaClient, timeout: Duration = .seconds(90)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let local = S3TestServer.localL0(dbPath: dbPath).last ?? 0
            if local > 0, try await maxTXID(replica) >= local { return true }
            try await Task.sleep(for: .milliseconds(250))
        }
        return false
    }

    /// Commits one at a time through the engine, then restores the latest state, at a TXID, and at a time.
    @Test func replicateAndRestoreAtAPointInTime() async throws {
        let server = try SSHTestServer.start("sftp-engine")
        defer { server.stop() }
        let dir = try TestEnvironment.temporaryDirectory("sftp-engine")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        let replica = try server.replica()
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await r.open()
        for i in 1...12 {
            try app.exec("INSERT INTO t (v) VALUES ('row \(i) \(String(repeating: "x", count: i * 300))')")
            try await r.runOnce()
            // SFTP keeps whole seconds: a gap after the 6th commit gives the 7th file a later second.
            if i == 6 { try await Task.sleep(for: .milliseconds(2_100)) }
        }
        #expect(r.replicaPosition == TXID(12))
        let restorer = Restorer(replica: replica)
        let out = dir.appendingPathComponent("restored.db").path
        try await restorer.restore(to: out, plan: try await restorer.plan(), integrityCheck: .full)
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: dbPath))
        let at5 = dir.appendingPathComponent("at5.db").path
        try await restorer.restore(to: at5, plan: try await restorer.plan(txid: TXID(5)))
        #expect(try TestDatabase(path: at5).scalar("SELECT count(*) FROM t") == "5")
        // By time: before the 7th file's modification time, which is the LTX timestamp set over SFTP.
        let seventh = try #require(try await replica.ltxFiles(level: 0).first { $0.maxTXID == TXID(7) })
        let sixth = try #require(try await replica.ltxFiles(level: 0).first { $0.maxTXID == TXID(6) })
        #expect(seventh.createdAt > sixth.createdAt)
        let at6 = dir.appendingPathComponent("at6.db").path
        try await restorer.restore(to: at6, plan: try await restorer.plan(timestamp: seventh.createdAt))
        #expect(try TestDatabase(path: at6).scalar("SELECT count(*) FROM t") == "6")
        try await r.shutdown()
        await replica.close()
    }

    /// A steady writer with compaction and snapshots while sshd is killed (every connection dropped) and started
    /// again: nothing committed is lost, the levels chain without gaps, and both tools restore every row.
    @Test func serverOutageLosesNothing() async throws {
        let server = try SSHTestServer.start("sftp-outage")
        defer { server.stop() }
        let dir = try TestEnvironment.temporaryDirectory("sftp-outage")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        let replica = try server.replica()
        let observer = try server.replica()  // a separate connection, for looking
        let writer = try NumberedRowWriter(path: dbPath, interval: .milliseconds(20))
        let live = LiveReplicator(Self.configuration(dbPath: dbPath, replica: replica))
        var stopped = false
        defer { if !stopped { live.task.cancel() } }

        var uploaded = false
        for _ in 0..<300 where !uploaded {
            try await Task.sleep(for: .milliseconds(200))
            uploaded = try await Self.maxTXID(observer) > 0
        }
        try #require(uploaded, "nothing was uploaded before the outage")
        server.kill()
        try await Task.sleep(for: .seconds(4))  // writes go on, L0 files pile up locally
        try server.up()
        try await Task.sleep(for: .seconds(4))
        let last = await writer.stop()
        #expect(last > 100, "the writer committed only \(last) rows: \(writer.failures.prefix(3))")
        #expect(try await Self.waitForCatchUp(dbPath: dbPath, replica: observer), "the replica did not catch up after the outage")

        stopped = true
        try await live.stop()
        #expect(try await observer.ltxFiles(level: 1).count > 0, "no compaction ran")
        #expect(try await !observer.ltxFiles(level: LTXLevel.snapshot).isEmpty, "no snapshot was written")
        for level in [0, 1, 2] {
            let files = try await observer.ltxFiles(level: level)
            for (a, b) in zip(files, files.dropFirst()) {
                #expect(b.minTXID == a.maxTXID.next, "L\(level) gap or overlap between \(a) and \(b)")
            }
        }
        let ours = dir.appendingPathComponent("restored-ours.db").path
        let restorer = Restorer(replica: observer)
        try await restorer.restore(to: ours, plan: try await restorer.plan(), integrityCheck: .full)
        NumberedRowWriter.expectExactly(last, in: ours, "our restore")

        let official = try TestEnvironment.requireLitestreamBinary()
        let config = dir.appendingPathComponent("litestream.yml").path
        try "dbs:\n  - path: \(dbPath)\n\(server.replicaYAML())\n".write(toFile: config, atomically: true, encoding: .utf8)
        let theirs = dir.appendingPathComponent("restored-litestream.db").path
        let res = try await Integration.offload {
            try TestEnvironment.run(official, ["restore", "-config", config, "-o", theirs, dbPath], timeout: .seconds(120))
        }
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        if res.status == 0 { NumberedRowWriter.expectExactly(last, in: theirs, "litestream 0.5.17's restore") }
        await replica.close()
        await observer.close()
    }

    /// An idle database costs no request: after its commits are uploaded (and the first snapshot written), the
    /// replica's connection stays open and silent: no keep-alive, no polling.
    @Test func idleDatabaseSendsNothing() async throws {
        let server = try SSHTestServer.start("sftp-idle")
        defer { server.stop() }
        let dir = try TestEnvironment.temporaryDirectory("sftp-idle")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        let replica = try server.replica()
        let observer = try server.replica()
        let writer = try NumberedRowWriter(path: dbPath, interval: .milliseconds(50))
        var config = Replicator.Configuration(database: .init(path: dbPath), replica: replica)
        config.minSyncInterval = .milliseconds(50)
        let live = LiveReplicator(config)
        var stopped = false
        defer { if !stopped { live.task.cancel() } }
        try await Task.sleep(for: .seconds(2))
        let last = await writer.stop()
        #expect(last > 5)
        #expect(try await Self.waitForCatchUp(dbPath: dbPath, replica: observer), "the replica did not catch up")
        // Idle: once maintenance has caught up (the scheduled L1 compaction, every 30 s, has taken the last L0 file:
        // waiting for a quiet spell alone let it fall into the window on a loaded machine; then no request for 6 s),
        // nothing at all is sent for 10 s more.
        #expect(try await Integration.waitForL1CatchUp(observer), "L1 compaction never caught up with L0")
        var settled = false
        var seen = await replica.requestsSent
        var quietSince = ContinuousClock.now
        let settleBy = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < settleBy {
            try await Task.sleep(for: .milliseconds(500))
            let n = await replica.requestsSent
            if n != seen {
                seen = n
                quietSince = .now
            } else if ContinuousClock.now - quietSince >= .seconds(6) {
                settled = true
                break
            }
        }
        #expect(settled, "the replica never went quiet: \(seen) requests")
        let before = await replica.requestsSent
        let countsBefore = replica.requestCounts
        try await Task.sleep(for: .seconds(10))
        let after = await replica.requestsSent
        #expect(after == before, "\(after - before) SFTP requests while the database was idle: \(String(describing: countsBefore)) then \(String(describing: replica.requestCounts))")

        stopped = true
        try await live.stop()
        await replica.close()
        await observer.close()
    }

    static func makeSource(_ dir: URL) throws -> String {
        let db = dir.appendingPathComponent("src.db").path
        try sqlite3(db, """
            PRAGMA journal_mode=WAL;
            CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 3000)
            INSERT INTO t (v) SELECT printf('row %d %s', i, hex(randomblob(60))) FROM c;
            """)
        return db
    }

    /// Our CLI replicates (URL form, with a snapshot), Litestream 0.5.17 restores (its config file with its keys).
    @Test func ourReplicateThenLitestreamRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try SSHTestServer.start("sftp-ours")
        defer { server.stop() }
        let dir = try TestEnvironment.temporaryDirectory("sftp-ours-to-official")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Self.makeSource(dir)
        let rep = try await Integration.offload {
            try TestEnvironment.run(ours, ["replicate", "-once", "-force-snapshot", db, server.url()], timeout: .seconds(120))
        }
        #expect(rep.status == 0, "our replicate: \(rep.stderr)")
        #expect(FileManager.default.fileExists(atPath: "\(server.root)/db/ltx/9"), "no snapshot in \(server.root)/db/ltx")
        let config = dir.appendingPathComponent("litestream.yml").path
        try "dbs:\n  - path: \(db)\n\(server.replicaYAML())\n".write(toFile: config, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.db").path
        let res = try await Integration.offload {
            try TestEnvironment.run(official, ["restore", "-config", config, "-o", out, db], timeout: .seconds(120))
        }
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
    }

    /// Litestream 0.5.17 replicates (config file), our CLI restores from the URL, latest and at a TXID.
    @Test func litestreamReplicateThenOurRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try SSHTestServer.start("sftp-theirs")
        defer { server.stop() }
        let dir = try TestEnvironment.temporaryDirectory("sftp-official-to-ours")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Self.makeSource(dir)
        let config = dir.appendingPathComponent("litestream.yml").path
        try "dbs:\n  - path: \(db)\n\(server.replicaYAML())\n".write(toFile: config, atomically: true, encoding: .utf8)
        let child = try TestEnvironment.launch(official, ["replicate", "-config", config])
        let replica = try server.replica()
        let deadline = ContinuousClock.now + .seconds(90)
        while try await replica.ltxFiles(level: 0).isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(300))
        }
        try sqlite3(db, "INSERT INTO t (v) VALUES ('after the first sync');")
        try await Task.sleep(for: .seconds(3))
        child.interrupt()
        let stopped = try await Integration.offload { try child.wait(timeout: .seconds(90)) }
        let files = try await replica.ltxFiles(level: 0)
        #expect(files.count >= 2, "litestream uploaded \(files): \(stopped.stderr)")
        let out = dir.appendingPathComponent("out.db").path
        let res = try await Integration.offload {
            try TestEnvironment.run(ours, ["restore", "-o", out, server.url()], timeout: .seconds(120))
        }
        #expect(res.status == 0, "our restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
        // Its timestamps are modification times too: the newest file's is within a few seconds of now.
        let newest = try #require(files.last)
        #expect(abs(newest.createdAt - Int64(Date().timeIntervalSince1970 * 1000)) < 600_000)
        await replica.close()
    }

    /// Password login (no key): the engine replicates and restores, our CLI replicates from an `sftp://user:pw@`
    /// URL and Litestream 0.5.17 restores from its config file's `password` key; a wrong password is an
    /// authentication error that does not print the password.
    @Test(.enabled(if: SSHTestServer.passwordLoginEnabled, "needs root to make a password account for sshd"))
    func passwordLogin() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try SSHTestServer.start("sftp-password")
        defer { server.stop() }
        let (password, root) = try server.preparePasswordLogin()
        let user = SSHTestServer.passwordUser
        let dir = try TestEnvironment.temporaryDirectory("sftp-password")
        defer { try? FileManager.default.removeItem(at: dir) }

        // The engine, with the password alone.
        var c = SFTPConfiguration(host: "127.0.0.1", port: server.port, user: user, password: password, path: "\(root)/engine")
        c.hostKey = server.hostKey
        let replica = try SFTPReplicaClient(configuration: c)
        let dbPath = dir.appendingPathComponent("app.db").path
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await r.open()
        for i in 1...3 {
            try app.exec("INSERT INTO t (v) VALUES ('row \(i)')")
            try await r.runOnce()
        }
        try await r.shutdown()
        let restored = dir.appendingPathComponent("engine-restored.db").path
        let restorer = Restorer(replica: replica)
        try await restorer.restore(to: restored, plan: try await restorer.plan())
        #expect(try TestDatabase.contentDigest(path: restored) == TestDatabase.contentDigest(path: dbPath))
        await replica.close()
        #expect(server.log.contains("Accepted password for \(user)"), "\(server.log)")

        // Our CLI by URL, then Litestream 0.5.17 by its config file's keys.
        let db = try Self.makeSource(dir)
        let url = "sftp://\(user):\(password)@127.0.0.1:\(server.port)\(root)/cli?known-hosts-path=\(server.knownHostsPath)"
        let rep = try await Integration.offload { try TestEnvironment.run(ours, ["replicate", "-once", db, url], timeout: .seconds(120)) }
        #expect(rep.status == 0, "our replicate: \(rep.stderr)")
        #expect(!rep.stderr.contains(password))
        let config = dir.appendingPathComponent("litestream.yml").path
        try """
            dbs:
              - path: \(db)
                replica:
                  type: sftp
                  host: 127.0.0.1:\(server.port)
                  user: \(user)
                  password: \(password)
                  host-key: "\(server.hostKey)"
                  path: \(root)/cli

            """.write(toFile: config, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("official-restored.db").path
        let res = try await Integration.offload {
            try TestEnvironment.run(official, ["restore", "-config", config, "-o", out, db], timeout: .seconds(120))
        }
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))

        // A wrong password.
        let wrong = "sftp://\(user):not-\(password)@127.0.0.1:\(server.port)\(root)/cli?known-hosts-path=\(server.knownHostsPath)"
        let refused = try await Integration.offload {
            try TestEnvironment.run(ours, ["restore", "-o", dir.appendingPathComponent("x.db").path, wrong], timeout: .seconds(120))
        }
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("authentication failed") && refused.stderr.contains("127.0.0.1:\(server.port)"), "\(refused.stderr)")
        #expect(!refused.stderr.contains(password))
    }

    /// Our CLI's start-up errors name the endpoint: a key the server refuses, a host key that differs.
    @Test func cliStartUpErrors() async throws {
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try SSHTestServer.start("sftp-cli-errors")
        defer { server.stop() }
        let dir = try TestEnvironment.temporaryDirectory("sftp-cli-errors")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Self.makeSource(dir)
        let wrongKey = try await Integration.offload {
            try TestEnvironment.run(ours, ["replicate", "-once", db, server.url(keyPath: server.strangerKeyPath)], timeout: .seconds(120))
        }
        #expect(wrongKey.status != 0)
        #expect(wrongKey.stderr.contains("authentication failed") && wrongKey.stderr.contains("127.0.0.1:\(server.port)"), "\(wrongKey.stderr)")
        let config = dir.appendingPathComponent("litestream.yml").path
        let stranger = try SSHKeyTests.publicKey(server.strangerKeyPath)
        try "dbs:\n  - path: \(db)\n\(server.replicaYAML().replacingOccurrences(of: server.hostKey, with: stranger))\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let mismatch = try await Integration.offload {
            try TestEnvironment.run(ours, ["replicate", "-once", "-config", config], timeout: .seconds(120))
        }
        #expect(mismatch.status != 0)
        #expect(mismatch.stderr.contains("host key mismatch") && mismatch.stderr.contains("127.0.0.1:\(server.port)"), "\(mismatch.stderr)")
        // `litestream config` prints the replica without its secrets.
        try "dbs:\n  - path: \(db)\n    replica:\n      url: sftp://\(server.user):pw-secret-1@127.0.0.1:\(server.port)/x\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let printed = try await Integration.offload { try TestEnvironment.run(ours, ["config", "-config", config]) }
        #expect(printed.status == 0 && !printed.stdout.contains("pw-secret-1") && printed.stdout.contains("sftp://"), "\(printed)")
    }
}
