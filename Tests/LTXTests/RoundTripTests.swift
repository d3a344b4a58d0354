import Foundation
import LTX
import Testing

struct RoundTripTests {
    static let pageSizes: [UInt32] = [512, 4096, 65536]

    /// Pages of every kind, cycling: near-empty, incompressible random, text, half random.
    static func pages(_ pgnos: [UInt32], pageSize: UInt32, seed: UInt64) -> [(UInt32, [UInt8])] {
        var rng = SeededRNG(seed: seed)
        return pgnos.enumerated().map { i, pgno in
            (pgno, makePage(size: Int(pageSize), kind: PageKind.allCases[i % PageKind.allCases.count], rng: &rng))
        }
    }

    /// Decodes `file` every way we can (memory, file descriptor, 1-byte and random-chunk inputs, tiny buffer) and
    /// checks each result against the expectation.
    static func checkAllInputs(
        _ file: [UInt8], header: LTXHeader, pages: [(UInt32, [UInt8])], trailer: LTXTrailer
    ) throws {
        var results: [(String, DecodedLTX)] = []
        results.append(("memory", try decodeLTX(file)))
        results.append(("chunked", try decodeLTX(ChunkedInput(file, seed: 7, maxChunk: 300))))
        results.append(("tiny buffer", try decodeLTX(LTXMemoryInput(file), bufferSize: 1)))
        if file.count < 300_000 {
            results.append(("1-byte", try decodeLTX(ChunkedInput(file, seed: 7, maxChunk: 1))))
        }
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("f.ltx")
            try Data(file).write(to: url)
            results.append(("fd", try decodeLTXFile(url)))
        }
        for (how, d) in results {
            #expect(d.header == header, "\(how)")
            #expect(d.trailer == trailer, "\(how)")
            #expect(d.pages.map(\.pgno) == pages.map(\.0), "\(how)")
            #expect(d.pages.map(\.data) == pages.map(\.1), "\(how)")
        }
    }

    /// Structure of an encoded file checked independently of the decoder: index from the end, frames at the
    /// indexed offsets, flags 1, sizes, and the file checksum recomputed per spec §1.6.
    static func checkStructure(_ file: [UInt8], header: LTXHeader, pages: [(UInt32, [UInt8])], trailer: LTXTrailer) throws {
        #expect(Array(file[0..<100]) == header.encoded())
        let (entries, indexStart) = try parseIndexFromEnd(file)
        #expect(entries.map { UInt32($0.pgno) } == pages.map(\.0))
        var expectedOffset: UInt64 = 100
        for e in entries {
            try #require(e.offset == expectedOffset, "frames are contiguous from byte 100")
            let at = Int(e.offset)
            #expect(readBE(file, at, as: UInt32.self) == UInt32(e.pgno))
            #expect(readBE(file, at + 4, as: UInt16.self) == 1, "current encoding sets PageHeaderFlagSize")
            try #require(UInt64(readBE(file, at + 6, as: UInt32.self)) + 10 == e.size, "index size = 6 + 4 + block")
            expectedOffset += e.size
        }
        try #require(Int(expectedOffset) + 6 == indexStart)
        #expect(Array(file[Int(expectedOffset)..<Int(expectedOffset) + 6]) == [0, 0, 0, 0, 0, 0])
        #expect(readBE(file, file.count - 16, as: UInt64.self) == 0, "post-apply checksum is zero")
        #expect(readBE(file, file.count - 8, as: UInt64.self) == trailer.fileChecksum)
        #expect(trailer.fileChecksum & LTXTrailer.checksumFlag != 0)
        #expect(trailer.postApplyChecksum == 0)
        let byPgno = Dictionary(uniqueKeysWithValues: pages.map { ($0.0, $0.1) })
        #expect(try independentChecksum(file: file, pages: byPgno) == trailer.fileChecksum)
    }

    @Test(arguments: pageSizes) func snapshot(pageSize: UInt32) throws {
        let commit: UInt32 = pageSize == 65536 ? 6 : 13
        let pages = Self.pages(Array(1...commit), pageSize: pageSize, seed: UInt64(pageSize))
        let header = LTXHeader(
            pageSize: pageSize, commit: commit, minTXID: 1, maxTXID: 0x2b, timestamp: 1_795_757_962_778,
            walOffset: 12392, walSize: 4120, walSalt1: 0x3ffa_9459, walSalt2: 0xf65a_754d)
        var out = [UInt8]()
        var enc = try LTXEncoder(header: header) { out.append(contentsOf: $0) }
        for (pgno, data) in pages { try enc.encodePage(pgno, data) }
        #expect(enc.pagesWritten == pages.count)
        let trailer = try enc.finish()
        try Self.checkStructure(out, header: header, pages: pages, trailer: trailer)
        try Self.checkAllInputs(out, header: header, pages: pages, trailer: trailer)
    }

    @Test(arguments: pageSizes) func incremental(pageSize: UInt32) throws {
        var rng = SeededRNG(seed: 42 &+ UInt64(pageSize))
        let commit: UInt32 = 5000
        let count = pageSize == 65536 ? 5 : 20
        let pgnos = Set((0..<count).map { _ in UInt32.random(in: 1...commit, using: &rng) }).union([commit]).sorted()
        let pages = Self.pages(pgnos, pageSize: pageSize, seed: rng.next())
        let header = LTXHeader(
            pageSize: pageSize, commit: commit, minTXID: 7, maxTXID: 9, timestamp: -12345,
            walOffset: 32, walSize: 0, nodeID: 0xdead_beef)
        let file = try encodeLTX(header: header, pages: pages)
        var dec = LTXDecoder(LTXMemoryInput(file))
        let trailer = try dec.finish()
        try Self.checkStructure(file, header: header, pages: pages, trailer: trailer)
        try Self.checkAllInputs(file, header: header, pages: pages, trailer: trailer)
    }

    /// A file with no pages at all (an incremental that only records a TXID) is still a valid file.
    @Test func emptyIncremental() throws {
        let header = LTXHeader(pageSize: 4096, commit: 3, minTXID: 4, maxTXID: 4, timestamp: 0)
        let file = try encodeLTX(header: header, pages: [])
        #expect(file.count == 100 + 6 + 1 + 8 + 16)
        let d = try decodeLTX(file)
        #expect(d.header == header && d.pages.isEmpty)
        #expect(try independentChecksum(file: file, pages: [:]) == d.trailer.fileChecksum)
    }

    /// Pages right below and above the lock page in a non-snapshot file.
    @Test(arguments: pageSizes) func aroundTheLockPage(pageSize: UInt32) throws {
        let lock = LTXHeader.lockPage(pageSize: pageSize)
        let pages = Self.pages([1, lock - 1, lock + 1], pageSize: pageSize, seed: 5)
        let header = LTXHeader(pageSize: pageSize, commit: lock + 1, minTXID: 2, maxTXID: 2, timestamp: 1)
        let file = try encodeLTX(header: header, pages: pages)
        let d = try decodeLTX(file)
        #expect(d.pages.map(\.pgno) == [1, lock - 1, lock + 1])
        #expect(d.pages.map(\.data) == pages.map(\.1))
    }

    /// The encoder streams: a file over the flush threshold reaches the sink in several calls, whose concatenation
    /// is the file.
    @Test func encoderStreamsInChunks() throws {
        let pages = Self.pages(Array(1...40), pageSize: 65536, seed: 11).map { ($0.0, $0.1) }
        let header = LTXHeader(pageSize: 65536, commit: 40, minTXID: 1, maxTXID: 1, timestamp: 0)
        var chunks: [[UInt8]] = []
        var enc = try LTXEncoder(header: header) { chunks.append(Array($0)) }
        for (pgno, data) in pages { try enc.encodePage(pgno, data) }
        let trailer = try enc.finish()
        #expect(chunks.count > 1)
        #expect(chunks.dropLast().allSatisfy { $0.count >= LTXEncoder.flushThreshold })
        let file = chunks.flatMap { $0 }
        let d = try decodeLTX(file)
        #expect(d.trailer == trailer)
        #expect(d.pages.map(\.data) == pages.map(\.1))
    }

    /// Incompressible pages are stored as blocks longer than the page (no "stored raw" mode), and highly
    /// compressible ones shrink a lot.
    @Test func compressedSizes() throws {
        var rng = SeededRNG(seed: 3)
        let random = rng.bytes(4096)
        let zeros = [UInt8](repeating: 0, count: 4096)
        let header = LTXHeader(pageSize: 4096, commit: 2, minTXID: 1, maxTXID: 1, timestamp: 0)
        let file = try encodeLTX(header: header, pages: [(1, random), (2, zeros)])
        let (entries, _) = try parseIndexFromEnd(file)
        #expect(entries[0].size > 4096 + 10)
        #expect(entries[0].size <= UInt64(LZ4.compressBound(4096) + 10))
        #expect(entries[1].size < 100)
    }

    /// Any valid LZ4 block is accepted, for instance one made of a single literal run (what a minimal encoder
    /// writes), and also blocks with long literal-length extensions.
    @Test(arguments: pageSizes) func literalOnlyBlocksDecode(pageSize: UInt32) throws {
        var rng = SeededRNG(seed: 8)
        let p1 = makePage(size: Int(pageSize), kind: .text, rng: &rng)
        let p2 = makePage(size: Int(pageSize), kind: .random, rng: &rng)
        let header = LTXHeader(pageSize: pageSize, commit: 2, minTXID: 1, maxTXID: 1, timestamp: 0)
        let file = buildLTX(header: header, pages: [(1, p1, .customBlock(literalOnlyBlock(p1))), (2, p2, .block)])
        let d = try decodeLTX(file)
        #expect(d.pages.map(\.data) == [p1, p2])
    }

    /// The streaming API: header first, pages one by one, then finish; and finish without reading the pages.
    @Test func streamingAPI() throws {
        let pages = Self.pages([2, 3, 9], pageSize: 1024, seed: 1)
        let header = LTXHeader(pageSize: 1024, commit: 9, minTXID: 3, maxTXID: 3, timestamp: 77)
        let file = try encodeLTX(header: header, pages: pages)

        var dec = LTXDecoder(LTXMemoryInput(file), name: "s.ltx")
        #expect(dec.header == nil)
        #expect(try dec.readHeader() == header)
        #expect(try dec.readHeader() == header, "readHeader is idempotent")
        #expect(dec.header == header)
        var page = [UInt8](repeating: 0, count: 1024)
        for (i, (pgno, data)) in pages.enumerated() {
            let got = try page.withUnsafeMutableBytes { try dec.nextPage(into: $0) }
            #expect(got == pgno)
            #expect(page == data)
            #expect(dec.pageCount == i + 1)
        }
        #expect(try page.withUnsafeMutableBytes { try dec.nextPage(into: $0) } == nil)
        #expect(try page.withUnsafeMutableBytes { try dec.nextPage(into: $0) } == nil, "stays at the end")
        let t1 = try dec.finish()

        var skip = LTXDecoder(LTXMemoryInput(file))
        let t2 = try skip.finish()
        #expect(t1 == t2)
        #expect(skip.pageCount == 3)

        // One page read, the rest skipped by finish.
        var partial = LTXDecoder(LTXMemoryInput(file))
        _ = try page.withUnsafeMutableBytes { try partial.nextPage(into: $0) }
        #expect(try partial.finish() == t1)
    }

    @Test func pageBufferMustBeOnePage() throws {
        let file = try encodeLTX(
            header: LTXHeader(pageSize: 1024, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0),
            pages: [(1, [UInt8](repeating: 1, count: 1024))])
        var dec = LTXDecoder(LTXMemoryInput(file))
        var small = [UInt8](repeating: 0, count: 512)
        let e = #expect(throws: LTXError.self) { try small.withUnsafeMutableBytes { try dec.nextPage(into: $0) } }
        #expect(e?.code == .encoderMisuse)
    }
}
