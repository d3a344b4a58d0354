import Foundation
import AsyncHTTPClient
import LTX
import NIOHTTP1
import Testing
import LitestreamHTTP

@testable import LitestreamABS
@testable import LitestreamClient
@testable import LitestreamCore
@testable import LTX

/// The replica client's whole flow against ``FakeBlobService`` (which checks every signature): writes by Put Blob
/// and by blocks, listing across pages with the timestamp metadata, reads, exclusive level-0 names, deletes.
@Suite(.ownThreads) struct ABSClientFlowTests {
    static let key = ABSConfigTests.key

    static func replica(_ fake: FakeBlobService, blockSize: Int = 1 << 20) throws -> ABSReplicaClient {
        var c = ABSConfiguration(accountName: fake.account, container: "replicas", path: "db", accountKey: Self.key, endpoint: fake.endpoint)
        c.blockSize = blockSize
        c.maxAttempts = 2
        var r = try ABSReplicaClient(configuration: c, environment: [:])
        r.client.exchange.backoff = .init(baseDelay: .milliseconds(1), maxDelay: .milliseconds(5))
        r.listPageSize = 2
        return r
    }

    static func bytes(_ n: Int, seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed } }

    func read(_ r: ABSReplicaClient, _ f: LTXFileInfo) async throws -> [UInt8] {
        let reader = try await r.openLTXFile(f)
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try buf.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    @Test func writeListReadDelete() async throws {
        let fake = try FakeBlobService(key: Self.key)
        defer { fake.stop() }
        let r = try Self.replica(fake)
        let ts: Int64 = 1_768_469_400_123
        // Three level-0 files and one large snapshot (3.5 blocks).
        for i in 1...3 {
            let body = Self.bytes(1000 + i, seed: UInt8(i))
            try await r.writeLTXFile(level: 0, minTXID: TXID(UInt64(i)), maxTXID: TXID(UInt64(i)), timestamp: ts + Int64(i)) { sink in
                try body.withUnsafeBytes { try sink($0) }
            }
        }
        let big = Self.bytes((3 << 20) + 512 << 10, seed: 9)
        try await r.writeLTXFile(level: 9, minTXID: 1, maxTXID: 3, timestamp: ts) { sink in
            for chunk in stride(from: 0, to: big.count, by: 100_000) {
                try big[chunk..<min(big.count, chunk + 100_000)].withUnsafeBytes { try sink($0) }
            }
        }
        #expect(fake.blobNames == [
            "db/ltx/0/0000000000000001-0000000000000001.ltx", "db/ltx/0/0000000000000002-0000000000000002.ltx",
            "db/ltx/0/0000000000000003-0000000000000003.ltx", "db/ltx/9/0000000000000001-0000000000000003.ltx",
        ])
        #expect(fake.blob("db/ltx/0/0000000000000001-0000000000000001.ltx")?.metadata == ["litestreamtimestamp": "2026-01-15T09:30:00.124Z"])

        // Two pages of two: the marker is followed; createdAt is the metadata's timestamp.
        let l0 = try await r.ltxFiles(level: 0)
        #expect(l0.map(\.minTXID) == [1, 2, 3])
        #expect(l0.map(\.createdAt) == [ts + 1, ts + 2, ts + 3])
        #expect(l0.map(\.size) == [1001, 1002, 1003])
        let l9 = try await r.ltxFiles(level: 9)
        #expect(l9.count == 1 && l9[0].size == Int64(big.count))
        #expect(try await read(r, l9[0]) == big)
        #expect(try await read(r, l0[1]) == Self.bytes(1002, seed: 2))

        // A level-0 name is never written twice: another writer's file stops us.
        await #expect(throws: ReplicaError.self) {
            try await r.writeLTXFile(level: 0, minTXID: 2, maxTXID: 2, timestamp: ts) { sink in try [1, 2, 3].withUnsafeBytes { try sink($0) } }
        }
        #expect(try await read(r, l0[1]) == Self.bytes(1002, seed: 2))

        try await r.deleteLTXFiles([l0[0], l0[0]])  // the second is already gone: no error
        #expect(try await r.ltxFiles(level: 0).map(\.minTXID) == [2, 3])
        try await r.deleteAll()
        #expect(fake.blobNames.isEmpty)
        let counts = try #require(r.requestCounts)
        #expect(counts[.put] == 3 + 5 + 1 && counts[.delete] == 2 + 3 && counts[.get] == 3)
    }

    /// A local file goes up straight from disk, in blocks when it is larger than one.
    @Test func uploadFromDisk() async throws {
        let fake = try FakeBlobService(key: Self.key)
        defer { fake.stop() }
        let r = try Self.replica(fake, blockSize: 256 << 10)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("abs-upload-\(UUID().uuidString).ltx").path
        let data = Self.bytes(700 << 10, seed: 3)
        FileManager.default.createFile(atPath: path, contents: Data(data))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let header = LTXHeader(pageSize: 4096, commit: 1, minTXID: 5, maxTXID: 5, timestamp: 1_768_469_400_000)
        let info = try await r.upload(localPath: path, level: 0, header: header)
        #expect(info.size == Int64(data.count))
        #expect(fake.blob("db/ltx/0/0000000000000005-0000000000000005.ltx")?.data == data)
        let counts = try #require(r.requestCounts)
        #expect(counts[.put] == 4)  // three blocks and the block list
    }
}
