import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// The engine's whole life cycle against a real S3 server (moto): compaction, snapshots and retention on short
/// intervals, point-in-time restores, follow mode and multipart uploads, each checked with our restore and with
/// litestream 0.5.17's.
@Suite(.serialized, .enabled(if: S3TestServer.enabled, "needs LITESTREAM_S3_ENDPOINT (scripts/test.sh)"))
struct S3BehaviourTests {
    static func ourBinary() throws -> String {
        try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
    }

    /// Replication with L1/L2 compaction, snapshots every 2 s and short retention: the early snapshot, the early L0
    /// and L1 files are gone from S3 (and the early L0 files from the local state), and the latest restore by both
    /// tools still holds every row.
    @Test func compactionSnapshotsAndRetention() async throws {
        let dir = try TestEnvironment.temporaryDirectory("s3-maintenance")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        let bucket = try await S3TestServer.makeBucket("maint")
        let replica = try S3TestServer.replica(bucket: bucket)
        let writer = try NumberedRowWriter(path: dbPath)
        var config = Replicator.Configuration(database: .init(path: dbPath), replica: replica)
        config.minSyncInterval = .milliseconds(50)
        config.maintenance.levels = [CompactionLevel(level: 1, interval: .seconds(1)), CompactionLevel(level: 2, interval: .seconds(2))]
        config.maintenance.snapshotInterval = .seconds(2)
        config.maintenance.snapshotRetention = .seconds(3)
        config.maintenance.l0Retention = .seconds(1)
        config.maintenance.l0RetentionCheckInterval = .milliseconds(500)
        let started = POSIX.nowMilliseconds()
        let live = LiveReplicator(config)
        var stopped = false
        defer { if !stopped { live.task.cancel() } }

        // The first snapshot is written at once (there is none yet).
        var firstSnapshot: LTXFileInfo?
        for _ in 0..<50 where firstSnapshot == nil {
            try await Task.sleep(for: .milliseconds(100))
            firstSnapshot = try await replica.ltxFiles(level: LTXLevel.snapshot).first
        }
        let first = try #require(firstSnapshot, "no snapshot within 5 s")
        let firstL0 = try #require(try await replica.ltxFiles(level: 0).first)
        // At least 9 s of writes, then until maintenance has visibly done its work: on a loaded machine its rounds
        // come late, so the test waits for the outcome rather than a fixed time.
        try await Task.sleep(for: .seconds(9))
        let settleBy = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < settleBy {
            let l1 = try await replica.ltxFiles(level: 1)
            let l2 = try await replica.ltxFiles(level: 2)
            let l0 = try await replica.ltxFiles(level: 0)
            let l9 = try await replica.ltxFiles(level: LTXLevel.snapshot)
            let done = !l9.contains(first) && (l1.first.map { $0.minTXID > TXID(1) } ?? false) && !l2.isEmpty
                && !l0.contains(firstL0)
            if done { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let last = await writer.stop()
        #expect(try await S3FaultTests.waitForCatchUp(dbPath: dbPath, direct: replica))
        try await Task.sleep(for: .seconds(1))  // one more maintenance round
        stopped = true
        try await live.stop()

        let files = try await replica.allFilesByLevel()
        let snapshots = files[LTXLevel.snapshot] ?? []
        #expect(!snapshots.isEmpty)
        #expect(!snapshots.contains(first), "snapshot retention kept the first snapshot \(first): \(snapshots)")
        #expect(snapshots.allSatisfy { $0.createdAt > started + 2000 }, "old snapshots left: \(snapshots)")
        #expect(!(files[1] ?? []).isEmpty && !(files[2] ?? []).isEmpty, "no L1/L2 compaction: \(files.mapValues(\.count))")
        #expect((files[1] ?? []).first.map { $0.minTXID > TXID(1) } == true, "L1 below the snapshot floor kept: \(files[1]?.prefix(3) ?? [])")
        #expect(!(files[0] ?? []).contains(firstL0), "L0 retention kept the first L0 file \(firstL0)")
        let local = S3TestServer.localL0(dbPath: dbPath)
        #expect(!local.contains(firstL0.maxTXID.rawValue), "the first local L0 file was kept: \(local.prefix(5))")
        // The levels still chain: L2 starts at 1 or a snapshot covers what L2 lost.
        try await S3FaultTests.expectRestoresHold(last, bucket: bucket, dir: dir, restoreVia: replica)
    }

    /// One L0 file per transaction, an L1 compaction of the first half: restores to a TXID and to a moment between
    /// two files (`-timestamp`, judged by the files' litestream-timestamp metadata) give the same prefix with both
    /// tools.
    @Test func pointInTimeRestoreByBothTools() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try Self.ourBinary()
        let dir = try TestEnvironment.temporaryDirectory("s3-pitr")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        let bucket = try await S3TestServer.makeBucket("pitr")
        let replica = try S3TestServer.replica(bucket: bucket)
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await r.open()
        try await r.runOnce()  // TXID 1: the table
        for i in 1...24 {
            try app.exec("INSERT INTO t (id, v) VALUES (\(i), 'row \(i) x')")
            try await r.runOnce()
            try await Task.sleep(for: .milliseconds(40))  // distinct timestamps, ms apart
            if i == 12 { _ = try await Compactor(client: replica, levels: CompactionLevel.defaults).compact(level: 1) }
        }
        // litestream 0.5.17 only accepts a -timestamp up to the newest file's LastModified as listed, which S3
        // gives in whole seconds: one more file, well over a second later, keeps the targets below inside.
        try await Task.sleep(for: .milliseconds(1500))
        try app.exec("INSERT INTO t (id, v) VALUES (25, 'row 25 x')")
        try await r.runOnce()
        try await r.shutdown()
        #expect(try await S3TestServer.maxTXID(replica) == 26)
        #expect(try await S3TestServer.maxTXID(replica, level: 1) == 13)
        let url = try S3TestServer.url(bucket: bucket)

        func restoreBoth(_ label: String, _ flags: [String], rows: Int) async throws {
            for (name, exe) in [("ours", ours), ("litestream", official)] {
                let out = dir.appendingPathComponent("\(label)-\(name).db").path
                let res = try await S3TestServer.runTool(exe, ["restore", "-o", out] + flags + [url])
                #expect(res.status == 0, "\(name) restore \(flags): \(res.stderr)")
                if res.status == 0 { NumberedRowWriter.expectExactly(rows, in: out, "\(name) restore \(flags)") }
            }
        }
        // TXID k holds row k - 1. Inside the compacted range, at its end, and past it.
        for txid in [5, 13, 20] {
            try await restoreBoth("txid\(txid)", ["-txid", String(repeating: "0", count: 16 - String(txid, radix: 16).count) + String(txid, radix: 16)], rows: txid - 1)
        }
        // Timestamps halfway between two L0 files' metadata timestamps.
        var exact = replica
        exact.timestampsFromMetadata = true
        let l0 = try await exact.ltxFiles(level: 0)
        for txid in [17, 22] {
            let a = try #require(l0.first { $0.maxTXID == TXID(UInt64(txid)) })
            let b = try #require(l0.first { $0.maxTXID == TXID(UInt64(txid + 1)) })
            #expect(b.createdAt - a.createdAt >= 20, "timestamps too close: \(a) \(b)")
            let mid = Date(timeIntervalSince1970: Double(a.createdAt + (b.createdAt - a.createdAt) / 2) / 1000)
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            try await restoreBoth("ts\(txid)", ["-timestamp", f.string(from: mid)], rows: txid - 1)
        }
    }

    /// `restore -f` by both tools at once follows a replica on S3 while the engine replicates a writer to it; both
    /// copies end with every row.
    @Test func followOverS3() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try Self.ourBinary()
        let dir = try TestEnvironment.temporaryDirectory("s3-follow")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        let bucket = try await S3TestServer.makeBucket("follow")
        let replica = try S3TestServer.replica(bucket: bucket)
        let writer = try NumberedRowWriter(path: dbPath, interval: .milliseconds(20))
        var config = Replicator.Configuration(database: .init(path: dbPath), replica: replica)
        config.maintenance.levels = [CompactionLevel(level: 1, interval: .seconds(2))]
        let live = LiveReplicator(config)
        var stopped = false
        defer { if !stopped { live.task.cancel() } }
        var uploaded = false
        for _ in 0..<100 where !uploaded {
            try await Task.sleep(for: .milliseconds(200))
            uploaded = try await S3TestServer.maxTXID(replica) > 0
        }
        try #require(uploaded)

        let url = try S3TestServer.url(bucket: bucket)
        var followers: [(String, String, TestEnvironment.BackgroundProcess)] = []
        defer { for (_, _, p) in followers where p.isRunning { p.signal(SIGKILL) } }
        for (name, exe) in [("ours", ours), ("litestream", official)] {
            let out = dir.appendingPathComponent("follow-\(name).db").path
            followers.append((name, out, try S3TestServer.launchTool(exe, ["restore", "-f", "-o", out, url])))
        }
        try await Task.sleep(for: .seconds(5))
        let last = await writer.stop()
        #expect(try await S3FaultTests.waitForCatchUp(dbPath: dbPath, direct: replica))
        stopped = true
        try await live.stop()

        for (name, out, process) in followers {
            var seen: [Int] = []
            for _ in 0..<60 {
                seen = (try? NumberedRowWriter.summary(out)) ?? []
                if seen.first == last { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(process.isRunning, "\(name) restore -f exited: \(process.output)")
            #expect(seen == [last, 1, last, last], "\(name) follower: \(seen), want rows 1...\(last); \(process.output.stderr.suffix(2000))")
            process.interrupt()
            _ = try await Integration.offload { try process.wait(timeout: .seconds(20)) }
            NumberedRowWriter.expectExactly(last, in: out, "\(name) follower")
        }
    }

    /// A database of ~14 MiB with 5 MiB parts: the first L0 file and the snapshot go up as multipart uploads, and
    /// both tools restore byte-identical databases with the source's content.
    @Test func multipartSnapshot() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let dir = try TestEnvironment.temporaryDirectory("s3-multipart")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        try sqlite3(dbPath, """
            PRAGMA journal_mode=WAL;
            CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 3500)
            INSERT INTO t (v) SELECT randomblob(4000) FROM c;
            """)
        let bucket = try await S3TestServer.makeBucket("multipart")
        let proxy = try await FaultProxy.start(upstream: try S3TestServer.endpoint())
        defer { Task { await proxy.stop() } }
        var s3 = try S3TestServer.configuration(bucket: bucket, endpoint: proxy.endpoint)
        s3.partSize = 5 * 1024 * 1024
        let replica = try S3ReplicaClient(configuration: s3, environment: S3TestServer.environment)
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await r.open()
        try await r.runOnce(forceSnapshot: true)
        try await r.shutdown()
        let snapshot = try #require(try await replica.ltxFiles(level: LTXLevel.snapshot).first)
        #expect(snapshot.size > 12 << 20, "snapshot of \(snapshot.size) bytes")
        // CreateMultipartUpload and CompleteMultipartUpload are POSTs: two per multipart upload (L0 and snapshot).
        #expect(proxy.requestCounts["POST", default: 0] >= 4, "\(proxy.requestCounts)")
        #expect(proxy.requestCounts["PUT", default: 0] >= 6, "\(proxy.requestCounts)")

        let ours = dir.appendingPathComponent("ours.db").path
        let restorer = Restorer(replica: replica)
        try await restorer.restore(to: ours, plan: try await restorer.plan(), integrityCheck: .full)
        let theirs = dir.appendingPathComponent("theirs.db").path
        let res = try await S3TestServer.runTool(official, ["restore", "-o", theirs, try S3TestServer.url(bucket: bucket)])
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        let a = FileManager.default.contents(atPath: ours)
        let b = FileManager.default.contents(atPath: theirs)
        #expect(a != nil && a == b, "the two restores differ: \(a?.count ?? -1) vs \(b?.count ?? -1) bytes")
        #expect(try TestDatabase.contentDigest(path: ours) == TestDatabase.contentDigest(path: dbPath))
    }
}
