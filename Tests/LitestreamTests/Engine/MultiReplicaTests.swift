import Foundation
import LTX
import Synchronization
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// Several replicas per database: each has its own position and backoff, a failing one never holds back the
/// others, and every replica restores to the same content once it recovers.
@Suite struct MultiReplicaTests {
    static func restoreDigest(_ replica: any ReplicaClient, dir: URL) async throws -> String {
        let out = dir.appendingPathComponent("restored-\(UUID().uuidString).db").path
        let restorer = Restorer(replica: replica)
        try await restorer.restore(to: out, plan: try await restorer.plan(), integrityCheck: .full)
        return try TestDatabase.contentDigest(path: out)
    }

    /// `litestream_replica_lag_seconds` of one replica, read from the Prometheus text.
    static func metricLag(_ status: ReplicationStatus, replica: String) -> Double? {
        PrometheusText.render([status]).split(separator: "\n")
            .first { $0.hasPrefix("litestream_replica_lag_seconds{") && $0.contains("replica=\"\(replica)\"") }
            .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }

    /// Runs `r` (opened) until `body` returns, then stops it gracefully (final sync and uploads) and rethrows.
    static func whileRunning(_ r: Replicator, _ body: (ReplicationMonitor) async throws -> Void) async throws {
        try await withServices([r]) {
            try await waitFor("the loop to start") { r.monitor.isRunning }
            try await body(r.monitor)
        }
    }

    static func waitFor(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
        guard try await Integration.poll(timeout: timeout, interval: .milliseconds(50), condition) else {
            Issue.record("timed out waiting for \(what)")
            throw CancellationError()
        }
    }

    @Test(.timeLimit(.minutes(3))) func failingReplicaDoesNotHoldBackTheHealthyOne() async throws {
        let f = try EngineTests.Fixture("multi-outage")
        let healthy = FileReplicaClient(path: f.dir.appendingPathComponent("healthy").path)
        let flaky = ProbeReplica(path: f.dir.appendingPathComponent("flaky").path)
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        var config = try Replicator.Configuration(
            database: .init(path: f.dbPath),
            replicas: [.init(name: "healthy", client: healthy), .init(name: "flaky", client: flaky)])
        config.minSyncInterval = .milliseconds(5)
        config.monitorInterval = .milliseconds(100)
        let r = Replicator(configuration: config)
        try await r.open()
        try await Self.whileRunning(r) { monitor in
            try app.exec("INSERT INTO t (v) VALUES ('before')")
            try await Self.waitFor("both replicas current") {
                let s = monitor.status()
                return s.localTXID > .zero && s.replicas.allSatisfy { $0.txid == s.localTXID }
            }

            // Outage of one replica: the other keeps up with every commit, the failing one's lag grows.
            flaky.failing.withLock { $0 = true }
            for i in 1...30 {
                try app.exec("INSERT INTO t (v) VALUES ('during \(i)')")
                try await Task.sleep(for: .milliseconds(10))
            }
            let during = try await monitor.sync(waitForReplicas: false)
            try await Self.waitFor("healthy replica current during the outage") {
                monitor.status().replicas[0].txid >= during
            }
            try await Task.sleep(for: .milliseconds(300))
            let s1 = monitor.status()
            #expect(s1.replicas[0].lagSeconds == 0 && s1.replicas[0].pendingFiles == 0 && s1.replicas[0].lastError == nil)
            #expect(s1.replicas[1].txid < during, "the failing replica is behind")
            #expect(s1.replicas[1].lastError?.contains("test outage") == true)
            #expect(s1.replicas[1].pendingFiles > 0 && s1.replicas[1].lagBytes > 0)
            #expect(s1.replicas[1].lagSeconds > 0)
            try await Task.sleep(for: .milliseconds(500))
            #expect(monitor.status().replicas[1].lagSeconds > s1.replicas[1].lagSeconds, "lag grows during the outage")
            // The Prometheus text says the same.
            #expect((Self.metricLag(monitor.status(), replica: "flaky") ?? 0) > 0)
            // The healthy replica restores to the current state while the other is down.
            #expect(try await Self.restoreDigest(healthy, dir: f.dir) == TestDatabase.contentDigest(path: f.dbPath))

            // Recovery: the failing replica catches up (after its backoff) and both restore the same content.
            flaky.failing.withLock { $0 = false }
            try app.exec("INSERT INTO t (v) VALUES ('after')")
            let last = try await monitor.sync(waitForReplicas: true, timeout: .seconds(60))
            let s2 = monitor.status()
            #expect(s2.replicas.allSatisfy { $0.txid >= last && $0.lagSeconds == 0 && $0.lastError == nil })
            #expect(Self.metricLag(s2, replica: "flaky") == 0, "lag back to zero in the metrics")
        }
        let digest = try TestDatabase.contentDigest(path: f.dbPath)
        #expect(try await Self.restoreDigest(healthy, dir: f.dir) == digest)
        #expect(try await Self.restoreDigest(flaky.inner, dir: f.dir) == digest)
    }

