import LTX
import Testing

struct CRC64Tests {
    @Test func checkValue() {
        #expect(CRC64.checksum(Array("123456789".utf8)) == 0xB909_56C7_75A4_1001)
    }

    /// A plain bit-at-a-time CRC-64/GO-ISO, straight from the definition (reflected poly 0xD800000000000000,
    /// init and xorout all ones), to check the slicing-by-8 tables against.
    static func reference(_ bytes: [UInt8]) -> UInt64 {
        var crc = UInt64.max
        for b in bytes {
            crc ^= UInt64(b)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xD800_0000_0000_0000 : crc >> 1 }
        }
        return ~crc
    }

    @Test func emptyInput() {
        #expect(CRC64.checksum([UInt8]()) == 0)
        #expect(CRC64().value == 0)
        var c = CRC64()
        c.update([])
        #expect(c.value == 0)
    }

    /// Short inputs, values computed independently (Python, bit-wise definition).
    @Test func knownValues() {
        #expect(CRC64.checksum(Array("a".utf8)) == 0x3420_0000_0000_0000)
        #expect(CRC64.checksum(Array("abc".utf8)) == 0x3776_C420_0000_0000)
    }

    /// Every length 0..40 (covers the 8-byte fast path, the byte tail and all alignments) against the bit-wise form.
    @Test func matchesBitwiseReference() {
        var rng = SeededRNG(seed: 1)
        let data = rng.bytes(4096 + 37)
        for length in 0...40 {
            for offset in [0, 1, 3, 7] {
                let slice = Array(data[offset..<offset + length])
                #expect(CRC64.checksum(slice) == Self.reference(slice), "length \(length) offset \(offset)")
            }
        }
        #expect(CRC64.checksum(data) == Self.reference(data))
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8]) func incrementalEqualsOneShot(seed: UInt64) {
        var rng = SeededRNG(seed: seed)
        let data = rng.bytes(Int.random(in: 0...20_000, using: &rng))
        let oneShot = CRC64.checksum(data)
        // Random split points, including empty pieces.
        for _ in 0..<20 {
            var cuts = (0..<Int.random(in: 0...12, using: &rng)).map { _ in Int.random(in: 0...data.count, using: &rng) }
            cuts += [0, data.count]
            cuts.sort()
            var crc = CRC64()
            for (a, b) in zip(cuts, cuts.dropFirst()) {
                if Bool.random(using: &rng) {
                    crc.update(Array(data[a..<b]))
                } else {
                    data.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[a..<b])) }
                }
            }
            #expect(crc.value == oneShot)
        }
        // Byte by byte too.
        var crc = CRC64()
        for b in data.prefix(1000) { crc.update([b]) }
        #expect(crc.value == CRC64.checksum(data.prefix(1000)))
    }

    @Test func sensitiveToEveryBit() {
        var rng = SeededRNG(seed: 99)
        let data = rng.bytes(64)
        let base = CRC64.checksum(data)
        for i in 0..<data.count * 8 {
            var d = data
            d[i / 8] ^= 1 << UInt8(i % 8)
            #expect(CRC64.checksum(d) != base)
        }
    }
}
