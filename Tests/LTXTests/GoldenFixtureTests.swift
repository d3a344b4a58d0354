import Foundation
import LTX
import Testing

/// Files written by the real Litestream 0.5.17 (see Fixtures/make-fixtures.sh), checked against a manifest produced
/// by an independent Python decoder.
struct GoldenFixtureTests {
    struct Manifest: Decodable {
        var producer: String
        var fixtures: [Fixture]
    }

    struct Fixture: Decodable {
        var file: String
        var length: Int
        var header: Header
        var postApplyChecksum: String
        var fileChecksum: String
        var indexSize: Int
        var pages: [Page]
    }

    struct Header: Decodable {
        var flags: UInt32
        var pageSize: UInt32
        var commit: UInt32
        var minTXID: UInt64
        var maxTXID: UInt64
        var timestamp: Int64
        var preApplyChecksum: UInt64
        var walOffset: Int64
        var walSize: Int64
        var walSalt1: UInt32
        var walSalt2: UInt32
        var nodeID: UInt64
    }

    struct Page: Decodable {
        var pgno: UInt32
        var offset: UInt64
        var size: UInt64
        var crc64: String
        var sha256: String
    }

    static let names = ["l0-snapshot.ltx", "l0-incremental.ltx", "l0-full.ltx", "l9-snapshot.ltx", "l1-compacted.ltx"]

