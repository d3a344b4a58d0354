import LTX
import Testing

/// Litestream's writer rules, enforced by our encoder, and the same rules checked by our decoder on files built by
/// hand (`buildLTX` does not enforce anything).
struct EncoderRuleTests {
    static func page(_ size: UInt32 = 4096, fill: UInt8 = 1) -> [UInt8] { [UInt8](repeating: fill, count: Int(size)) }

    static func encoder(_ header: LTXHeader) throws -> (LTXEncoder, Box) {
        let box = Box()
        let enc = try LTXEncoder(header: header) { box.bytes.append(contentsOf: $0) }
        return (enc, box)
    }

    final class Box { var bytes: [UInt8] = [] }

    static func misuse(_ body: () throws -> Void) {
        let e = #expect(throws: LTXError.self) { try body() }
        #expect(e?.code == .encoderMisuse, "\(String(describing: e))")
    }

    @Test func descendingOrRepeatedPages() throws {
        var (enc, box) = try Self.encoder(LTXHeader(pageSize: 4096, commit: 10, minTXID: 2, maxTXID: 2, timestamp: 0))
        try enc.encodePage(5, Self.page())
        Self.misuse { try enc.encodePage(3, Self.page()) }
        Self.misuse { try enc.encodePage(5, Self.page()) }
        // A refused page leaves the encoder usable: the file still comes out valid.
        try enc.encodePage(6, Self.page(fill: 2))
        try enc.finish()
        let d = try decodeLTX(box.bytes)
        #expect(d.pages.map(\.pgno) == [5, 6])
        #expect(d.pages.map(\.data) == [Self.page(), Self.page(fill: 2)])
    }

    @Test func pageZeroIsRefused() throws {
        var (enc, _) = try Self.encoder(LTXHeader(pageSize: 4096, commit: 10, minTXID: 2, maxTXID: 2, timestamp: 0))
        Self.misuse { try enc.encodePage(0, Self.page()) }
    }

    @Test func pageBeyondCommit() throws {
        var (enc, _) = try Self.encoder(LTXHeader(pageSize: 4096, commit: 10, minTXID: 2, maxTXID: 2, timestamp: 0))
        Self.misuse { try enc.encodePage(11, Self.page()) }
        try enc.encodePage(10, Self.page())
    }

    @Test(arguments: [(UInt32(512), UInt32(2_097_153)), (1024, 1_048_577), (4096, 262_145), (65536, 16385)])
    func lockPageIsRefused(pageSize: UInt32, lock: UInt32) throws {
        #expect(LTXHeader.lockPage(pageSize: pageSize) == lock)
        var (enc, box) = try Self.encoder(
            LTXHeader(pageSize: pageSize, commit: lock + 5, minTXID: 2, maxTXID: 2, timestamp: 0))
        try enc.encodePage(lock - 1, Self.page(pageSize))
        Self.misuse { try enc.encodePage(lock, Self.page(pageSize)) }
        try enc.encodePage(lock + 1, Self.page(pageSize))
        try enc.finish()
        #expect(try decodeLTX(box.bytes).pages.map(\.pgno) == [lock - 1, lock + 1])
    }

    @Test func wrongPageLength() throws {
        var (enc, _) = try Self.encoder(LTXHeader(pageSize: 4096, commit: 10, minTXID: 2, maxTXID: 2, timestamp: 0))
        Self.misuse { try enc.encodePage(1, Self.page(1024)) }
        Self.misuse { try enc.encodePage(1, [UInt8](repeating: 0, count: 4097)) }
    }

    @Test func snapshotMustStartAtOne() throws {
        var (enc, _) = try Self.encoder(LTXHeader(pageSize: 4096, commit: 3, minTXID: 1, maxTXID: 4, timestamp: 0))
        Self.misuse { try enc.encodePage(2, Self.page()) }
    }

    @Test func snapshotMustBeDense() throws {
        var (enc, _) = try Self.encoder(LTXHeader(pageSize: 4096, commit: 5, minTXID: 1, maxTXID: 4, timestamp: 0))
        try enc.encodePage(1, Self.page())
        Self.misuse { try enc.encodePage(3, Self.page()) }
        try enc.encodePage(2, Self.page())
    }

