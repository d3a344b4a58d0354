import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamNATS
@testable import LitestreamServer

/// Replication to a real nats-server with JetStream: the engine with compaction and snapshots, restores (latest,
/// by TXID, by timestamp), a server outage in the middle, an idle database, Litestream 0.5.17 on the other side
/// both ways, and the CLI's start-up errors.
@Suite(.serialized, .ownThreads, .enabled(if: NATSTestServer.enabled, "needs nats-server (scripts/test.sh installs it)"))
struct NATSReplicationTests {
    static func configuration(dbPath: String, replica: NATSReplicaClient) -> Replicator.Configuration {
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

    static func maxTXID(_ replica: NATSReplicaClient, levels: [Int] = [0, 1, 2]) async throws -> UInt64 {
        var m: UInt64 = 0
        for level in levels { m = max(m, try await replica.ltxFiles(level: level).map(\.maxTXID.rawValue).max() ?? 0) }
        return m
    }

    static func waitForCatchUp(dbPath: String, replica: NATSReplicaClient, timeout: Duration = .seconds(90)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let local = S3TestServer.localL0(dbPath: dbPath).last ?? 0
            if local > 0, try await maxTXID(replica) >= local { return true }
            try await Task.sleep(for: .milliseconds(250))
        }
        return false
    }

