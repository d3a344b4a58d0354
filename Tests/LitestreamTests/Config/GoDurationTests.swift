import Testing

@testable import Litestream

/// `GoDuration`, the one duration parser (configuration, CLI flags, the control socket): Go's
/// `time.ParseDuration`, cases after Go's own tests, and the inputs on which the three former parsers disagreed.
@Suite struct GoDurationTests {
    private static let maxNanoseconds = Int64.max

    @Test(arguments: [
        ("0", Duration.zero), ("-0", .zero), ("+0", .zero), ("5s", .seconds(5)), ("1478s", .seconds(1478)),
        // Signs (DurationParser and ControlDuration took none).
        ("-5s", .seconds(-5)), ("+5s", .seconds(5)), ("-2m3.4s", .milliseconds(-123_400)),
        // Fractions (ControlDuration kept milliseconds only).
        ("5.6s", .milliseconds(5600)), ("5.s", .seconds(5)), (".5s", .milliseconds(500)), ("1.0040s", .milliseconds(1004)),
        ("1.5h", .seconds(5400)), ("1.5us", .nanoseconds(1500)), ("0.3333333333333333333h", .seconds(1200)),
        ("0.100000000000000000000h", .seconds(360)), ("0.830103483285477580700h", .nanoseconds(2_988_372_539_827)),
        // Every unit, both micro signs (DurationParser lacked U+03BC, ControlDuration all below ms).
        ("10ns", .nanoseconds(10)), ("11us", .microseconds(11)), ("12\u{00B5}s", .microseconds(12)),
        ("12\u{03BC}s", .microseconds(12)), ("13ms", .milliseconds(13)), ("15m", .seconds(900)), ("16h", .seconds(57_600)),
        // Several parts, in any order.
        ("3h30m", .seconds(12_600)), ("10.5s4m", .milliseconds(250_500)), ("2h45m30.5s", .milliseconds(9_930_500)),
        ("1h2m3s4ms5us6ns", .nanoseconds(3_723_004_005_006)),
        // The ends of the range: exact, no floating point on the way.
        ("9007199254740993ns", .nanoseconds(9_007_199_254_740_993)), ("9223372036854775807ns", .nanoseconds(maxNanoseconds)),
        ("9223372036854775.807us", .nanoseconds(maxNanoseconds)), ("9223372036s854ms775us807ns", .nanoseconds(maxNanoseconds)),
        ("-9223372036854775808ns", .nanoseconds(Int64.min)), ("-2562047h47m16.854775808s", .nanoseconds(Int64.min)),
    ])
    func parses(text: String, expected: Duration) {
        #expect(GoDuration.parse(text) == expected)
        #expect(GoDuration.parse(text, bareSeconds: true) == expected)
    }

    @Test(arguments: [
        "", "-", "+", "3", "10", "s", ".", "-.", ".s", "+.s", "1d", "1x", "1.2.3s", "--1s", "1 s", "1h 30m", "1s ",
        "1S", "\u{FFFD}", "abc",
        // DurationParser took "1s2" as 1s and a trailing number; ControlDuration took "1e3".
        "1s2", "1e3", "inf", "nan",
        // Out of Go's range: an error, never an overflow trap.
        "9223372036854775808ns", "9223372036854775810ns", "-9223372036854775809ns", "9223372036854776us",
        "3000000h", "9223372036854775.808us", "9223372036854ms775us808ns", "99999999999999999h",
        "99999999999999999999999999h", "2562047h47m16.854775808s", "2562047h47m16.854775807s1ns",
    ])
    func rejects(text: String) {
        #expect(GoDuration.parse(text) == nil)
    }

    @Test(arguments: [
        ("30", Duration.seconds(30)), ("1.5", .milliseconds(1500)), (".25", .milliseconds(250)), ("0", .zero),
        ("-1", .seconds(-1)), ("9223372036", .seconds(9_223_372_036)),
    ])
    func bareSeconds(text: String, expected: Duration) {
        #expect(GoDuration.parse(text, bareSeconds: true) == expected)
        if text != "0" { #expect(GoDuration.parse(text) == nil, "a bare number needs a unit unless asked for") }
    }

    @Test(arguments: ["9223372037", "1e3", "inf", "1.2.3", ".", "1m30", "-"])
    func badBareSeconds(text: String) {
        #expect(GoDuration.parse(text, bareSeconds: true) == nil)
    }

    @Test(arguments: [
        (Duration.zero, "0s"), (.seconds(10), "10s"), (.seconds(5400), "1h30m"), (.seconds(86_400), "24h"),
        (.milliseconds(500), "500ms"), (.microseconds(100), "100us"), (.nanoseconds(7), "7ns"),
        (.milliseconds(1500), "1.5s"), (.milliseconds(9_930_500), "2h45m30.5s"), (.seconds(-1), "-1s"),
        (.milliseconds(-250), "-250ms"), (.nanoseconds(Int64.max), "2562047h47m16.854775807s"),
        (.nanoseconds(Int64.min), "-2562047h47m16.854775808s"), (.nanoseconds(3_600_000_000_001), "1h0.000000001s"),
    ])
    func formatsAndParsesBack(duration: Duration, text: String) {
        #expect(GoDuration.format(duration) == text)
        #expect(GoDuration.parse(text) == duration)
    }
}
