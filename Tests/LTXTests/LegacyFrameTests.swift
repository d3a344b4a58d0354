import LTX
import Testing

/// The legacy page encoding written by Litestream 0.5.0 – 0.5.15 (ltx ≤ v0.5.1): page flags 0, no size prefix, each
/// page one complete LZ4 frame with a content checksum. Files here are built by hand with liblz4's
/// `LZ4F_compressFrame` (see `buildLTX`), with the file checksum computed per spec §1.6.
struct LegacyFrameTests {
    static let optionSets: [LegacyFrameOptions] = [
        .init(),
        .init(contentChecksum: true, blockChecksum: true, linkedBlocks: false, contentSize: false),
        .init(contentChecksum: true, blockChecksum: false, linkedBlocks: true, contentSize: true),
    ]

    static func pages(pageSize: UInt32, count: UInt32, seed: UInt64) -> [(UInt32, [UInt8])] {
        var rng = SeededRNG(seed: seed)
        return (1...count).map { i in
            (i, makePage(size: Int(pageSize), kind: PageKind.allCases[Int(i) % PageKind.allCases.count], rng: &rng))
        }
    }

    @Test(arguments: [UInt32(512), 4096, 65536], [0, 1, 2])
    func decodesLegacySnapshot(pageSize: UInt32, options: Int) throws {
        let pages = Self.pages(pageSize: pageSize, count: pageSize == 65536 ? 4 : 9, seed: UInt64(pageSize) + 1)
        let header = LTXHeader(pageSize: pageSize, commit: UInt32(pages.count), minTXID: 1, maxTXID: 3, timestamp: 5)
        let file = buildLTX(header: header, pages: pages.map { ($0.0, $0.1, .frame(Self.optionSets[options])) })

        // Each frame: magic 04 22 4D 18 right after the 6-byte page header with flags 0; index size = 6 + frame.
        let (entries, _) = try parseIndexFromEnd(file)
        for e in entries {
            let at = Int(e.offset)
            #expect(readBE(file, at + 4, as: UInt16.self) == 0)
            #expect(Array(file[at + 6..<at + 10]) == [0x04, 0x22, 0x4D, 0x18])
        }

        for d in [
            try decodeLTX(file),
            try decodeLTX(ChunkedInput(file, seed: 3, maxChunk: 1)),
            try decodeLTX(ChunkedInput(file, seed: 4, maxChunk: 97)),
            try decodeLTX(LTXMemoryInput(file), bufferSize: 1),
        ] {
            #expect(d.header == header)
            #expect(d.pages.map(\.pgno) == pages.map(\.0))
            #expect(d.pages.map(\.data) == pages.map(\.1))
            #expect(d.trailer.fileChecksum == readBE(file, file.count - 8, as: UInt64.self))
        }
    }

    /// Both encodings in one file (the decoder picks per page by its flags).
    @Test func mixedEncodings() throws {
        let pages = Self.pages(pageSize: 4096, count: 6, seed: 9)
        let header = LTXHeader(pageSize: 4096, commit: 6, minTXID: 1, maxTXID: 1, timestamp: 0)
        let file = buildLTX(header: header, pages: pages.map { ($0.0, $0.1, $0.0 % 2 == 0 ? .block : .frame(.init())) })
        let d = try decodeLTX(file)
        #expect(d.pages.map(\.data) == pages.map(\.1))
    }

    /// The legacy file checksum hashes the 6-byte page header without any size prefix: the same file with a
    /// checksum computed as if a size prefix had been hashed is refused.
    @Test func checksumCoversSixBytePageHeaderOnly() throws {
        let page = Self.pages(pageSize: 1024, count: 1, seed: 2)[0].1
        let header = LTXHeader(pageSize: 1024, commit: 1, minTXID: 2, maxTXID: 2, timestamp: 0)
        let frame = lz4Frame(page)
        let good = buildLTX(header: header, pages: [(1, page, .frame(.init()))])
        _ = try decodeLTX(good)
        // Recompute the checksum with a fake size prefix hashed after the page header.
        var hashed = header.encoded()
        hashed += [0, 0, 0, 1, 0, 0]
        appendBE(UInt32(frame.count), to: &hashed)
        hashed += page
        hashed += good[(100 + 6 + frame.count)..<(good.count - 8)]
        var bad = Array(good.prefix(good.count - 8))
        appendBE(LTXTrailer.checksumFlag | CRC64.checksum(hashed), to: &bad)
        let e = #expect(throws: LTXError.self) { _ = try decodeLTX(bad) }
        #expect(e?.code == .checksumMismatch)
    }

