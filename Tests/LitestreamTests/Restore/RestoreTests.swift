import Foundation
import LTX
import Synchronization
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// The restore path: pages are decoded into large buffers, written and hashed on other threads, and every file's
/// checksum is verified (from those page hashes) before the database is renamed into place.
@Suite struct RestoreTests {
    struct Fixture {
        let dir: URL
        var dbPath: String { dir.appendingPathComponent("app.db").path }
        var replica: FileReplicaClient { FileReplicaClient(path: dir.appendingPathComponent("replica").path) }

        init(_ name: String) throws { dir = try TestEnvironment.temporaryDirectory(name) }

        /// A replicated database with page size `pageSize`: a snapshot, then one L0 file per transaction, random
        /// (incompressible) content. `bigMiB` adds one transaction of that many MiB, spanning several of the
        /// writer's 8 MiB buffers.
        func replicate(pageSize: Int = 4096, bigMiB: Int = 0, smallTransactions: Int = 6) async throws -> TestDatabase {
            let setup = try TestDatabase(path: dbPath, journalMode: "delete")
            try setup.exec("PRAGMA page_size = \(pageSize); CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)")
            try setup.exec("PRAGMA journal_mode = wal")
            setup.close()
            let app = try TestDatabase(path: dbPath)
            let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
            try await r.open()
            try app.exec("INSERT INTO t (b) VALUES (randomblob(5000))")
            try await r.runOnce()
            if bigMiB > 0 {
                try app.exec("""
                    WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < \(bigMiB * 16))
                    INSERT INTO t (b) SELECT randomblob(65536) FROM n
                    """)
                try await r.runOnce()
            }
            for i in 0..<smallTransactions {
                try app.exec("INSERT INTO t (b) VALUES (randomblob(\(300 + i * 700)))")
                try app.exec("UPDATE t SET b = randomblob(100) WHERE id = 1 + \(i) % 3")
                try await r.runOnce()
            }
            try await r.shutdown()
            return app
        }

        func restore(to out: String, overwrite: Bool = false) async throws {
            let restorer = Restorer(replica: replica)
            try await restorer.restore(to: out, plan: try await restorer.plan(), overwrite: overwrite)
        }

        /// The restore's temporary files for `out` left in the directory (`out.tmp`, `out.tmp-<pid>`).
        func temporaryFiles(of out: String) throws -> [String] {
            let name = URL(fileURLWithPath: out).lastPathComponent
            return try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(name + ".tmp") }
        }

        /// The L0 files of the latest restore plan, oldest first.
        func plannedL0Files() async throws -> [LTXFileInfo] {
            try await Restorer(replica: replica).plan().filter { $0.level == 0 }
        }