    @Test func snapshotEndingEarly() throws {
        var (enc, box) = try Self.encoder(LTXHeader(pageSize: 4096, commit: 5, minTXID: 1, maxTXID: 4, timestamp: 0))
        for p in 1...3 as ClosedRange<UInt32> { try enc.encodePage(p, Self.page()) }
        Self.misuse { try enc.finish() }
        // Completing it afterwards works.
        for p in 4...5 as ClosedRange<UInt32> { try enc.encodePage(p, Self.page()) }
        try enc.finish()
        #expect(try decodeLTX(box.bytes).pages.count == 5)
    }

    /// A non-snapshot file (MinTXID > 1) may hold any ascending subset, even if it happens to start at page 1.
    @Test func nonSnapshotMayBeSparse() throws {
        var (enc, box) = try Self.encoder(LTXHeader(pageSize: 4096, commit: 50, minTXID: 2, maxTXID: 3, timestamp: 0))
        for p in [1, 7, 8, 50] as [UInt32] { try enc.encodePage(p, Self.page()) }
        try enc.finish()
        #expect(try decodeLTX(box.bytes).pages.map(\.pgno) == [1, 7, 8, 50])
    }

    @Test func noUseAfterFinish() throws {
        var (enc, box) = try Self.encoder(LTXHeader(pageSize: 4096, commit: 5, minTXID: 2, maxTXID: 2, timestamp: 0))
        try enc.encodePage(1, Self.page())
        try enc.finish()
        let length = box.bytes.count
        Self.misuse { try enc.encodePage(2, Self.page()) }
        Self.misuse { try enc.finish() }
        #expect(box.bytes.count == length, "nothing more reaches the sink")
        _ = try decodeLTX(box.bytes)
    }

    struct SinkFailure: Error {}

    @Test func sinkErrorsPropagate() throws {
        var enc = try LTXEncoder(header: LTXHeader(pageSize: 4096, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0)) { _ in
            throw SinkFailure()
        }
        try enc.encodePage(1, Self.page())
        #expect(throws: SinkFailure.self) { try enc.finish() }
    }

    static let invalidHeaders: [(String, LTXHeader)] = [
        ("page size 256", LTXHeader(pageSize: 256, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0)),
        ("page size 1000", LTXHeader(pageSize: 1000, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0)),
        ("page size 131072", LTXHeader(pageSize: 131072, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0)),
        ("page size 0", LTXHeader(pageSize: 0, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0)),
        ("flag 1", LTXHeader(pageSize: 4096, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0, flags: 3)),
        ("flag 1<<31", LTXHeader(pageSize: 4096, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0, flags: 0x8000_0002)),
        ("min TXID 0", LTXHeader(pageSize: 4096, commit: 1, minTXID: 0, maxTXID: 1, timestamp: 0)),
        ("max TXID 0", LTXHeader(pageSize: 4096, commit: 1, minTXID: 0, maxTXID: 0, timestamp: 0)),
        ("min > max", LTXHeader(pageSize: 4096, commit: 1, minTXID: 5, maxTXID: 4, timestamp: 0)),
        ("negative WAL offset", LTXHeader(pageSize: 4096, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0, walOffset: -32)),
        ("negative WAL size",
         LTXHeader(pageSize: 4096, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0, walOffset: 32, walSize: -1)),
        ("WAL size without offset", LTXHeader(pageSize: 4096, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0, walSize: 4120)),
        ("salt without offset", LTXHeader(pageSize: 4096, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0, walSalt2: 1)),
        ("pre-apply on snapshot",
         LTXHeader(pageSize: 4096, commit: 1, minTXID: 1, maxTXID: 1, timestamp: 0, flags: 0, preApplyChecksum: 1 << 63 | 5)),
        ("pre-apply with no-checksum flag",
         LTXHeader(pageSize: 4096, commit: 1, minTXID: 2, maxTXID: 2, timestamp: 0, preApplyChecksum: 1 << 63 | 5)),
        ("checksummed file without pre-apply", LTXHeader(pageSize: 4096, commit: 1, minTXID: 2, maxTXID: 2, timestamp: 0, flags: 0)),
        ("checksummed file, pre-apply without flag bit",
         LTXHeader(pageSize: 4096, commit: 1, minTXID: 2, maxTXID: 2, timestamp: 0, flags: 0, preApplyChecksum: 5)),
    ]

