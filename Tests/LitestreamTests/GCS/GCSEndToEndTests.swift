import Foundation
import LTX
import LitestreamHTTP
import Testing

@testable import LitestreamClient
@testable import LitestreamCore
@testable import LitestreamGCS

/// The engine against a real GCS emulator (gcp-storage-emulator on loopback): replication with compaction and
/// snapshots, restores (latest, by TXID, by timestamp), a resumable upload, an outage of the emulator, no requests
/// while idle, and the start-up errors.
@Suite(.ownThreads, .enabled(if: GCSTestServer.enabled, "needs gcp-storage-emulator in .venv (scripts/test.sh)"))
struct GCSEndToEndTests {
    static func client(
        _ server: GCSTestServer, path: String, bucket: String? = nil, attempts: Int = 10, chunkSize: Int? = nil
    ) throws -> GCSReplicaClient {
        var c = try GCSConfiguration.parse(url: "gs://\(bucket ?? server.bucket)/\(path)")
        c.maxAttempts = attempts
        if let chunkSize { c.chunkSize = chunkSize }
        var client = try GCSReplicaClient(configuration: c, environment: server.environment)
        client.client.backoff = .init(baseDelay: .milliseconds(5), maxDelay: .milliseconds(50))
        return client
    }

    /// Object names in the emulator's bucket under `prefix`, through the JSON API.
    static func names(_ client: GCSReplicaClient, under prefix: String) async throws -> [String] {
        try await client.list(prefix: prefix).map(\.name).sorted()
    }

    @Test func replicateCompactSnapshotAndRestore() async throws {
        let server = try GCSTestServer()
        let dir = try TestEnvironment.temporaryDirectory("gcs-engine")
        let dbPath = dir.appendingPathComponent("app.db").path
        let replica = try Self.client(server, path: "backups/app")
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await r.open()
        for i in 1...6 {
            try app.exec("INSERT INTO t (v) VALUES ('row \(i) \(String(repeating: "x", count: i * 300))')")
            try await r.runOnce()
            try await Task.sleep(for: .milliseconds(5))  // a distinct LTX timestamp per file
        }
        _ = try #require(try await Compactor(client: replica).compact(level: 1))
        try await r.snapshot()
        for i in 7...12 {
            try app.exec("INSERT INTO t (v) VALUES ('row \(i) \(String(repeating: "y", count: i * 300))')")
            try await r.runOnce()
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(r.replicaPosition == TXID(12))

        // Litestream's layout: <path>/ltx/<level>/<min>-<max>.ltx, with the LTX timestamp in the metadata.
        let stored = try await Self.names(replica, under: "backups/app/")
        #expect(stored.contains("backups/app/ltx/1/0000000000000001-0000000000000006.ltx"), "\(stored)")
        #expect(stored.contains("backups/app/ltx/9/0000000000000001-0000000000000006.ltx"), "\(stored)")
        #expect(stored.contains("backups/app/ltx/0/000000000000000c-000000000000000c.ltx"), "\(stored)")
        let l0 = try await replica.ltxFiles(level: 0)
        #expect(l0.map(\.maxTXID) == (1...12).map { TXID(UInt64($0)) })
        let item = try #require(try await replica.list(prefix: "backups/app/ltx/0/").first)
        let stamp = try #require(item.metadata?["litestream-timestamp"])
        #expect(RFC3339Timestamp.parse(stamp) == l0[0].createdAt && stamp.hasSuffix("Z"), "\(stamp)")
        // The listing's createdAt is the LTX header's timestamp (milliseconds), not the upload time.
        let first = try await replica.openLTXFile(l0[0])
        var decoder = first.decoder()
        #expect(try decoder.readHeader().timestamp == l0[0].createdAt)

        let restorer = Restorer(replica: replica)
        let out = dir.appendingPathComponent("restored.db").path
        try await restorer.restore(to: out, plan: try await restorer.plan(), integrityCheck: .full)
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: dbPath))
        let at9 = dir.appendingPathComponent("at9.db").path
        try await restorer.restore(to: at9, plan: try await restorer.plan(txid: TXID(9)))
        #expect(try TestDatabase(path: at9).scalar("SELECT count(*) FROM t") == "9")
        // By timestamp: strictly before the 7th file's.
        let seventh = try #require(l0.first { $0.maxTXID == TXID(7) })
        let before = dir.appendingPathComponent("before.db").path
        try await restorer.restore(to: before, plan: try await restorer.plan(timestamp: seventh.createdAt))
        #expect(try TestDatabase(path: before).scalar("SELECT count(*) FROM t") == "6")
        try await r.shutdown()

