import LitestreamClient
/// Durations written as Go's `time.ParseDuration` accepts them (`1h30m`, `500ms`, `10s`, `1.5h`, `0`), which is
/// what Litestream's configuration uses, and printed back in a form that parses again.
enum GoDuration {
    private static let units: [(String, Double)] = [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("μs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
    ]

    /// Parses `s`; nil if it is not a Go duration. A bare `0` is allowed, as in Go.
    static func parse(_ s: String) -> Duration? {
        var rest = Substring(s)
        var sign: Double = 1
        if rest.first == "-" || rest.first == "+" {
            if rest.first == "-" { sign = -1 }
            rest = rest.dropFirst()
        }
        if rest == "0" { return .zero }
        guard !rest.isEmpty else { return nil }
        var totalNanoseconds: Double = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number != ".", number.filter({ $0 == "." }).count <= 1,
                let value = Double(number.hasPrefix(".") ? "0" + number : String(number))
            else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            guard let multiplier = units.first(where: { $0.0 == unit })?.1 else { return nil }
            rest = rest.dropFirst(unit.count)
            totalNanoseconds += value * multiplier
        }
        guard totalNanoseconds < 9.2e18 else { return nil }
        return .nanoseconds(Int64((sign * totalNanoseconds).rounded()))
    }

    /// `1h30m`, `24h`, `500ms`, `1.5s`, `0s`: the shortest Go-parsable spelling.
    static func format(_ d: Duration) -> String {
        var ns = d.wholeNanoseconds
        if ns == 0 { return "0s" }
        var out = ""
        if ns < 0 {
            out = "-"
            ns = -ns
        }
        if ns < 1_000_000_000 {
            if ns % 1_000_000 == 0 { return out + "\(ns / 1_000_000)ms" }
            if ns % 1_000 == 0 { return out + "\(ns / 1_000)us" }
            return out + "\(ns)ns"
        }
        let hours = ns / 3_600_000_000_000
        let minutes = ns / 60_000_000_000 % 60
        let secondsPart = ns % 60_000_000_000
        if hours > 0 { out += "\(hours)h" }
        if minutes > 0 { out += "\(minutes)m" }
        if secondsPart > 0 {
            if secondsPart % 1_000_000_000 == 0 {
                out += "\(secondsPart / 1_000_000_000)s"
            } else {
                var fraction = String(secondsPart % 1_000_000_000)
                fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
                while fraction.hasSuffix("0") { fraction.removeLast() }
                out += "\(secondsPart / 1_000_000_000).\(fraction)s"
            }
        }
        return out
    }
}