    @Test(arguments: invalidHeaders) func invalidHeaderIsRefused(label: String, header: LTXHeader) throws {
        let e1 = #expect(throws: LTXError.self, "\(label)") { try header.validate() }
        #expect(e1?.code == .invalidHeader, "\(label)")
        let e2 = #expect(throws: LTXError.self, "\(label)") { _ = try LTXEncoder(header: header) { _ in } }
        #expect(e2?.code == .invalidHeader, "\(label)")
        // And the decoder refuses the same header on read.
        var bytes = header.encoded()
        bytes += [UInt8](repeating: 0, count: 64)
        let e3 = #expect(throws: LTXError.self, "\(label)") { _ = try decodeLTX(bytes) }
        #expect(e3?.code == .invalidHeader, "\(label)")
    }

    @Test func validHeaderVariants() throws {
        let ok: [LTXHeader] = [
            LTXHeader(pageSize: 512, commit: 0, minTXID: 1, maxTXID: 1, timestamp: 0),
            LTXHeader(pageSize: 65536, commit: 1, minTXID: 1, maxTXID: .init(UInt64.max), timestamp: .min),
            LTXHeader(pageSize: 4096, commit: 1, minTXID: 3, maxTXID: 3, timestamp: 0, walOffset: 32),
            LTXHeader(pageSize: 4096, commit: 1, minTXID: 3, maxTXID: 3, timestamp: 0, walOffset: 32, walSalt1: 1),
            // Checksum-tracking files (flags 0) with well-formed checksums are valid LTX, though Litestream never
            // writes them.
            LTXHeader(pageSize: 4096, commit: 1, minTXID: 3, maxTXID: 3, timestamp: 0, flags: 0, preApplyChecksum: 1 << 63),
            LTXHeader(pageSize: 4096, commit: 1, minTXID: 1, maxTXID: 3, timestamp: 0, flags: 0),
        ]
        for h in ok { try h.validate() }
    }
}

/// The same rules on the read side, against files built by hand.
struct DecoderRuleTests {
    static let size = 1024
    static func page(_ fill: UInt8) -> [UInt8] { [UInt8](repeating: fill, count: size) }

    static func refused(
        _ file: [UInt8], _ code: LTXError.Code, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let e = #expect(throws: LTXError.self, sourceLocation: sourceLocation) { _ = try decodeLTX(file, name: "bad.ltx") }
        #expect(e?.code == code, "\(String(describing: e))", sourceLocation: sourceLocation)
        #expect(e?.file == "bad.ltx", sourceLocation: sourceLocation)
    }

    static func incremental(commit: UInt32 = 10) -> LTXHeader {
        LTXHeader(pageSize: UInt32(size), commit: commit, minTXID: 5, maxTXID: 5, timestamp: 0)
    }

    static let snapshot = LTXHeader(pageSize: UInt32(size), commit: 3, minTXID: 1, maxTXID: 5, timestamp: 0)

