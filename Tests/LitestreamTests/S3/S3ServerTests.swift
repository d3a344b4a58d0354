import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

#if canImport(Glibc)
import Glibc
#endif

/// The S3 client and replica client against a real S3 server (moto).
@Suite(.enabled(if: S3TestServer.enabled, "needs LITESTREAM_S3_ENDPOINT (scripts/test.sh)"))
struct S3ServerTests {
    static func bytes(_ n: Int, seed: UInt8 = 1) -> [UInt8] {
        (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &+ ($0 >> 10)) }
    }

    @discardableResult
    static func write(_ r: S3ReplicaClient, level: Int, _ min: UInt64, _ max: UInt64, _ data: [UInt8], ts: Int64)
        async throws -> LTXFileInfo
    {
        try await r.writeLTXFile(level: level, minTXID: TXID(min), maxTXID: TXID(max), timestamp: ts) { sink in
            // in several pieces, as the engine writes
            var i = 0
            while i < data.count {
                let end = Swift.min(data.count, i + 4096)
                try data[i..<end].withUnsafeBytes { try sink($0) }
                i = end
            }
        }
    }

    static func readAll(_ reader: ReplicaFileReader) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = (try? buf.withUnsafeMutableBytes { try reader.read(into: $0) }) ?? -1
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    @Test func writeListOpenDelete() async throws {
        let bucket = try await S3TestServer.makeBucket()
        let r = try S3TestServer.replica(bucket: bucket, path: "backups/my db")
        try await r.checkAccess()
        #expect(try await r.ltxFiles(level: 0).isEmpty)
        let a = Self.bytes(1000), b = Self.bytes(70_000, seed: 7), c = Self.bytes(10, seed: 3)
        let ts: Int64 = 1_795_752_773_217
        try await Self.write(r, level: 0, 2, 2, b, ts: ts + 1000)
        try await Self.write(r, level: 0, 1, 1, a, ts: ts)
        try await Self.write(r, level: 9, 1, 2, c, ts: ts + 2000)
        // Keys exactly as Litestream's.
        let keys = try await r.client.listAll(prefix: "backups/my db/").map(\.key)
        #expect(keys.sorted() == [
            "backups/my db/0000/0000000000000001-0000000000000001.ltx",
            "backups/my db/0000/0000000000000002-0000000000000002.ltx",
            "backups/my db/0009/0000000000000001-0000000000000002.ltx",
        ])
        let head = try await r.client.headObject(key: "backups/my db/0000/0000000000000001-0000000000000001.ltx")
        #expect(head?["x-amz-meta-litestream-timestamp"] == "2026-11-27T04:12:53.217Z")

        let l0 = try await r.ltxFiles(level: 0)
        #expect(l0.map(\.minTXID) == [TXID(1), TXID(2)])
        #expect(l0.map(\.size) == [1000, 70_000])
        // Listing uses LastModified (now); metadata mode reads the LTX timestamps.
        #expect(l0.allSatisfy { abs($0.createdAt - POSIX.nowMilliseconds()) < 120_000 })
        var exact = r
        exact.timestampsFromMetadata = true
        #expect(try await exact.ltxFiles(level: 0).map(\.createdAt) == [ts, ts + 1000])
        #expect(try await r.ltxFiles(level: 9).map(\.maxTXID) == [TXID(2)])

        #expect(Self.readAll(try await r.openLTXFile(l0[1])) == b)
        #expect(Self.readAll(try await r.openLTXFile(l0[0])) == a)

        try await r.deleteLTXFiles([l0[0]])
        try await r.deleteLTXFiles([l0[0]])  // already gone: not an error
        #expect(try await r.ltxFiles(level: 0).map(\.minTXID) == [TXID(2)])
        try await r.deleteAll()
        #expect(try await r.client.listAll(prefix: "backups/my db/").isEmpty)
    }

    @Test func oddKeysRoundTrip() async throws {
        let bucket = try await S3TestServer.makeBucket()
        let r = try S3TestServer.replica(bucket: bucket)
        for key in ["db/a b+c~(1).bin", "db/ünï/файл", "db/x%41y"] {
            try await r.client.putObject(key: key, body: Data(key.utf8))
        }
        let listed = try await r.client.listAll(prefix: "db/").map(\.key)
        #expect(Set(listed) == ["db/a b+c~(1).bin", "db/ünï/файл", "db/x%41y"])
    }

    @Test func paginationAndBatchedDeletes() async throws {
        let bucket = try await S3TestServer.makeBucket()
        var r = try S3TestServer.replica(bucket: bucket)
        r.listPageSize = 7
        var files: [LTXFileInfo] = []
        let rr = r
        try await withThrowingTaskGroup(of: LTXFileInfo.self) { group in
            for i in 1...45 {
                group.addTask { try await Self.write(rr, level: 1, UInt64(i), UInt64(i), [UInt8(i)], ts: 0) }
            }
            for try await f in group { files.append(f) }
        }
        let listed = try await r.ltxFiles(level: 1)
        #expect(listed.map(\.minTXID) == (1...45).map { TXID(UInt64($0)) })
        // Several DeleteObjects requests of at most 10 keys.
        try await r.client.deleteObjects(
            keys: files.prefix(25).map { r.key(level: 1, minTXID: $0.minTXID, maxTXID: $0.maxTXID) }, batchSize: 10)
        #expect(try await r.ltxFiles(level: 1).count == 20)
        try await r.deleteAll()
        #expect(try await r.ltxFiles(level: 1).isEmpty)
    }

    @Test func moreThanOneThousandKeys() async throws {
        let bucket = try await S3TestServer.makeBucket()
        let r = try S3TestServer.replica(bucket: bucket)
        // At most 16 PUTs in flight: the HTTP client is shared by every suite running beside this one, and a
        // thousand queued requests (as an earlier version made) held its 8 connections to the S3 server for over
        // 10 s, so that other suites' requests failed with "no HTTP connection became free in time".
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 1...1003 {
                if i > 16 { _ = try await group.next() }
                group.addTask { try await r.client.putObject(key: "db/0000/" + LTXFileName.format(min: TXID(UInt64(i)), max: TXID(UInt64(i))), body: Data([1])) }
            }
            try await group.waitForAll()
        }
        #expect(try await r.ltxFiles(level: 0).count == 1003)
        try await r.deleteAll()  // two DeleteObjects batches (1000 + 3)
        #expect(try await r.ltxFiles(level: 0).isEmpty)
    }

    @Test func multipartUpload() async throws {
        let bucket = try await S3TestServer.makeBucket()
        let r = try S3TestServer.replica(bucket: bucket)
        let big = Self.bytes(11 * 1024 * 1024 + 12345, seed: 9)
        let info = try await Self.write(r, level: 9, 1, 100, big, ts: 1_795_752_773_000)
        #expect(info.size == Int64(big.count))
        let head = try await r.client.headObject(key: r.key(level: 9, minTXID: 1, maxTXID: 100))
        // A multipart ETag is "md5-of-md5s-<parts>": three parts of 5 MiB, 5 MiB, rest.
        #expect(head?["etag"]?.hasSuffix("-3\"") == true)
        #expect(head?["x-amz-meta-litestream-timestamp"] == "2026-11-27T04:12:53Z")
        let files = try await r.ltxFiles(level: 9)
        #expect(Self.readAll(try await r.openLTXFile(files[0])) == big)
    }

    @Test func missingBucketErrorNamesBucketAndEndpoint() async throws {
        let r = try S3TestServer.replica(bucket: "no-such-bucket-\(UUID().uuidString.lowercased().prefix(8))")
        do {
            try await r.checkAccess()
            Issue.record("expected an error")
        } catch let e as S3Error {
            #expect(e.code == "NoSuchBucket")
            #expect(e.description.contains(r.configuration.bucket))
            #expect(e.description.contains(try S3TestServer.endpoint()))
            #expect(!e.description.contains("test:"))
        }
        await #expect(throws: S3Error.self) { _ = try await r.ltxFiles(level: 0) }
    }

    @Test func unreachableEndpointIsRetriedThenReported() async throws {
        var c = S3Configuration(bucket: "b", path: "db", endpoint: "http://127.0.0.1:1")
        c.maxAttempts = 2
        let r = try S3ReplicaClient(configuration: c, environment: S3TestServer.environment)
        do {
            _ = try await r.ltxFiles(level: 0)
            Issue.record("expected an error")
        } catch let e as S3Error {
            #expect(e.code == "ConnectionFailed" && e.statusCode == nil && e.isTransient)
            #expect(e.description.contains("http://127.0.0.1:1"))
        }
    }
}
