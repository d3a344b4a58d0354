import Foundation
import AsyncHTTPClient
import LTX
import NIOHTTP1
import Testing
import LitestreamHTTP

@testable import LitestreamClient
@testable import LitestreamCore
@testable import LitestreamOSS
@testable import LTX

/// The replica client's whole flow against ``FakeOSSService`` (which checks every signature): PutObject and
/// multipart writes, listing across pages (URL-encoded keys), timestamps from metadata, reads, exclusive level-0
/// names, batch deletes.
@Suite(.ownThreads) struct OSSClientFlowTests {
    static let secret = OSSConfigTests.secret

    static func replica(_ fake: FakeOSSService) throws -> OSSReplicaClient {
        var c = OSSConfiguration(bucket: "bkt", path: "db", endpoint: fake.endpoint, accessKeyID: "LTAIexample", accessKeySecret: Self.secret)
        c.partSize = 1 << 20
        c.maxAttempts = 2
        var r = try OSSReplicaClient(configuration: c, environment: [:])
        r.client.exchange.backoff = .init(baseDelay: .milliseconds(1), maxDelay: .milliseconds(5))
        r.listPageSize = 2
        return r
    }

    func read(_ r: OSSReplicaClient, _ f: LTXFileInfo) async throws -> [UInt8] {
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
        let fake = try FakeOSSService(id: "LTAIexample", secret: Self.secret)
        defer { fake.stop() }
        var r = try Self.replica(fake)
        let ts: Int64 = 1_768_469_400_123
        for i in 1...3 {
            let body = ABSClientFlowTests.bytes(1000 + i, seed: UInt8(i))
            try await r.writeLTXFile(level: 0, minTXID: TXID(UInt64(i)), maxTXID: TXID(UInt64(i)), timestamp: ts + Int64(i)) { sink in
                try body.withUnsafeBytes { try sink($0) }
            }
        }
        let big = ABSClientFlowTests.bytes((2 << 20) + 300, seed: 7)
        try await r.writeLTXFile(level: 9, minTXID: 1, maxTXID: 3, timestamp: ts) { sink in try big.withUnsafeBytes { try sink($0) } }
        #expect(fake.keys == [
            "db/0000/0000000000000001-0000000000000001.ltx", "db/0000/0000000000000002-0000000000000002.ltx",
            "db/0000/0000000000000003-0000000000000003.ltx", "db/0009/0000000000000001-0000000000000003.ltx",
        ])
        #expect(fake.object("db/0000/0000000000000001-0000000000000001.ltx")?.metadata == ["litestream-timestamp": "2026-01-15T09:30:00.124Z"])
        #expect(fake.object("db/0009/0000000000000001-0000000000000003.ltx")?.metadata == ["litestream-timestamp": "2026-01-15T09:30:00.123Z"])

        // Two pages; createdAt is LastModified, or with timestampsFromMetadata the LTX timestamp.
        let l0 = try await r.ltxFiles(level: 0)
        #expect(l0.map(\.minTXID) == [1, 2, 3] && l0.map(\.size) == [1001, 1002, 1003])
        r.timestampsFromMetadata = true
        #expect(try await r.ltxFiles(level: 0).map(\.createdAt) == [ts + 1, ts + 2, ts + 3])
        let l9 = try await r.ltxFiles(level: 9)
        #expect(l9.count == 1 && l9[0].size == Int64(big.count))
        #expect(try await read(r, l9[0]) == big)

        await #expect(throws: ReplicaError.self) {
            try await r.writeLTXFile(level: 0, minTXID: 2, maxTXID: 2, timestamp: ts) { sink in try [1, 2, 3].withUnsafeBytes { try sink($0) } }
        }
        #expect(try await read(r, l0[1]) == ABSClientFlowTests.bytes(1002, seed: 2))

        try await r.deleteLTXFiles([l0[0]])
        #expect(try await r.ltxFiles(level: 0).map(\.minTXID) == [2, 3])
        try await r.deleteAll()
        #expect(fake.keys.isEmpty)
        let counts = try #require(r.requestCounts)
        // 3 PUTs, multipart (initiate, 3 parts, complete), the refused PUT; two batch deletes; a HEAD per file of
        // each listing made with timestampsFromMetadata (3 at level 0, 1 at level 9, 2 after the delete).
        #expect(counts[.put] == 3 + 5 + 1 && counts[.delete] == 2 && counts[.head] == 6)
    }
}
