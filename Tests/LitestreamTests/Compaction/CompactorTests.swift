import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

private typealias S = CompactionTestSupport

@Suite("Compactor")
struct CompactorTests {
    /// Writes L0 files for transactions `range` of `history` to the replica.
    private func writeL0(_ history: S.History, _ range: ClosedRange<UInt64>, to client: FileReplicaClient) async throws {
        for tx in range { try await S.store(try history.l0File(tx), level: 0, in: client) }
    }

    @Test("L0 → L1 → L2 through a file replica matches the model", arguments: [UInt64(21), 22, 23])
    func compactThroughFileReplica(seed: UInt64) async throws {
        let dir = try S.TempDir()
        let client = FileReplicaClient(path: dir.path)
        var rng = S.SeededRNG(seed: seed)
        let history = S.History.random(count: 30, rng: &rng)
        let compactor = Compactor(client: client)

        #expect(try await compactor.compact(level: 1) == nil)  // empty replica: nothing to do

        try await writeL0(history, 1...12, to: client)
        let first = try #require(try await compactor.compact(level: 1))
        #expect(first.level == 1 && first.minTXID == 1 && first.maxTXID == 12)
        #expect(first.createdAt == history.timestamps[12])
        #expect(try await client.ltxFiles(level: 1) == [first])  // listed with the header timestamp as createdAt
        let decoded1 = try S.decode(try S.contents(first, in: client))
        #expect(decoded1.header.isSnapshot)
        #expect(decoded1.header.timestamp == history.timestamps[12])
        #expect(decoded1.pages == history.database(at: 12))

        #expect(try await compactor.compact(level: 1) == nil)  // nothing new

        try await writeL0(history, 13...20, to: client)
        let second = try #require(try await compactor.compact(level: 1))
        #expect(second.minTXID == 13 && second.maxTXID == 20)
        #expect(try S.decode(try S.contents(second, in: client)).pages == history.expectedPages(min: 13, max: 20))

        let l2 = try #require(try await compactor.compact(level: 2))
        #expect(l2.level == 2 && l2.minTXID == 1 && l2.maxTXID == 20)
        let decoded2 = try S.decode(try S.contents(l2, in: client))
        #expect(decoded2.pages == history.database(at: 20))
        #expect(decoded2.order == Array(1...history.commits[20]))

        try await writeL0(history, 21...30, to: client)
        let third = try #require(try await compactor.compact(level: 1))
        #expect(third.minTXID == 21 && third.maxTXID == 30)
        let l2b = try #require(try await compactor.compact(level: 2))
        #expect(l2b.minTXID == 21 && l2b.maxTXID == 30)
        #expect(try S.decode(try S.contents(l2b, in: client)).pages == history.expectedPages(min: 21, max: 30))
        #expect(try await compactor.compact(level: 3).map(\.maxTXID) == 30)

        // Restoring from what is now in the replica rebuilds the database (plan + overlapping-capable merge).
        let listing = try await S.listing(client)
        let plan = try RestorePlan.make(files: listing)
        #expect(plan.map(\.level) == [3])  // the single widest file wins
        var readers: [ReplicaFileReader] = []
        for f in plan { readers.append(try await client.openLTXFile(f)) }
        var merger = try LTXMerger(readers.map { $0.decoder() }, contiguity: .overlapping)
        var db: [UInt32: [UInt8]] = [:]
        try merger.mergePages { db[$0] = Array($1) }
        #expect(db == history.database(at: 30))
    }