        try await replica.deleteLTXFiles(Array(l0.prefix(3)))
        #expect(try await replica.ltxFiles(level: 0).count == 9)
        try await replica.deleteAll()
        #expect(try await Self.names(replica, under: "backups/app/").isEmpty)
    }

    /// A file larger than a chunk goes as a resumable upload (here 256 KiB chunks), one smaller in one multipart
    /// request; both come back whole.
    @Test func resumableAndMultipartUploads() async throws {
        let server = try GCSTestServer()
        let replica = try Self.client(server, path: "big", chunkSize: 256 << 10)
        var rng = SplitMix64(seed: 9)
        let chunk = (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let written = try await replica.writeLTXFile(level: 9, minTXID: TXID(1), maxTXID: TXID(2), timestamp: 1_795_752_773_217) { sink in
            for _ in 0..<3 { try chunk.withUnsafeBytes { try sink($0) } }
            try chunk.prefix(1000).withUnsafeBytes { try sink($0) }
        }
        #expect(written.size == 3 << 20 + 1000)
        // A session start and 13 chunks (12 whole and a last one of 1000 bytes); counts are per attempt, so a retry
        // on a loaded machine adds one.
        let resumable = try #require(replica.requestCounts?.put)
        #expect(resumable >= 14, "\(replica.requestCounts!)")
        try await replica.writeLTXFile(level: 9, minTXID: TXID(1), maxTXID: TXID(3), timestamp: 1_795_752_773_000) { sink in
            try chunk.prefix(5000).withUnsafeBytes { try sink($0) }
        }
        let multipart = try #require(replica.requestCounts?.put) - resumable
        #expect(multipart >= 1 && multipart < 4, "one request for a small file: \(multipart)")
        let listed = try await replica.ltxFiles(level: 9)
        #expect(listed.map(\.size) == [3 << 20 + 1000, 5000])
        #expect(listed.map(\.createdAt) == [1_795_752_773_217, 1_795_752_773_000])
        let reader = try await replica.openLTXFile(listed[0])
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var read: [UInt8] = []
        while true {
            let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            read += buffer.prefix(n)
        }
        #expect(read == chunk + chunk + chunk + Array(chunk.prefix(1000)))
    }

    /// The emulator goes away in the middle (stopped, not paused), writes go on, and it comes back on the same
    /// port and data: the next upload sends everything, and the replica restores to the last row.
    @Test func emulatorOutageLosesNothing() async throws {
        let server = try GCSTestServer()
        let dir = try TestEnvironment.temporaryDirectory("gcs-outage")
        let dbPath = dir.appendingPathComponent("app.db").path
        let replica = try Self.client(server, path: "db", attempts: 2)
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await r.open()
        // A sync that must succeed is tried again as the engine's loop would (two attempts per request).
        func sync() async throws {
            for attempt in 1... {
                do { return try await r.runOnce() } catch where attempt < 5 {
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
        }
        for i in 1...3 {
            try app.exec("INSERT INTO t (v) VALUES ('before \(i)')")
            try await sync()
        }
        let reached = r.replicaPosition
        server.stop()
        for i in 1...5 {
            try app.exec("INSERT INTO t (v) VALUES ('during \(i) \(String(repeating: "z", count: 2000))')")
            await #expect(throws: (any Error).self) { try await r.runOnce() }
        }
        #expect(r.replicaPosition == reached)
        try server.start()
        try app.exec("INSERT INTO t (v) VALUES ('after')")
        try await sync()
        #expect(r.replicaPosition > reached)
        try await r.shutdown()

        let out = dir.appendingPathComponent("restored.db").path
        let restorer = Restorer(replica: replica)
        try await restorer.restore(to: out, plan: try await restorer.plan(), integrityCheck: .full)
        #expect(try TestDatabase(path: out).scalar("SELECT count(*) FROM t") == "9")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: dbPath))
    }

    @Test func missingBucketIsReportedAtStartUp() async throws {
        let server = try GCSTestServer()
        let replica = try Self.client(server, path: "db", bucket: "no-such-bucket")
        let error = try await #require(throws: GCSError.self) { try await replica.checkAccess() }
        #expect(error.code == .bucketNotFound, "\(error)")
        #expect(error.description.contains("no-such-bucket") && error.description.contains(server.url), "\(error)")
        try await Self.client(server, path: "db").checkAccess()
    }

    @Test func unreachableEndpointIsReportedAtStartUp() async throws {
        let port = try TestEnvironment.freeLoopbackPort()
        var c = try GCSConfiguration.parse(url: "gs://bkt/db")
        c.maxAttempts = 2
        let replica = try GCSReplicaClient(configuration: c, environment: ["STORAGE_EMULATOR_HOST": "127.0.0.1:\(port)"])
        let error = try await #require(throws: GCSError.self) { try await replica.checkAccess() }
        #expect(error.code == .connectionFailed)
        #expect(error.description.contains("http://127.0.0.1:\(port)") && error.description.contains("refused"), "\(error)")
    }

    @Test func unreadableCredentialsFileIsReportedAtStartUp() throws {
        let dir = try TestEnvironment.temporaryDirectory("gcs-creds")
        let file = dir.appendingPathComponent("key.json").path
        let e1 = try #require(throws: GCSError.self) {
            try GCSReplicaClient(url: "gs://bkt/db", environment: ["GOOGLE_APPLICATION_CREDENTIALS": file])
        }
        #expect(e1.code == .credentials && e1.description.contains(file), "\(e1)")
        let e2 = try #require(throws: GCSError.self) { try GCSReplicaClient(url: "gs://bkt/db", environment: [:]) }
        #expect(e2.code == .credentials && e2.description.contains("GOOGLE_APPLICATION_CREDENTIALS"), "\(e2)")
    }

    /// A running replicator sends nothing while its database is idle (after its first upload, snapshot and
    /// compaction).
    @Test func idleDatabaseSendsNoRequests() async throws {
        let server = try GCSTestServer()
        let dir = try TestEnvironment.temporaryDirectory("gcs-idle")
        let dbPath = dir.appendingPathComponent("app.db").path
        let replica = try Self.client(server, path: "idle")
        let observer = try Self.client(server, path: "idle")
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('x')")
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await withServices([r]) {
            let snapshotted = try await Integration.poll(timeout: .seconds(120), interval: .milliseconds(200)) {
                guard r.replicaPosition != .zero else { return false }
                return try await !observer.ltxFiles(level: 9).isEmpty
            }
            #expect(snapshotted)
            #expect(try await Integration.waitForL1CatchUp(observer), "L1 compaction never caught up with L0")
            var seen = replica.requestCounts
            var quietSince = ContinuousClock.now
            let settleBy = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now - quietSince < .seconds(6) && ContinuousClock.now < settleBy {
                try await Task.sleep(for: .milliseconds(500))
                if replica.requestCounts != seen {
                    seen = replica.requestCounts
                    quietSince = .now
                }
            }
            let before = try #require(replica.requestCounts)
            try await Task.sleep(for: .seconds(8))
            #expect(replica.requestCounts == before, "requests while idle: \(before) then \(replica.requestCounts!)")
        }
    }
}