    @Test(.timeLimit(.minutes(2))) func syncWaitReturnsOnlyOnceEveryReplicaHasTheData() async throws {
        let f = try EngineTests.Fixture("multi-syncwait")
        let a = FileReplicaClient(path: f.dir.appendingPathComponent("a").path)
        let b = ProbeReplica(path: f.dir.appendingPathComponent("b").path)
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        // A long monitor interval: only the sync request can make the data move quickly.
        var config = try Replicator.Configuration(database: .init(path: f.dbPath), replicas: [.init(client: a), .init(client: b)])
        config.monitorInterval = .seconds(30)
        let r = Replicator(configuration: config)
        let monitor = r.monitor
        try await r.open()
        try await Self.whileRunning(r) { monitor in
            _ = try await monitor.sync(waitForReplicas: true, timeout: .seconds(30))
            b.failing.withLock { $0 = true }
            try app.exec("INSERT INTO t (v) VALUES ('x')")
            // b is down: the wait times out, naming the replica.
            await #expect(throws: EngineError.self) { try await monitor.sync(waitForReplicas: true, timeout: .milliseconds(500)) }
            b.failing.withLock { $0 = false }
            let txid = try await monitor.sync(waitForReplicas: true, timeout: .seconds(60))
            // When it returns, both replicas hold the commit.
            for client in [a, b.inner] as [any ReplicaClient] {
                #expect(try await client.ltxFiles(level: 0).last?.maxTXID ?? .zero >= txid)
            }
        }
        await #expect(throws: EngineError.self) { try await monitor.sync(timeout: .milliseconds(100)) }
    }

    @Test func replicaAddedLaterGetsAFullDatabaseFile() async throws {
        let f = try EngineTests.Fixture("multi-added")
        let first = FileReplicaClient(path: f.dir.appendingPathComponent("first").path)
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        do {
            let r = Replicator(configuration: .init(database: .init(path: f.dbPath), replica: first))
            try await r.open()
            for i in 1...5 {
                try app.exec("INSERT INTO t (v) VALUES ('\(i)')")
                try await r.runOnce()
            }
            try await r.shutdown()
        }
        // Local L0 files 1...3 are gone (as after L0 retention); a second replica is added.
        let store = LocalLTXStore(metaPath: LocalLTXStore.defaultMetaPath(forDatabase: f.dbPath))
        for file in try store.files() where file.max <= TXID(3) { try store.remove(min: file.min, max: file.max) }
        let second = FileReplicaClient(path: f.dir.appendingPathComponent("second").path)
        let r = Replicator(configuration: try .init(
            database: .init(path: f.dbPath), replicas: [.init(name: "first", client: first), .init(name: "second", client: second)]))
        try await r.open()
        try app.exec("INSERT INTO t (v) VALUES ('6')")
        try await r.runOnce()
        try await r.shutdown()
        let l0 = try await second.ltxFiles(level: 0)
        #expect(l0.first?.minTXID == TXID(1), "the new replica starts with one full-database file from TXID 1")
        let digest = try TestDatabase.contentDigest(path: f.dbPath)
        #expect(try await Self.restoreDigest(first, dir: f.dir) == digest)
        #expect(try await Self.restoreDigest(second, dir: f.dir) == digest)
    }

