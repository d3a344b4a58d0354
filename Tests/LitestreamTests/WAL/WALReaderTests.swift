import CLitestreamSQLite
import Foundation
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Helpers

private struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A unique temporary directory, removed when released.
private final class TempDir {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "/walreader-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func write(_ bytes: [UInt8], to name: String) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
}

/// A WAL-mode database in its own directory. The connection stays open (and never auto-checkpoints), so the
/// `-wal` file holds every transaction written through it.
private final class TestDB {
    let dir: TempDir
    let path: String
    private var db: OpaquePointer?
    var walPath: String { path + "-wal" }

    init(pageSize: Int = 4096) throws {
        dir = try TempDir()
        path = dir.path + "/db.sqlite"
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil)
        db = handle
        guard rc == SQLITE_OK else { throw TestFailure("sqlite3_open_v2: \(rc)") }
        try exec("PRAGMA page_size=\(pageSize)")
        guard try text("PRAGMA journal_mode=WAL") == "wal" else { throw TestFailure("journal_mode is not wal") }
        try exec("PRAGMA wal_autocheckpoint=0")
        try exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        try exec("INSERT INTO t (id, v) VALUES (1, randomblob(100))")
    }

    deinit {
        sqlite3_close_v2(db)
    }

    func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "rc \(rc)"
            sqlite3_free(err)
            throw TestFailure("\(sql): \(msg)")
        }
    }

    /// The first row of a query, as integers.
    func row(_ sql: String) throws -> [Int64] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else {
            throw TestFailure("prepare \(sql): \(String(cString: sqlite3_errmsg(db)))")
        }
        defer { sqlite3_finalize(stmt) }
        guard sqlite3_step(stmt) == SQLITE_ROW else { throw TestFailure("no row for \(sql)") }
        return (0..<sqlite3_column_count(stmt)).map { sqlite3_column_int64(stmt, $0) }
    }

    func int(_ sql: String) throws -> Int64 { try row(sql)[0] }

    func text(_ sql: String) throws -> String {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else { throw TestFailure("prepare \(sql)") }
        defer { sqlite3_finalize(stmt) }
        guard sqlite3_step(stmt) == SQLITE_ROW, let p = sqlite3_column_text(stmt, 0) else {
            throw TestFailure("no row for \(sql)")
        }
        return String(cString: p)
    }

    /// One transaction: inserts a blob of `blobSize` random bytes and rewrites row 1 (so its page is in every
    /// transaction). Returns the WAL size after the commit.
    @discardableResult
    func writeTransaction(blobSize: Int = 6000) throws -> Int64 {
        try exec(
            "BEGIN; INSERT INTO t (v) VALUES (randomblob(\(blobSize))); "
                + "UPDATE t SET v = randomblob(100) WHERE id = 1; COMMIT")
        return walSize()
    }

    func walSize() -> Int64 {
        let attrs = try? FileManager.default.attributesOfItem(atPath: walPath)
        return (attrs?[.size] as? NSNumber)?.int64Value ?? 0
    }

    func walBytes() throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: walPath))) }

    func dbFileBytes() throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    func pageCount() throws -> UInt32 { UInt32(try int("PRAGMA page_count")) }

    /// Runs `PRAGMA wal_checkpoint(mode)` and requires it to complete (not busy, every frame back-filled).
    func checkpoint(_ mode: String) throws {
        let r = try row("PRAGMA wal_checkpoint(\(mode))")
        guard r[0] == 0, r[1] == r[2] else { throw TestFailure("checkpoint \(mode) incomplete: \(r)") }
    }
}

private func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
}

private func putBE32(_ v: UInt32, into b: inout [UInt8], at i: Int) {
    b[i] = UInt8(truncatingIfNeeded: v >> 24)
    b[i + 1] = UInt8(truncatingIfNeeded: v >> 16)
    b[i + 2] = UInt8(truncatingIfNeeded: v >> 8)
    b[i + 3] = UInt8(truncatingIfNeeded: v)
}

private func appendBE32(_ v: UInt32, to b: inout [UInt8]) {
    b += [UInt8(truncatingIfNeeded: v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8),
          UInt8(truncatingIfNeeded: v)]
}

/// Independent, byte-by-byte implementation of SQLite's WAL checksum, used to synthesize WAL files.
private func referenceChecksum(_ b: ArraySlice<UInt8>, bigEndian: Bool, seed: (UInt32, UInt32)) -> (UInt32, UInt32) {
    precondition(b.count % 8 == 0)
    func word(_ i: Int) -> UInt32 {
        let x = (UInt32(b[i]), UInt32(b[i + 1]), UInt32(b[i + 2]), UInt32(b[i + 3]))
        return bigEndian ? x.0 << 24 | x.1 << 16 | x.2 << 8 | x.3 : x.3 << 24 | x.2 << 16 | x.1 << 8 | x.0
    }
    var (s1, s2) = seed
    for i in stride(from: b.startIndex, to: b.endIndex, by: 8) {
        s1 = s1 &+ word(i) &+ s2
        s2 = s2 &+ word(i + 4) &+ s1
    }
    return (s1, s2)
}

private func randomPage(_ size: Int) -> [UInt8] { (0..<size).map { _ in UInt8.random(in: 0...255) } }