    @Test func handBuiltValidFilesDecode() throws {
        // Sanity check of the builder itself, so the refusals below are about the one thing each breaks.
        _ = try decodeLTX(buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .block), (4, Self.page(2), .block)]))
        _ = try decodeLTX(buildLTX(header: Self.snapshot, pages: (1...3).map { ($0, Self.page(UInt8($0)), .block) }))
    }

    @Test func descendingPages() {
        Self.refused(buildLTX(header: Self.incremental(), pages: [(4, Self.page(1), .block), (2, Self.page(2), .block)]), .invalidPage)
    }

    @Test func duplicatePages() {
        Self.refused(buildLTX(header: Self.incremental(), pages: [(4, Self.page(1), .block), (4, Self.page(2), .block)]), .invalidPage)
    }

    @Test func pageBeyondCommit() {
        Self.refused(buildLTX(header: Self.incremental(commit: 3), pages: [(4, Self.page(1), .block)]), .invalidPage)
    }

    @Test func lockPage() {
        let lock = LTXHeader.lockPage(pageSize: UInt32(Self.size))
        Self.refused(buildLTX(header: Self.incremental(commit: lock + 1), pages: [(lock, Self.page(1), .block)]), .invalidPage)
    }

    @Test func sparseSnapshot() {
        Self.refused(buildLTX(header: Self.snapshot, pages: [(1, Self.page(1), .block), (3, Self.page(3), .block)]), .invalidPage)
        Self.refused(buildLTX(header: Self.snapshot, pages: [(2, Self.page(1), .block), (3, Self.page(3), .block)]), .invalidPage)
    }

    @Test func shortSnapshot() {
        Self.refused(buildLTX(header: Self.snapshot, pages: [(1, Self.page(1), .block), (2, Self.page(2), .block)]), .invalidPage)
        Self.refused(buildLTX(header: Self.snapshot, pages: []), .invalidPage)
    }

    @Test func unknownPageFlags() {
        for flags: UInt16 in [2, 3, 0x8000, 0xffff] {
            Self.refused(
                buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .custom(flags: flags, payload: [0, 0, 0, 1, 0]))]),
                .invalidPage)
        }
    }

    @Test func terminatorWithFlags() {
        var file = buildLTX(header: Self.incremental(), pages: [])
        file[105] = 1  // flags of the zero page header
        Self.refused(file, .invalidPage)
    }

    @Test func implausibleBlockSizes() {
        let bound = LZ4.compressBound(Self.size)
        for size: UInt32 in [0, UInt32(bound + 17), 0x7fff_ffff, 0xffff_ffff] {
            var payload = [UInt8]()
            appendBE(size, to: &payload)
            payload += [0xF0, 0x00]
            Self.refused(buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .custom(flags: 1, payload: payload))]), .invalidPage)
        }
    }

    /// The size cap is checked before reading: a huge size field never makes the decoder ask for huge reads.
    @Test func hugeBlockSizeDoesNotAllocate() {
        var payload = [UInt8]()
        appendBE(UInt32(0xffff_fff0), to: &payload)
        let file = buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .custom(flags: 1, payload: payload))])
        let stats = ReadStats()
        #expect(throws: LTXError.self) {
            _ = try decodeLTX(MeasuringInput(inner: LTXMemoryInput(file), stats: stats), bufferSize: 1 << 16)
        }
        #expect(stats.largestRequest <= 1 << 16)
    }

    @Test func blockOfWrongLength() {
        var rng = SeededRNG(seed: 4)
        let short = rng.bytes(Self.size - 1)
        let long = rng.bytes(Self.size + 1)
        Self.refused(buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .customBlock(literalOnlyBlock(short)))]), .decompression)
        Self.refused(buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .customBlock(literalOnlyBlock(long)))]), .decompression)
        // Garbage that is not an LZ4 block: a match offset pointing before the start of the output.
        Self.refused(buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .customBlock([0x1F, 0x41, 0xff, 0x00, 0x00]))]), .decompression)
    }

    @Test func postApplyChecksumOnChecksumlessFile() {
        var o = BuildOverrides()
        o.postApplyChecksum = 1 << 63 | 1
        Self.refused(buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .block)], overrides: o), .invalidHeader)
    }

    @Test func fileChecksumWithoutFlagBit() {
        let good = buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .block)])
        var o = BuildOverrides()
        o.fileChecksum = readBE(good, good.count - 8, as: UInt64.self) & ~LTXTrailer.checksumFlag
        Self.refused(buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .block)], overrides: o), .checksumMismatch)
        o.fileChecksum = 0
        Self.refused(buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .block)], overrides: o), .checksumMismatch)
    }

    @Test func wrongFileChecksum() {
        let good = buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .block)])
        var o = BuildOverrides()
        o.fileChecksum = readBE(good, good.count - 8, as: UInt64.self) ^ 1
        Self.refused(buildLTX(header: Self.incremental(), pages: [(2, Self.page(1), .block)], overrides: o), .checksumMismatch)
    }

    /// Index entries that disagree with the frames, each with a correct file checksum over what is written.
    @Test func indexDisagreesWithFrames() throws {
        let pages: [(UInt32, [UInt8], PageEncoding)] = [(2, Self.page(1), .block), (4, Self.page(2), .block)]
        let good = buildLTX(header: Self.incremental(), pages: pages)
        let (entries, _) = try parseIndexFromEnd(good)
        func index(_ e: [IndexEntry]) -> [UInt8] {
            var b = [UInt8]()
            for x in e {
                appendUvarint(x.pgno, to: &b)
                appendUvarint(x.offset, to: &b)
                appendUvarint(x.size, to: &b)
            }
            appendUvarint(0, to: &b)
            return b
        }
        var variants: [(String, [IndexEntry])] = []
        variants.append(("missing entry", [entries[0]]))
        variants.append(("extra entry", entries + [IndexEntry(pgno: 9, offset: 500, size: 20)]))
        variants.append(("swapped", [entries[1], entries[0]]))
        var e = entries
        e[0].offset += 1
        variants.append(("offset", e))
        e = entries
        e[1].size -= 1
        variants.append(("size", e))
        e = entries
        e[1].pgno = 5
        variants.append(("pgno", e))
        for (label, v) in variants {
            var o = BuildOverrides()
            o.index = index(v)
            let file = buildLTX(header: Self.incremental(), pages: pages, overrides: o)
            let err = #expect(throws: LTXError.self, "\(label)") { _ = try decodeLTX(file) }
            #expect(err?.code == .invalidIndex, "\(label): \(String(describing: err))")
        }
        // Control: the same helper with the real entries gives a valid file.
        var o = BuildOverrides()
        o.index = index(entries)
        #expect(buildLTX(header: Self.incremental(), pages: pages, overrides: o) == good)
    }

    @Test func indexSizeFieldWrong() {
        for delta: Int in [-1, 1, 1000] {
            var o = BuildOverrides()
            let pages: [(UInt32, [UInt8], PageEncoding)] = [(2, Self.page(1), .block)]
            let good = buildLTX(header: Self.incremental(), pages: pages)
            let size = Int(readBE(good, good.count - 24, as: UInt64.self))
            o.indexSize = UInt64(size + delta)
            Self.refused(buildLTX(header: Self.incremental(), pages: pages, overrides: o), .invalidIndex)
        }
    }

    @Test func overlongVarint() throws {
        // An index varint of 11 bytes overflows 64 bits.
        var o = BuildOverrides()
        o.index = [UInt8](repeating: 0xff, count: 10) + [0x01, 0]
        Self.refused(buildLTX(header: Self.incremental(), pages: [], overrides: o), .invalidIndex)
        o.index = [UInt8](repeating: 0x80, count: 9) + [0x02, 0]
        Self.refused(buildLTX(header: Self.incremental(), pages: [], overrides: o), .invalidIndex)

        // A 10-byte varint whose top bits fall off the end: modulo 2^64 it still says "page 2", and the index size
        // and file checksum are consistent with it, so only the overflow check (Go's binary.ReadUvarint) catches it.
        let pages: [(UInt32, [UInt8], PageEncoding)] = [(2, Self.page(1), .block)]
        let good = buildLTX(header: Self.incremental(), pages: pages)
        let (entries, _) = try parseIndexFromEnd(good)
        var index: [UInt8] = [0x82] + [UInt8](repeating: 0x80, count: 8) + [0x02]
        appendUvarint(entries[0].offset, to: &index)
        appendUvarint(entries[0].size, to: &index)
        index.append(0)
        o.index = index
        Self.refused(buildLTX(header: Self.incremental(), pages: pages, overrides: o), .invalidIndex)
    }

    @Test func failingInputIsAnIOError() throws {
        let file = try encodeLTX(header: Self.incremental(), pages: [(2, Self.page(1))])
        let e = #expect(throws: LTXError.self) {
            _ = try decodeLTX(FailingInput(prefix: LTXMemoryInput(Array(file.prefix(150)))), name: "io.ltx")
        }
        #expect(e?.code == .io)
        #expect(e?.file == "io.ltx")
        #expect(e?.cause is FailingInput.Boom)
    }
}
