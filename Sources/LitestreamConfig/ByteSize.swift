import Foundation

/// Byte sizes as written in the configuration: a plain number of bytes (`4096`) or a number with a unit, with or
/// without a space and in any case (`10MiB`, `10 MiB`, `10mb`, `1.5GiB`, `64K`).
///
/// All units are binary (K, KB and KiB are 1024 bytes; M, MB, MiB 1024²; G…; T…), as Litestream reads `part-size`
/// and as our S3 URL option does, so `10MB` and `10MiB` mean the same thing.
enum ByteSize {
    private static let multipliers: [String: Double] = [
        "": 1, "B": 1,
        "K": 1024, "KB": 1024, "KIB": 1024,
        "M": 1_048_576, "MB": 1_048_576, "MIB": 1_048_576,
        "G": 1_073_741_824, "GB": 1_073_741_824, "GIB": 1_073_741_824,
        "T": 1_099_511_627_776, "TB": 1_099_511_627_776, "TIB": 1_099_511_627_776,
    ]

    /// Parses `s`; nil if it is not a size. Negative sizes are not sizes.
    static func parse(_ s: String) -> Int64? {
        let t = s.trimmingCharacters(in: .whitespaces)
        let number = t.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        guard !number.isEmpty, let value = Double(number) else { return nil }
        let unit = t.dropFirst(number.count).trimmingCharacters(in: .whitespaces).uppercased()
        guard let m = multipliers[unit] else { return nil }
        let bytes = value * m
        guard bytes < 9.2e18 else { return nil }
        return Int64(bytes.rounded())
    }

    /// `64MiB`, `5GiB`, `1536KiB`, `1000`: exact, binary units.
    static func format(_ bytes: Int64) -> String {
        for (unit, m) in [("TiB", Int64(1) << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        where bytes != 0 && bytes % m == 0 {
            return "\(bytes / m)\(unit)"
        }
        return "\(bytes)"
    }
}