    static func manifest() throws -> Manifest {
        let url = try fixturesDirectory().appendingPathComponent("manifest.json")
        return try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url))
    }

    static func fixture(_ name: String) throws -> (Fixture, URL, [UInt8]) {
        let m = try manifest()
        let f = try #require(m.fixtures.first { $0.file == name }, "\(name) missing from manifest.json")
        let url = try fixturesDirectory().appendingPathComponent(name)
        return (f, url, Array(try Data(contentsOf: url)))
    }

    static func hex64(_ s: String) throws -> UInt64 { try #require(UInt64(s, radix: 16), "bad hex \(s)") }

    @Test func manifestCoversTheExpectedKinds() throws {
        let m = try Self.manifest()
        #expect(m.producer == "litestream 0.5.17")
        #expect(Set(m.fixtures.map(\.file)) == Set(Self.names))
        let byName = Dictionary(uniqueKeysWithValues: m.fixtures.map { ($0.file, $0) })
        // First-sync L0 snapshot, a later L0 incremental, a level-9 snapshot over several TXIDs, an L1 range.
        #expect(byName["l0-snapshot.ltx"]?.header.minTXID == 1 && byName["l0-snapshot.ltx"]?.header.maxTXID == 1)
        #expect((byName["l0-incremental.ltx"]?.header.minTXID ?? 0) > 1)
        #expect(byName["l9-snapshot.ltx"]?.header.minTXID == 1 && (byName["l9-snapshot.ltx"]?.header.maxTXID ?? 0) > 1)
        #expect((byName["l1-compacted.ltx"].map { $0.header.minTXID < $0.header.maxTXID }) == true)
        let total = try FileManager.default.contentsOfDirectory(atPath: try fixturesDirectory().path)
            .map { try FileManager.default.attributesOfItem(atPath: try fixturesDirectory().appendingPathComponent($0).path)[.size] as? Int ?? 0 }
            .reduce(0, +)
        #expect(total < 200_000)
    }

    @Test(arguments: names) func decodesLikeTheManifest(name: String) throws {
        let (f, url, bytes) = try Self.fixture(name)
        #expect(bytes.count == f.length)
        let expectedHeader = LTXHeader(
            pageSize: f.header.pageSize, commit: f.header.commit, minTXID: TXID(f.header.minTXID),
            maxTXID: TXID(f.header.maxTXID), timestamp: f.header.timestamp, walOffset: f.header.walOffset,
            walSize: f.header.walSize, walSalt1: f.header.walSalt1, walSalt2: f.header.walSalt2, flags: f.header.flags,
            preApplyChecksum: f.header.preApplyChecksum, nodeID: f.header.nodeID)
        let expectedPostApply = try Self.hex64(f.postApplyChecksum)
        let expectedFileChecksum = try Self.hex64(f.fileChecksum)

        for decoded in [try decodeLTX(bytes, name: name), try decodeLTXFile(url, name: name)] {
            #expect(decoded.header == expectedHeader)
            // finish() verified the CRC-64 file checksum; the stored value is the manifest's.
            #expect(decoded.trailer.postApplyChecksum == expectedPostApply)
            #expect(decoded.trailer.fileChecksum == expectedFileChecksum)
            #expect(decoded.pages.map(\.pgno) == f.pages.map(\.pgno))
            for (page, want) in zip(decoded.pages, f.pages) {
                #expect(page.data.count == Int(f.header.pageSize))
                #expect(CRC64.checksum(page.data) == (try Self.hex64(want.crc64)), "page \(page.pgno)")
            }
        }

        // The page index (read from the end, as Litestream's random-access reader does) matches the manifest.
        let (entries, indexStart) = try parseIndexFromEnd(bytes)
        #expect(entries == f.pages.map { IndexEntry(pgno: UInt64($0.pgno), offset: $0.offset, size: $0.size) })
        #expect(bytes.count - 24 - indexStart == f.indexSize)
    }

    /// Litestream 0.5.17 writes size-prefixed LZ4 blocks (page flags 1) and the no-checksum header flag.
    @Test(arguments: names) func usesTheCurrentEncoding(name: String) throws {
        let (f, _, bytes) = try Self.fixture(name)
        #expect(f.header.flags == 2)
        for p in f.pages {
            #expect(readBE(bytes, Int(p.offset) + 4, as: UInt16.self) == 1)
        }
    }

    /// The whole-database L0 written after the restart and the level-9 snapshot taken right after it describe the
    /// same database state, page for page.
    @Test func snapshotMatchesWholeDatabaseL0() throws {
        let (_, _, snap) = try Self.fixture("l9-snapshot.ltx")
        let (_, _, full) = try Self.fixture("l0-full.ltx")
        let a = try decodeLTX(snap), b = try decodeLTX(full)
        #expect(a.header.maxTXID == b.header.maxTXID)
        #expect(a.pages.map(\.pgno) == b.pages.map(\.pgno))
        #expect(a.pages.map(\.data) == b.pages.map(\.data))
    }

    /// Re-encoding Litestream's pages with our encoder gives a valid file with the same content and header.
    @Test(arguments: names) func reencodes(name: String) throws {
        let (_, _, bytes) = try Self.fixture(name)
        let d = try decodeLTX(bytes)
        let again = try encodeLTX(header: d.header, pages: d.pages.map { ($0.pgno, $0.data) })
        let e = try decodeLTX(again)
        #expect(e.header == d.header)
        #expect(e.pages.map(\.pgno) == d.pages.map(\.pgno))
        #expect(e.pages.map(\.data) == d.pages.map(\.data))
        #expect(Array(again[0..<100]) == Array(bytes[0..<100]), "identical header bytes")
    }

    /// Every single-bit flip of a real Litestream file is detected (file checksum, header rules, or LZ4 errors),
    /// unless it leaves the decoded content, header and index exactly as they were.
    @Test func bitFlipsInARealFileAreDetected() throws {
        let (_, _, bytes) = try Self.fixture("l0-incremental.ltx")
        let original = try decodeLTX(bytes)
        for bit in 0..<bytes.count * 8 {
            var b = bytes
            b[bit / 8] ^= 1 << UInt8(bit % 8)
            do {
                let d = try decodeLTX(b)
                #expect(d.pages.map(\.data) == original.pages.map(\.data), "undetected flip at bit \(bit)")
                #expect(d.header == original.header && d.trailer == original.trailer, "undetected flip at bit \(bit)")
            } catch {
                #expect(error is LTXError)
            }
        }
    }
}