/// Builds WAL files byte by byte (header and frames with correct cumulative checksums).
private struct SynthWAL {
    var bytes: [UInt8]
    let pageSize: Int
    let bigEndian: Bool
    let salt1: UInt32
    let salt2: UInt32
    /// Checksum chain state after the last frame.
    var chain: (UInt32, UInt32)
    var frameSize: Int { 24 + pageSize }

    /// A new WAL. `headerBigEndian` overrides the magic and header checksum order, while frames still use
    /// `bigEndian` (to build deliberately inconsistent files).
    init(pageSize: Int, bigEndian: Bool, salt1: UInt32 = 0x1234_5678, salt2: UInt32 = 0x9abc_def0,
         checkpointSequence: UInt32 = 0, version: UInt32 = 3_007_000, headerBigEndian: Bool? = nil) {
        self.pageSize = pageSize
        self.bigEndian = bigEndian
        self.salt1 = salt1
        self.salt2 = salt2
        let magicBE = headerBigEndian ?? bigEndian
        var h: [UInt8] = []
        appendBE32(magicBE ? 0x377f_0683 : 0x377f_0682, to: &h)
        appendBE32(version, to: &h)
        appendBE32(UInt32(truncatingIfNeeded: pageSize), to: &h)
        appendBE32(checkpointSequence, to: &h)
        appendBE32(salt1, to: &h)
        appendBE32(salt2, to: &h)
        chain = referenceChecksum(h[0..<24], bigEndian: magicBE, seed: (0, 0))
        appendBE32(chain.0, to: &h)
        appendBE32(chain.1, to: &h)
        bytes = h
    }

    /// Continues an existing (SQLite-written) WAL whose last frame ends at `bytes.count`.
    init(existing: [UInt8], header: WALHeader) {
        bytes = existing
        pageSize = Int(header.pageSize)
        bigEndian = header.bigEndianChecksums
        salt1 = header.salt1
        salt2 = header.salt2
        let last = existing.count - 24 - pageSize
        chain = last >= 32 ? (be32(existing, last + 16), be32(existing, last + 20)) : (header.checksum1, header.checksum2)
    }

    mutating func appendFrame(pgno: UInt32, commit: UInt32, page: [UInt8]) {
        precondition(page.count == pageSize)
        var f: [UInt8] = []
        appendBE32(pgno, to: &f)
        appendBE32(commit, to: &f)
        chain = referenceChecksum(f[0..<8], bigEndian: bigEndian, seed: chain)
        chain = referenceChecksum(page[...], bigEndian: bigEndian, seed: chain)
        appendBE32(salt1, to: &f)
        appendBE32(salt2, to: &f)
        appendBE32(chain.0, to: &f)
        appendBE32(chain.1, to: &f)
        bytes += f + page
    }
}

private func headerBytes(_ b: [UInt8]) -> WALHeader? {
    b.withUnsafeBytes { WALHeader(bytes: $0) }
}

private func readPage(_ reader: WALReader, frameOffset: Int64, pageSize: Int) throws -> [UInt8] {
    var page = [UInt8](repeating: 0, count: pageSize)
    try page.withUnsafeMutableBytes { try reader.readPage(frameOffset: frameOffset, into: $0) }
    return page
}

/// The latest offset of each page over every frame in [from, to), walking frame headers one by one.
private func latestFrames(_ reader: WALReader, from: Int64, to: Int64, frameSize: Int64) throws -> [UInt32: Int64] {
    var m: [UInt32: Int64] = [:]
    var off = from
    while off < to {
        let fh = try #require(try reader.readFrameHeader(at: off))
        m[fh.pgno] = off
        off += frameSize
    }
    return m
}

/// The end offsets of all commit frames in [32, to), walking frame headers one by one.
private func commitBoundaries(_ reader: WALReader, to: Int64, frameSize: Int64) throws -> [Int64] {
    var ends: [Int64] = []
    var off: Int64 = 32
    while off < to {
        let fh = try #require(try reader.readFrameHeader(at: off))
        off += frameSize
        if fh.commit != 0 { ends.append(off) }
    }
    return ends
}

private let hostIsBigEndian = UInt32(1).bigEndian == 1

// MARK: - Header

@Suite struct WALHeaderTests {
    @Test(arguments: [1024, 4096, 65536])
    func headerMatchesSQLite(pageSize: Int) throws {
        let db = try TestDB(pageSize: pageSize)
        try db.writeTransaction()
        let raw = try db.walBytes()
        let reader = WALReader(path: db.walPath)
        let h = try #require(try reader.readHeader())

        #expect(h.pageSize == UInt32(try db.int("PRAGMA page_size")))
        #expect(Int(h.pageSize) == pageSize)
        #expect(h.version == 3_007_000)
        // SQLite writes checksums in the host's byte order.
        #expect(h.bigEndianChecksums == hostIsBigEndian)
        #expect(be32(raw, 0) == (hostIsBigEndian ? 0x377f_0683 : 0x377f_0682))
        #expect(h.checkpointSequence == be32(raw, 12))
        #expect(h.salt1 == be32(raw, 16))
        #expect(h.salt2 == be32(raw, 20))
        #expect(h.checksum1 == be32(raw, 24))
        #expect(h.checksum2 == be32(raw, 28))
        #expect(h.frameSize == Int64(24 + pageSize))
        // Cross-check the reference checksum used by the synthesizing tests against SQLite's own header.
        let ref = referenceChecksum(raw[0..<24], bigEndian: h.bigEndianChecksums, seed: (0, 0))
        #expect(ref.0 == h.checksum1 && ref.1 == h.checksum2)

        #expect(try reader.fileSize() == Int64(raw.count))
        #expect((Int64(raw.count) - 32) % h.frameSize == 0)
        let fh = try #require(try reader.readFrameHeader(at: 32))
        #expect(fh.salt1 == h.salt1 && fh.salt2 == h.salt2)
        #expect(fh.pgno != 0)
        #expect(headerBytes(raw) == h)
    }