    @Test("more inputs than maxOpenInputs are merged in groups first, giving the very same file", arguments: [2, 3, 7])
    func boundedFanIn(fanIn: Int) async throws {
        var rng = S.SeededRNG(seed: 77)
        let history = S.History.random(count: 40, rng: &rng)
        var results: [[UInt8]] = []
        for limit in [64, fanIn] {
            let dir = try S.TempDir()
            let client = FileReplicaClient(path: dir.path)
            try await writeL0(history, 1...40, to: client)
            var compactor = Compactor(client: client)
            compactor.maxOpenInputs = limit
            let scratch = try S.TempDir()
            compactor.temporaryDirectory = scratch.path
            let file = try #require(try await compactor.compact(level: 1))
            #expect(file.minTXID == 1 && file.maxTXID == 40 && file.createdAt == history.timestamps[40])
            let bytes = try S.contents(file, in: client)
            #expect(try S.decode(bytes).pages == history.database(at: 40))
            results.append(bytes)
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty, "no intermediate file left")
        }
        #expect(results[0] == results[1], "grouped merging changes nothing in the output")
    }

    @Test("a hole in the source level, or between the level and its source, is refused")
    func contiguity() async throws {
        let dir = try S.TempDir()
        let client = FileReplicaClient(path: dir.path)
        var rng = S.SeededRNG(seed: 5)
        let history = S.History.random(count: 12, rng: &rng)
        let compactor = Compactor(client: client)

        try await writeL0(history, 1...3, to: client)
        try await writeL0(history, 5...6, to: client)  // TXID 4 missing
        let error = await #expect(throws: CompactionError.self) { try await compactor.compact(level: 1) }
        #expect(error?.code == .nonContiguous)
        #expect(error?.message.contains("L0/0000000000000003-0000000000000003.ltx") == true)
        #expect(error?.message.contains("L0/0000000000000005-0000000000000005.ltx") == true)
        #expect(try await client.ltxFiles(level: 1).isEmpty)  // nothing written

        // Level 1 ends at 6 but level 0 resumes at 8.
        let dir2 = try S.TempDir()
        let client2 = FileReplicaClient(path: dir2.path)
        try await S.store(try S.merge(try (1...6).map { try history.l0File($0) }), level: 1, in: client2)
        try await writeL0(history, 8...9, to: client2)
        let error2 = await #expect(throws: CompactionError.self) { try await Compactor(client: client2).compact(level: 1) }
        #expect(error2?.code == .nonContiguous)
        #expect(error2?.message.contains("ends at TXID 0000000000000006") == true)

        // With 7 present it compacts 7...9 only (files at or below the level's end are not inputs).
        try await writeL0(history, 7...7, to: client2)
        let info = try #require(try await Compactor(client: client2).compact(level: 1))
        #expect(info.minTXID == 7 && info.maxTXID == 9)
    }

    @Test("the pure plan: inputs above the level's highest TXID, sorted, contiguous")
    func plan() throws {
        let src = [S.info(0, 9, 9), S.info(0, 7, 7), S.info(0, 8, 8), S.info(0, 5, 5), S.info(0, 6, 6)]
        let dst = [S.info(1, 1, 4), S.info(1, 5, 6)]
        #expect(try Compactor.plan(level: 1, source: src, destination: dst).map(\.minTXID) == [7, 8, 9])
        #expect(try Compactor.plan(level: 1, source: src, destination: []).map(\.minTXID) == [5, 6, 7, 8, 9])
        #expect(try Compactor.plan(level: 1, source: src, destination: [S.info(1, 1, 9)]).isEmpty)
        // Level 1 ends at 5 but level 0 resumes at 7.
        let error = #expect(throws: CompactionError.self) {
            try Compactor.plan(level: 1, source: src.filter { $0.minTXID != 6 }, destination: [S.info(1, 1, 5)])
        }
        #expect(error?.message.contains("0000000000000006-0000000000000006 are missing") == true)
        // A source file straddling the level's end is skipped, leaving a hole: refused.
        #expect(throws: CompactionError.self) {
            try Compactor.plan(level: 2, source: [S.info(1, 3, 6), S.info(1, 7, 8)], destination: [S.info(2, 1, 4)])
        }
        // The newest file is the one with the highest MaxTXID.
        #expect(Compactor.newest([S.info(1, 5, 9, at: 10), S.info(1, 10, 12, at: 5), S.info(1, 1, 4, at: 99)])?.createdAt == 5)
        #expect(Compactor.newest([S.info(1, 1, 20, at: 7), S.info(1, 5, 10, at: 8)])?.createdAt == 7)  // not by name
        #expect(Compactor.newest([S.info(1, 2, 20, at: 7), S.info(1, 1, 20, at: 8)])?.createdAt == 8)  // tie: first by name
        #expect(Compactor.newest([]) == nil)
    }

    @Test("local L0 copies are preferred; a missing one falls back to the replica")
    func localL0() async throws {
        let dir = try S.TempDir()
        let local = try S.TempDir("local")
        let client = FileReplicaClient(path: dir.path)
        // Remote TXID 2 holds version 20 of page 1; the local copy holds version 99 (same header).
        try await S.store(try S.encode(S.header(min: 1, max: 1, commit: 1), pages: [(1, S.page(1, version: 10))]), level: 0, in: client)
        try await S.store(try S.encode(S.header(min: 2, max: 2, commit: 1), pages: [(1, S.page(1, version: 20))]), level: 0, in: client)
        let localBytes = try S.encode(S.header(min: 2, max: 2, commit: 1), pages: [(1, S.page(1, version: 99))])
        try Data(localBytes).write(to: URL(fileURLWithPath: local.path + "/" + LTXFileName.format(min: 2, max: 2)))

        let localPath = local.path
        let compactor = Compactor(client: client, localL0Path: { "\(localPath)/\($0.name)" })
        let info = try #require(try await compactor.compact(level: 1))
        #expect(try S.decode(try S.contents(info, in: client)).pages[1] == S.page(1, version: 99))

        // Without the local copy (TXID 1 was never local either) the remote files are read.
        let dir2 = try S.TempDir()
        let client2 = FileReplicaClient(path: dir2.path)
        try await S.store(try S.encode(S.header(min: 1, max: 1, commit: 1), pages: [(1, S.page(1, version: 10))]), level: 0, in: client2)
        try await S.store(try S.encode(S.header(min: 2, max: 2, commit: 1), pages: [(1, S.page(1, version: 20))]), level: 0, in: client2)
        let info2 = try #require(try await Compactor(client: client2, localL0Path: { _ in "/nonexistent/x.ltx" }).compact(level: 1))
        #expect(try S.decode(try S.contents(info2, in: client2)).pages[1] == S.page(1, version: 20))
    }

    @Test("a merged L0 file is read from the local one-TXID files it was made of, else from the replica")
    func mergedL0FromLocalParts() async throws {
        let dir = try S.TempDir()
        let local = try S.TempDir("local")
        let client = FileReplicaClient(path: dir.path)
        // The replica holds TXID 1 and a merged upload of TXIDs 2-3 (page 1 at version 30); the local files 2 and 3
        // hold versions 20 and 99, so the result tells which was read.
        try await S.store(try S.encode(S.header(min: 1, max: 1, commit: 1), pages: [(1, S.page(1, version: 10))]), level: 0, in: client)
        try await S.store(try S.encode(S.header(min: 2, max: 3, commit: 1), pages: [(1, S.page(1, version: 30))]), level: 0, in: client)
        for (txid, version) in [(UInt64(2), 20), (3, 99)] {
            let bytes = try S.encode(S.header(min: txid, max: txid, commit: 1), pages: [(1, S.page(1, version: version))])
            try Data(bytes).write(to: URL(fileURLWithPath: local.path + "/" + LTXFileName.format(min: TXID(txid), max: TXID(txid))))
        }
        let localPath = local.path
        let compactor = Compactor(client: client, localL0Path: { "\(localPath)/\($0.name)" })
        let info = try #require(try await compactor.compact(level: 1))
        #expect(info.minTXID == TXID(1) && info.maxTXID == TXID(3))
        #expect(try S.decode(try S.contents(info, in: client)).pages[1] == S.page(1, version: 99))

        // One part gone: the merged file is read from the replica.
        let dir2 = try S.TempDir()
        let client2 = FileReplicaClient(path: dir2.path)
        try await S.store(try S.encode(S.header(min: 1, max: 1, commit: 1), pages: [(1, S.page(1, version: 10))]), level: 0, in: client2)
        try await S.store(try S.encode(S.header(min: 2, max: 3, commit: 1), pages: [(1, S.page(1, version: 30))]), level: 0, in: client2)
        try FileManager.default.removeItem(atPath: local.path + "/" + LTXFileName.format(min: TXID(2), max: TXID(2)))
        let info2 = try #require(try await Compactor(client: client2, localL0Path: { "\(localPath)/\($0.name)" }).compact(level: 1))
        #expect(try S.decode(try S.contents(info2, in: client2)).pages[1] == S.page(1, version: 30))
    }

    @Test("a file whose header disagrees with its name is refused")
    func headerMismatch() async throws {
        let dir = try S.TempDir()
        let client = FileReplicaClient(path: dir.path)
        try await S.store(try S.encode(S.header(min: 1, max: 1, commit: 1), pages: [(1, S.page(1, version: 1))]), level: 0, in: client)
        let bytes = try S.encode(S.header(min: 3, max: 3, commit: 1), pages: [(1, S.page(1, version: 3))])
        try await client.writeLTXFile(level: 0, minTXID: 2, maxTXID: 2, timestamp: 0) { sink in
            try bytes.withUnsafeBytes { try sink($0) }
        }
        // The header chain (1, 3) is itself non-contiguous; either way nothing is written.
        await #expect(throws: CompactionError.self) { try await Compactor(client: client).compact(level: 1) }

        let dir2 = try S.TempDir()
        let client2 = FileReplicaClient(path: dir2.path)
        try await client2.writeLTXFile(level: 0, minTXID: 1, maxTXID: 1, timestamp: 0) { sink in
            let b = try S.encode(S.header(min: 1, max: 2, commit: 1), pages: [(1, S.page(1, version: 3))])
            try b.withUnsafeBytes { try sink($0) }
        }
        let error = await #expect(throws: CompactionError.self) { try await Compactor(client: client2).compact(level: 1) }
        #expect(error?.code == .headerMismatch)
        #expect(try await client2.ltxFiles(level: 1).isEmpty)
    }

    @Test("a damaged input fails the compaction and leaves no file, not even a temporary one")
    func damagedInput() async throws {
        let dir = try S.TempDir()
        let client = FileReplicaClient(path: dir.path)
        try await S.store(try S.encode(S.header(min: 1, max: 1, commit: 1), pages: [(1, S.page(1, version: 1))]), level: 0, in: client)
        var bad = try S.encode(S.header(min: 2, max: 2, commit: 1), pages: [(1, S.page(1, version: 2))])
        bad[bad.count - 2] ^= 0xff  // file checksum
        try await S.store(bad, level: 0, in: client)
        let error = await #expect(throws: LTXError.self) { try await Compactor(client: client).compact(level: 1) }
        #expect(error?.code == .checksumMismatch)
        #expect(error?.file == "L0/0000000000000002-0000000000000002.ltx")
        #expect(try await client.ltxFiles(level: 1).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: client.levelDirectory(1)).isEmpty)
    }

    @Test("levels 0 and 9 (and beyond) cannot be compacted into")
    func invalidLevels() async throws {
        let dir = try S.TempDir()
        let compactor = Compactor(client: FileReplicaClient(path: dir.path))
        for level in [0, 9, 10, -1] {
            let error = await #expect(throws: CompactionError.self) { try await compactor.compact(level: level) }
            #expect(error?.code == .invalidLevel)
        }
        await #expect(throws: CompactionError.self) { try await compactor.compactIfDue(level: 5, now: 0) }
    }

    @Test("compactIfDue: too early, nothing to do, compacted")
    func compactIfDue() async throws {
        let dir = try S.TempDir()
        let client = FileReplicaClient(path: dir.path)
        let compactor = Compactor(client: client)
        let base: Int64 = 1_700_000_010_000  // a multiple of 30 s
        let l1 = CompactionLevel(level: 1, interval: .seconds(30))

        #expect(try await compactor.compactIfDue(level: 1, now: base + 1) == .nothingToCompact)
        for tx in UInt64(1)...3 {
            let ts = base + Int64(tx) * 1000
            try await S.store(try S.encode(S.header(min: tx, max: tx, commit: 1, timestamp: ts),
                                           pages: [(1, S.page(1, version: Int(tx)))]), level: 0, in: client)
        }
        guard case .compacted(let info) = try await compactor.compactIfDue(level: l1, now: base + 3500) else {
            Issue.record("expected a compaction")
            return
        }
        #expect(info.maxTXID == 3 && info.createdAt == base + 3000)
        try await S.store(try S.encode(S.header(min: 4, max: 4, commit: 1, timestamp: base + 4000),
                                       pages: [(1, S.page(1, version: 4))]), level: 0, in: client)
        // L1's newest file (created at base+3s) is after the last boundary (base) until base+30s.
        #expect(try await compactor.compactIfDue(level: l1, now: base + 29_999) == .tooEarly)
        guard case .compacted(let next) = try await compactor.compactIfDue(level: 1, now: base + 30_000) else {
            Issue.record("expected a compaction at the next boundary")
            return
        }
        #expect(next.minTXID == 4)
        #expect(try await compactor.compactIfDue(level: 1, now: base + 60_000) == .nothingToCompact)
    }
}

