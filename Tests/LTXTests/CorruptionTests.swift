import Foundation
import LTX
import Testing

struct CorruptionTests {
    /// A ~1.3 KB snapshot: one incompressible page (a pure literal run, where every payload bit matters), one text
    /// page (matches and literals).
    static func smallFile() throws -> (file: [UInt8], pages: [[UInt8]]) {
        var rng = SeededRNG(seed: 2024)
        let p1 = rng.bytes(512)
        let p2 = makePage(size: 512, kind: .text, rng: &rng)
        let header = LTXHeader(
            pageSize: 512, commit: 2, minTXID: 1, maxTXID: 2, timestamp: 1_700_000_000_000, walOffset: 32, walSize: 1056,
            walSalt1: 1, walSalt2: 2)
        return (try encodeLTX(header: header, pages: [(1, p1), (2, p2)]), [p1, p2])
    }

    enum Region: Hashable {
        case header, pageHeader, payload, terminator, index, trailer
    }

    static func regions(_ file: [UInt8]) throws -> [Region] {
        var r = [Region](repeating: .header, count: file.count)
        let (entries, indexStart) = try parseIndexFromEnd(file)
        for e in entries {
            for i in Int(e.offset)..<Int(e.offset) + 10 { r[i] = .pageHeader }
            for i in Int(e.offset) + 10..<Int(e.offset + e.size) { r[i] = .payload }
        }
        for i in indexStart - 6..<indexStart { r[i] = .terminator }
        for i in indexStart..<file.count - 16 { r[i] = .index }
        for i in file.count - 16..<file.count { r[i] = .trailer }
        return r
    }

    /// Every single-bit flip anywhere in the file is refused with an LTXError. In the compressed payload a flip
    /// could in principle leave the decompressed page unchanged (an equivalent match); that is tolerated only if
    /// the decoded pages are exactly the originals. Everything else must throw.
    @Test func everySingleBitFlipIsDetected() throws {
        let (file, pages) = try Self.smallFile()
        let regions = try Self.regions(file)
        #expect(Set(regions).count == 6, "the sweep covers every region")
        var codes: [String: Int] = [:]
        var benign = 0
        for bit in 0..<file.count * 8 {
            var b = file
            b[bit / 8] ^= 1 << UInt8(bit % 8)
            let region = regions[bit / 8]
            do {
                let d = try decodeLTX(b)
                #expect(region == .payload, "flip of bit \(bit % 8) at byte \(bit / 8) (\(region)) went undetected")
                #expect(d.pages.map(\.data) == pages, "flip at byte \(bit / 8) changed the content undetected")
                benign += 1
            } catch let e as LTXError {
                codes[e.code.description, default: 0] += 1
            } catch {
                Issue.record("non-LTX error \(error) at byte \(bit / 8)")
            }
        }
        #expect(benign < 16)
        // The different layers all take part: header rules, page rules, LZ4, index, checksum.
        for code in ["badMagic", "invalidHeader", "invalidPage", "decompression", "invalidIndex", "checksumMismatch"] {
            #expect((codes[code] ?? 0) > 0, "no flip caught as \(code): \(codes)")
        }
    }

    @Test func everyTruncationIsDetected() throws {
        let (file, _) = try Self.smallFile()
        for length in 0..<file.count {
            let cut = Array(file.prefix(length))
            let e = #expect(throws: LTXError.self) { _ = try decodeLTX(cut, name: "cut.ltx") }
            #expect(e?.code == .truncated, "length \(length): \(String(describing: e))")
            #expect(e?.file == "cut.ltx")
        }
    }

    @Test func truncationThroughAFileDescriptor() throws {
        let (file, _) = try Self.smallFile()
        try withTemporaryDirectory { dir in
            for length in [0, 50, 100, 105, 400, file.count - 30, file.count - 1] {
                let url = dir.appendingPathComponent("t\(length).ltx")
                try Data(file.prefix(length)).write(to: url)
                let e = #expect(throws: LTXError.self) { _ = try decodeLTXFile(url, name: url.lastPathComponent) }
                #expect(e?.code == .truncated)
                #expect(e?.file == url.lastPathComponent)
            }
        }
    }

    @Test func wrongMagicNamesTheFile() throws {
        var (file, _) = try Self.smallFile()
        file[0] = UInt8(ascii: "X")
        let e = #expect(throws: LTXError.self) { _ = try decodeLTX(file, name: "ltx/0/0000000000000001-0000000000000001.ltx") }
        #expect(e?.code == .badMagic)
        #expect(e?.file == "ltx/0/0000000000000001-0000000000000001.ltx")
        #expect(e.map { "\($0)" }?.contains("0000000000000001-0000000000000001.ltx") == true)
        // Without a name the error still describes itself.
        let e2 = #expect(throws: LTXError.self) { _ = try decodeLTX(file) }
        #expect(e2?.file == nil)
        #expect(e2.map { "\($0)" }?.hasPrefix("ltx: ") == true)
    }

    @Test func notAnLTXFileAtAll() {
        let text = Array("SQLite format 3\u{0}".utf8) + [UInt8](repeating: 0, count: 200)
        let e = #expect(throws: LTXError.self) { _ = try decodeLTX(text, name: "db.sqlite") }
        #expect(e?.code == .badMagic)
        #expect(e.map { "\($0)" }?.contains("db.sqlite") == true)
    }

    @Test(arguments: [1, 2, 7, 100, 5000]) func trailingGarbage(count: Int) throws {
        let (file, _) = try Self.smallFile()
        for filler: UInt8 in [0, 0xff] {
            let bytes = file + [UInt8](repeating: filler, count: count)
            let e = #expect(throws: LTXError.self) { _ = try decodeLTX(bytes, name: "tail.ltx") }
            #expect(e?.code == .trailingData)
            #expect(e?.file == "tail.ltx")
            // The same through small reads, where the trailer and the extra bytes arrive separately.
            let e2 = #expect(throws: LTXError.self) { _ = try decodeLTX(ChunkedInput(bytes, seed: 1, maxChunk: 3)) }
            #expect(e2?.code == .trailingData)
        }
        // Two valid files back to back are not one file.
        let e3 = #expect(throws: LTXError.self) { _ = try decodeLTX(file + file) }
        #expect(e3?.code == .trailingData)
    }

    @Test func trailingGarbageThroughAFileDescriptor() throws {
        let (file, _) = try Self.smallFile()
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("g.ltx")
            try Data(file + [0]).write(to: url)
            let e = #expect(throws: LTXError.self) { _ = try decodeLTXFile(url, name: "g.ltx") }
            #expect(e?.code == .trailingData)
        }
    }

    /// Whatever the cause, every error from a named decoder carries the name.
    @Test func errorsCarryTheFileName() throws {
        let (file, _) = try Self.smallFile()
        var cases: [[UInt8]] = []
        var b = file
        b[4] = 0xff  // flags
        cases.append(b)
        b = file
        b[101] ^= 0x40  // pgno
        cases.append(b)
        b = file
        b[file.count - 1] ^= 1  // checksum
        cases.append(b)
        b = file
        b[file.count - 25] ^= 0x7f  // index terminator area
        cases.append(b)
        for bytes in cases {
            let e = #expect(throws: LTXError.self) { _ = try decodeLTX(bytes, name: "named.ltx") }
            #expect(e?.file == "named.ltx")
            #expect(e.map { "\($0)" }?.hasPrefix("ltx file named.ltx: ") == true)
        }
    }
}