    @Test func restartChangesSaltsLikeSQLite() throws {
        let db = try TestDB()
        try db.writeTransaction()
        let reader = WALReader(path: db.walPath)
        let h1 = try #require(try reader.readHeader())
        try db.checkpoint("RESTART")
        try db.writeTransaction()
        let h2 = try #require(try reader.readHeader())
        // wal.c walRestartHdr: nCkpt++, salt1++, salt2 = random.
        #expect(h2.checkpointSequence == h1.checkpointSequence &+ 1)
        #expect(h2.salt1 == h1.salt1 &+ 1)
        #expect(h2.salt2 != h1.salt2)
        #expect(h2.pageSize == h1.pageSize)
    }

    @Test func invalidHeadersAreRejected() {
        let valid = SynthWAL(pageSize: 4096, bigEndian: false).bytes
        #expect(headerBytes(valid) != nil)
        #expect(headerBytes(Array(valid[0..<31])) == nil)
        #expect(headerBytes([]) == nil)

        var badMagic = valid
        badMagic[3] = 0x84
        #expect(headerBytes(badMagic) == nil)

        for i in [4, 10, 17, 24, 31] {
            var flipped = valid
            flipped[i] ^= 0x01
            #expect(headerBytes(flipped) == nil, "flipped byte \(i)")
        }

        // Correctly checksummed, but with an unsupported version or page size.
        #expect(headerBytes(SynthWAL(pageSize: 4096, bigEndian: false, version: 3_007_001).bytes) == nil)
        for size in [0, 256, 1000, 4097, 131_072] {
            #expect(headerBytes(SynthWAL(pageSize: size, bigEndian: false).bytes) == nil, "page size \(size)")
        }
        for size in [512, 65536] {
            for be in [false, true] {
                let h = headerBytes(SynthWAL(pageSize: size, bigEndian: be).bytes)
                #expect(h?.pageSize == UInt32(size))
                #expect(h?.bigEndianChecksums == be)
            }
        }
    }
}

// MARK: - Reader

@Suite(.ownThreads) struct WALReaderTests {
    @Test func scanCommittedTransactions() throws {
        let db = try TestDB()
        var boundaries: [Int64] = []
        for i in 0..<20 { boundaries.append(try db.writeTransaction(blobSize: 2000 + i * 700)) }
        let reader = WALReader(path: db.walPath)
        let h = try #require(try reader.readHeader())
        let scan = try #require(try reader.scan(from: 32, header: h))

        let walSize = db.walSize()
        let frames = (walSize - 32) / h.frameSize
        #expect(scan.header == h)
        #expect(scan.startOffset == 32)
        #expect(scan.endOffset == walSize)
        #expect(scan.endOffset == boundaries.last)
        #expect(scan.endOffset == 32 + Int64(scan.frameCount) * h.frameSize)
        #expect(Int64(scan.frameCount) == frames)
        #expect(scan.commit == (try db.pageCount()))

        // Latest frame per page, checked by walking every frame header.
        let expected = try latestFrames(reader, from: 32, to: walSize, frameSize: h.frameSize)
        #expect(scan.pages == expected)
        #expect(scan.pages.keys.allSatisfy { $0 >= 1 && $0 <= scan.commit })
        #expect(frames > Int64(expected.count), "some page must appear in several frames for this test to matter")

        // After a full checkpoint the database file holds exactly the latest version of every page.
        let pages = try scan.pages.mapValues { try readPage(reader, frameOffset: $0, pageSize: Int(h.pageSize)) }
        try db.checkpoint("PASSIVE")
        let file = try db.dbFileBytes()
        #expect(file.count == Int(scan.commit) * Int(h.pageSize))
        for (pgno, page) in pages {
            let start = Int(pgno - 1) * Int(h.pageSize)
            #expect(Array(file[start..<start + Int(h.pageSize)]) == page, "page \(pgno)")
        }
    }

