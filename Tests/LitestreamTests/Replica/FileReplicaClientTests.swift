import Foundation
import LTX

import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// A file replica on the database's file system gets hard links to the local L0 files instead of copies: the same
/// bytes, no data copied, no inode allocated. Nothing may ever write into a linked file again.
@Suite struct FileReplicaClientTests {
    private struct Inode: Equatable {
        var device: UInt64, number: UInt64, links: UInt64, mtimeMilliseconds: Int64
    }

    private static func inode(_ path: String) throws -> Inode {
        let a = try FileManager.default.attributesOfItem(atPath: path)
        func number(_ key: FileAttributeKey) -> UInt64 { (a[key] as? NSNumber)?.uint64Value ?? 0 }
        return Inode(device: number(.systemNumber), number: number(.systemFileNumber), links: number(.referenceCount),
            mtimeMilliseconds: POSIX.modificationTimeMilliseconds(path) ?? -1)
    }

    /// `/dev/shm` when it is writable and not the temporary directory's file system.
    static let otherFileSystem: String? = {
        let shm = "/dev/shm"
        guard FileManager.default.isWritableFile(atPath: shm),
            let a = try? inode(shm), let b = try? inode(FileManager.default.temporaryDirectory.path), a.device != b.device
        else { return nil }
        return shm
    }()

    /// A local LTX file of two pages, TXID 1, stamped `timestamp`.
    private static func writeLocalFile(_ path: String, timestamp: Int64) throws -> (LTXHeader, [UInt8]) {
        let header = CompactionTestSupport.header(min: 1, max: 1, commit: 2, timestamp: timestamp)
        let bytes = try CompactionTestSupport.encode(header, pages: [
            (1, CompactionTestSupport.page(1, version: 1)), (2, CompactionTestSupport.page(2, version: 1)),
        ])
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (header, bytes)
    }

