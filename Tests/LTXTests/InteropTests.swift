import Foundation
import LTX
import Testing

/// Files written by our encoder must be accepted by the real `litestream restore` (0.5.17). Runs whenever the
/// binary and the sqlite3 shell are found; in CI (CI=true) a missing tool fails the tests instead of skipping them.
@Suite(.enabled(if: Tools.interopEnabled, "litestream or sqlite3 not found (set LITESTREAM_BIN); required when CI=true"))
struct InteropTests {
    struct Tooling {
        var litestream: String
        var sqlite3: String
    }

    static func tools() throws -> Tooling {
        let ls = try #require(Tools.litestream, "litestream binary not found: set LITESTREAM_BIN or put it on PATH")
        let sq = try #require(Tools.sqlite3, "sqlite3 shell not found")
        return Tooling(litestream: ls, sqlite3: sq)
    }

    static func sqlite(_ t: Tooling, _ db: URL, _ sql: String) throws -> String {
        let r = try runProcess(t.sqlite3, ["-batch", db.path], stdin: sql)
        try #require(r.status == 0, "sqlite3 failed: \(r.stderr)")
        return r.stdout
    }

    /// Makes a real database with the sqlite3 shell: a table with an index, text and random blobs (some pages
    /// compressible, some not), overflow pages for the largest rows.
    static func makeDatabase(_ t: Tooling, at db: URL, pageSize: Int) throws -> [UInt8] {
        _ = try sqlite(t, db, """
            PRAGMA page_size = \(pageSize);
            CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b BLOB);
            CREATE INDEX t_a ON t (a);
            WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 120)
            INSERT INTO t (a, b) SELECT printf('row %05d %s', x, hex(randomblob(8))), randomblob(x * 7) FROM c;
            INSERT INTO t (a, b) VALUES ('big', randomblob(3 * \(pageSize)));
            """)
        return Array(try Data(contentsOf: db))
    }

    static func pages(of db: [UInt8], pageSize: Int) throws -> [(UInt32, [UInt8])] {
        try #require(db.count % pageSize == 0 && !db.isEmpty, "database size \(db.count) is not a multiple of \(pageSize)")
        // Sanity: SQLite's own header agrees on the page size (bytes 16-17, 1 meaning 65536).
        let stored = Int(db[16]) << 8 | Int(db[17])
        try #require((stored == 1 ? 65536 : stored) == pageSize)
        return stride(from: 0, to: db.count, by: pageSize).map { off in
            (UInt32(off / pageSize + 1), Array(db[off..<off + pageSize]))
        }
    }