    /// Local L0 files are written without fsync: after an OS crash one that a replica still needs may hold zeros.
    /// The engine checks such files when it opens and never uploads a damaged one; the replica gets a
    /// full-database file in its place and restores to the database's content.
    @Test func damagedLocalFileIsNeverUploaded() async throws {
        let f = try EngineTests.Fixture("multi-damaged-local")
        let replica = FileReplicaClient(path: f.dir.appendingPathComponent("replica").path)
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        do {
            let r = Replicator(configuration: .init(database: .init(path: f.dbPath), replica: replica))
            try await r.open()
            for i in 1...3 {
                try app.exec("INSERT INTO t (v) VALUES ('uploaded \(i)')")
                try await r.runOnce()
            }
            // Three more local files that never reach the replica (the machine goes down here).
            for i in 1...3 {
                try app.exec("INSERT INTO t (v) VALUES ('local only \(i)')")
                try r.engine.sync(checkpoint: false)
            }
            r.engine.close()
        }
        let store = LocalLTXStore(metaPath: LocalLTXStore.defaultMetaPath(forDatabase: f.dbPath))
        let uploaded = try await replica.ltxFiles(level: 0).last?.maxTXID ?? .zero
        let pending = try store.files().filter { $0.max > uploaded }
        try #require(pending.count == 3)
        // The middle one lost its data blocks: right size, all zeros.
        let damaged = pending[1]
        let path = store.path(min: damaged.min, max: damaged.max)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        try Data(count: size).write(to: URL(fileURLWithPath: path))

        let r = Replicator(configuration: .init(database: .init(path: f.dbPath), replica: replica))
        try await r.open()
        #expect(!FileManager.default.fileExists(atPath: path), "the damaged file is removed at open")
        try app.exec("INSERT INTO t (v) VALUES ('after')")
        try await r.runOnce()
        try await r.shutdown()
        let l0 = try await replica.ltxFiles(level: 0)
        #expect(!l0.contains { $0.minTXID == damaged.min && $0.maxTXID == damaged.max }, "never uploaded as it was")
        #expect(l0.contains { $0.minTXID == damaged.min && $0.maxTXID > damaged.max }, "a full-database file takes its place")
        #expect(try await Self.restoreDigest(replica, dir: f.dir) == TestDatabase.contentDigest(path: f.dbPath))
    }