    static func refused(_ frame: [UInt8], page: [UInt8], pageSize: UInt32 = 1024, code: LTXError.Code? = nil) {
        let header = LTXHeader(pageSize: pageSize, commit: 3, minTXID: 2, maxTXID: 2, timestamp: 0)
        // The page is followed by a second, valid page, so a decoder that over- or under-reads the frame would
        // also misparse what follows.
        let next = [UInt8](repeating: 7, count: Int(pageSize))
        let file = buildLTX(header: header, pages: [(1, page, .rawFrame(frame)), (3, next, .frame(.init()))])
        let e = #expect(throws: LTXError.self) { _ = try decodeLTX(file, name: "legacy.ltx") }
        if let code { #expect(e?.code == code, "\(String(describing: e))") }
        #expect(e?.file == "legacy.ltx")
    }

    @Test func corruptContentChecksumIsRefused() {
        let page = Self.pages(pageSize: 1024, count: 3, seed: 4)[2].1
        var frame = lz4Frame(page)
        // Control: the uncorrupted frame decodes in the same surroundings.
        let header = LTXHeader(pageSize: 1024, commit: 3, minTXID: 2, maxTXID: 2, timestamp: 0)
        #expect(throws: Never.self) {
            _ = try decodeLTX(buildLTX(header: header, pages: [
                (1, page, .rawFrame(frame)), (3, [UInt8](repeating: 7, count: 1024), .frame(.init())),
            ]))
        }
        // The last four bytes are the xxHash32 content checksum; the file checksum is still right (it covers the
        // decompressed page, not the frame), so only the frame's own checksum can catch this.
        frame[frame.count - 1] ^= 0x01
        Self.refused(frame, page: page, code: .decompression)
    }

    @Test func corruptBlockChecksumIsRefused() {
        let page = Self.pages(pageSize: 1024, count: 3, seed: 4)[1].1
        var frame = lz4Frame(page, options: .init(contentChecksum: true, blockChecksum: true))
        frame[frame.count - 9] ^= 0x80  // last byte of the block checksum (before EndMark + content checksum)
        Self.refused(frame, page: page, code: .decompression)
    }

    /// Litestream's reader needs the content checksum (it reads exactly 8 bytes after the page data), so a frame
    /// without one is not a valid legacy page.
    @Test func frameWithoutContentChecksumIsRefused() {
        let page = Self.pages(pageSize: 1024, count: 1, seed: 5)[0].1
        Self.refused(lz4Frame(page, options: .init(contentChecksum: false)), page: page, code: .decompression)
    }

    @Test func frameOfWrongLengthIsRefused() {
        var rng = SeededRNG(seed: 6)
        let page = rng.bytes(1024)
        Self.refused(lz4Frame(Array(page.prefix(1023))), page: page, code: .decompression)
        Self.refused(lz4Frame(page + [1]), page: page, code: .decompression)
        Self.refused(lz4Frame(page + page), page: page, code: .decompression)
        Self.refused(lz4Frame([]), page: page, code: .decompression)
    }

    @Test func notAFrameIsRefused() {
        let page = [UInt8](repeating: 1, count: 1024)
        var frame = lz4Frame(page)
        frame[0] ^= 0xff
        Self.refused(frame, page: page, code: .decompression)
        // A skippable frame is a valid LZ4 stream element but not a page.
        Self.refused([0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 1, 2, 3, 4], page: page, code: .decompression)
        // An LZ4 block where a frame belongs.
        Self.refused(literalOnlyBlock(page), page: page, code: .decompression)
    }

    @Test func bytesBetweenFramesAreRefused() {
        let page = [UInt8](repeating: 1, count: 1024)
        Self.refused(lz4Frame(page) + [0], page: page)
        Self.refused(lz4Frame(page) + lz4Frame(page), page: page)
    }

    /// Cutting the file anywhere inside a legacy frame reports truncation.
    @Test func truncatedFrames() throws {
        var rng = SeededRNG(seed: 12)
        let pages = [(UInt32(1), rng.bytes(512)), (2, [UInt8](repeating: 3, count: 512))]
        let header = LTXHeader(pageSize: 512, commit: 2, minTXID: 1, maxTXID: 1, timestamp: 0)
        let file = buildLTX(header: header, pages: pages.map { ($0.0, $0.1, .frame(.init())) })
        _ = try decodeLTX(file)
        for length in 0..<file.count {
            let e = #expect(throws: LTXError.self) { _ = try decodeLTX(Array(file.prefix(length))) }
            #expect(e?.code == .truncated, "length \(length): \(String(describing: e))")
        }
    }
}
