@testable import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

private typealias S = CompactionTestSupport

@Suite("LTXMerger")
struct LTXMergerTests {
    @Test("the newest input's version of each page wins")
    func newestVersionWins() throws {
        let f1 = try S.encode(S.header(min: 1, max: 1, commit: 5), pages: (1...5).map { ($0, S.page($0, version: 1)) })
        let f2 = try S.encode(S.header(min: 2, max: 2, commit: 5), pages: [2, 4].map { ($0, S.page($0, version: 2)) })
        let f3 = try S.encode(S.header(min: 3, max: 3, commit: 5), pages: [4, 5].map { ($0, S.page($0, version: 3)) })
        let merged = try S.decode(try S.merge([f1, f2, f3]))
        #expect(merged.header.minTXID == 1 && merged.header.maxTXID == 3 && merged.header.commit == 5)
        #expect(merged.header.isSnapshot)
        #expect(merged.order == [1, 2, 3, 4, 5])
        let want: [UInt32: Int] = [1: 1, 2: 2, 3: 1, 4: 3, 5: 3]
        for (p, v) in want { #expect(merged.pages[p] == S.page(p, version: v), "page \(p)") }
    }

    @Test("pages beyond the final commit are dropped")
    func shrinkDropsPages() throws {
        let f1 = try S.encode(S.header(min: 2, max: 2, commit: 10), pages: [8, 9, 10].map { ($0, S.page($0, version: 1)) })
        let f2 = try S.encode(S.header(min: 3, max: 3, commit: 7), pages: [1].map { ($0, S.page($0, version: 2)) })
        let merged = try S.decode(try S.merge([f1, f2]))
        #expect(merged.header.commit == 7)
        #expect(merged.order == [1])

        // A snapshot that shrinks stays dense up to the new commit.
        let s1 = try S.encode(S.header(min: 1, max: 1, commit: 10), pages: (1...10).map { ($0, S.page($0, version: 1)) })
        let s2 = try S.encode(S.header(min: 2, max: 2, commit: 6), pages: [6].map { ($0, S.page($0, version: 2)) })
        let snap = try S.decode(try S.merge([s1, s2]))
        #expect(snap.header.commit == 6)
        #expect(snap.order == Array(1...6))
        #expect(snap.pages[6] == S.page(6, version: 2))
        #expect(snap.pages[5] == S.page(5, version: 1))
    }

    @Test("output header: TXID span, last commit, newest timestamp, flag 0x2, no WAL fields or node ID")
    func outputHeader() throws {
        var h1 = S.header(min: 4, max: 5, commit: 3, timestamp: 5_000)
        h1.walOffset = 32; h1.walSize = 4120; h1.walSalt1 = 7; h1.walSalt2 = 8
        var h2 = S.header(min: 6, max: 6, commit: 4, timestamp: 9_000)
        h2.walOffset = 4152; h2.walSize = 536
        let h3 = S.header(min: 7, max: 9, commit: 2, timestamp: 7_000)
        let files = try [h1, h2, h3].map { try S.encode($0, pages: [(1, S.page(1, version: Int($0.maxTXID.rawValue)))]) }
        let merged = try S.decode(try S.merge(files))
        let want = LTXHeader(pageSize: 512, commit: 2, minTXID: 4, maxTXID: 9, timestamp: 9_000)
        #expect(merged.header == want)
        #expect(merged.header.flags == LTXHeader.flagNoChecksum)
        #expect(merged.pages[1] == S.page(1, version: 9))

        let overridden = try S.decode(try S.merge(files, timestamp: 1_234))
        #expect(overridden.header.timestamp == 1_234)
    }

    @Test("the lock page is never written: 64 KiB pages, sparse pages around page 16385")
    func lockPageSparse() throws {
        let ps: UInt32 = 65536
        #expect(LTXHeader.lockPage(pageSize: ps) == 16385)
        let f1 = try S.encode(S.header(min: 2, max: 2, commit: 20000, pageSize: ps),
                              pages: [16384, 16386, 19999].map { ($0, S.page($0, version: 1, pageSize: Int(ps))) })
        let f2 = try S.encode(S.header(min: 3, max: 3, commit: 16390, pageSize: ps),
                              pages: [16383, 16386, 16390].map { ($0, S.page($0, version: 2, pageSize: Int(ps))) })
        let merged = try S.decode(try S.merge([f1, f2]))
        #expect(merged.header.commit == 16390 && merged.header.pageSize == ps)
        #expect(merged.order == [16383, 16384, 16386, 16390])
        #expect(merged.pages[16384] == S.page(16384, version: 1, pageSize: Int(ps)))
        #expect(merged.pages[16386] == S.page(16386, version: 2, pageSize: Int(ps)))
    }

    @Test("snapshot page sequence skips the lock page and reports the first missing page")
    func snapshotPageSequence() {
        // A synthetic lock page (5) stands in for page 262145 at 4 KiB, which no test can afford to reach.
        var seq = SnapshotPageSequence(commit: 8, lockPage: 5)
        for p: UInt32 in [1, 2, 3, 4, 6, 7, 8] { #expect(seq.next(p) == nil, "page \(p)") }
        #expect(seq.end() == nil)

        var gap = SnapshotPageSequence(commit: 8, lockPage: 5)
        for p: UInt32 in [1, 2, 3, 4] { #expect(gap.next(p) == nil) }
        #expect(gap.next(7) == 6)

        var short = SnapshotPageSequence(commit: 8, lockPage: 5)
        for p: UInt32 in [1, 2, 3, 4, 6] { #expect(short.next(p) == nil) }
        #expect(short.end() == 7)

        var endsAtLock = SnapshotPageSequence(commit: 5, lockPage: 5)
        for p: UInt32 in [1, 2, 3, 4] { #expect(endsAtLock.next(p) == nil) }
        #expect(endsAtLock.end() == nil)

        var beforeLock = SnapshotPageSequence(commit: 6, lockPage: 5)
        for p: UInt32 in [1, 2, 3, 4] { #expect(beforeLock.next(p) == nil) }
        #expect(beforeLock.end() == 6)

        #expect(SnapshotPageSequence(commit: 0, lockPage: 5).end() == nil)
        #expect(SnapshotPageSequence(commit: 3, lockPage: 5).end() == 1)
    }

    @Test("a merged snapshot lacking a page is refused with the page named")
    func snapshotDensity() throws {
        let s1 = try S.encode(S.header(min: 1, max: 1, commit: 3), pages: (1...3).map { ($0, S.page($0, version: 1)) })
        let grow = try S.encode(S.header(min: 2, max: 2, commit: 5), pages: [(5, S.page(5, version: 2))])
        let error = #expect(throws: CompactionError.self) { try S.merge([s1, grow]) }
        #expect(error?.code == .incompleteSnapshot)
        #expect(error?.message.contains("lacks page 4") == true)

        // Growing to the very end without the pages in between is refused too.
        let tail = try S.encode(S.header(min: 2, max: 2, commit: 4), pages: [(1, S.page(1, version: 2))])
        let error2 = #expect(throws: CompactionError.self) { try S.merge([s1, tail]) }
        #expect(error2?.message.contains("lacks page 4") == true)

        // The same pages without a snapshot are a valid incremental file.
        let inc = try S.encode(S.header(min: 2, max: 2, commit: 3), pages: [(1, S.page(1, version: 1))])
        let grow3 = try S.encode(S.header(min: 3, max: 3, commit: 5), pages: [(5, S.page(5, version: 3))])
        #expect(try S.decode(try S.merge([inc, grow3])).order == [1, 5])
    }

    @Test("non-contiguous inputs are refused, naming both files")
    func nonContiguous() throws {
        let a = try S.encode(S.header(min: 1, max: 1, commit: 1), pages: [(1, S.page(1, version: 1))])
        let c = try S.encode(S.header(min: 3, max: 3, commit: 1), pages: [(1, S.page(1, version: 3))])
        let error = #expect(throws: CompactionError.self) { try S.merge([a, c]) }
        #expect(error?.code == .nonContiguous)
        #expect(error?.message.contains("file0") == true && error?.message.contains("file1") == true)
        #expect(error?.message.contains("0000000000000002") == true)

        // Out of order (newest first) is refused as well.
        let b = try S.encode(S.header(min: 2, max: 2, commit: 1), pages: [(1, S.page(1, version: 2))])
        #expect(throws: CompactionError.self) { try S.merge([b, a]) }

        // Overlap: refused when strict, accepted (newest wins) as Go's IsContiguous allows, but a file that does
        // not extend the range is refused either way.
        let wide = try S.encode(S.header(min: 1, max: 5, commit: 2), pages: [1, 2].map { ($0, S.page($0, version: 5)) })
        let later = try S.encode(S.header(min: 3, max: 7, commit: 2), pages: [(2, S.page(2, version: 7))])
        let inside = try S.encode(S.header(min: 2, max: 4, commit: 2), pages: [(2, S.page(2, version: 4))])
        #expect(throws: CompactionError.self) { try S.merge([wide, later]) }
        let merged = try S.decode(try S.merge([wide, later], contiguity: .overlapping))
        #expect(merged.header.minTXID == 1 && merged.header.maxTXID == 7)
        #expect(merged.pages[2] == S.page(2, version: 7) && merged.pages[1] == S.page(1, version: 5))
        #expect(throws: CompactionError.self) { try S.merge([wide, inside], contiguity: .overlapping) }
    }

    @Test("mismatched page sizes and empty input lists are refused")
    func pageSizeAndEmpty() throws {
        let a = try S.encode(S.header(min: 1, max: 1, commit: 1, pageSize: 512), pages: [(1, S.page(1, version: 1))])
        let b = try S.encode(S.header(min: 2, max: 2, commit: 1, pageSize: 1024),
                             pages: [(1, S.page(1, version: 2, pageSize: 1024))])
        let error = #expect(throws: CompactionError.self) { try S.merge([a, b]) }
        #expect(error?.code == .pageSizeMismatch)
        let empty = #expect(throws: CompactionError.self) { try S.merge([]) }
        #expect(empty?.code == .noInputs)
    }

    @Test("every input is verified to its end, even one whose pages all lost")
    func verifiesEveryInput() throws {
        let old = try S.encode(S.header(min: 2, max: 2, commit: 3), pages: [(1, S.page(1, version: 1))])
        let new = try S.encode(S.header(min: 3, max: 3, commit: 3), pages: [(1, S.page(1, version: 2))])
        #expect(try S.decode(try S.merge([old, new])).pages[1] == S.page(1, version: 2))

        var badChecksum = old
        badChecksum[badChecksum.count - 1] ^= 0x01
        let error = #expect(throws: LTXError.self) { try S.merge([badChecksum, new]) }
        #expect(error?.code == .checksumMismatch)
        #expect(error?.file == "file0")

        let truncated = Array(new.dropLast(3))
        let error2 = #expect(throws: LTXError.self) { try S.merge([old, truncated]) }
        #expect(error2?.code == .truncated)
        #expect(error2?.file == "file1")
    }

    @Test("mergePages yields ascending winning pages without encoding", arguments: [UInt64(1), 2, 3])
    func mergePages(seed: UInt64) throws {
        var rng = S.SeededRNG(seed: seed)
        let history = S.History.random(count: 25, rng: &rng)
        let files = try (1...history.lastTXID).map { try history.l0File($0) }
        var merger = try LTXMerger(S.decoders(files))
        var seen: [UInt32: [UInt8]] = [:]
        var order: [UInt32] = []
        try merger.mergePages { pgno, page in
            seen[pgno] = Array(page)
            order.append(pgno)
        }
        #expect(order == order.sorted() && Set(order).count == order.count)
        #expect(seen == history.database(at: history.lastTXID))
    }

    @Test("random histories: any contiguous range merges to the model, and merging merges is the same",
          arguments: [UInt64(11), 12, 13, 14, 15, 16])
    func randomAgainstModel(seed: UInt64) throws {
        var rng = S.SeededRNG(seed: seed)
        let history = S.History.random(count: 40, rng: &rng)
        let files = try (1...history.lastTXID).map { try history.l0File($0) }
        for _ in 0..<8 {
            let a = UInt64.random(in: 1...history.lastTXID, using: &rng)
            let b = UInt64.random(in: a...history.lastTXID, using: &rng)
            let merged = try S.decode(try S.merge(Array(files[Int(a - 1)..<Int(b)])))
            #expect(merged.header.minTXID.rawValue == a && merged.header.maxTXID.rawValue == b)
            #expect(merged.header.commit == history.commits[Int(b)])
            #expect(merged.header.timestamp == history.timestamps[Int(b)])
            #expect(merged.pages == history.expectedPages(min: a, max: b), "range \(a)-\(b)")
        }
        // Two levels of merging (L1 chunks, then L2) equal one merge of everything.
        var chunks: [[UInt8]] = []
        var start = 1
        while start <= files.count {
            let end = min(files.count, start + Int.random(in: 0...6, using: &rng))
            chunks.append(try S.merge(Array(files[(start - 1)..<end])))
            start = end + 1
        }
        let twoLevel = try S.decode(try S.merge(chunks))
        #expect(twoLevel.header.isSnapshot)
        #expect(twoLevel.pages == history.database(at: history.lastTXID))
        #expect(twoLevel.order == Array(1...history.commits[Int(history.lastTXID)]))
    }
}
