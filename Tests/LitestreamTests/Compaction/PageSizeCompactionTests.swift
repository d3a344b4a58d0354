import Foundation
import LTX
import Testing

@testable import LitestreamCore

private typealias S = CompactionTestSupport

/// #19.2: compaction across a change of page size (the replicator wrote a full-database file in the new size at
/// the change) writes one file per page size, never fails; restores at every TXID work from the files of any level.
@Suite("Page size change: compaction and restore")
struct PageSizeCompactionTests {
    /// TXIDs 1-2 with 512-byte pages (3 pages), 3-4 with 1024-byte pages (2 pages; 3 is every page).
    static func history() throws -> [[UInt8]] {
        [
            try S.encode(S.header(min: 1, max: 1, commit: 3, pageSize: 512, timestamp: 1_000),
                pages: (1...3).map { ($0, S.page($0, version: 1, pageSize: 512)) }),
            try S.encode(S.header(min: 2, max: 2, commit: 3, pageSize: 512, timestamp: 2_000),
                pages: [(2, S.page(2, version: 2, pageSize: 512))]),
            try S.encode(S.header(min: 3, max: 3, commit: 2, pageSize: 1024, timestamp: 3_000),
                pages: (1...2).map { ($0, S.page($0, version: 3, pageSize: 1024)) }),
            try S.encode(S.header(min: 4, max: 4, commit: 2, pageSize: 1024, timestamp: 4_000),
                pages: [(1, S.page(1, version: 4, pageSize: 1024))]),
        ]
    }

    /// The database bytes at each TXID.
    static let expected: [UInt64: [UInt8]] = [
        1: S.page(1, version: 1, pageSize: 512) + S.page(2, version: 1, pageSize: 512) + S.page(3, version: 1, pageSize: 512),
        2: S.page(1, version: 1, pageSize: 512) + S.page(2, version: 2, pageSize: 512) + S.page(3, version: 1, pageSize: 512),
        3: S.page(1, version: 3, pageSize: 1024) + S.page(2, version: 3, pageSize: 1024),
        4: S.page(1, version: 4, pageSize: 1024) + S.page(2, version: 3, pageSize: 1024),
    ]

    @Test func compactionWritesOneFilePerPageSizeAndEveryTXIDRestores() async throws {
        let dir = try S.TempDir("page-size")
        let client = FileReplicaClient(path: dir.path + "/replica")
        for file in try Self.history() { try await S.store(file, level: 0, in: client) }
        try await expectRestores(client, dir: dir.path, "L0 only")

        let compactor = Compactor(client: client)
        let l1 = try #require(try await compactor.compact(level: 1))
        #expect(l1.maxTXID == TXID(4))
        #expect(try await client.ltxFiles(level: 1).map { "\($0.minTXID.rawValue)-\($0.maxTXID.rawValue)" } == ["1-2", "3-4"])
        try await client.deleteLTXFiles(try await client.ltxFiles(level: 0))
        try await expectRestores(client, dir: dir.path, "L1")

        #expect(try await compactor.compact(level: 2)?.maxTXID == TXID(4))
        #expect(try await client.ltxFiles(level: 2).map { "\($0.minTXID.rawValue)-\($0.maxTXID.rawValue)" } == ["1-2", "3-4"])
        try await client.deleteLTXFiles(try await client.ltxFiles(level: 1))
        try await expectRestores(client, dir: dir.path, "L2")
    }

    /// A file that changes the page size without every page cannot be restored from: refused, never a torn file.
    @Test func aChangeWithoutEveryPageIsRefused() async throws {
        let dir = try S.TempDir("page-size-torn")
        let client = FileReplicaClient(path: dir.path + "/replica")
        var files = try Self.history()
        files[2] = try S.encode(S.header(min: 3, max: 3, commit: 2, pageSize: 1024, timestamp: 3_000),
            pages: [(1, S.page(1, version: 3, pageSize: 1024))])
        for file in files { try await S.store(file, level: 0, in: client) }
        let restorer = Restorer(replica: client)
        await #expect(throws: RestoreError.self) {
            try await restorer.restore(to: dir.path + "/out.db", plan: try await restorer.plan())
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/out.db"))
    }

    private func expectRestores(_ client: FileReplicaClient, dir: String, _ label: String) async throws {
        let restorer = Restorer(replica: client)
        for txid in [nil] + (1...4).map({ Optional(UInt64($0)) }) {
            let out = dir + "/restored-\(UUID().uuidString).db"
            let plan: [LTXFileInfo]
            do { plan = try await restorer.plan(txid: txid.map { TXID($0) }) } catch {
                // Inside a compacted range a TXID is no restore point (as Litestream); the ends of each range are.
                #expect(txid == 1 || txid == 3, "\(label), TXID \(txid.map(String.init) ?? "latest"): \(error)")
                continue
            }
            try await restorer.restore(to: out, plan: plan)
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: out)))
            #expect(bytes == Self.expected[txid ?? 4], "\(label), TXID \(txid.map(String.init) ?? "latest")")
        }
    }
}
