import Foundation
import LTX
import Testing

/// Deterministic, seeded mutation fuzzing of valid files: decoding either succeeds or throws an LTXError, and never
/// crashes, hangs or asks for absurd buffers.
struct FuzzTests {
    static let iterations = 10_000

    /// Valid seed files of every flavour: block snapshot, sparse incremental, legacy frames, mixed, and Litestream's.
    static func corpus() throws -> [(String, [UInt8])] {
        var rng = SeededRNG(seed: 77)
        var out: [(String, [UInt8])] = []
        let small = LTXHeader(pageSize: 512, commit: 3, minTXID: 1, maxTXID: 1, timestamp: 1)
        out.append(("block snapshot", try encodeLTX(header: small, pages: (1...3).map { p in
            (p, makePage(size: 512, kind: PageKind.allCases[Int(p)], rng: &rng))
        })))
        let inc = LTXHeader(pageSize: 1024, commit: 300, minTXID: 4, maxTXID: 6, timestamp: 2, walOffset: 32, walSize: 99)
        out.append(("block incremental", try encodeLTX(header: inc, pages: [3, 130, 299].map { p in
            (p, makePage(size: 1024, kind: .mixed, rng: &rng))
        })))
        out.append(("legacy", buildLTX(header: small, pages: (1...3).map { p in
            (p, makePage(size: 512, kind: PageKind.allCases[Int(p)], rng: &rng), .frame(.init()))
        })))
        out.append(("mixed", buildLTX(header: small, pages: (1...3).map { p in
            (p, makePage(size: 512, kind: .text, rng: &rng), p == 2 ? .frame(.init(blockChecksum: true)) : .block)
        })))
        for name in ["l0-incremental.ltx", "l1-compacted.ltx"] {
            out.append((name, Array(try Data(contentsOf: try fixturesDirectory().appendingPathComponent(name)))))
        }
        for (name, file) in out { _ = try decodeLTX(file, name: name) }  // all valid to start with
        return out
    }

    static func mutate(_ input: [UInt8], rng: inout SeededRNG) -> [UInt8] {
        var b = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            if b.isEmpty { b = [0] }
            let at = Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<9, using: &rng) {
            case 0:  // bit flip
                b[at] ^= 1 << UInt8.random(in: 0...7, using: &rng)
            case 1:  // overwrite a few bytes with random ones
                for i in at..<min(b.count, at + Int.random(in: 1...8, using: &rng)) { b[i] = UInt8.random(in: 0...255, using: &rng) }
            case 2:  // insert random bytes
                b.insert(contentsOf: rng.bytes(Int.random(in: 1...16, using: &rng)), at: at)
            case 3:  // delete a range
                b.removeSubrange(at..<min(b.count, at + Int.random(in: 1...32, using: &rng)))
            case 4:  // truncate
                b.removeSubrange(at...)
            case 5:  // an extreme 32-bit value (size fields, page numbers, commit)
                let v: UInt32 = [0xffff_ffff, 0x7fff_ffff, 0x8000_0000, 0, 1, 0x0001_0000].randomElement(using: &rng)!
                for (i, byte) in withUnsafeBytes(of: v.bigEndian, Array.init).enumerated() where at + i < b.count {
                    b[at + i] = byte
                }
            case 6:  // duplicate a chunk in place
                let end = min(b.count, at + Int.random(in: 1...64, using: &rng))
                b.insert(contentsOf: Array(b[at..<end]), at: end)
            case 7:  // a run of 0x80/0xff (endless varints)
                for i in at..<min(b.count, at + Int.random(in: 1...12, using: &rng)) { b[i] = Bool.random(using: &rng) ? 0x80 : 0xff }
            default:  // append garbage
                b += rng.bytes(Int.random(in: 1...8, using: &rng))
            }
        }
        return b
    }

    @Test(.timeLimit(.minutes(1))) func mutatedFilesNeverCrash() throws {
        let corpus = try Self.corpus()
        var rng = SeededRNG(seed: 0xF0F0)
        let stats = ReadStats()
        var outcomes: [String: Int] = [:]
        let started = ContinuousClock.now
        for iteration in 0..<Self.iterations {
            let (name, base) = corpus[iteration % corpus.count]
            let mutated = Self.mutate(base, rng: &rng)
            do {
                let chunked = iteration % 5 == 0
                if chunked {
                    _ = try decodeLTX(ChunkedInput(mutated, seed: UInt64(iteration), maxChunk: 64))
                } else {
                    _ = try decodeLTX(MeasuringInput(inner: LTXMemoryInput(mutated), stats: stats))
                }
                outcomes["ok", default: 0] += 1
            } catch let e as LTXError {
                outcomes[e.code.description, default: 0] += 1
            } catch {
                Issue.record("\(name) iteration \(iteration): non-LTX error \(error)")
            }
        }
        // The decoder's buffer starts at 256 KiB and only grows to hold one frame (at most ~64 KiB + bound).
        #expect(stats.largestRequest <= 1 << 20, "decoder asked for a \(stats.largestRequest)-byte read")
        #expect((outcomes["ok"] ?? 0) < Self.iterations / 2, "mutations should mostly be caught: \(outcomes)")
        #expect(outcomes.count >= 5, "\(outcomes)")
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    /// Mutations confined to the header and first page header, where size and page fields live, with the file
    /// checksum left as is: stresses the validation paths rather than the checksum.
    @Test(.timeLimit(.minutes(1))) func mutatedHeadersNeverCrash() throws {
        let corpus = try Self.corpus()
        var rng = SeededRNG(seed: 0xBEEF)
        for iteration in 0..<2000 {
            var b = corpus[iteration % corpus.count].1
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                b[Int.random(in: 0..<min(b.count, 116), using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            do {
                _ = try decodeLTX(b)
            } catch is LTXError {
            } catch {
                Issue.record("non-LTX error \(error)")
            }
        }
    }
}
