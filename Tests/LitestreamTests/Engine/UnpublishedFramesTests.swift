import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// A writer that dies after writing a commit frame but before publishing it in SQLite's WAL index leaves a valid
/// frame that is not committed: the next writer overwrites it. The engine must follow the index, not the file.
@Suite struct UnpublishedFramesTests {
    @Test func framePastTheIndexIsNotReplicated() async throws {
        let f = try EngineTests.Fixture("phantom")
        let app = try TestDatabase(path: f.dbPath)
        try app.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('committed')")
        let r = f.replicator()
        try await r.open()
        try await r.runOnce()
        // A commit that is published but not synced yet, so that the next sync has real work next to the forgery.
        try app.exec("INSERT INTO t VALUES ('published')")
        let digest = try TestDatabase.contentDigest(path: f.dbPath)

        // Forge the frame a crashed writer would leave: a copy of the last commit frame with other page bytes and a
        // correct checksum chain, appended after the committed end, never published in the index.
        let walPath = f.dbPath + "-wal"
        var wal = try [UInt8](Data(contentsOf: URL(fileURLWithPath: walPath)))
        let header = try #require(wal.withUnsafeBytes { WALHeader(bytes: $0) })
        let frameSize = Int(header.frameSize)
        let scan = try #require(try WALReader(path: walPath).scan(from: 32, header: header))
        let last = Int(scan.endOffset) - frameSize
        var frame = Array(wal[last..<last + frameSize])
        let prev = WALFrameHeader(decoding: wal.withUnsafeBytes { $0.baseAddress! + last })
        frame[24 + Int(header.pageSize) - 1] ^= 0x01  // the last byte of the page: row data, so a leak would show
        var s1 = prev.checksum1, s2 = prev.checksum2
        // The chain continues from the last frame's checksum.
        frame.withUnsafeBytes { p in
            WALChecksum.update(p.baseAddress!, count: 8, bigEndian: header.bigEndianChecksums, s1: &s1, s2: &s2)
            WALChecksum.update(p.baseAddress! + 24, count: Int(header.pageSize), bigEndian: header.bigEndianChecksums, s1: &s1, s2: &s2)
        }
        withUnsafeBytes(of: s1.bigEndian) { frame.replaceSubrange(16..<20, with: $0) }
        withUnsafeBytes(of: s2.bigEndian) { frame.replaceSubrange(20..<24, with: $0) }
        wal.removeSubrange(Int(scan.endOffset)...)
        wal += frame
        try Data(wal).write(to: URL(fileURLWithPath: walPath))
        // Our own reader sees a valid committed frame there: only the index says otherwise.
        #expect(try WALReader(path: walPath).scan(from: 32, header: header)?.endOffset == scan.endOffset + Int64(frameSize))

        let result = try r.engine.sync()
        #expect(result.written.count == 1, "the published commit is replicated, the unpublished one is not")
        #expect(result.writerInProgress)
        try await r.upload()
        try await f.assertRestoreMatches(sourceDigest: digest)

        // The next real commit overwrites the forged frame; the replica follows.
        try app.exec("INSERT INTO t VALUES ('next')")
        try await r.runOnce()
        try await f.assertRestoreMatches()
        try await r.shutdown()
    }
}
