import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// A database that grows past 1 GiB, where SQLite's lock page (the page holding the PENDING byte) sits: it is never
/// stored in LTX files and must read back as zeros. Slow (it writes over 2 GiB), but it runs in CI.
@Suite struct LargeDatabaseTests {
    @Test(.timeLimit(.minutes(15))) func databaseGrowsPastTheLockPage() async throws {
        let dir = try TestEnvironment.temporaryDirectory("lockpage")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("big.db").path
        let replica = FileReplicaClient(path: dir.appendingPathComponent("replica").path)
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, marker TEXT, b BLOB)")
        var config = Replicator.Configuration(database: .init(path: dbPath), replica: replica)
        config.database.checkpoint.minPageCount = 1000
        let r = Replicator(configuration: config)
        try await r.open()
        // ~1.15 GB in 12 transactions of zero-filled blobs (cheap to compress), each followed by a sync, so that
        // the L0 files and the engine's checkpoints keep the WAL small.
        for i in 0..<12 {
            try app.exec("""
                WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 96)
                INSERT INTO t (marker, b) SELECT '\(i)-' || k || '-' || hex(randomblob(8)), zeroblob(1000000) FROM n
                """)
            try await r.runOnce()
        }
        let pageCount = try #require(UInt32(try app.scalar("PRAGMA page_count") ?? ""))
        let lockPage = LTXHeader.lockPage(pageSize: 4096)
        #expect(pageCount > lockPage, "the database must extend past the lock page \(lockPage)")
        // A change on both sides of the lock page after it exists.
        try app.exec("UPDATE t SET marker = marker || '!' WHERE id IN (1, (SELECT max(id) FROM t))")
        try await r.runOnce()
        try await r.snapshot()
        try await r.shutdown()

        let digest = "SELECT count(*), sum(length(b)), group_concat(marker, ',') FROM t"
        let expected = try app.query(digest)
        let out = dir.appendingPathComponent("restored.db").path
        let restorer = Restorer(replica: replica)
        try await restorer.restore(to: out, plan: try await restorer.plan(), integrityCheck: .quick)
        let restored = try TestDatabase(path: out)
        #expect(try restored.query(digest) == expected)
        #expect(try restored.scalar("PRAGMA page_count") == app.scalar("PRAGMA page_count"))
        // The lock page reads as zeros.
        let fd = open(out, O_RDONLY)
        defer { close(fd) }
        var page = [UInt8](repeating: 1, count: 4096)
        let n = page.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4096, off_t(lockPage - 1) * 4096) }
        #expect(n == 4096 && page.allSatisfy { $0 == 0 })
    }
}