    static func writeLTX(_ bytes: [UInt8], replica: URL, level: Int, min: TXID, max: TXID) throws {
        let dir = replica.appendingPathComponent("ltx/\(level)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(bytes).write(to: dir.appendingPathComponent(LTXFileName.format(min: min, max: max)))
    }

    static func restore(_ t: Tooling, replica: URL, to out: URL, extra: [String] = []) throws -> [UInt8] {
        let r = try runProcess(t.litestream, ["restore"] + extra + ["-o", out.path, "file://" + replica.path])
        try #require(r.status == 0, "litestream restore failed (\(r.status)):\n\(r.stderr)\n\(r.stdout)")
        let check = try sqlite(t, out, "PRAGMA integrity_check;")
        #expect(check.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")
        return Array(try Data(contentsOf: out))
    }

    static var nowMs: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    @Test(arguments: [512, 4096, 65536]) func restoresOurSnapshot(pageSize: Int) throws {
        let t = try Self.tools()
        try withTemporaryDirectory { dir in
            let db = try Self.makeDatabase(t, at: dir.appendingPathComponent("src.db"), pageSize: pageSize)
            let pages = try Self.pages(of: db, pageSize: pageSize)
            let header = LTXHeader(
                pageSize: UInt32(pageSize), commit: UInt32(pages.count), minTXID: 1, maxTXID: 1, timestamp: Self.nowMs)
            let replica = dir.appendingPathComponent("replica", isDirectory: true)
            try Self.writeLTX(try encodeLTX(header: header, pages: pages), replica: replica, level: 9, min: 1, max: 1)
            let restored = try Self.restore(t, replica: replica, to: dir.appendingPathComponent("out.db"))
            #expect(restored.count == db.count)
            #expect(restored == db, "restored database differs from the source")
        }
    }

    /// A level-9 snapshot at TXID 1 plus an L0 incremental at TXID 2 holding only the changed and the new pages:
    /// the latest restore gives the new database, `-txid 1` the old one.
    @Test func restoresSnapshotPlusIncremental() throws {
        let t = try Self.tools()
        try withTemporaryDirectory { dir in
            let src = dir.appendingPathComponent("src.db")
            let v1 = try Self.makeDatabase(t, at: src, pageSize: 4096)
            _ = try Self.sqlite(t, src, """
                UPDATE t SET a = 'changed' WHERE id = 3;
                INSERT INTO t (a, b) VALUES ('more', randomblob(20000));
                """)
            let v2 = Array(try Data(contentsOf: src))
            let p1 = try Self.pages(of: v1, pageSize: 4096), p2 = try Self.pages(of: v2, pageSize: 4096)
            #expect(p2.count > p1.count)
            let changed = p2.filter { pgno, data in Int(pgno) > p1.count || p1[Int(pgno) - 1].1 != data }
            #expect(changed.count < p2.count, "an incremental, not a full copy")

            let replica = dir.appendingPathComponent("replica", isDirectory: true)
            let snap = LTXHeader(pageSize: 4096, commit: UInt32(p1.count), minTXID: 1, maxTXID: 1, timestamp: Self.nowMs - 1000)
            try Self.writeLTX(try encodeLTX(header: snap, pages: p1), replica: replica, level: 9, min: 1, max: 1)
            let inc = LTXHeader(
                pageSize: 4096, commit: UInt32(p2.count), minTXID: 2, maxTXID: 2, timestamp: Self.nowMs, walOffset: 32)
            try Self.writeLTX(try encodeLTX(header: inc, pages: changed), replica: replica, level: 0, min: 2, max: 2)

            #expect(try Self.restore(t, replica: replica, to: dir.appendingPathComponent("latest.db")) == v2)
            #expect(
                try Self.restore(t, replica: replica, to: dir.appendingPathComponent("at1.db"), extra: ["-txid", "0000000000000001"])
                    == v1)
        }
    }

    /// Litestream 0.5.17 still reads the legacy per-page LZ4 frames; this also validates our hand-built legacy
    /// files (and their checksum rule) against the real reader.
    @Test func restoresLegacyFrameSnapshot() throws {
        let t = try Self.tools()
        try withTemporaryDirectory { dir in
            let db = try Self.makeDatabase(t, at: dir.appendingPathComponent("src.db"), pageSize: 4096)
            let pages = try Self.pages(of: db, pageSize: 4096)
            let header = LTXHeader(pageSize: 4096, commit: UInt32(pages.count), minTXID: 1, maxTXID: 1, timestamp: Self.nowMs)
            let file = buildLTX(header: header, pages: pages.map { ($0.0, $0.1, .frame(.init())) })
            let replica = dir.appendingPathComponent("replica", isDirectory: true)
            try Self.writeLTX(file, replica: replica, level: 9, min: 1, max: 1)
            #expect(try Self.restore(t, replica: replica, to: dir.appendingPathComponent("out.db")) == db)
        }
    }

    /// Control for the test above: the real reader does check the file checksum, so a restore of a file whose
    /// checksum is wrong fails. (Makes sure the successes above mean something.)
    @Test func rejectsCorruptChecksum() throws {
        let t = try Self.tools()
        try withTemporaryDirectory { dir in
            let db = try Self.makeDatabase(t, at: dir.appendingPathComponent("src.db"), pageSize: 4096)
            let pages = try Self.pages(of: db, pageSize: 4096)
            let header = LTXHeader(pageSize: 4096, commit: UInt32(pages.count), minTXID: 1, maxTXID: 1, timestamp: Self.nowMs)
            var file = try encodeLTX(header: header, pages: pages)
            file[file.count - 1] ^= 1
            let replica = dir.appendingPathComponent("replica", isDirectory: true)
            try Self.writeLTX(file, replica: replica, level: 9, min: 1, max: 1)
            let r = try runProcess(t.litestream, ["restore", "-o", dir.appendingPathComponent("out.db").path, "file://" + replica.path])
            #expect(r.status != 0)
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out.db").path))
        }
    }
}
