import Foundation
import LTX
import Testing

/// `LTXDecoder(deferPageChecksums: true)`: the caller hashes the pages and `finish(pageChecksums:)` folds them in.
/// It must accept and refuse exactly what the default decoder does.
struct DeferredChecksumTests {
    /// Decodes in deferred mode, hashing each page as a caller would; `hashPage` lets a test tamper with what the
    /// caller hashes. Reads only the first `readPages` pages when given (the decoder hashes the rest itself).
    static func decodeDeferred<I: LTXInput>(
        _ input: I, readPages: Int? = nil, bufferSize: Int = 1 << 18,
        hashPage: (Int, [UInt8]) -> UInt64 = { CRC64.checksum($1) }
    ) throws -> DecodedLTX {
        var dec = LTXDecoder(input, bufferSize: bufferSize, deferPageChecksums: true)
        let h = try dec.readHeader()
        var page = [UInt8](repeating: 0, count: Int(h.pageSize))
        var pages: [(UInt32, [UInt8])] = []
        var sums: [UInt64] = []
        while pages.count < readPages ?? .max,
            let pgno = try page.withUnsafeMutableBytes({ (p) throws in try dec.nextPage(into: p) })
        {
            sums.append(hashPage(pages.count, page))
            pages.append((pgno, page))
        }
        #expect(dec.deferredPageCount == sums.count)
        let t = try dec.finish(pageChecksums: sums)
        return DecodedLTX(header: h, pages: pages, trailer: t)
    }

    /// The outcome of a decode, comparable across modes: the pages and trailer, or the error's code and message.
    enum Outcome: Equatable {
        case decoded([UInt32], [[UInt8]], LTXTrailer)
        case failed(String, String)
    }

    static func outcome(_ body: () throws -> DecodedLTX) -> Outcome {
        do {
            let d = try body()
            return .decoded(d.pages.map(\.pgno), d.pages.map(\.data), d.trailer)
        } catch let e as LTXError {
            return .failed(e.code.description, e.message)
        } catch {
            return .failed("non-LTX", "\(error)")
        }
    }

    /// A random valid file: block or legacy pages (or a mix), snapshot or sparse, a few page sizes.
    static func randomFile(_ rng: inout SeededRNG) -> [UInt8] {
        let pageSize = [512, 1024, 4096, 4096, 65536].randomElement(using: &rng)!
        let snapshot = Bool.random(using: &rng)
        let commit = UInt32.random(in: 1...(pageSize > 4096 ? 6 : 30), using: &rng)
        var pgnos: [UInt32] = snapshot ? Array(1...commit) : (1...commit).filter { _ in Bool.random(using: &rng) }
        if pgnos.isEmpty && !snapshot { pgnos = [commit] }
        let header = LTXHeader(
            pageSize: UInt32(pageSize), commit: commit, minTXID: snapshot ? 1 : 5, maxTXID: snapshot ? 3 : 7,
            timestamp: Int64.random(in: 0...1 << 41, using: &rng), walOffset: snapshot ? 0 : 32,
            walSize: snapshot ? 0 : 4096)
        let style = Int.random(in: 0..<3, using: &rng)  // all block, all legacy, mixed
        return buildLTX(header: header, pages: pgnos.map { p in
            let kind = PageKind.allCases.randomElement(using: &rng)!
            let legacy = style == 1 || (style == 2 && Bool.random(using: &rng))
            return (p, makePage(size: pageSize, kind: kind, rng: &rng), legacy ? .frame(.init()) : .block)
        })
    }

