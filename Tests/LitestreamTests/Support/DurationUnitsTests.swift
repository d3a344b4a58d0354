import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

@Suite struct DurationUnitsTests {
    @Test func wholeUnitsRoundTowardZero() {
        let d = Duration.milliseconds(1500) + .nanoseconds(999)
        #expect(d.wholeMilliseconds == 1500)
        #expect(d.wholeMicroseconds == 1_500_000)
        #expect(d.wholeNanoseconds == 1_500_000_999)
        let negative = Duration.zero - d
        #expect(negative.wholeMilliseconds == -1500)
        #expect(negative.wholeNanoseconds == -1_500_000_999)
        #expect(d.inSeconds == 1.500000999)
        #expect(Duration.zero.wholeNanoseconds == 0)
    }

    @Test func hugeDurationsClampInsteadOfWrapping() {
        let huge = Duration.seconds(Int64.max / 2)
        #expect(huge.wholeNanoseconds == .max)
        #expect(huge.wholeMilliseconds == .max)
        #expect((Duration.zero - huge).wholeNanoseconds == -.max)
        // The largest whole second count that fits in nanoseconds stays exact.
        #expect(Duration.seconds(9_223_372_036).wholeNanoseconds == 9_223_372_036_000_000_000)
    }
}
