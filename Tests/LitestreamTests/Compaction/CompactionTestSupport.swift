import Foundation
import LTX

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// Helpers shared by the compaction, retention and restore-plan tests (namespaced to stay clear of other suites).
enum CompactionTestSupport {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Deterministic page content for (pgno, version): a recognisable header plus pseudo-random bytes, so pages
    /// compress a little but every version differs.
    static func page(_ pgno: UInt32, version: Int, pageSize: Int = 512) -> [UInt8] {
        var rng = SeededRNG(seed: UInt64(pgno) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: version) &* 31)
        var bytes = [UInt8](repeating: 0, count: pageSize)
        withUnsafeBytes(of: pgno.bigEndian) { bytes.replaceSubrange(0..<4, with: $0) }
        withUnsafeBytes(of: Int64(version).bigEndian) { bytes.replaceSubrange(4..<12, with: $0) }
        for i in stride(from: 12, to: pageSize / 2, by: 1) { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
        return bytes
    }

    /// Encodes an LTX file in memory.
    static func encode(_ header: LTXHeader, pages: [(UInt32, [UInt8])]) throws -> [UInt8] {
        var out: [UInt8] = []
        var encoder = try LTXEncoder(header: header) { out.append(contentsOf: $0) }
        for (pgno, data) in pages.sorted(by: { $0.0 < $1.0 }) { try encoder.encodePage(pgno, data) }
        try encoder.finish()
        return out
    }

    static func header(
        min: UInt64, max: UInt64, commit: UInt32, pageSize: UInt32 = 512, timestamp: Int64 = 1_700_000_000_000
    ) -> LTXHeader {
        LTXHeader(pageSize: pageSize, commit: commit, minTXID: TXID(min), maxTXID: TXID(max), timestamp: timestamp)
    }

    /// Decodes and fully verifies an LTX file.
    static func decode(_ bytes: [UInt8], name: String? = nil) throws -> (header: LTXHeader, pages: [UInt32: [UInt8]], order: [UInt32]) {
        var decoder = LTXDecoder(LTXMemoryInput(bytes), name: name)
        var pages: [UInt32: [UInt8]] = [:]
        var order: [UInt32] = []
        let (h, _) = try decoder.decodeAll { pgno, data in
            pages[pgno] = Array(data)
            order.append(pgno)
        }
        return (h, pages, order)
    }

    static func decoders(_ files: [[UInt8]]) -> [LTXDecoder<LTXMemoryInput>] {
        files.enumerated().map { LTXDecoder(LTXMemoryInput($0.element), name: "file\($0.offset)") }
    }

    /// Merges in-memory files and returns the merged file's bytes.
    static func merge(
        _ files: [[UInt8]], contiguity: LTXMerge.Contiguity = .strict, timestamp: Int64? = nil
    ) throws -> [UInt8] {
        var merger = try LTXMerger(decoders(files), contiguity: contiguity, timestamp: timestamp)
        var out: [UInt8] = []
        try merger.merge { out.append(contentsOf: $0) }
        return out
    }

    static func info(_ level: Int, _ min: UInt64, _ max: UInt64, at createdAt: Int64 = 0, size: Int64 = 1000) -> LTXFileInfo {
        LTXFileInfo(level: level, minTXID: TXID(min), maxTXID: TXID(max), size: size, createdAt: createdAt)
    }

    static func listing(_ files: [LTXFileInfo]) -> [Int: [LTXFileInfo]] {
        Dictionary(grouping: files, by: \.level)
    }