    @Test func acceptsValidFilesLikeTheDefaultDecoder() throws {
        var rng = SeededRNG(seed: 0xDEF)
        for i in 0..<200 {
            let file = Self.randomFile(&rng)
            let expected = Self.outcome { try decodeLTX(file) }
            guard case .decoded = expected else {
                Issue.record("random file \(i) is invalid: \(expected)")
                continue
            }
            #expect(Self.outcome { try Self.decodeDeferred(LTXMemoryInput(file)) } == expected, "file \(i)")
            // Small chunks exercise every refill path; the decodeAll convenience hashes pages itself.
            #expect(Self.outcome { try Self.decodeDeferred(ChunkedInput(file, seed: UInt64(i), maxChunk: 97)) } == expected)
            #expect(Self.outcome {
                var dec = LTXDecoder(LTXMemoryInput(file), deferPageChecksums: true)
                var pages: [(UInt32, [UInt8])] = []
                let (h, t) = try dec.decodeAll { pages.append(($0, Array($1))) }
                return DecodedLTX(header: h, pages: pages, trailer: t)
            } == expected)
        }
    }

    /// Finishing early: pages not read by the caller are hashed by the decoder, only the read ones are owed.
    @Test func finishAfterSomePages() throws {
        var rng = SeededRNG(seed: 12)
        for _ in 0..<100 {
            let file = Self.randomFile(&rng)
            let all = try decodeLTX(file)
            let k = Int.random(in: 0...all.pages.count, using: &rng)
            let d = try Self.decodeDeferred(LTXMemoryInput(file), readPages: k)
            #expect(d.trailer == all.trailer)
            #expect(d.pages.map(\.data) == all.pages.prefix(k).map(\.data))
        }
    }

    /// The fixtures written by real Litestream.
    @Test func acceptsLitestreamFixtures() throws {
        for name in ["l0-full.ltx", "l0-incremental.ltx", "l0-snapshot.ltx", "l1-compacted.ltx", "l9-snapshot.ltx"] {
            let file = Array(try Data(contentsOf: try fixturesDirectory().appendingPathComponent(name)))
            #expect(Self.outcome { try Self.decodeDeferred(LTXMemoryInput(file)) } == Self.outcome { try decodeLTX(file) },
                "\(name)")
        }
    }

    /// A page checksum that disagrees with the page (the caller's copy went bad, or the page data itself changed
    /// after the encoder hashed it) is a checksum mismatch.
    @Test func wrongPageChecksumIsRefused() throws {
        var rng = SeededRNG(seed: 5)
        let file = try CorruptionTests.smallFile().file
        _ = try Self.decodeDeferred(LTXMemoryInput(file))
        for target in 0..<2 {
            for _ in 0..<20 {
                let bit = Int.random(in: 0..<512 * 8, using: &rng)
                let error = #expect(throws: LTXError.self) {
                    try Self.decodeDeferred(LTXMemoryInput(file)) { i, page in
                        var p = page
                        if i == target { p[bit / 8] ^= 1 << UInt8(bit % 8) }
                        return CRC64.checksum(p)
                    }
                }
                #expect(error?.code == .checksumMismatch)
            }
        }
    }

    /// A file whose stored page data decompresses to a page differing by one bit from what was hashed at encoding
    /// (valid LZ4, valid index): only the checksum can tell, and it does through the caller's page checksums.
    @Test func flippedBitInPageDataIsRefused() throws {
        var rng = SeededRNG(seed: 6)
        let header = LTXHeader(pageSize: 4096, commit: 3, minTXID: 1, maxTXID: 1, timestamp: 1)
        let pages = (1...3).map { _ in makePage(size: 4096, kind: .random, rng: &rng) }
        for encoding in [PageEncoding.block, .frame(.init())] {
            let good = buildLTX(header: header, pages: (1...3).map { (UInt32($0), pages[$0 - 1], encoding) })
            for target in 0..<3 {
                var bad = pages
                let bit = Int.random(in: 0..<4096 * 8, using: &rng)
                bad[target][bit / 8] ^= 1 << UInt8(bit % 8)
                var file = buildLTX(header: header, pages: (1...3).map { (UInt32($0), bad[$0 - 1], encoding) })
                file.replaceSubrange(file.count - 8..<file.count, with: good[(good.count - 8)...])  // good's checksum
                for decode in [{ try decodeLTX(file) }, { try Self.decodeDeferred(LTXMemoryInput(file)) }] {
                    let error = #expect(throws: LTXError.self) { try decode() }
                    #expect(error?.code == .checksumMismatch)
                }
            }
        }
    }

    /// Header bytes that only the checksum covers: still refused in deferred mode.
    @Test func flipsOnlyTheChecksumSeesAreRefused() throws {
        let (file, _) = try CorruptionTests.smallFile()
        // Timestamp (bytes 32..<40), WAL salts (64..<72) and node ID (72..<80) are not validated otherwise.
        for byte in [32, 39, 64, 71, 79] {
            var b = file
            b[byte] ^= 0x10
            for decode in [{ try decodeLTX(b) }, { try Self.decodeDeferred(LTXMemoryInput(b)) }] {
                let error = #expect(throws: LTXError.self) { try decode() }
                #expect(error?.code == .checksumMismatch, "byte \(byte)")
            }
        }
    }

    /// Every single-bit flip of a small file: deferred mode fails exactly as the default decoder does (same code,
    /// same message) — page headers, payload, terminator, index, trailer alike.
    @Test func everySingleBitFlipFailsAsInDefaultMode() throws {
        let (file, _) = try CorruptionTests.smallFile()
        let regions = try CorruptionTests.regions(file)
        var refused: [CorruptionTests.Region: Int] = [:]
        for bit in 0..<file.count * 8 {
            var b = file
            b[bit / 8] ^= 1 << UInt8(bit % 8)
            let expected = Self.outcome { try decodeLTX(b) }
            #expect(Self.outcome { try Self.decodeDeferred(LTXMemoryInput(b)) } == expected, "bit \(bit)")
            if case .failed = expected { refused[regions[bit / 8], default: 0] += 1 }
        }
        for region in [CorruptionTests.Region.header, .pageHeader, .payload, .terminator, .index, .trailer] {
            #expect(refused[region, default: 0] > 0, "\(region)")
        }
    }

    /// Mutation fuzzing: the two modes agree on every mutated file, whether it decodes or not.
    @Test(.timeLimit(.minutes(1))) func mutatedFilesAgreeWithDefaultMode() throws {
        let corpus = try FuzzTests.corpus()
        var rng = SeededRNG(seed: 0xFEED)
        for iteration in 0..<2000 {
            let (name, base) = corpus[iteration % corpus.count]
            let mutated = FuzzTests.mutate(base, rng: &rng)
            let expected = Self.outcome { try decodeLTX(mutated) }
            #expect(Self.outcome { try Self.decodeDeferred(LTXMemoryInput(mutated)) } == expected,
                "\(name), iteration \(iteration)")
        }
    }

    @Test func misuseIsAnError() throws {
        let file = try CorruptionTests.smallFile().file
        // Too few, too many.
        for count in [0, 1, 3] {
            var dec = LTXDecoder(LTXMemoryInput(file), deferPageChecksums: true)
            var page = [UInt8](repeating: 0, count: 512)
            var sums: [UInt64] = []
            while try page.withUnsafeMutableBytes({ try dec.nextPage(into: $0) }) != nil { sums.append(CRC64.checksum(page)) }
            #expect(sums.count == 2)
            let error = #expect(throws: LTXError.self) {
                try dec.finish(pageChecksums: Array(repeating: sums[0], count: count))
            }
            #expect(error?.code == .encoderMisuse)
        }
        // finish() on a deferring decoder, finish(pageChecksums:) on a hashing one.
        var deferring = LTXDecoder(LTXMemoryInput(file), deferPageChecksums: true)
        #expect(throws: LTXError.self) { try deferring.finish() }
        var hashing = LTXDecoder(LTXMemoryInput(file))
        let error = #expect(throws: LTXError.self) { try hashing.finish(pageChecksums: []) }
        #expect(error?.code == .encoderMisuse)
        // Nothing read: nothing owed.
        var untouched = LTXDecoder(LTXMemoryInput(file), deferPageChecksums: true)
        #expect(try untouched.finish(pageChecksums: []) == (try decodeLTX(file)).trailer)
    }
}
