import LTX
import Testing

struct HeaderTests {
    static func hex(_ s: String) -> [UInt8] {
        let digits = Array(s.filter { !$0.isWhitespace })
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
    }

    /// The header of the real 0.5.17 L0 file annotated in spec §1.7, byte for byte.
    static let specL0Header = hex("""
        4c545831 00000002 00001000 00000004
        0000000000000002 0000000000000002
        000001a21b323eee 0000000000000000
        0000000000004080 0000000000001018
        3ffa9459 f65a754d 0000000000000000
        0000000000000000000000000000000000000000
        """)

    static let specL0 = LTXHeader(
        pageSize: 4096, commit: 4, minTXID: 2, maxTXID: 2, timestamp: 0x1a2_1b32_3eee,
        walOffset: 16512, walSize: 4120, walSalt1: 0x3ffa_9459, walSalt2: 0xf65a_754d)

    @Test func encodesLikeLitestream() {
        #expect(Self.specL0Header.count == 100)
        #expect(Self.specL0.encoded() == Self.specL0Header)
    }

    @Test func decodesLitestreamHeader() throws {
        let h = try Self.specL0Header.withUnsafeBytes { try LTXHeader(decoding: $0) }
        #expect(h == Self.specL0)
        #expect(h.flags == LTXHeader.flagNoChecksum)
        #expect(!h.isSnapshot)
        #expect(h.walEnd == 16512 + 4120)
        #expect(h.lockPage == 262_145)
    }

    /// The snapshot header from spec §1.7 (level 9, TXID 1-1).
    @Test func decodesSnapshotHeader() throws {
        let bytes = Self.hex("""
            4c545831 00000002 00001000 00000004 0000000000000001 0000000000000001
            000001a21b32333e 0000000000000000 0000000000003068 0000000000001018
            3ffa9459 f65a754d 0000000000000000
            """) + [UInt8](repeating: 0, count: 20)
        let h = try bytes.withUnsafeBytes { try LTXHeader(decoding: $0) }
        #expect(h.isSnapshot)
        #expect(h.minTXID == 1 && h.maxTXID == 1 && h.commit == 4)
        #expect(h.walOffset == 12392 && h.walSize == 4120)
        #expect(h.encoded() == bytes)
    }

    @Test func signedFieldsRoundTrip() throws {
        let h = LTXHeader(
            pageSize: 512, commit: .max, minTXID: 1, maxTXID: TXID(.max), timestamp: -1,
            walOffset: .max, walSize: .max, walSalt1: .max, walSalt2: 1, nodeID: .max)
        let bytes = h.encoded()
        #expect(Array(bytes[32..<40]) == [UInt8](repeating: 0xff, count: 8), "timestamp -1 is all ones")
        #expect(try bytes.withUnsafeBytes { try LTXHeader(decoding: $0) } == h)
    }

    /// Reserved bytes are written as zero and, like Go's decoder, not checked on read.
    @Test func reservedBytesIgnoredOnRead() throws {
        var bytes = Self.specL0Header
        for i in 80..<100 { bytes[i] = 0xAA }
        #expect(try bytes.withUnsafeBytes { try LTXHeader(decoding: $0) } == Self.specL0)
    }

    @Test func badMagicAndShortInput() {
        var bytes = Self.specL0Header
        bytes[3] = UInt8(ascii: "2")
        let e = #expect(throws: LTXError.self) { _ = try bytes.withUnsafeBytes { try LTXHeader(decoding: $0) } }
        #expect(e?.code == .badMagic)
        let short = Array(Self.specL0Header.prefix(99))
        let e2 = #expect(throws: LTXError.self) { _ = try short.withUnsafeBytes { try LTXHeader(decoding: $0) } }
        #expect(e2?.code == .truncated)
    }

    @Test func pageSizes() {
        for shift in 0..<32 {
            let size = UInt32(1) << UInt32(shift)
            #expect(LTXHeader.isValidPageSize(size) == (9...16).contains(shift), "\(size)")
        }
        for size: UInt32 in [0, 513, 1000, 3072, 4095, 4097, 65535, 65537, .max] {
            #expect(!LTXHeader.isValidPageSize(size), "\(size)")
        }
    }

    @Test func lockPages() {
        // PENDING_BYTE (0x40000000) / pageSize + 1.
        let expected: [UInt32: UInt32] = [
            512: 2_097_153, 1024: 1_048_577, 2048: 524_289, 4096: 262_145, 8192: 131_073, 16384: 65537, 32768: 32769,
            65536: 16385,
        ]
        for (size, lock) in expected { #expect(LTXHeader.lockPage(pageSize: size) == lock) }
    }
}

struct TXIDTests {
    @Test func formatting() {
        #expect(TXID(1).description == "0000000000000001")
        #expect(TXID(0x2b).description == "000000000000002b")
        #expect(TXID(.max).description == "ffffffffffffffff")
        #expect(TXID.zero.description == "0000000000000000")
        #expect(TXID(9).next == TXID(10))
        #expect(TXID(3) < TXID(4))
        let literal: TXID = 12
        #expect(literal.rawValue == 12)
    }

    @Test func parsing() {
        #expect(TXID(hex: "0000000000000001") == TXID(1))
        #expect(TXID(hex: "ffffffffffffffff") == TXID(.max))
        // Go's strconv.ParseUint(s, 16, 64) accepts upper case too.
        #expect(TXID(hex: "00000000000000AB") == TXID(0xab))
        #expect(TXID(hex: "000000000000000aB"[...].dropFirst()) == TXID(0xab))
    }

    @Test(arguments: [
        "", "1", "2", "000000000000001", "00000000000000001", "+000000000000001", "-000000000000001",
        "-000000000000000", "0x00000000000001", " 000000000000001", "000000000000001 ", "00000000000000g1",
        "0000_00000000001", "000000000000001\u{0}", "００００００００００００００００",
    ])
    func parsingRejects(text: String) {
        #expect(TXID(hex: text) == nil, "\(text.debugDescription)")
    }
}

struct FileNameTests {
    @Test func format() {
        #expect(LTXFileName.format(min: 1, max: 0x2b) == "0000000000000001-000000000000002b.ltx")
        #expect(LTXFileName.format(min: TXID(.max), max: TXID(.max)) == "ffffffffffffffff-ffffffffffffffff.ltx")
    }

    @Test func parse() throws {
        let p = try #require(LTXFileName.parse("0000000000000001-000000000000002b.ltx"))
        #expect(p.min == 1 && p.max == 0x2b)
        let q = try #require(LTXFileName.parse("000000000000000c-0000000000000010.ltx"[...]))
        #expect(q.min == 12 && q.max == 16)
    }

    @Test(arguments: [
        "0000000000000001-000000000000002B.ltx",  // upper case: Litestream's listing ignores it
        "0000000000000001-000000000000002b.LTX",
        "0000000000000001_000000000000002b.ltx",
        "0000000000000001-000000000000002b.ltx.tmp",
        "000000000000001-000000000000002b.ltx",
        "00000000000000001-000000000000002b.ltx",
        "0000000000000001-000000000000002b",
        "+000000000000001-000000000000002b.ltx",
        "0000000000000001-+00000000000002b.ltx",
        "0000000000000001-000000000000002b.lt",
        "x000000000000001-000000000000002b.ltx",
        "",
    ])
    func parseRejects(name: String) {
        #expect(LTXFileName.parse(name) == nil, "\(name)")
    }
}