    @Test func resumeReturnsOnlyNewFrames() throws {
        let db = try TestDB()
        var boundaries: [Int64] = []
        for _ in 0..<10 { boundaries.append(try db.writeTransaction()) }
        let reader = WALReader(path: db.walPath)
        let h = try #require(try reader.readHeader())
        let first = try #require(try reader.scan(from: 32, header: h))
        #expect(first.endOffset == boundaries.last)
        let commitBefore = try db.pageCount()
        #expect(first.commit == commitBefore)

        // Nothing new yet: an empty scan positioned at the resume offset.
        let empty = try #require(try reader.scan(from: first.endOffset, header: h))
        #expect(empty.endOffset == first.endOffset && empty.commit == 0 && empty.pages.isEmpty && empty.frameCount == 0)

        for _ in 0..<10 { boundaries.append(try db.writeTransaction(blobSize: 9000)) }
        let second = try #require(try reader.scan(from: first.endOffset, header: h))
        let full = try #require(try reader.scan(from: 32, header: h))

        #expect(second.startOffset == first.endOffset)
        #expect(second.endOffset == db.walSize())
        #expect(Int64(second.frameCount) == (db.walSize() - first.endOffset) / h.frameSize)
        #expect(second.pages.values.allSatisfy { $0 >= first.endOffset })
        #expect(second.commit == (try db.pageCount()))
        #expect(second.commit > commitBefore)
        #expect(first.frameCount + second.frameCount == full.frameCount)
        #expect(second.endOffset == full.endOffset && second.commit == full.commit)
        let merged = first.pages.merging(second.pages) { _, new in new }
        #expect(merged == full.pages)

        // Resuming from any earlier commit boundary gives the same final state.
        let mid = try #require(try reader.scan(from: boundaries[4], header: h))
        #expect(mid.endOffset == full.endOffset && mid.commit == full.commit)
        #expect(Int64(mid.frameCount) == (full.endOffset - boundaries[4]) / h.frameSize)
        #expect(mid.pages == full.pages.filter { $0.value >= boundaries[4] })

        // Offsets that cannot be resume points.
        #expect(try reader.scan(from: first.endOffset + 8, header: h) == nil, "not on a frame boundary")
        #expect(try reader.scan(from: 16, header: h) == nil, "inside the header")
        #expect(try reader.scan(from: full.endOffset + h.frameSize, header: h) == nil, "beyond EOF")
    }

    @Test func uncommittedTailIsExcluded() throws {
        let db = try TestDB()
        var boundaries: [Int64] = []
        for _ in 0..<5 { boundaries.append(try db.writeTransaction(blobSize: 1000)) }
        let countBefore = try db.pageCount()
        boundaries.append(try db.writeTransaction(blobSize: 30000))  // many frames
        let h = try #require(try WALReader(path: db.walPath).readHeader())
        let fs = Int(h.frameSize)
        let wal = try db.walBytes()
        #expect(Int64(wal.count) == boundaries[5])
        #expect((boundaries[5] - boundaries[4]) / h.frameSize >= 5)

        // Truncated before the commit frame, and in the middle of the commit frame.
        for cut in [wal.count - fs, wal.count - fs / 2, Int(boundaries[4]) + fs + 10] {
            let copy = WALReader(path: try db.dir.write(Array(wal[0..<cut]), to: "cut-\(cut)-wal"))
            let hc = try #require(try copy.readHeader())
            let scan = try #require(try copy.scan(from: 32, header: hc))
            #expect(scan.endOffset == boundaries[4], "cut at \(cut)")
            #expect(scan.commit == countBefore)
            #expect(Int64(scan.frameCount) == (boundaries[4] - 32) / h.frameSize)
            #expect(scan.pages.values.allSatisfy { $0 < boundaries[4] })
        }

        // Appended frames with valid checksums: a commit=0 frame is left out until a commit frame follows it.
        var synth = SynthWAL(existing: wal, header: h)
        let commitNow = try db.pageCount()
        synth.appendFrame(pgno: 2, commit: 0, page: randomPage(fs - 24))
        let tailPath = try db.dir.write(synth.bytes, to: "tail-wal")
        let tail = try #require(try WALReader(path: tailPath).scan(from: 32, header: h))
        #expect(tail.endOffset == Int64(wal.count))
        #expect(tail.commit == commitNow)

        synth.appendFrame(pgno: 3, commit: commitNow, page: randomPage(fs - 24))
        let committedPath = try db.dir.write(synth.bytes, to: "committed-wal")
        let committedReader = WALReader(path: committedPath)
        let committed = try #require(try committedReader.scan(from: 32, header: h))
        #expect(committed.endOffset == Int64(wal.count + 2 * fs))
        #expect(committed.commit == commitNow)
        #expect(committed.pages[2] == Int64(wal.count))
        #expect(committed.pages[3] == Int64(wal.count + fs))
        #expect(committed.frameCount == tail.frameCount + 2)
        // Resuming from the end of the real WAL picks up exactly the two synthesized frames.
        let resumed = try #require(try committedReader.scan(from: Int64(wal.count), header: h))
        #expect(resumed.pages == [2: Int64(wal.count), 3: Int64(wal.count + fs)])
        #expect(resumed.frameCount == 2)
    }

