import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

private typealias S = CompactionTestSupport

@Suite("RestorePlan")
struct RestorePlanTests {
    private func names(_ plan: [LTXFileInfo]) -> [String] { plan.map(\.description) }

    @Test("snapshot, then the widest file from any level, then L0")
    func snapshotAndLevels() throws {
        let files = S.listing([
            S.info(9, 1, 5, at: 50), S.info(9, 1, 10, at: 100),
            S.info(3, 1, 8), S.info(2, 11, 20), S.info(1, 11, 15), S.info(1, 16, 20), S.info(1, 21, 25),
            S.info(0, 24, 24), S.info(0, 25, 25), S.info(0, 26, 26), S.info(0, 27, 27),
        ])
        let plan = try RestorePlan.make(files: files)
        #expect(names(plan) == [
            "L9/0000000000000001-000000000000000a.ltx", "L2/000000000000000b-0000000000000014.ltx",
            "L1/0000000000000015-0000000000000019.ltx", "L0/000000000000001a-000000000000001a.ltx",
            "L0/000000000000001b-000000000000001b.ltx",
        ])
    }

    @Test("best candidate: largest MaxTXID, then smallest MinTXID, then higher level, then older")
    func tieBreaks() throws {
        // Largest MaxTXID wins over level.
        var plan = try RestorePlan.make(files: S.listing([S.info(9, 1, 10), S.info(1, 11, 30), S.info(2, 11, 20), S.info(2, 21, 30)]))
        #expect(names(plan) == ["L9/0000000000000001-000000000000000a.ltx", "L1/000000000000000b-000000000000001e.ltx"])

        // Same MaxTXID: the smaller MinTXID (an overlapping file) wins, even from a lower level.
        plan = try RestorePlan.make(files: S.listing([S.info(9, 1, 10), S.info(0, 5, 30), S.info(3, 11, 30)]))
        #expect(names(plan).last == "L0/0000000000000005-000000000000001e.ltx")

        // Same range: the higher level wins.
        plan = try RestorePlan.make(files: S.listing([S.info(9, 1, 10), S.info(1, 11, 30), S.info(4, 11, 30), S.info(2, 11, 30)]))
        #expect(names(plan).last == "L4/000000000000000b-000000000000001e.ltx")

        // Same everything but time: the older file (only possible with duplicate listings, so tested directly).
        let older = S.info(1, 11, 30, at: 5), newer = S.info(1, 11, 30, at: 6)
        #expect(RestorePlan.isBetter(older, than: newer))
        #expect(!RestorePlan.isBetter(newer, than: older))
        #expect(!RestorePlan.isBetter(older, than: older))
        #expect(RestorePlan.isBetter(S.info(0, 1, 9), than: S.info(8, 1, 8)))
        #expect(RestorePlan.isBetter(S.info(0, 1, 9), than: S.info(8, 2, 9)))
        #expect(RestorePlan.isBetter(S.info(8, 2, 9), than: S.info(7, 2, 9)))
    }

    @Test("a target TXID is reached exactly, or the restore fails")
    func txidTarget() throws {
        let files = S.listing([
            S.info(9, 1, 10), S.info(9, 1, 20), S.info(1, 11, 15), S.info(1, 16, 20), S.info(1, 21, 25),
            S.info(0, 21, 21), S.info(0, 22, 22), S.info(0, 23, 23),
        ])
        // Snapshot 1-20 exceeds 17: use 1-10, then L1 11-15, then nothing reaches 17 exactly (16-20 overshoots).
        let short = #expect(throws: RestoreError.self) { try RestorePlan.make(files: files, txid: 17) }
        #expect(short == RestoreError.noMatchingBackupFiles)
        #expect(short?.message == "no matching backup files available")

        #expect(names(try RestorePlan.make(files: files, txid: 15)) == [
            "L9/0000000000000001-000000000000000a.ltx", "L1/000000000000000b-000000000000000f.ltx"])
        // Exactly a snapshot: the snapshot alone.
        #expect(names(try RestorePlan.make(files: files, txid: 20)) == ["L9/0000000000000001-0000000000000014.ltx"])
        // L1 21-25 overshoots 22, L0 files reach it.
        #expect(names(try RestorePlan.make(files: files, txid: 22)) == [
            "L9/0000000000000001-0000000000000014.ltx", "L0/0000000000000015-0000000000000015.ltx",
            "L0/0000000000000016-0000000000000016.ltx"])
        #expect(try RestorePlan.make(files: files, txid: 25).last?.maxTXID == 25)
        #expect(throws: RestoreError.self) { try RestorePlan.make(files: files, txid: 26) }
        // TXID 0 means latest, as in Litestream.
        #expect(try RestorePlan.make(files: files, txid: 0) == RestorePlan.make(files: files))
    }

    @Test("a timestamp target ignores files created at or after it")
    func timestampTarget() throws {
        let files = S.listing([
            S.info(9, 1, 10, at: 1_000), S.info(9, 1, 20, at: 2_000),
            S.info(1, 11, 15, at: 1_500), S.info(1, 16, 20, at: 1_900), S.info(1, 21, 25, at: 2_500),
            S.info(0, 21, 21, at: 2_100), S.info(0, 22, 22, at: 2_200),
        ])
        #expect(names(try RestorePlan.make(files: files, timestamp: 2_000)) == [
            "L9/0000000000000001-000000000000000a.ltx", "L1/000000000000000b-000000000000000f.ltx",
            "L1/0000000000000010-0000000000000014.ltx"])
        #expect(try RestorePlan.make(files: files, timestamp: 2_001).map(\.maxTXID) == [20])
        #expect(try RestorePlan.make(files: files, timestamp: 2_201).map(\.maxTXID) == [20, 21, 22])
        #expect(try RestorePlan.make(files: files, timestamp: 1_001).map(\.maxTXID) == [10])
        #expect(throws: RestoreError.self) { try RestorePlan.make(files: files, timestamp: 1_000) }
        // A hole before the target fails as a latest restore does, instead of giving an older state (#19.5);
        // a hole after the target (only files created later beyond it) does not matter.
        var holed = files
        holed[0]?.removeAll { $0.minTXID == 21 }
        holed[1]?.removeAll { $0.minTXID == 21 }
        let gap = #expect(throws: RestoreError.self) { try RestorePlan.make(files: holed, timestamp: 2_300) }
        #expect(gap?.code == .nonContiguous)
        #expect(gap?.message == "non-contiguous ltx files: have up to 0000000000000014 but next file starts at 0000000000000016")
        #expect(throws: RestoreError.self) { try RestorePlan.make(files: holed) }
        #expect(try RestorePlan.make(files: holed, timestamp: 2_150).map(\.maxTXID) == [20])

        let both = #expect(throws: RestoreError.self) { try RestorePlan.make(files: files, txid: 5, timestamp: 5) }
        #expect(both?.code == .invalidRequest)
    }

    @Test("a latest restore refuses a hole: non-contiguous ltx files")
    func nonContiguous() throws {
        let files = S.listing([S.info(9, 1, 10), S.info(0, 11, 11), S.info(0, 13, 13)])
        let error = #expect(throws: RestoreError.self) { try RestorePlan.make(files: files) }
        #expect(error?.code == .nonContiguous)
        #expect(error?.message == "non-contiguous ltx files: have up to 000000000000000b but next file starts at 000000000000000d")
        // A target TXID before the hole is fine.
        #expect(try RestorePlan.make(files: files, txid: 11).count == 2)
        // A hole covered by another level is no hole.
        var covered = files
        covered[2] = [S.info(2, 11, 12)]
        #expect(try RestorePlan.make(files: covered).map(\.maxTXID) == [10, 12, 13])
        // Files entirely behind the chain (old L1 files) are not holes.
        covered[1] = [S.info(1, 3, 4), S.info(1, 5, 6)]
        #expect(try RestorePlan.make(files: covered).map(\.maxTXID) == [10, 12, 13])
    }

    @Test("without a snapshot the chain must start at TXID 1")
    func noSnapshot() throws {
        let error = #expect(throws: RestoreError.self) {
            try RestorePlan.make(files: S.listing([S.info(0, 2, 2), S.info(0, 3, 3), S.info(1, 2, 3)]))
        }
        #expect(error?.message == "no matching backup files available")
        #expect(throws: RestoreError.self) { try RestorePlan.make(files: [:]) }
        #expect(try RestorePlan.make(files: S.listing([S.info(0, 1, 1), S.info(0, 2, 2)])).map(\.maxTXID) == [1, 2])
        #expect(try RestorePlan.make(files: S.listing([S.info(1, 1, 4), S.info(0, 1, 1), S.info(0, 5, 5)])).map(\.maxTXID) == [4, 5])
        // A snapshot filtered out by the target falls back to a chain from TXID 1 if there is one.
        #expect(try RestorePlan.make(files: S.listing([S.info(9, 1, 9), S.info(0, 1, 1), S.info(0, 2, 2)]), txid: 2).map(\.level) == [0, 0])
    }

    @Test("checkTimestamp: within [earliest, latest] createdAt only")
    func checkTimestamp() throws {
        let files = S.listing([S.info(9, 1, 10, at: 1_000), S.info(0, 11, 11, at: 3_000), S.info(1, 11, 11, at: 2_000)])
        try RestorePlan.checkTimestamp(1_000, files: files)
        try RestorePlan.checkTimestamp(3_000, files: files)
        #expect(RestorePlan.timeBounds(files) == 1_000...3_000)
        let after = #expect(throws: RestoreError.self) { try RestorePlan.checkTimestamp(3_001, files: files) }
        #expect(after?.code == .timestampOutOfRange && after?.message == "timestamp does not exist")
        #expect(throws: RestoreError.self) { try RestorePlan.checkTimestamp(999, files: files) }
        let none = #expect(throws: RestoreError.self) { try RestorePlan.checkTimestamp(5, files: [:]) }
        #expect(none?.code == .noBackups)
    }

    /// The cursor-based planner against a direct reading of the rules (scan every file at every step).
    @Test("random listings: the planner agrees with a brute-force reading of §2.5", arguments: [UInt64(31), 32, 33, 34])
    func bruteForce(seed: UInt64) {
        var rng = S.SeededRNG(seed: seed)
        var agreed = 0, failed = 0
        for _ in 0..<400 {
            var files: [LTXFileInfo] = []
            let top = UInt64.random(in: 5...40, using: &rng)
            for _ in 0..<Int.random(in: 0...25, using: &rng) {
                let level = [0, 0, 0, 1, 1, 2, 3, 8, 9].randomElement(using: &rng)!
                let min = level == 9 ? 1 : UInt64.random(in: 1...top, using: &rng)
                let max = min + (level == 0 ? 0 : UInt64.random(in: 0...10, using: &rng))
                files.append(S.info(level, min, max, at: Int64.random(in: 0...50, using: &rng)))
            }
            let listing = S.listing(Array(Set(files)))
            let txid: TXID? = Bool.random(using: &rng) ? nil : TXID(UInt64.random(in: 1...top + 5, using: &rng))
            let ts: Int64? = txid == nil && Bool.random(using: &rng) ? Int64.random(in: 0...55, using: &rng) : nil
            let got = Result { try RestorePlan.make(files: listing, txid: txid, timestamp: ts) }
            let want = Self.reference(listing, txid: txid, timestamp: ts)
            switch (got, want) {
            case (.success(let a), .success(let b)):
                #expect(a == b, "txid \(String(describing: txid)) ts \(String(describing: ts)) files \(listing)")
                agreed += 1
            case (.failure(let a as RestoreError), .failure(let b)):
                #expect(a == b)
                failed += 1
            default:
                Issue.record("planner \(got) vs reference \(want) for \(listing) txid \(String(describing: txid)) ts \(String(describing: ts))")
            }
        }
        #expect(agreed > 50 && failed > 50)
    }

    private static func reference(_ files: [Int: [LTXFileInfo]], txid: TXID?, timestamp: Int64?) -> Result<[LTXFileInfo], RestoreError> {
        func ok(_ f: LTXFileInfo) -> Bool {
            (txid == nil || f.maxTXID <= txid!) && (timestamp == nil || f.createdAt < timestamp!)
        }
        var plan: [LTXFileInfo] = []
        let snaps = (files[9] ?? []).sorted { ($0.minTXID, $0.maxTXID) < ($1.minTXID, $1.maxTXID) }
        if let s = snaps.last(where: ok) { plan.append(s) }
        var current = plan.last?.maxTXID ?? 0
        let rest = (0...8).flatMap { files[$0] ?? [] }
        while txid == nil || current < txid! {
            let candidates = rest.filter { ok($0) && $0.minTXID <= current.next && $0.maxTXID > current }
            guard var best = candidates.first else { break }
            for c in candidates.dropFirst() where RestorePlan.isBetter(c, than: best) { best = c }
            plan.append(best)
            current = best.maxTXID
        }
        if !plan.isEmpty, txid == nil {
            // Litestream names the first file beyond the chain in the highest level that has one.
            for level in stride(from: 8, through: 0, by: -1) {
                if let gap = (files[level] ?? []).filter({ ok($0) && $0.minTXID > current.next }).min(by: { $0.minTXID < $1.minTXID }) {
                    return .failure(RestoreError(.nonContiguous,
                        "non-contiguous ltx files: have up to \(current) but next file starts at \(gap.minTXID)"))
                }
            }
        }
        if plan.isEmpty || (txid != nil && current < txid!) { return .failure(.noMatchingBackupFiles) }
        return .success(plan)
    }
}
