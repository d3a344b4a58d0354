import Foundation
import LTX
import Testing
import LitestreamHTTP

@testable import LitestreamClient
@testable import LitestreamCore
@testable import LitestreamWebDAV

/// The engine against a real WebDAV server (wsgidav on loopback): replication with compaction and snapshots,
/// restores, an outage of the server, and the start-up errors.
@Suite(.ownThreads, .enabled(if: WebDAVTestServer.enabled, "needs wsgidav in .venv (scripts/test.sh)"))
struct WebDAVEndToEndTests {
    static func client(_ server: WebDAVTestServer, path: String, password: String? = nil, attempts: Int = 10)
        throws -> WebDAVReplicaClient
    {
        var c = try WebDAVConfiguration.parse(url: server.replicaURL(path: path, password: password))
        c.maxAttempts = attempts
        var client = try WebDAVReplicaClient(configuration: c)
        client.client.backoff = .init(baseDelay: .milliseconds(5), maxDelay: .milliseconds(50))
        return client
    }

    @Test func replicateCompactSnapshotAndRestore() async throws {
        let server = try WebDAVTestServer()
        let dir = try TestEnvironment.temporaryDirectory("webdav-engine")
        let dbPath = dir.appendingPathComponent("app.db").path
        let replica = try Self.client(server, path: "backups/app")
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await r.open()
        for i in 1...6 {
            try app.exec("INSERT INTO t (v) VALUES ('row \(i) \(String(repeating: "x", count: i * 300))')")
            try await r.runOnce()
        }
        _ = try #require(try await Compactor(client: replica).compact(level: 1))
        try await r.snapshot()
        // WebDAV keeps the server's modification time, to the second: a later second for the next files.
        try await Task.sleep(for: .milliseconds(1100))
        for i in 7...12 {
            try app.exec("INSERT INTO t (v) VALUES ('row \(i) \(String(repeating: "y", count: i * 300))')")
            try await r.runOnce()
        }
        #expect(r.replicaPosition == TXID(12))  // the first sync took the CREATE TABLE with the first row

        // Litestream's layout: <path>/ltx/<level>/<min>-<max>.ltx, nothing else (no temporary file left).
        let stored = server.files(under: "backups/app")
        #expect(stored.contains("ltx/1/0000000000000001-0000000000000006.ltx"), "\(stored)")
        #expect(stored.contains("ltx/9/0000000000000001-0000000000000006.ltx"), "\(stored)")
        #expect(stored.contains("ltx/0/000000000000000c-000000000000000c.ltx"), "\(stored)")
        #expect(stored.allSatisfy { $0.hasPrefix("ltx/") && $0.hasSuffix(".ltx") && $0.count == 43 }, "\(stored)")
        let l0 = try await replica.ltxFiles(level: 0)
        #expect(l0.map(\.maxTXID) == (1...12).map { TXID(UInt64($0)) })
        #expect(l0.allSatisfy { $0.size > 0 && $0.createdAt > 0 })

        let restorer = Restorer(replica: replica)
        let out = dir.appendingPathComponent("restored.db").path
        try await restorer.restore(to: out, plan: try await restorer.plan(), integrityCheck: .full)
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: dbPath))
        // Point in time by TXID.
        let at9 = dir.appendingPathComponent("at9.db").path
        try await restorer.restore(to: at9, plan: try await restorer.plan(txid: TXID(9)))
        #expect(try TestDatabase(path: at9).scalar("SELECT count(*) FROM t") == "9")
        // Point in time by timestamp (the server's mtime): strictly before the second the 7th row was uploaded.
        let seventh = try #require(l0.first { $0.maxTXID == TXID(7) })
        let before = dir.appendingPathComponent("before.db").path
        try await restorer.restore(to: before, plan: try await restorer.plan(timestamp: seventh.createdAt))
        #expect(try TestDatabase(path: before).scalar("SELECT count(*) FROM t") == "6")
        try await r.shutdown()

        // Deleting: files, then everything.
        try await replica.deleteLTXFiles(Array(l0.prefix(3)))
        #expect(try await replica.ltxFiles(level: 0).count == 9)
        try await replica.deleteAll()
        #expect(try await replica.ltxFiles(level: 9).isEmpty)
        #expect(server.files(under: "backups/app").isEmpty)
    }

    /// The server goes away in the middle (stopped, not paused), writes go on, and it comes back on the same port
    /// and directory: the next upload sends everything, and the replica restores to the last row.
    @Test func serverOutageLosesNothing() async throws {
        let server = try WebDAVTestServer()
        let dir = try TestEnvironment.temporaryDirectory("webdav-outage")
        let dbPath = dir.appendingPathComponent("app.db").path
        let replica = try Self.client(server, path: "db", attempts: 2)
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await r.open()
        // A sync that must succeed is tried again as the engine's loop would: with two attempts per request, a
        // loaded machine (wsgidav closing a pooled connection) can fail one while the server is up.
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

    @Test func badPasswordIsReportedAtStartUp() async throws {
        let server = try WebDAVTestServer()
        let replica = try Self.client(server, path: "db", password: "not-the-password")
        let error = try await #require(throws: WebDAVError.self) { try await replica.checkAccess() }
        #expect(error.code == .unauthorized)
        #expect(error.description.contains("127.0.0.1:\(server.port)"), "\(error)")
        #expect(error.description.contains("webdav-password") && error.description.contains("401"), "\(error)")
        #expect(!error.description.contains("not-the-password"), "\(error)")
        // And with the right one, the check passes.
        try await Self.client(server, path: "db").checkAccess()
    }

    @Test func unreachableServerIsReportedAtStartUp() async throws {
        let port = try TestEnvironment.freeLoopbackPort()
        var c = try WebDAVConfiguration.parse(url: "webdav://u:secret@127.0.0.1:\(port)/db")
        c.maxAttempts = 2
        let error = try await #require(throws: WebDAVError.self) {
            try await WebDAVReplicaClient(configuration: c).checkAccess()
        }
        #expect(error.code == .connectionFailed)
        #expect(error.description.contains("http://127.0.0.1:\(port)") && error.description.contains("refused"), "\(error)")
        #expect(!error.description.contains("secret"))
    }

    @Test func missingRootIsReportedAtStartUp() async throws {
        let server = try WebDAVTestServer(mount: "/dav")
        var c = WebDAVConfiguration(
            url: "http://127.0.0.1:\(server.port)/nodav", path: "db", username: server.user, password: server.password)
        let error = try await #require(throws: WebDAVError.self) {
            try await WebDAVReplicaClient(configuration: c).checkAccess()
        }
        #expect(error.code == .notFound)
        #expect(error.description.contains("http://127.0.0.1:\(server.port)/nodav/") && error.description.contains("webdav-url"), "\(error)")
        c.url = server.url
        try await WebDAVReplicaClient(configuration: c).checkAccess()
    }

    /// A snapshot larger than any buffer goes through the temporary file and streams both ways.
    @Test func largeFileRoundTrip() async throws {
        let server = try WebDAVTestServer()
        let replica = try Self.client(server, path: "big")
        var rng = SplitMix64(seed: 7)
        let chunk = (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let written = try await replica.writeLTXFile(level: 9, minTXID: TXID(1), maxTXID: TXID(2), timestamp: 1) { sink in
            for _ in 0..<24 { try chunk.withUnsafeBytes { try sink($0) } }
        }
        #expect(written.size == 24 << 20)
        let listed = try #require(try await replica.ltxFiles(level: 9).first)
        #expect(listed.size == 24 << 20)
        let reader = try await replica.openLTXFile(listed)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total = 0
        while true {
            let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            total += n
        }
        #expect(total == 24 << 20)
        #expect(Array(buffer.prefix(16)) == Array(chunk.prefix(16)))
        // The first write made the directories: PUT (409: no parent), MKCOL big/ltx/9/ (409), MKCOL of big/,
        // big/ltx/ and big/ltx/9/, PUT, MOVE. A second file costs its PUT and its MOVE. (Counts are per attempt: a
        // retry on a loaded machine adds one, so at least these, and the second file without the MKCOLs.)
        let first = try #require(replica.requestCounts?.put)
        #expect(first >= 7)
        try await replica.writeLTXFile(level: 9, minTXID: TXID(1), maxTXID: TXID(3), timestamp: 1) { sink in
            try chunk.withUnsafeBytes { try sink($0) }
        }
        let second = try #require(replica.requestCounts?.put) - first
        #expect(second >= 2 && second < 5, "the second file made directories again: \(second) requests")
    }

    /// A level-0 name already taken is another writer's: the MOVE says `Overwrite: F` and the write is refused with
    /// `.fileExists` (the replicator then stops this replica), the stored file untouched and no temporary file
    /// left. Other levels are replaced (a compaction or snapshot written again).
    @Test func levelZeroNeverReplacesAFile() async throws {
        let server = try WebDAVTestServer()
        let replica = try Self.client(server, path: "exclusive")
        func write(level: Int, _ byte: UInt8, count: Int) async throws {
            _ = try await replica.writeLTXFile(level: level, minTXID: TXID(1), maxTXID: TXID(1), timestamp: 1) { sink in
                try [UInt8](repeating: byte, count: count).withUnsafeBytes { try sink($0) }
            }
        }
        try await write(level: 0, 1, count: 100)
        let e = await #expect(throws: ReplicaError.self) { try await write(level: 0, 2, count: 200) }
        #expect(e?.code == .fileExists)
        #expect(try await replica.ltxFiles(level: 0).map(\.size) == [100], "the first writer's file stays")
        #expect(server.files(under: "exclusive") == ["ltx/0/0000000000000001-0000000000000001.ltx"])
        try await write(level: 9, 1, count: 100)
        try await write(level: 9, 2, count: 200)
        #expect(try await replica.ltxFiles(level: 9).map(\.size) == [200])
    }

    /// A running replicator sends nothing while its database is idle (after its first upload, snapshot and
    /// compaction): WebDAV, like S3, is asked nothing until something changes.
    @Test func idleDatabaseSendsNoRequests() async throws {
        let server = try WebDAVTestServer()
        let dir = try TestEnvironment.temporaryDirectory("webdav-idle")
        let dbPath = dir.appendingPathComponent("app.db").path
        let replica = try Self.client(server, path: "idle")
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('x')")
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await withServices([r]) {
            let deadline = ContinuousClock.now + .seconds(120)
            while (r.replicaPosition == .zero || server.files(under: "idle/ltx/9").isEmpty) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(!server.files(under: "idle/ltx/9").isEmpty)
            // Maintenance catches up first: the scheduled L1 compaction (every 30 s) takes the last L0 file (a quiet
            // spell alone let it fall into the window on a loaded machine), then no request for 6 s.
            let observer = try Self.client(server, path: "idle")
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