    /// Commits one at a time through the engine, then restores the latest state, at a TXID, and at a time (the
    /// `Litestream-Timestamp` header, to the millisecond).
    @Test func replicateAndRestoreAtAPointInTime() async throws {
        let server = try NATSTestServer.start("nats-engine")
        defer { server.stop() }
        try await server.createBucket("engine")
        let dir = try TestEnvironment.temporaryDirectory("nats-engine")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        let replica = try server.replica(bucket: "engine")
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await r.open()
        for i in 1...12 {
            try app.exec("INSERT INTO t (v) VALUES ('row \(i) \(String(repeating: "x", count: i * 300))')")
            try await r.runOnce()
            if i == 6 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(r.replicaPosition == TXID(12))
        let restorer = Restorer(replica: replica)
        let out = dir.appendingPathComponent("restored.db").path
        try await restorer.restore(to: out, plan: try await restorer.plan(), integrityCheck: .full)
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: dbPath))
        let at5 = dir.appendingPathComponent("at5.db").path
        try await restorer.restore(to: at5, plan: try await restorer.plan(txid: TXID(5)))
        #expect(try TestDatabase(path: at5).scalar("SELECT count(*) FROM t") == "5")
        let seventh = try #require(try await replica.ltxFiles(level: 0).first { $0.maxTXID == TXID(7) })
        let sixth = try #require(try await replica.ltxFiles(level: 0).first { $0.maxTXID == TXID(6) })
        #expect(seventh.createdAt > sixth.createdAt)
        let at6 = dir.appendingPathComponent("at6.db").path
        try await restorer.restore(to: at6, plan: try await restorer.plan(timestamp: seventh.createdAt))
        #expect(try TestDatabase(path: at6).scalar("SELECT count(*) FROM t") == "6")
        try await r.shutdown()
        await replica.close()
    }

    /// A steady writer with compaction and snapshots while nats-server is killed and started again on the same
    /// store: nothing committed is lost, the levels chain without gaps, and both tools restore every row.
    @Test func serverOutageLosesNothing() async throws {
        let server = try NATSTestServer.start("nats-outage")
        defer { server.stop() }
        try await server.createBucket("outage")
        let dir = try TestEnvironment.temporaryDirectory("nats-outage")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        let replica = try server.replica(bucket: "outage")
        let observer = try server.replica(bucket: "outage")  // a separate connection, for looking
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
        let theirs = dir.appendingPathComponent("restored-litestream.db").path
        let res = try await Integration.offload {
            try TestEnvironment.run(official, ["restore", "-o", theirs, server.url(bucket: "outage")], timeout: .seconds(120))
        }
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        if res.status == 0 { NumberedRowWriter.expectExactly(last, in: theirs, "litestream 0.5.17's restore") }
        await replica.close()
        await observer.close()
    }

    /// An idle database costs no request: once its commits are uploaded and maintenance has caught up, the
    /// replica's connection stays open and nothing is published or subscribed.
    @Test func idleDatabaseSendsNothing() async throws {
        let server = try NATSTestServer.start("nats-idle")
        defer { server.stop() }
        try await server.createBucket("idle")
        let dir = try TestEnvironment.temporaryDirectory("nats-idle")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        let replica = try server.replica(bucket: "idle")
        let observer = try server.replica(bucket: "idle")
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
        #expect(settled, "the replica never went quiet: \(seen) operations")
        let before = await replica.requestsSent
        let countsBefore = replica.requestCounts
        try await Task.sleep(for: .seconds(10))
        let after = await replica.requestsSent
        #expect(after == before, "\(after - before) NATS operations while the database was idle: \(String(describing: countsBefore)) then \(String(describing: replica.requestCounts))")

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

    /// Our CLI replicates (URL form, with a snapshot), Litestream 0.5.17 restores (its config file with its keys,
    /// user and password given as `username`/`password`).
    @Test func ourReplicateThenLitestreamRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try NATSTestServer.start("nats-ours", auth: .userPassword("ls", "pw-secret-7"))
        defer { server.stop() }
        try await server.createBucket("ours")
        let dir = try TestEnvironment.temporaryDirectory("nats-ours-to-official")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Self.makeSource(dir)
        let rep = try await Integration.offload {
            try TestEnvironment.run(ours, ["replicate", "-once", "-force-snapshot", db, server.url(bucket: "ours")], timeout: .seconds(120))
        }
        #expect(rep.status == 0, "our replicate: \(rep.stderr)")
        #expect(!rep.stderr.contains("pw-secret-7"))
        #expect(try await !server.replica(bucket: "ours").ltxFiles(level: 9).isEmpty, "no snapshot")
        let config = dir.appendingPathComponent("litestream.yml").path
        try "dbs:\n  - path: \(db)\n\(server.replicaYAML(bucket: "ours"))\n".write(toFile: config, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.db").path
        let res = try await Integration.offload {
            try TestEnvironment.run(official, ["restore", "-config", config, "-o", out, db], timeout: .seconds(120))
        }
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
        // The same file read by our CLI: `litestream config` shows no password.
        let printed = try await Integration.offload { try TestEnvironment.run(ours, ["config", "-config", config]) }
        #expect(printed.status == 0 && !printed.stdout.contains("pw-secret-7") && printed.stdout.contains("password: \"<redacted>\""), "\(printed)")
    }

    /// Litestream 0.5.17 replicates (by URL), our CLI restores from the URL, latest and at a TXID; its timestamps
    /// come from its `Litestream-Timestamp` headers.
    @Test func litestreamReplicateThenOurRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try NATSTestServer.start("nats-theirs")
        defer { server.stop() }
        try await server.createBucket("theirs")
        let dir = try TestEnvironment.temporaryDirectory("nats-official-to-ours")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Self.makeSource(dir)
        let url = server.url(bucket: "theirs")
        let replica = try server.replica(bucket: "theirs")
        let (first, stopped) = try await TestEnvironment.officialReplicateUntilOneMore(
            official, ["replicate", db, url], db: db, stopTimeout: .seconds(90)) { try await replica.ltxFiles(level: 0).count }
        let files = try await replica.ltxFiles(level: 0)
        #expect(files.count > first, "litestream uploaded too little: \(stopped.stderr)")
        let out = dir.appendingPathComponent("out.db").path
        let res = try await Integration.offload {
            try TestEnvironment.run(ours, ["restore", "-o", out, url], timeout: .seconds(120))
        }
        #expect(res.status == 0, "our restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
        #expect(try TestDatabase(path: out).scalar("SELECT v FROM t ORDER BY id DESC LIMIT 1") == "one more")
        let newest = try #require(files.last)
        #expect(abs(newest.createdAt - Int64(Date().timeIntervalSince1970 * 1000)) < 600_000)
        await replica.close()
    }

    /// Our CLI's start-up errors name the server and the cause, without secrets: a bad password, a missing
    /// bucket, an unreachable server. Litestream 0.5.17 refuses a missing bucket too (it never creates one).
    @Test func cliStartUpErrors() async throws {
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try NATSTestServer.start("nats-cli-errors", auth: .userPassword("ls", "pw-secret-9"))
        defer { server.stop() }
        try await server.createBucket("there")
        let dir = try TestEnvironment.temporaryDirectory("nats-cli-errors")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Self.makeSource(dir)
        let endpoint = "nats://127.0.0.1:\(server.port)"
        let wrong = try await Integration.offload {
            try TestEnvironment.run(ours, ["replicate", "-once", db, "nats://ls:WRONG-pw-1@127.0.0.1:\(server.port)/there"], timeout: .seconds(120))
        }
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("refused user ls") && wrong.stderr.contains(endpoint) && !wrong.stderr.contains("WRONG-pw-1"), "\(wrong.stderr)")
        let missing = try await Integration.offload {
            try TestEnvironment.run(ours, ["replicate", "-once", db, "nats://ls:pw-secret-9@127.0.0.1:\(server.port)/nosuch"], timeout: .seconds(120))
        }
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("nosuch") && missing.stderr.contains("does not exist") && missing.stderr.contains(endpoint) && !missing.stderr.contains("pw-secret-9"), "\(missing.stderr)")
        let port = try TestEnvironment.freeLoopbackPort()
        let config = dir.appendingPathComponent("litestream.yml").path
        try "dbs:\n  - path: \(db)\n    replica:\n      url: nats://127.0.0.1:\(port)/there\n      token: tok-secret-3\n      max-reconnects: 0\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let unreachable = try await Integration.offload {
            try TestEnvironment.run(ours, ["replicate", "-once", "-config", config], timeout: .seconds(120))
        }
        #expect(unreachable.status != 0)
        #expect(unreachable.stderr.contains("nats://127.0.0.1:\(port)") && unreachable.stderr.contains("connection refused")
            && !unreachable.stderr.contains("tok-secret-3"), "\(unreachable.stderr)")
        let printed = try await Integration.offload { try TestEnvironment.run(ours, ["config", "-config", config]) }
        #expect(printed.status == 0 && !printed.stdout.contains("tok-secret-3") && printed.stdout.contains("token: \"<redacted>\""), "\(printed)")
        // What Litestream 0.5.17 does with a missing bucket: it fails too (no bucket is created). Its restore ignores
        // a URL's user info (Authorization Violation), so the credentials go in its configuration file.
        let official = try TestEnvironment.requireLitestreamBinary()
        try "dbs:\n  - path: \(db)\n\(server.replicaYAML(bucket: "nosuch"))\n".write(toFile: config, atomically: true, encoding: .utf8)
        let theirs = try await Integration.offload {
            try TestEnvironment.run(official, ["restore", "-config", config, "-o", dir.appendingPathComponent("x.db").path, db],
                timeout: .seconds(60))
        }
        #expect(theirs.status != 0 && theirs.stderr.contains("bucket must be created beforehand"), "\(theirs.stderr)")
    }

    /// One configuration file with a `creds` key (a JWT login in operator mode), read by both tools: ours
    /// replicates, Litestream 0.5.17 restores.
    @Test func sameCredsConfigurationBothTools() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try NATSTestServer.start("nats-creds", auth: .operatorJWT(try NATSOperatorSetup()))
        defer { server.stop() }
        try await server.createBucket("creds")
        let dir = try TestEnvironment.temporaryDirectory("nats-creds")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Self.makeSource(dir)
        let config = dir.appendingPathComponent("litestream.yml").path
        try "dbs:\n  - path: \(db)\n\(server.replicaYAML(bucket: "creds"))\n".write(toFile: config, atomically: true, encoding: .utf8)
        let rep = try await Integration.offload {
            try TestEnvironment.run(ours, ["replicate", "-once", "-config", config], timeout: .seconds(120))
        }
        #expect(rep.status == 0, "our replicate: \(rep.stderr)")
        let out = dir.appendingPathComponent("out.db").path
        let res = try await Integration.offload {
            try TestEnvironment.run(official, ["restore", "-config", config, "-o", out, db], timeout: .seconds(120))
        }
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
    }
}
