/// Durations written as Go's `time.ParseDuration` accepts them (`1h30m`, `500ms`, `-1.5h`, `0`), which is what
/// Litestream's configuration and flags use, and printed back in a form that parses again.
///
/// The one parser of the package (configuration, CLI flags, the control socket's `timeout`). It needs nothing but
/// the standard library, so that any target, a dependency-free client included, can hold this file.
package enum GoDuration {
    private static let units: [String: UInt64] = [
        "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
        "m": 60_000_000_000, "h": 3_600_000_000_000,
    ]

    /// Parses `text` as Go does: an optional sign, then numbers with an optional fraction, each followed by a unit
    /// (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`); a bare `0` is zero. With `bareSeconds`, a number without a
    /// unit is seconds (`30`, `1.5`), as the control socket's `timeout` allows. Nil if `text` is not a duration or
    /// lies outside Go's range (±2^63 ns, about 292 years): never a trap.
    package static func parse(_ text: String, bareSeconds: Bool = false) -> Duration? {
        let digit = { (c: UInt8) in c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        let dot = UInt8(ascii: ".")
        var s = Array(text.utf8)[...]
        let negative = s.first == UInt8(ascii: "-")
        if negative || s.first == UInt8(ascii: "+") { s = s.dropFirst() }
        if s.elementsEqual("0".utf8) { return .zero }
        if bareSeconds && !s.isEmpty && s.allSatisfy({ digit($0) || $0 == dot }) { s.append(UInt8(ascii: "s")) }
        guard !s.isEmpty else { return nil }
        var total: UInt64 = 0
        while !s.isEmpty {
            let whole = s.prefix(while: digit)
            s = s.dropFirst(whole.count)
            let fraction = s.first == dot ? s.dropFirst().prefix(while: digit) : []
            if s.first == dot { s = s.dropFirst(1 + fraction.count) }
            let unitName = s.prefix { !digit($0) && $0 != dot }
            s = s.dropFirst(unitName.count)
            guard !whole.isEmpty || !fraction.isEmpty, let unit = units[String(decoding: unitName, as: UTF8.self)]
            else { return nil }
            var value: UInt64? = 0
            for c in whole { value = value.flatMap { checked($0, 10, UInt64(c - 48)) } }
            // As in Go: a fraction keeps at most 19 digits and is scaled in floating point.
            var numerator: UInt64 = 0
            var denominator = 1.0
            for c in fraction {
                guard let next = checked(numerator, 10, UInt64(c - 48)) else { break }
                (numerator, denominator) = (next, denominator * 10)
            }
            let part = UInt64(Double(numerator) * (Double(unit) / denominator))
            guard let v = value.flatMap({ checked($0, unit, part) }), let sum = checked(total, 1, v) else { return nil }
            total = sum
        }
        if negative { return .nanoseconds(Int64(bitPattern: 0 &- total)) }
        return total < 1 << 63 ? .nanoseconds(Int64(total)) : nil
    }

    /// `a * b + c`, or nil past 2^63 (the magnitude of Go's most negative duration).
    private static func checked(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64? {
        let (product, o1) = a.multipliedReportingOverflow(by: b)
        let (sum, o2) = product.addingReportingOverflow(c)
        return o1 || o2 || sum > 1 << 63 ? nil : sum
    }

    /// `1h30m`, `24h`, `500ms`, `1.5s`, `0s`: the shortest Go-parsable spelling.
    package static func format(_ d: Duration) -> String {
        let (seconds, attoseconds) = d.components
        let whole = seconds.magnitude
        let nanoseconds = attoseconds.magnitude / 1_000_000_000
        if whole == 0 && nanoseconds == 0 { return "0s" }
        var out = seconds < 0 || attoseconds < 0 ? "-" : ""
        if whole == 0 {
            if nanoseconds % 1_000_000 == 0 { return out + "\(nanoseconds / 1_000_000)ms" }
            if nanoseconds % 1_000 == 0 { return out + "\(nanoseconds / 1_000)us" }
            return out + "\(nanoseconds)ns"
        }
        if whole >= 3600 { out += "\(whole / 3600)h" }
        if whole / 60 % 60 > 0 { out += "\(whole / 60 % 60)m" }
        if whole % 60 > 0 || nanoseconds > 0 {
            var fraction = nanoseconds == 0 ? "" : "." + String(nanoseconds + 1_000_000_000).dropFirst()
            while fraction.hasSuffix("0") { fraction.removeLast() }
            out += "\(whole % 60)\(fraction)s"
        }
        return out
    }
}