    @Test func corruptFrameStopsAtLastCommitBeforeIt() throws {
        let db = try TestDB()
        var boundaries: [Int64] = [32]
        for _ in 0..<10 { boundaries.append(try db.writeTransaction()) }
        let h = try #require(try WALReader(path: db.walPath).readHeader())
        let fs = Int(h.frameSize)
        let wal = try db.walBytes()
        for k in 1..<boundaries.count { #expect(boundaries[k] - boundaries[k - 1] >= 2 * h.frameSize) }

        let tx = 4  // frames of transaction 4 lie in boundaries[4] ..< boundaries[5]
        let txStart = Int(boundaries[tx])
        let cases: [(String, Int, Int64)] = [
            ("page byte of the first frame", txStart + 24 + 100, boundaries[tx]),
            ("page byte of the second frame", txStart + fs + 24 + fs / 2, boundaries[tx]),
            ("last page byte of the commit frame", Int(boundaries[tx + 1]) - 1, boundaries[tx]),
            ("pgno of the first frame", txStart + 3, boundaries[tx]),
            ("commit field of the commit frame", Int(boundaries[tx + 1]) - fs + 7, boundaries[tx]),
            ("salt of the second frame", txStart + fs + 8, boundaries[tx]),
            ("stored checksum of the last frame", wal.count - fs + 20, boundaries[9]),
            ("page byte of the very first frame", 32 + 24 + 5, 32),
        ]
        for (name, index, expectedEnd) in cases {
            var bad = wal
            bad[index] ^= 0x40
            let reader = WALReader(path: try db.dir.write(bad, to: "bad-\(index)-wal"))
            let hb = try #require(try reader.readHeader())
            let scan = try #require(try reader.scan(from: 32, header: hb))
            #expect(scan.endOffset == expectedEnd, "\(name)")
            #expect(scan.pages.values.allSatisfy { $0 < expectedEnd }, "\(name)")
            #expect(Int64(scan.frameCount) == (expectedEnd - 32) / h.frameSize, "\(name)")
        }
    }

    @Test func restartedWALIgnoresOldFrames() throws {
        let db = try TestDB()
        var boundaries: [Int64] = []
        for _ in 0..<20 { boundaries.append(try db.writeTransaction()) }
        let reader = WALReader(path: db.walPath)
        let h1 = try #require(try reader.readHeader())
        let oldSize = db.walSize()

        // RESTART: the next writer starts over at offset 32; the old frames stay in the file behind the new ones.
        try db.checkpoint("RESTART")
        try db.exec("UPDATE t SET v = randomblob(50) WHERE id = 1")
        #expect(db.walSize() == oldSize)
        let h2 = try #require(try reader.readHeader())
        #expect(h2.salt1 != h1.salt1 || h2.salt2 != h1.salt2)
        let scan = try #require(try reader.scan(from: 32, header: h2))
        #expect(scan.endOffset > 32)
        #expect(scan.endOffset < boundaries[0], "only the new transaction")
        #expect(scan.commit == (try db.pageCount()))
        let next = try #require(try reader.readFrameHeader(at: scan.endOffset))
        #expect(next.salt1 == h1.salt1 && next.salt2 == h1.salt2, "old frames follow the new ones")
        #expect(scan.pages.values.allSatisfy { $0 < scan.endOffset })
        #expect(Int64(scan.frameCount) == (scan.endOffset - 32) / h2.frameSize)

        // Resuming in the old generation: the seeding frame carries the old salts.
        #expect(try reader.scan(from: boundaries[10], header: h2) == nil)
        #expect(try reader.scan(from: boundaries[19], header: h2) == nil)
        // Resuming at the end of the new generation works.
        let resumed = try #require(try reader.scan(from: scan.endOffset, header: h2))
        #expect(resumed.frameCount == 0 && resumed.endOffset == scan.endOffset)
        // With the old header, the first frame (new salts) breaks the chain at once.
        #expect(try reader.scan(from: 32, header: h1)?.endOffset == 32)

        // TRUNCATE: the file becomes empty, then a new generation begins.
        try db.checkpoint("TRUNCATE")
        #expect(try reader.fileSize() == 0)
        #expect(try reader.readHeader() == nil)
        #expect(try reader.scan(from: 32, header: h2)?.endOffset == 32)
        #expect(try reader.scan(from: scan.endOffset, header: h2) == nil)
        try db.writeTransaction()
        let h3 = try #require(try reader.readHeader())
        #expect(h3.salt1 != h2.salt1 || h3.salt2 != h2.salt2)
        let scan3 = try #require(try reader.scan(from: 32, header: h3))
        #expect(scan3.endOffset == db.walSize())
        #expect(scan3.commit == (try db.pageCount()))
    }

    /// A reader keeps its scan buffer between scans (up to `keptScanBufferBytes`, larger ones are temporary): every
    /// scan must see only what it read itself, never bytes a bigger earlier scan left in the buffer.
    @Test func keptScanBufferNeverLeaksAnEarlierScan() throws {
        let dir = try TempDir()
        var wal = SynthWAL(pageSize: 4096, bigEndian: false)
        var boundaries: [Int64] = [32]
        var pgno: UInt32 = 0
        // ~1.6 MiB of frames, a commit every 7: the full scan needs more than the kept buffer holds.
        for tx in 0..<56 {
            for f in 0..<7 {
                pgno = pgno % 90 + 1
                wal.appendFrame(pgno: pgno, commit: f == 6 ? 90 + UInt32(tx) : 0, page: randomPage(4096))
            }
            boundaries.append(Int64(wal.bytes.count))
        }
        #expect(Int(boundaries.last! - 32) > WALReader.keptScanBufferBytes)
        let path = try dir.write(wal.bytes, to: "db-wal")
        let reader = WALReader(path: path)
        let h = try #require(try reader.readHeader())

        func expectSameAsFreshReader(from offset: Int64, _ what: String) throws {
            let kept = try #require(try reader.scan(from: offset, header: h))
            let fresh = try #require(try WALReader(path: path).scan(from: offset, header: h))
            #expect(kept.endOffset == fresh.endOffset && kept.commit == fresh.commit, "\(what)")
            #expect(kept.pages == fresh.pages && kept.frameCount == fresh.frameCount, "\(what)")
        }
        try expectSameAsFreshReader(from: 32, "whole WAL, temporary buffer")
        try expectSameAsFreshReader(from: boundaries[50], "last six transactions, kept buffer")
        try expectSameAsFreshReader(from: boundaries[20], "more than half a MiB, kept buffer grows")
        try expectSameAsFreshReader(from: boundaries[54], "two transactions, from the grown buffer")
        try expectSameAsFreshReader(from: boundaries[53], "three transactions")

        // Cut the WAL in the middle of the commit frame of the last but one transaction: the scan from the same
        // offset just above left that frame, valid, at the same place in the kept buffer, yet this scan must end
        // at the commit before it.
        let cut = boundaries[55] - h.frameSize / 2
        #expect(truncate(path, off_t(cut)) == 0)
        let shorter = try #require(try reader.scan(from: boundaries[53], header: h))
        #expect(shorter.endOffset == boundaries[54])
        #expect(shorter.commit == 90 + 53)
        #expect(shorter.pages.values.allSatisfy { $0 < boundaries[54] })
        try expectSameAsFreshReader(from: boundaries[53], "after the cut")
    }

    @Test func maxBytesSplitsAtCommitBoundaries() throws {
        let db = try TestDB()
        var written: [Int64] = []
        for i in 0..<12 { written.append(try db.writeTransaction(blobSize: 500 + (i % 4) * 5000)) }
        let reader = WALReader(path: db.walPath)
        let h = try #require(try reader.readHeader())
        let full = try #require(try reader.scan(from: 32, header: h))
        #expect(full.endOffset == written.last)
        // Every commit boundary, including those of the setup transactions in TestDB.init.
        let boundaries = try commitBoundaries(reader, to: full.endOffset, frameSize: h.frameSize)
        #expect(Set(written).isSubset(of: boundaries) && boundaries.count == written.count + 2)

        for maxBytes in [0, 1, h.frameSize, 3 * h.frameSize, 7 * h.frameSize, 1 << 30] {
            var start: Int64 = 32
            var merged: [UInt32: Int64] = [:]
            var frames = 0
            var chunks = 0
            var last: WALScan?
            while start < full.endOffset {
                let chunk = try #require(try reader.scan(from: start, header: h, maxBytes: maxBytes))
                let expectedEnd = boundaries.first { $0 >= start + max(maxBytes, 1) } ?? boundaries.last!
                #expect(chunk.endOffset == expectedEnd, "maxBytes \(maxBytes) from \(start)")
                #expect(chunk.endOffset > start)
                merged.merge(chunk.pages) { _, new in new }
                frames += chunk.frameCount
                chunks += 1
                start = chunk.endOffset
                last = chunk
                if chunks > 100 { break }
            }
            #expect(start == full.endOffset)
            #expect(merged == full.pages, "maxBytes \(maxBytes)")
            #expect(frames == full.frameCount)
            #expect(last?.commit == full.commit)
            if maxBytes <= 1 { #expect(chunks == boundaries.count) }
            if maxBytes == 1 << 30 { #expect(chunks == 1) }
        }
    }

    @Test func shrinkDropsPagesBeyondCommit() throws {
        let db = try TestDB()
        try db.exec("BEGIN")
        for _ in 0..<40 { try db.exec("INSERT INTO t (v) VALUES (randomblob(3000))") }
        try db.exec("COMMIT")
        let grown = try db.pageCount()
        try db.exec("DELETE FROM t WHERE id > 1")
        try db.exec("VACUUM")
        let shrunk = try db.pageCount()
        #expect(shrunk < grown)

        let reader = WALReader(path: db.walPath)
        let h = try #require(try reader.readHeader())
        let scan = try #require(try reader.scan(from: 32, header: h))
        #expect(scan.commit == shrunk)
        let all = try latestFrames(reader, from: 32, to: db.walSize(), frameSize: h.frameSize)
        #expect(all.keys.contains { $0 > shrunk }, "the WAL must hold pages beyond the final size")
        #expect(scan.pages == all.filter { $0.key <= shrunk })

        // A synthesized sequence: shrink to 2 pages, then grow to 3 again without rewriting page 3. As in SQLite
        // (a lookup returns the newest frame of a page; a checkpoint skips only pages beyond the current size), only
        // the final size matters: page 3 from before the shrink is back in range.
        let ps = 512
        var s = SynthWAL(pageSize: ps, bigEndian: false)
        let fs = Int64(24 + ps)
        s.appendFrame(pgno: 1, commit: 0, page: randomPage(ps))
        s.appendFrame(pgno: 3, commit: 3, page: randomPage(ps))
        s.appendFrame(pgno: 2, commit: 2, page: randomPage(ps))
        let path1 = try db.dir.write(s.bytes, to: "shrink-wal")
        let r1 = WALReader(path: path1)
        let h1 = try #require(try r1.readHeader())
        let s1 = try #require(try r1.scan(from: 32, header: h1))
        #expect(s1.commit == 2)
        #expect(s1.pages == [1: 32, 2: 32 + 2 * fs])
        s.appendFrame(pgno: 1, commit: 3, page: randomPage(ps))
        let path2 = try db.dir.write(s.bytes, to: "regrow-wal")
        let r2 = WALReader(path: path2)
        let s2 = try #require(try r2.scan(from: 32, header: h1))
        #expect(s2.commit == 3)
        #expect(s2.pages == [1: 32 + 3 * fs, 2: 32 + 2 * fs, 3: 32 + fs])
    }

    @Test(arguments: [false, true])
    func synthesizedWAL(bigEndian: Bool) throws {
        let dir = try TempDir()
        let ps = 512
        let fs = Int64(24 + ps)
        let pages = (0..<5).map { _ in randomPage(ps) }
        var s = SynthWAL(pageSize: ps, bigEndian: bigEndian, salt1: 7, salt2: 0xdead_beef, checkpointSequence: 3)
        s.appendFrame(pgno: 1, commit: 0, page: pages[0])
        s.appendFrame(pgno: 2, commit: 2, page: pages[1])
        s.appendFrame(pgno: 1, commit: 0, page: pages[2])
        s.appendFrame(pgno: 3, commit: 3, page: pages[3])
        s.appendFrame(pgno: 2, commit: 0, page: pages[4])  // uncommitted tail

        let reader = WALReader(path: try dir.write(s.bytes, to: "wal"))
        let h = try #require(try reader.readHeader())
        #expect(h.bigEndianChecksums == bigEndian)
        #expect(h.pageSize == 512 && h.salt1 == 7 && h.salt2 == 0xdead_beef && h.checkpointSequence == 3)
        let scan = try #require(try reader.scan(from: 32, header: h))
        #expect(scan.endOffset == 32 + 4 * fs)
        #expect(scan.commit == 3)
        #expect(scan.frameCount == 4)
        #expect(scan.pages == [1: 32 + 2 * fs, 2: 32 + fs, 3: 32 + 3 * fs])
        #expect(try readPage(reader, frameOffset: 32 + 2 * fs, pageSize: ps) == pages[2])
        #expect(try readPage(reader, frameOffset: 32 + 3 * fs, pageSize: ps) == pages[3])
        let resumed = try #require(try reader.scan(from: 32 + 2 * fs, header: h))
        #expect(resumed.pages == [1: 32 + 2 * fs, 3: 32 + 3 * fs] && resumed.commit == 3)
        let fh = try #require(try reader.readFrameHeader(at: 32 + fs))
        #expect(fh == WALFrameHeader(pgno: 2, commit: 2, salt1: 7, salt2: 0xdead_beef,
                                     checksum1: be32(s.bytes, 32 + Int(fs) + 16),
                                     checksum2: be32(s.bytes, 32 + Int(fs) + 20)))

        // One altered checksum byte in frame 4 (the second commit) ends the scan at the first commit.
        var bad = s.bytes
        bad[32 + 3 * Int(fs) + 19] ^= 0x01
        let badReader = WALReader(path: try dir.write(bad, to: "bad-wal"))
        let badScan = try #require(try badReader.scan(from: 32, header: h))
        #expect(badScan.endOffset == 32 + 2 * fs && badScan.commit == 2)

        // An altered header checksum invalidates the header.
        var badHeader = s.bytes
        badHeader[27] ^= 0x01
        #expect(try WALReader(path: try dir.write(badHeader, to: "badheader-wal")).readHeader() == nil)

        // Frames checksummed in the other byte order than the magic says are not accepted.
        var mixed = SynthWAL(pageSize: ps, bigEndian: bigEndian, headerBigEndian: !bigEndian)
        mixed.appendFrame(pgno: 1, commit: 1, page: pages[0])
        let mixedReader = WALReader(path: try dir.write(mixed.bytes, to: "mixed-wal"))
        let mh = try #require(try mixedReader.readHeader())
        #expect(mh.bigEndianChecksums == !bigEndian)
        let mixedScan = try #require(try mixedReader.scan(from: 32, header: mh))
        #expect(mixedScan.endOffset == 32 && mixedScan.frameCount == 0)
    }

    @Test func largeWALAcrossManyChunks() throws {
        // More than one scan buffer (4 MiB) of frames, with transactions straddling chunk edges.
        let ps = 4096
        var s = SynthWAL(pageSize: ps, bigEndian: false)
        let page = randomPage(ps)
        let fs = Int64(24 + ps)
        var n: Int64 = 0
        var expected: [UInt32: Int64] = [:]
        var pending: [UInt32: Int64] = [:]
        for i in 0..<2600 {
            let commit: UInt32 = i % 7 == 6 ? 300 : 0
            let pgno = UInt32(i % 300) + 1
            s.appendFrame(pgno: pgno, commit: commit, page: page)
            pending[pgno] = 32 + Int64(i) * fs
            if commit != 0 {
                n = Int64(i + 1)
                expected.merge(pending) { _, new in new }
                pending = [:]
            }
        }
        let dir = try TempDir()
        let reader = WALReader(path: try dir.write(s.bytes, to: "wal"))
        let h = try #require(try reader.readHeader())
        let scan = try #require(try reader.scan(from: 32, header: h))
        #expect(scan.endOffset == 32 + n * fs)
        #expect(Int64(scan.frameCount) == n)
        #expect(scan.pages == expected)
        #expect(scan.pages[1] == 32 + 2400 * fs)

        // Corruption in a later chunk.
        var bad = s.bytes
        let badFrame: Int64 = 2000
        bad[Int(32 + badFrame * fs + 24 + 1)] ^= 0xff
        let badScan = try #require(try WALReader(path: try dir.write(bad, to: "bad-wal")).scan(from: 32, header: h))
        #expect(badScan.endOffset == 32 + (badFrame / 7 * 7) * fs)
    }

    @Test func missingAndShortFiles() throws {
        let dir = try TempDir()
        let path = dir.path + "/nothing-wal"
        let reader = WALReader(path: path)
        #expect(try reader.fileSize() == 0)
        #expect(try reader.readHeader() == nil)
        #expect(try reader.readFrameHeader(at: 32) == nil)
        let h = try #require(headerBytes(SynthWAL(pageSize: 512, bigEndian: false).bytes))
        #expect(try reader.scan(from: 32, header: h) == nil)
        var buf = [UInt8](repeating: 0, count: 512)
        let error = try #require(throws: WALError.self) {
            try buf.withUnsafeMutableBytes { try reader.readPage(frameOffset: 32, into: $0) }
        }
        #expect(error.description.contains(path))

        _ = try dir.write(Array(SynthWAL(pageSize: 512, bigEndian: false).bytes[0..<20]), to: "nothing-wal")
        #expect(try reader.fileSize() == 20)
        #expect(try reader.readHeader() == nil)

        // A header with no frames: an empty scan; a frame header needs 24 bytes.
        var s = SynthWAL(pageSize: 512, bigEndian: false)
        _ = try dir.write(s.bytes, to: "nothing-wal")
        #expect(try reader.readHeader() == h)
        let empty = try #require(try reader.scan(from: 32, header: h))
        #expect(empty.endOffset == 32 && empty.commit == 0 && empty.pages.isEmpty && empty.frameCount == 0)
        s.appendFrame(pgno: 1, commit: 1, page: randomPage(512))
        _ = try dir.write(Array(s.bytes[0..<(32 + 23)]), to: "nothing-wal")
        #expect(try reader.readFrameHeader(at: 32) == nil)
        #expect(try reader.scan(from: 32, header: h)?.endOffset == 32)
        #expect(throws: WALError.self) {
            try buf.withUnsafeMutableBytes { try reader.readPage(frameOffset: 32, into: $0) }
        }
    }

    @Test func reopensWhenTheFileIsReplaced() throws {
        let dir = try TempDir()
        let path = dir.path + "/db-wal"
        var a = SynthWAL(pageSize: 512, bigEndian: false, salt1: 1, salt2: 1)
        a.appendFrame(pgno: 1, commit: 1, page: randomPage(512))
        var b = SynthWAL(pageSize: 1024, bigEndian: false, salt1: 2, salt2: 2)
        b.appendFrame(pgno: 1, commit: 1, page: randomPage(1024))
        b.appendFrame(pgno: 2, commit: 2, page: randomPage(1024))

        _ = try dir.write(a.bytes, to: "db-wal")
        let reader = WALReader(path: path)
        let ha = try #require(try reader.readHeader())
        #expect(ha.salt1 == 1 && ha.pageSize == 512)
        #expect(try reader.scan(from: 32, header: ha)?.frameCount == 1)

        // Atomically replaced by another file: the reader must not keep reading the old inode.
        let tmp = try dir.write(b.bytes, to: "tmp")
        #expect(rename(tmp, path) == 0)
        let hb = try #require(try reader.readHeader())
        #expect(hb.salt1 == 2 && hb.pageSize == 1024)
        #expect(try reader.scan(from: 32, header: hb)?.frameCount == 2)
        #expect(try reader.fileSize() == Int64(b.bytes.count))
        // scan reads the file its header came from, even once that is replaced: frames and header stay one
        // generation. The next readHeader moves to the new file.
        #expect(rename(try dir.write(a.bytes, to: "tmp"), path) == 0)
        #expect(try reader.scan(from: 32, header: hb)?.frameCount == 2)
        #expect(try reader.readHeader(sameFile: true) == hb)
        #expect(try reader.readHeader() == ha)
        #expect(try reader.scan(from: 32, header: ha)?.frameCount == 1)
        #expect(try reader.fileSize() == Int64(a.bytes.count))
        // fileSize follows the path, not the open descriptor.
        #expect(rename(try dir.write(b.bytes, to: "tmp"), path) == 0)
        #expect(try reader.fileSize() == Int64(b.bytes.count))
        #expect(try reader.readHeader() == hb)

        // Deleted, then recreated.
        #expect(unlink(path) == 0)
        #expect(try reader.fileSize() == 0)
        #expect(try reader.readHeader() == nil)
        _ = try dir.write(a.bytes, to: "db-wal")
        #expect(try reader.readHeader() == ha)

        reader.close()
        #expect(try reader.readHeader() == ha)
    }
}