    /// A replica `sync-interval` batches: a busy database costs one upload per interval, the files written in
    /// between merged into one; the other replica (no interval) gets every file as it is written. Both restore
    /// to the same content, also with litestream 0.5.17.
    @Test(.timeLimit(.minutes(2))) func syncIntervalMergesUploads() async throws {
        let f = try EngineTests.Fixture("multi-interval")
        let eager = FileReplicaClient(path: f.dir.appendingPathComponent("eager").path)
        let batched = FileReplicaClient(path: f.dir.appendingPathComponent("batched").path)
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        var config = try Replicator.Configuration(database: .init(path: f.dbPath), replicas: [
            .init(name: "eager", client: eager), .init(name: "batched", client: batched, syncInterval: .seconds(4)),
        ])
        config.minSyncInterval = .milliseconds(5)
        config.monitorInterval = .milliseconds(100)
        let r = Replicator(configuration: config)
        try await r.open()
        let started = ContinuousClock.now
        try await Self.whileRunning(r) { monitor in
            // One local file per commit (each sync awaited), however slowly a loaded machine runs them: the eager
            // replica gets each, the batched one at most one upload per interval. The first sync comes first:
            // the loop's own first sync could otherwise take the first commit into the snapshot.
            _ = try await monitor.sync(timeout: .seconds(60))
            for i in 1...20 {
                try app.exec("INSERT INTO t (v) VALUES ('\(i)')")
                _ = try await monitor.sync(timeout: .seconds(60))
            }
            _ = try await monitor.sync(waitForReplicas: true, timeout: .seconds(60))
        }
        let eagerFiles = try await eager.ltxFiles(level: 0)
        let batchedFiles = try await batched.ltxFiles(level: 0)
        // The batched replica: the first file at once, then one upload per 4 s, plus those that do not wait for
        // the interval: the first snapshot's (it uploads what is pending before and after it) and the final
        // sync -wait's; the eager one: every file.
        let elapsedIntervals = Int((ContinuousClock.now - started) / .seconds(4)) + 4
        #expect(batchedFiles.count <= elapsedIntervals, "batched uploads: \(batchedFiles.count)")
        #expect(eagerFiles.count >= 21, "eager uploads: \(eagerFiles.count)")
        #expect(batchedFiles.count < eagerFiles.count)
        #expect(batchedFiles.contains { $0.maxTXID > $0.minTXID }, "some uploads merge several TXIDs")
        #expect(batchedFiles.last?.maxTXID == eagerFiles.last?.maxTXID)
        let digest = try TestDatabase.contentDigest(path: f.dbPath)
        #expect(try await Self.restoreDigest(batched, dir: f.dir) == digest)
        #expect(try await Self.restoreDigest(eager, dir: f.dir) == digest)
        if let reference = TestEnvironment.litestreamBinary {
            let out = f.dir.appendingPathComponent("by-litestream.db").path
            let result = try TestEnvironment.run(reference, ["restore", "-o", out, "file://" + f.dir.appendingPathComponent("batched").path])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try TestDatabase.contentDigest(path: out) == digest)
        }
    }
}

extension MultiReplicaTests {
    /// A merged upload that was stored but reported failed (its answer lost) is not followed by a second file over
    /// the same TXIDs: the retry merged what had arrived since, from the same first TXID, and L1 compaction then
    /// refused the overlapping L0 files. The replica's L0 chain stays contiguous and restorable.
    @Test(.timeLimit(.minutes(2))) func aLostAnswerToAMergedUploadLeavesNoOverlap() async throws {
        let f = try EngineTests.Fixture("multi-lost-answer")
        let replica = ProbeReplica(path: f.dir.appendingPathComponent("replica").path)
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        var config = try Replicator.Configuration(database: .init(path: f.dbPath), replicas: [
            .init(name: "batched", client: replica, syncInterval: .milliseconds(300)),
        ])
        config.minSyncInterval = .milliseconds(5)
        let r = Replicator(configuration: config)
        try await r.open()
        try await Self.whileRunning(r) { monitor in
            _ = try await monitor.sync(waitForReplicas: true, timeout: .seconds(60))
            for i in 1...60 {
                if i == 20 || i == 40 { replica.storeThenFail.withLock { $0 = 1 } }
                try app.exec("INSERT INTO t (v) VALUES ('\(i)')")
                _ = try await monitor.sync(timeout: .seconds(60))
                try await Task.sleep(for: .milliseconds(20))
            }
            _ = try await monitor.sync(waitForReplicas: true, timeout: .seconds(60))
        }
        #expect(replica.storeThenFail.withLock { $0 } == 0, "both lost answers happened")
        let l0 = try await replica.ltxFiles(level: 0)
        #expect(l0.contains { $0.maxTXID > $0.minTXID }, "uploads were merged")
        for (a, b) in zip(l0, l0.dropFirst()) {
            #expect(b.minTXID == a.maxTXID.next, "L0 gap or overlap between \(a) and \(b)")
        }
        #expect(try await Self.restoreDigest(replica.inner, dir: f.dir) == TestDatabase.contentDigest(path: f.dbPath))
    }

    @Test func aReplicatorWithoutReplicasIsAnErrorNotACrash() {
        let error = #expect(throws: EngineError.self) {
            try Replicator.Configuration(database: .init(path: "/tmp/none.db"), replicas: [])
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("/tmp/none.db has no replica") == true)
    }
}
