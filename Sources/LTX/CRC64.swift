/// CRC-64/GO-ISO, as Go's `hash/crc64` computes it with `crc64.ISO`: reflected polynomial `0xD800000000000000`,
/// initial value and final xor all ones. LTX uses it for the file checksum (with bit 63 set on top).
///
/// Slicing-by-8: eight 256-entry tables let the loop fold eight input bytes per step, about four times faster than
/// the byte-wise form on 4 KiB pages.
public struct CRC64: Sendable {
    /// The running register, already inverted (so `value` is the finished checksum at any point).
    public private(set) var value: UInt64 = 0

    public init() {}

    /// The CRC of `bytes` on their own.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var crc = CRC64()
        crc.update(Array(bytes))
        return crc.value
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        var crc = ~value
        var count = buffer.count
        guard count > 0, let base = buffer.baseAddress else { return }
        var p = base
        Self.tables.withUnsafeBufferPointer { t in
            while count >= 8 {
                crc ^= UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
                crc = t[7 * 256 + Int(crc & 0xff)]
                    ^ t[6 * 256 + Int((crc >> 8) & 0xff)]
                    ^ t[5 * 256 + Int((crc >> 16) & 0xff)]
                    ^ t[4 * 256 + Int((crc >> 24) & 0xff)]
                    ^ t[3 * 256 + Int((crc >> 32) & 0xff)]
                    ^ t[2 * 256 + Int((crc >> 40) & 0xff)]
                    ^ t[1 * 256 + Int((crc >> 48) & 0xff)]
                    ^ t[Int(crc >> 56)]
                p += 8
                count -= 8
            }
            while count > 0 {
                crc = t[Int((crc ^ UInt64(p.load(as: UInt8.self))) & 0xff)] ^ (crc >> 8)
                p += 1
                count -= 1
            }
        }
        value = ~crc
    }

    private static let tables: [UInt64] = {
        let poly: UInt64 = 0xD800_0000_0000_0000
        var t = [UInt64](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var crc = UInt64(i)
            for _ in 0..<8 { crc = (crc & 1) == 1 ? (crc >> 1) ^ poly : crc >> 1 }
            t[i] = crc
        }
        for i in 0..<256 {
            var crc = t[i]
            for k in 1..<8 {
                crc = t[Int(crc & 0xff)] ^ (crc >> 8)
                t[k * 256 + i] = crc
            }
        }
        return t
    }()
}