@Suite("Compaction schedule")
struct CompactionScheduleTests {
    @Test("defaults are L1 30 s, L2 5 min, L3 1 h and validate")
    func defaults() throws {
        #expect(CompactionLevel.defaults.map(\.level) == [1, 2, 3])
        #expect(CompactionLevel.defaults.map(\.intervalMilliseconds) == [30_000, 300_000, 3_600_000])
        try CompactionLevel.validate(CompactionLevel.defaults)
        #expect(throws: CompactionError.self) { try CompactionLevel.validate([]) }
        #expect(throws: CompactionError.self) {
            try CompactionLevel.validate([CompactionLevel(level: 2, interval: .seconds(1))])
        }
        #expect(throws: CompactionError.self) {
            try CompactionLevel.validate([CompactionLevel(level: 1, interval: .zero)])
        }
        let nine = (1...9).map { CompactionLevel(level: $0, interval: .seconds(1)) }
        #expect(throws: CompactionError.self) { try CompactionLevel.validate(nine) }
        try CompactionLevel.validate(Array(nine.prefix(8)))
    }

    @Test("boundaries are Unix-aligned for intervals dividing a day",
          arguments: [Int64(1_000), 30_000, 300_000, 3_600_000, 86_400_000])
    func unixAligned(interval: Int64) {
        let level = CompactionLevel(level: 1, interval: .milliseconds(interval))
        var rng = CompactionTestSupport.SeededRNG(seed: UInt64(interval))
        for _ in 0..<200 {
            let now = Int64.random(in: 1_600_000_000_000...1_900_000_000_000, using: &rng)
            let prev = level.previousBoundary(at: now)
            #expect(prev == now - now % interval)
            #expect(level.nextBoundary(after: now) == prev + interval)
            #expect(level.nextBoundary(after: now) > now)
        }
        // Exactly on a boundary: that is the previous boundary; the next is one interval later.
        let on: Int64 = 1_700_000_000_000 / interval * interval
        #expect(level.previousBoundary(at: on) == on)
        #expect(level.nextBoundary(after: on) == on + interval)
        #expect(level.previousBoundary(at: on - 1) == on - interval)
    }

    @Test("an interval not dividing a day aligns as Go's time.Truncate (from year 1, not 1970)")
    func goZeroTimeAlignment() {
        // 62135596800 s from 0001-01-01 to 1970-01-01; mod 420 s (7 min) = 60 s.
        let level = CompactionLevel(level: 1, interval: .seconds(7 * 60))
        #expect(level.previousBoundary(at: 0) == -60_000)
        #expect(level.previousBoundary(at: 360_000) == 360_000)
        #expect(level.nextBoundary(after: 0) == 360_000)
        // 2023-11-14T22:13:20Z truncates to 22:12:00 (1699999920 s): a 7-minute multiple counted from year 1.
        #expect(level.previousBoundary(at: 1_700_000_000_000) == 1_699_999_920_000)
        #expect(level.previousBoundary(at: 1_700_000_000_000) != 1_700_000_000_000 / 420_000 * 420_000)
    }

    @Test("shouldCompact: due unless the newest file is after the last boundary")
    func shouldCompact() {
        let l1 = CompactionLevel(level: 1, interval: .seconds(30))
        let now: Int64 = 1_700_000_025_000  // boundary 1_700_000_010_000
        #expect(Compactor.shouldCompact(level: l1, newestAt: nil, now: now))
        #expect(Compactor.shouldCompact(level: l1, newestAt: 1_700_000_009_999, now: now))
        #expect(Compactor.shouldCompact(level: l1, newestAt: 1_700_000_010_000, now: now))
        #expect(!Compactor.shouldCompact(level: l1, newestAt: 1_700_000_010_001, now: now))
        #expect(!Compactor.shouldCompact(level: l1, newestAt: now, now: now))
        #expect(Compactor.shouldCompact(level: l1, newestAt: 1_700_000_010_001, now: 1_700_000_040_000))
    }
}