        func path(_ file: LTXFileInfo) -> String {
            replica.path(level: file.level, minTXID: file.minTXID, maxTXID: file.maxTXID)
        }
    }

    /// (pgno, offset, size) of each page frame, from the index at the end of the file.
    static func pageFrames(_ file: [UInt8]) throws -> [(pgno: UInt64, offset: Int, size: Int)] {
        func be64(_ at: Int) -> UInt64 { file[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        var i = file.count - 24 - Int(be64(file.count - 24))
        func uvarint() -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                let c = file[i]
                i += 1
                v |= UInt64(c & 0x7f) << shift
                if c < 0x80 { return v }
                shift += 7
            }
        }
        var out: [(UInt64, Int, Int)] = []
        while true {
            let pgno = uvarint()
            if pgno == 0 { return out }
            out.append((pgno, Int(uvarint()), Int(uvarint())))
        }
    }

    static func decodes(_ file: [UInt8]) -> LTXError? {
        var dec = LTXDecoder(LTXMemoryInput(file))
        do { _ = try dec.decodeAll { _, _ in } } catch let e as LTXError { return e } catch { Issue.record("\(error)") }
        return nil
    }

    @Test(arguments: [1024, 4096, 65536])
    func restoresAcrossManyBuffersAndFiles(pageSize: Int) async throws {
        let f = try Fixture("restore-buffers-\(pageSize)")
        defer { try? FileManager.default.removeItem(at: f.dir) }
        _ = try await f.replicate(pageSize: pageSize, bigMiB: 20)
        #expect(try await f.plannedL0Files().count >= 8)
        let out = f.dir.appendingPathComponent("restored.db").path
        try await f.restore(to: out)
        #expect(try TestDatabase.integrityCheck(path: out) == "ok")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: f.dbPath))
        #expect(try f.temporaryFiles(of: out).isEmpty)
    }

    /// One byte of page data changed so that the page still decompresses (a literal of incompressible data): only
    /// the file checksum — computed from the writer's page hashes — can tell. The restore fails, the output path is
    /// never created and no temporary file is left.
    @Test func corruptPageDataFailsTheRestore() async throws {
        let f = try Fixture("restore-corrupt-page")
        defer { try? FileManager.default.removeItem(at: f.dir) }
        _ = try await f.replicate()
        let files = try await f.plannedL0Files()
        let victim = try #require(files.dropFirst().first)  // an incremental L0 file
        let path = f.path(victim)
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        // Find a byte in a page payload whose flip leaves valid LZ4: then the checksum alone must catch it.
        var corrupt: [UInt8]?
        search: for frame in try Self.pageFrames(original) {
            let payload = frame.offset + 10..<frame.offset + frame.size
            for at in stride(from: payload.lowerBound + payload.count / 2, to: payload.upperBound, by: 7) {
                var b = original
                b[at] ^= 0x01
                if Self.decodes(b)?.code == .checksumMismatch {
                    corrupt = b
                    break search
                }
            }
        }
        try Data(try #require(corrupt, "no decodable corruption found")).write(to: URL(fileURLWithPath: path))
        let out = f.dir.appendingPathComponent("restored.db").path
        let error = await #expect(throws: LTXError.self) { try await f.restore(to: out) }
        #expect(error?.code == .checksumMismatch)
        #expect(error?.file == victim.description)
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(try f.temporaryFiles(of: out).isEmpty)
    }

    /// A flipped byte in the middle of a page payload of the snapshot-sized file (whatever layer notices it), with
    /// `overwrite`: the existing output stays exactly as it was.
    @Test func corruptLargeFileLeavesExistingOutputUntouched() async throws {
        let f = try Fixture("restore-corrupt-large")
        defer { try? FileManager.default.removeItem(at: f.dir) }
        _ = try await f.replicate(bigMiB: 12, smallTransactions: 2)
        let files = try await f.plannedL0Files()
        let victim = try #require(files.max { $0.size < $1.size })
        let path = f.path(victim)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let frames = try Self.pageFrames(bytes)
        #expect(frames.count > 3000)
        let frame = frames[frames.count * 3 / 4]
        bytes[frame.offset + 10 + (frame.size - 10) / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let out = f.dir.appendingPathComponent("existing.db").path
        try Data("previous content".utf8).write(to: URL(fileURLWithPath: out))
        await #expect(throws: LTXError.self) { try await f.restore(to: out, overwrite: true) }
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "previous content")
        #expect(!FileManager.default.fileExists(atPath: out + ".tmp"))
    }

    /// A hole that the next listing no longer shows is not believed: the restore lists again and gets everything.
    /// A hole that stays is reported as Litestream reports it, after ``Restorer/relistings`` more listings.
    @Test(arguments: [1, Restorer.relistings, Restorer.relistings + 1])
    func holeInAListingIsListedAgain(hiddenListings: Int) async throws {
        let f = try Fixture("restore-relist-\(hiddenListings)")
        defer { try? FileManager.default.removeItem(at: f.dir) }
        _ = try await f.replicate()
        let l0 = try await f.plannedL0Files()
        let hidden = try #require(l0.dropFirst().first)
        #expect(hidden.maxTXID < l0.last!.maxTXID)
        let out = f.dir.appendingPathComponent("restored.db").path

        // The first `hiddenListings` listings of level 0 leave `hidden` out.
        let replica = ProbeReplica(f.replica)
        let level0Listings = Mutex(0)
        replica.listingFilter.withLock {
            $0 = { level, files in
                guard level == hidden.level else { return files }
                let n = level0Listings.withLock { $0 += 1; return $0 }
                return n <= hiddenListings ? files.filter { $0 != hidden } : files
            }
        }
        let restorer = Restorer(replica: replica)
        if hiddenListings <= Restorer.relistings {
            let plan = try await restorer.plan()
            #expect(plan.contains(hidden))
            #expect(level0Listings.withLock { $0 } == hiddenListings + 1)
            try await restorer.restore(to: out, plan: plan)
            #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: f.dbPath))
        } else {
            let error = await #expect(throws: RestoreError.self) { try await restorer.plan() }
            #expect(error?.code == .nonContiguous)
            #expect(error?.message == "non-contiguous ltx files: have up to \(TXID(hidden.minTXID.rawValue - 1)) but next file starts at \(hidden.maxTXID.next)")
            #expect(level0Listings.withLock { $0 } == Restorer.relistings + 1)
        }
    }

    /// A database that appears while a restore runs (a second instance booting during a deploy, while the first one
    /// writes) is never replaced: the restore fails with outputExists and leaves it, byte for byte.
    @Test func databaseAppearingDuringTheRestoreIsNotReplaced() async throws {
        let f = try Fixture("restore-noreplace")
        defer { try? FileManager.default.removeItem(at: f.dir) }
        _ = try await f.replicate()
        let out = f.dir.appendingPathComponent("restored.db").path
        let replica = ProbeReplica(f.replica)
        replica.beforeOpen.withLock {
            $0 = { _ in
                if !FileManager.default.fileExists(atPath: out) {
                    FileManager.default.createFile(atPath: out, contents: Data("the live database".utf8))
                }
            }
        }
        let restorer = Restorer(replica: replica)
        let error = await #expect(throws: RestoreError.self) {
            try await restorer.restore(to: out, plan: try await restorer.plan(), integrityCheck: .quick)
        }
        #expect(error?.code == .outputExists)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "the live database")
        #expect(try f.temporaryFiles(of: out).isEmpty)
    }

    /// A `-wal`/`-shm` left from an earlier database at the output path is renamed aside before the restored file
    /// appears: SQLite would replay that WAL onto it.
    @Test func staleSideFilesAreMovedAside() async throws {
        let f = try Fixture("restore-stale-wal")
        defer { try? FileManager.default.removeItem(at: f.dir) }
        _ = try await f.replicate()
        let out = f.dir.appendingPathComponent("restored.db").path
        try Data("old wal".utf8).write(to: URL(fileURLWithPath: out + "-wal"))
        try Data("old shm".utf8).write(to: URL(fileURLWithPath: out + "-shm"))
        let restorer = Restorer(replica: f.replica)
        let result = try await restorer.restore(to: out, plan: try await restorer.plan())
        #expect(result.movedAside.count == 2)
        #expect(!FileManager.default.fileExists(atPath: out + "-wal"))
        #expect(!FileManager.default.fileExists(atPath: out + "-shm"))
        for moved in result.movedAside {
            #expect(moved.hasPrefix(out + "-wal.stale-") || moved.hasPrefix(out + "-shm.stale-"), "\(moved)")
            #expect(FileManager.default.fileExists(atPath: moved))
        }
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: f.dbPath))
    }
}
