import Foundation
import LTX
import Synchronization
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

#if canImport(Glibc)
import Glibc
#endif

/// Uploads against moto with bounded memory: a produced body is uploaded while it is produced with at most
/// `concurrency + 1` parts in memory, a local file part by part; failures and cancellation abort the upload.
@Suite(.enabled(if: S3TestServer.enabled, "needs LITESTREAM_S3_ENDPOINT (scripts/test.sh)"))
struct S3StreamingUploadTests {
    static let partSize = S3Configuration.minimumPartSize

    static func replica(bucket: String, concurrency: Int) throws -> S3ReplicaClient {
        var c = try S3TestServer.configuration(bucket: bucket)
        c.concurrency = concurrency
        var r = try S3ReplicaClient(configuration: c, environment: S3TestServer.environment)
        r.client.bufferGauge = S3BufferGauge()
        return r
    }

    /// Writes `total` bytes of a deterministic pattern in 64 KiB pieces.
    static func produce(_ total: Int, into sink: (UnsafeRawBufferPointer) throws -> Void, failAt: Int? = nil) throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        var written = 0
        while written < total {
            if let failAt, written >= failAt { throw ProducerFailure() }
            let n = min(chunk.count, total - written)
            for i in 0..<n { chunk[i] = UInt8(truncatingIfNeeded: (written + i) &* 13 &+ ((written + i) >> 12)) }
            try chunk.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            written += n
        }
    }

    static func expected(_ total: Int) -> [UInt8] {
        (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ ($0 >> 12)) }
    }

    struct ProducerFailure: Error {}

    @Test func producedBodyIsUploadedInPartsWithBoundedMemory() async throws {
        let bucket = try await S3TestServer.makeBucket()
        let r = try Self.replica(bucket: bucket, concurrency: 2)
        let total = 5 * Self.partSize + 123_457  // 6 parts
        let ts: Int64 = 1_795_752_773_217
        let info = try await r.writeLTXFile(level: 9, minTXID: 1, maxTXID: 100, timestamp: ts) { sink in
            try Self.produce(total, into: sink)
        }
        #expect(info.size == Int64(total))
        let gauge = try #require(r.client.bufferGauge)
        #expect(gauge.peak <= (2 + 1) * Self.partSize, "peak \(gauge.peak)")
        #expect(gauge.peak >= Self.partSize)
        #expect(gauge.current == 0)
        let key = r.key(level: 9, minTXID: 1, maxTXID: 100)
        let head = try await r.client.headObject(key: key)
        #expect(head?["x-amz-meta-litestream-timestamp"] == "2026-11-27T04:12:53.217Z")
        #expect(head?["etag"]?.hasSuffix("-6\"") == true)  // a multipart upload of 6 parts
        #expect(S3ServerTests.readAll(try await r.openLTXFile(info)) == Self.expected(total))
        #expect(try await r.client.listMultipartUploads(prefix: "db/").isEmpty)
    }

    @Test func smallBodyIsOnePut() async throws {
        let bucket = try await S3TestServer.makeBucket()
        let r = try Self.replica(bucket: bucket, concurrency: 5)
        for total in [0, 1, Self.partSize] {
            // Level 9: a level-0 name is written once only (If-None-Match), and this writes the same name thrice.
            let info = try await r.writeLTXFile(level: 9, minTXID: 1, maxTXID: 1, timestamp: 0) { sink in
                try Self.produce(total, into: sink)
            }
            #expect(info.size == Int64(total))
            let head = try await r.client.headObject(key: r.key(level: 9, minTXID: 1, maxTXID: 1))
            #expect(head?["etag"]?.contains("-") == false)  // not multipart
            #expect(head?["content-length"] == "\(total)")
        }
    }

    @Test func producerFailureAbortsTheUpload() async throws {
        let bucket = try await S3TestServer.makeBucket()
        let r = try Self.replica(bucket: bucket, concurrency: 2)
        await #expect(throws: ProducerFailure.self) {
            try await r.writeLTXFile(level: 9, minTXID: 1, maxTXID: 5, timestamp: 0) { sink in
                try Self.produce(10 * Self.partSize, into: sink, failAt: 3 * Self.partSize + 1000)
            }
        }
        #expect(try await r.client.listMultipartUploads(prefix: "db/").isEmpty)
        #expect(try await r.ltxFiles(level: 9).isEmpty)
        #expect(r.client.bufferGauge?.current == 0)
    }

    @Test func uploadFailureStopsTheProducerAndAborts() async throws {
        let bucket = try await S3TestServer.makeBucket()
        var r = try Self.replica(bucket: bucket, concurrency: 2)
        // The third part fails as a server refusing it would (not retried: a permanent error).
        r.client.partUploadHook = { number in
            if number == 3 {
                throw S3Error(
                    code: "InvalidPart", message: "injected", statusCode: 400, operation: "UploadPart", bucket: bucket,
                    key: nil, endpoint: "moto")
            }
        }
        let partsProduced = Flag()
        do {
            try await r.writeLTXFile(level: 9, minTXID: 1, maxTXID: 6, timestamp: 0) { sink in
                for _ in 0..<40 {
                    try Self.produce(Self.partSize, into: sink)
                    partsProduced.increment()
                }
            }
            Issue.record("the upload succeeded")
        } catch let e as S3Error {
            #expect(e.code == "InvalidPart")
        }
        // The producer was stopped soon after the failure instead of writing all 40 parts.
        #expect(partsProduced.count < 10)
        #expect(try await r.client.listMultipartUploads(prefix: "db/").isEmpty)
        #expect(r.client.bufferGauge?.current == 0)
    }

    @Test func cancellationAbortsTheUpload() async throws {
        let bucket = try await S3TestServer.makeBucket()
        let r = try Self.replica(bucket: bucket, concurrency: 2)
        let started = Flag()
        let task = Task {
            try await r.writeLTXFile(level: 9, minTXID: 1, maxTXID: 7, timestamp: 0) { sink in
                // An endless body: only the sink failing (cancellation) ends it.
                var n = 0
                while true {
                    try Self.produce(Self.partSize, into: sink)
                    n += 1
                    if n == 2 { started.increment() }
                }
            }
        }
        while started.count == 0 { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        await #expect(throws: (any Error).self) { try await task.value }
        #expect(try await r.client.listMultipartUploads(prefix: "db/").isEmpty)
        #expect(try await r.ltxFiles(level: 9).isEmpty)
    }

    @Test func localFileIsUploadedPartByPart() async throws {
        let bucket = try await S3TestServer.makeBucket()
        let r = try Self.replica(bucket: bucket, concurrency: 2)
        let total = 3 * Self.partSize + 17
        let bytes = Self.expected(total)
        let path = FileManager.default.temporaryDirectory.path + "/s3-upload-\(UUID().uuidString).ltx"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let header = LTXHeader(pageSize: 4096, commit: 1, minTXID: 3, maxTXID: 3, timestamp: 1_795_752_773_217)
        let info = try await r.upload(localPath: path, level: 0, header: header)
        #expect(info.size == Int64(total) && info.createdAt == header.timestamp && info.minTXID == TXID(3))
        #expect(r.client.bufferGauge!.peak <= 2 * Self.partSize)
        let head = try await r.client.headObject(key: r.key(level: 0, minTXID: 3, maxTXID: 3))
        #expect(head?["x-amz-meta-litestream-timestamp"] == "2026-11-27T04:12:53.217Z")
        #expect(head?["etag"]?.hasSuffix("-4\"") == true)
        #expect(S3ServerTests.readAll(try await r.openLTXFile(info)) == bytes)
    }
}

/// A counter readable from any thread.
final class Flag: Sendable {
    private let state = Mutex(0)
    func increment() { state.withLock { $0 += 1 } }
    var count: Int { state.withLock { $0 } }
}
