/// A Litestream transaction ID: the replica's own counter, one per synced batch of SQLite commits.
///
/// Formatting as 16 lowercase hex digits lives here and nowhere else.
public struct TXID: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    /// Parses exactly 16 hex digits (either case, as Go's `ltx.ParseTXID`), as `litestream restore -txid` requires.
    /// No sign, space or prefix is accepted.
    public init?(hex: some StringProtocol) {
        var v: UInt64 = 0
        var count = 0
        for c in hex.utf8 {
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            count += 1
            guard count <= 16 else { return nil }
            v = v << 4 | UInt64(digit)
        }
        guard count == 16 else { return nil }
        self.rawValue = v
    }

    /// 16 lowercase hex digits.
    public var description: String {
        let s = String(rawValue, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    public static func < (a: TXID, b: TXID) -> Bool { a.rawValue < b.rawValue }

    public static let zero = TXID(0)

    /// The next ID. TXIDs never wrap in practice (2^64 syncs).
    public var next: TXID { TXID(rawValue + 1) }
}

/// LTX file names: `<min>-<max>.ltx`, 16 lowercase hex digits each. Uppercase names are not ours and are ignored,
/// as Litestream's listing ignores them.
public enum LTXFileName {
    public static func format(min: TXID, max: TXID) -> String { "\(min)-\(max).ltx" }

    public static func parse(_ name: some StringProtocol) -> (min: TXID, max: TXID)? {
        let u = Array(name.utf8)
        guard u.count == 37, u[16] == UInt8(ascii: "-"), name.hasSuffix(".ltx") else { return nil }
        func isLowerHex(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 102) }
        guard u[0..<16].allSatisfy(isLowerHex), u[17..<33].allSatisfy(isLowerHex) else { return nil }
        let s = String(name)
        guard let a = TXID(hex: s.prefix(16)), let b = TXID(hex: s.dropFirst(17).prefix(16)) else { return nil }
        return (a, b)
    }
}

/// TXIDs travel in JSON as Litestream prints them: 16 hex digits.
extension TXID: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let v = TXID(hex: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "a TXID is 16 hex digits, got \(s)")
        }
        self = v
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
