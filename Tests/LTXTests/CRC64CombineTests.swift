import LTX
import Testing

/// `CRC64.combine` and `CRC64.Shift` against one-shot checksums of the concatenation.
struct CRC64CombineTests {
    static let lengths = [0, 1, 2, 6, 7, 8, 10, 100, 110, 4096, 65536]

    @Test(arguments: lengths)
    func combineMatchesOneShotForEverySecondLength(length2: Int) {
        var rng = SeededRNG(seed: 0xC0DE + UInt64(length2))
        for length1 in Self.lengths {
            let a = rng.bytes(length1), b = rng.bytes(length2)
            let whole = CRC64.checksum(a + b)
            #expect(CRC64.combine(CRC64.checksum(a), CRC64.checksum(b), length2: length2) == whole,
                "split \(length1)+\(length2)")
            #expect(CRC64.Shift(length: length2).combine(CRC64.checksum(a), CRC64.checksum(b)) == whole,
                "table split \(length1)+\(length2)")
        }
    }

    /// Random split points of random data, checked against the bit-wise reference as well.
    @Test func randomSplits() {
        var rng = SeededRNG(seed: 99)
        let data = rng.bytes(70_000)
        for _ in 0..<200 {
            let total = Int.random(in: 0...data.count, using: &rng)
            let cut = Int.random(in: 0...total, using: &rng)
            let a = Array(data[0..<cut]), b = Array(data[cut..<total])
            let expected = CRC64.checksum(data[0..<total])
            #expect(CRC64.combine(CRC64.checksum(a), CRC64.checksum(b), length2: b.count) == expected)
        }
        let small = Array(data[5..<300])
        #expect(CRC64.combine(CRC64.checksum(small[..<17]), CRC64.checksum(small[17...]), length2: small.count - 17)
            == CRC64CombineTests.bitwise(small))
    }

    /// Many pieces folded left to right, as a deferring decoder does.
    @Test func foldOfManyPieces() {
        var rng = SeededRNG(seed: 7)
        var all: [UInt8] = []
        var folded: UInt64 = 0
        for i in 0..<300 {
            let piece = rng.bytes([0, 1, 6, 10, 4096, Int.random(in: 0...5000, using: &rng)][i % 6])
            all += piece
            folded = CRC64.combine(folded, CRC64.checksum(piece), length2: piece.count)
        }
        #expect(folded == CRC64.checksum(all))
    }

    @Test func emptyPieces() {
        let x = CRC64.checksum(Array("123456789".utf8))
        #expect(CRC64.combine(x, 0, length2: 0) == x)
        #expect(CRC64.combine(0, x, length2: 9) == x)
        #expect(CRC64.Shift(length: 0).apply(x) == x)
        #expect(CRC64.Shift(length: 1234).apply(0) == 0)
    }

    /// Huge lengths (no bytes needed): shifting by m then n equals shifting by m + n.
    @Test func shiftsCompose() {
        var rng = SeededRNG(seed: 3)
        for (m, n) in [(1, 1 << 40), (4096, 1 << 33), ((1 << 62) - 5, 5), (123_456_789, 987_654_321)] {
            let x = rng.next()
            let twice = CRC64.Shift(length: n).apply(CRC64.Shift(length: m).apply(x))
            #expect(twice == CRC64.Shift(length: m + n).apply(x), "\(m) + \(n)")
        }
        // A zero-filled B: CRC(A‖0ⁿ) = shift(CRC(A)) ⊕ CRC(0ⁿ).
        let a = rng.bytes(33), zeros = [UInt8](repeating: 0, count: 5000)
        #expect(CRC64.combine(CRC64.checksum(a), CRC64.checksum(zeros), length2: 5000) == CRC64.checksum(a + zeros))
    }

    static func bitwise(_ bytes: [UInt8]) -> UInt64 {
        var crc = UInt64.max
        for b in bytes {
            crc ^= UInt64(b)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xD800_0000_0000_0000 : crc >> 1 }
        }
        return ~crc
    }
}

extension CRC64CombineTests {
    /// Both ways of shifting (over zero bytes below 512, by the cached power above) around the switch, and the
    /// cached tables.
    @Test func aroundTheShortLengthLimit() {
        var rng = SeededRNG(seed: 511)
        let data = rng.bytes(1100)
        for length2 in [0, 7, 8, 9, 255, 504, 511, 512, 513, 520, 1024, 1025] {
            let a = Array(data[0..<(1100 - length2)]), b = Array(data[(1100 - length2)...])
            let whole = CRC64.checksum(data)
            #expect(CRC64.combine(CRC64.checksum(a), CRC64.checksum(b), length2: length2) == whole, "\(length2)")
            #expect(CRC64.Shift.cached(length: length2).combine(CRC64.checksum(a), CRC64.checksum(b)) == whole)
            #expect(CRC64.Shift.cached(length: length2).length == length2)
        }
    }
}