    /// A unique temporary directory, removed when released.
    final class TempDir {
        let path: String
        init(_ name: String = "compaction") throws {
            path = NSTemporaryDirectory() + "/litestream-\(name)-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Randomized tests are reproducible from their seed.
    typealias SeededRNG = SplitMix64

    /// A model database history: transaction n (1-based) sets `commit[n]` and writes `writes[n]` (page → version).
    /// Transaction 1 writes every page; growth always writes the new pages, as Litestream's L0 files do.
    struct History {
        let pageSize: Int
        var commits: [UInt32] = [0]  // index 0 unused
        var writes: [[UInt32: Int]] = [[:]]
        var timestamps: [Int64] = [0]

        init(pageSize: Int = 512) { self.pageSize = pageSize }

        var lastTXID: UInt64 { UInt64(commits.count - 1) }

        mutating func append(commit: UInt32, writes w: [UInt32: Int], timestamp: Int64) {
            commits.append(commit)
            writes.append(w)
            timestamps.append(timestamp)
        }

        /// Random history of `count` transactions.
        static func random(count: Int, rng: inout SeededRNG, pageSize: Int = 512, maxPages: UInt32 = 40,
                           start: Int64 = 1_700_000_000_000) -> History {
            var h = History(pageSize: pageSize)
            var commit = UInt32.random(in: 3...maxPages / 2, using: &rng)
            var version = 0
            for tx in 1...count {
                let prev = commit
                if tx > 1 {
                    switch Int.random(in: 0..<10, using: &rng) {
                    case 0: commit = max(1, commit - UInt32.random(in: 1...min(5, commit), using: &rng))  // shrink
                    case 1, 2: commit = min(maxPages, commit + UInt32.random(in: 1...5, using: &rng))  // grow
                    default: break
                    }
                }
                var w: [UInt32: Int] = [:]
                if tx == 1 {
                    for p in 1...commit { version += 1; w[p] = version }
                } else {
                    if commit > prev { for p in (prev + 1)...commit { version += 1; w[p] = version } }
                    for _ in 0..<Int.random(in: 1...4, using: &rng) {
                        version += 1
                        w[UInt32.random(in: 1...commit, using: &rng)] = version
                    }
                }
                h.append(commit: commit, writes: w, timestamp: start + Int64(tx) * 1000)
            }
            return h
        }

        /// The LTX file for transactions `min...max` as the merge of those transactions should produce it:
        /// each page's latest version in the range, pages beyond the final commit dropped.
        func expectedPages(min: UInt64, max: UInt64) -> [UInt32: [UInt8]] {
            var latest: [UInt32: Int] = [:]
            for tx in Int(min)...Int(max) { latest.merge(writes[tx]) { _, new in new } }
            let commit = commits[Int(max)]
            var out: [UInt32: [UInt8]] = [:]
            for (p, v) in latest where p <= commit { out[p] = page(p, version: v, pageSize: pageSize) }
            return out
        }

        /// The whole database after transaction `txid`.
        func database(at txid: UInt64) -> [UInt32: [UInt8]] { expectedPages(min: 1, max: txid) }

        /// The L0 file of one transaction.
        func l0File(_ tx: UInt64) throws -> [UInt8] {
            let pages = writes[Int(tx)].map { ($0.key, page($0.key, version: $0.value, pageSize: pageSize)) }
            return try encode(
                header(min: tx, max: tx, commit: commits[Int(tx)], pageSize: UInt32(pageSize), timestamp: timestamps[Int(tx)]),
                pages: pages)
        }
    }
}

extension CompactionTestSupport {
    /// Stores an in-memory LTX file in a replica.
    @discardableResult
    static func store(_ bytes: [UInt8], level: Int, in client: FileReplicaClient) async throws -> LTXFileInfo {
        let h = try bytes.withUnsafeBytes { try LTXHeader(decoding: $0) }
        return try await client.writeLTXFile(level: level, minTXID: h.minTXID, maxTXID: h.maxTXID, timestamp: h.timestamp) { sink in
            try bytes.withUnsafeBytes { try sink($0) }
        }
    }

    /// Every level's files.
    static func listing(_ client: FileReplicaClient) async throws -> [Int: [LTXFileInfo]] {
        var out: [Int: [LTXFileInfo]] = [:]
        for level in 0...9 { out[level] = try await client.ltxFiles(level: level) }
        return out
    }

    /// Reads a stored file back.
    static func contents(_ file: LTXFileInfo, in client: FileReplicaClient) throws -> [UInt8] {
        let p = client.path(level: file.level, minTXID: file.minTXID, maxTXID: file.maxTXID)
        return Array(try Data(contentsOf: URL(fileURLWithPath: p)))
    }
}