    /// #19.3: a level-0 name is never written twice, linked or copied: the second writer of a name is another
    /// process writing to the replica, and the first writer's file stays as it was. Other levels are replaced.
    @Test func levelZeroNeverReplacesAFile() async throws {
        let dir = try TestEnvironment.temporaryDirectory("file-replica-exclusive")
        defer { try? FileManager.default.removeItem(at: dir) }
        let local = dir.appendingPathComponent("local.ltx").path
        let (header, bytes) = try Self.writeLocalFile(local, timestamp: 1_700_000_123_456)
        let client = FileReplicaClient(path: dir.appendingPathComponent("replica").path)
        _ = try await client.upload(localPath: local, level: 0, header: header)
        let stored = client.path(level: 0, minTXID: header.minTXID, maxTXID: header.maxTXID)
        let other = dir.appendingPathComponent("other.ltx").path
        try Data(bytes + [0]).write(to: URL(fileURLWithPath: other))
        for copy in [false, true] {
            let e = await #expect(throws: ReplicaError.self) {
                if copy {
                    _ = try await client.writeLTXFile(level: 0, minTXID: header.minTXID, maxTXID: header.maxTXID,
                        timestamp: header.timestamp) { sink in try (bytes + [0]).withUnsafeBytes { try sink($0) } }
                } else {
                    _ = try await client.upload(localPath: other, level: 0, header: header)
                }
            }
            #expect(e?.code == .fileExists, "copy: \(copy)")
            #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored))) == bytes, "copy: \(copy)")
        }
        #expect(try client.ltxRangesWithoutRequest(level: 0) == [header.minTXID...header.maxTXID])
        _ = try await client.upload(localPath: local, level: 1, header: header)
        _ = try await client.upload(localPath: other, level: 1, header: header)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: client.path(level: 1, minTXID: header.minTXID, maxTXID: header.maxTXID)))) == bytes + [0])
    }

    @Test func uploadLinksTheLocalFileOnTheSameFileSystem() async throws {
        let dir = try TestEnvironment.temporaryDirectory("file-replica-link")
        let local = dir.appendingPathComponent("local.ltx").path
        let timestamp: Int64 = 1_700_000_123_456
        let (header, bytes) = try Self.writeLocalFile(local, timestamp: timestamp)
        let client = FileReplicaClient(path: dir.appendingPathComponent("replica").path)

        let info = try await client.upload(localPath: local, level: 0, header: header)
        let stored = client.path(level: 0, minTXID: header.minTXID, maxTXID: header.maxTXID)
        let (l, r) = (try Self.inode(local), try Self.inode(stored))
        #expect(l == r, "one inode under two names")
        #expect(r.links == 2)
        #expect(r.mtimeMilliseconds == timestamp, "point-in-time restore reads the replica file's mtime")
        #expect(info.size == Int64(bytes.count))
        #expect(info.createdAt == timestamp)
        #expect(try await client.ltxFiles(level: 0).map(\.createdAt) == [timestamp])
        #expect(try FileManager.default.contentsOfDirectory(atPath: client.levelDirectory(0)) == [
            LTXFileName.format(min: header.minTXID, max: header.maxTXID),
        ], "no temporary name is ever linked")

        // Pruning the local file leaves the replica's intact.
        try FileManager.default.removeItem(atPath: local)
        let kept = try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored)))
        #expect(kept == bytes)
        #expect(try Self.inode(stored).links == 1)
        _ = try CompactionTestSupport.decode(kept)
    }

    /// Above level 0 an existing name (a snapshot at the same TXID again) is replaced, by a copy since the link
    /// cannot take the name. (Level 0 refuses: `levelZeroNeverReplacesAFile`.)
    @Test func uploadCopiesWhenTheReplicaNameExists() async throws {
        let dir = try TestEnvironment.temporaryDirectory("file-replica-copy")
        let local = dir.appendingPathComponent("local.ltx").path
        let (header, bytes) = try Self.writeLocalFile(local, timestamp: 1_700_000_000_000)
        let client = FileReplicaClient(path: dir.appendingPathComponent("replica").path)
        let stored = client.path(level: 9, minTXID: header.minTXID, maxTXID: header.maxTXID)
        try FileManager.default.createDirectory(atPath: client.levelDirectory(9), withIntermediateDirectories: true)
        try Data("stale".utf8).write(to: URL(fileURLWithPath: stored))

        let info = try await client.upload(localPath: local, level: 9, header: header)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored))) == bytes, "replaced by a copy")
        #expect(try Self.inode(stored).number != Self.inode(local).number)
        #expect(try Self.inode(local).links == 1)
        #expect(info.size == Int64(bytes.count))
        #expect(try FileManager.default.contentsOfDirectory(atPath: client.levelDirectory(9)).count == 1)
    }

    /// A replica on another file system gets a copy, and the local file is left alone: no link is tried, so its
    /// mtime is not touched (nor is it fsynced for nothing on every upload).
    @Test(.enabled(if: otherFileSystem != nil, "needs a writable /dev/shm on another file system than the temp directory"))
    func uploadCopiesToAnotherFileSystemWithoutTouchingTheLocalFile() async throws {
        let dir = try TestEnvironment.temporaryDirectory("file-replica-cross-fs")
        let other = "\(Self.otherFileSystem!)/litestream-tests-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: other) }
        let local = dir.appendingPathComponent("local.ltx").path
        let timestamp: Int64 = 1_700_000_123_456
        let (header, bytes) = try Self.writeLocalFile(local, timestamp: timestamp)
        let client = FileReplicaClient(path: other)
        let written = try Self.inode(local)

        _ = try await client.upload(localPath: local, level: 0, header: header)
        let stored = client.path(level: 0, minTXID: header.minTXID, maxTXID: header.maxTXID)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored))) == bytes)
        #expect(try Self.inode(stored).mtimeMilliseconds == timestamp)
        #expect(try Self.inode(local) == written, "the local file is untouched")
    }

    /// A crash can leave a merged upload's temporary file behind after it was linked into the replica: the next
    /// merged upload must replace that name, never write through it into the replica's file.
    @Test(.timeLimit(.minutes(2))) func aLeftoverTemporaryFileIsNeverWrittenThrough() async throws {
        let f = try EngineTests.Fixture("file-replica-leftover")
        let batched = FileReplicaClient(path: f.replicaPath)
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        // Stands for a replica file still linked under the temporary name a merged upload writes to.
        let linked = f.dir.appendingPathComponent("linked-replica-file").path
        try Data("replica bytes".utf8).write(to: URL(fileURLWithPath: linked))
        let meta = LocalLTXStore.defaultMetaPath(forDatabase: f.dbPath)
        try FileManager.default.createDirectory(atPath: meta, withIntermediateDirectories: true)
        try FileManager.default.linkItem(atPath: linked, toPath: "\(meta)/batch-batched.ltx.tmp")

        var config = try Replicator.Configuration(database: .init(path: f.dbPath), replicas: [
            // Long enough that the commits below fall in one interval even when the full suite slows each sync
            // to seconds (1 s once saw each commit uploaded alone, nothing merged).
            .init(name: "batched", client: batched, syncInterval: .seconds(5)),
        ])
        config.minSyncInterval = .milliseconds(5)
        config.monitorInterval = .milliseconds(100)
        let r = Replicator(configuration: config)
        try await r.open()
        try await MultiReplicaTests.whileRunning(r) { monitor in
            for i in 1...12 {
                try app.exec("INSERT INTO t (v) VALUES ('\(i)')")
                _ = try await monitor.sync(timeout: .seconds(60))
                try await Task.sleep(for: .milliseconds(20))
            }
            _ = try await monitor.sync(waitForReplicas: true, timeout: .seconds(60))
        }
        let files = try await batched.ltxFiles(level: 0)
        #expect(files.contains { $0.maxTXID > $0.minTXID }, "some uploads were merged")
        #expect(try String(contentsOfFile: linked, encoding: .utf8) == "replica bytes")
        #expect(try await MultiReplicaTests.restoreDigest(batched, dir: f.dir) == TestDatabase.contentDigest(path: f.dbPath))
    }
}
