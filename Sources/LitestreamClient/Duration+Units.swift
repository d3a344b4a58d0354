/// Conversions of `Duration` to the units the system calls, SQLite and JSON want: one place for the
/// seconds/attoseconds arithmetic instead of a copy, rounded its own way, at each call site.
extension Duration {
    /// Whole milliseconds, rounded toward zero (timestamps here are Unix milliseconds).
    package var wholeMilliseconds: Int64 { whole(perSecond: 1_000) }

    /// Whole microseconds, rounded toward zero.
    package var wholeMicroseconds: Int64 { whole(perSecond: 1_000_000) }

    /// Whole nanoseconds, rounded toward zero.
    package var wholeNanoseconds: Int64 { whole(perSecond: 1_000_000_000) }

    /// Seconds as a `Double` (JSON, metrics, fractional limits).
    package var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Clamped to ±`Int64.max`: a "practically never" timeout stays far away instead of wrapping around.
    private func whole(perSecond: Int64) -> Int64 {
        let (seconds, attoseconds) = components
        let (scaled, o1) = seconds.multipliedReportingOverflow(by: perSecond)
        let (sum, o2) = scaled.addingReportingOverflow(attoseconds / (1_000_000_000_000_000_000 / perSecond))
        return o1 || o2 ? (seconds < 0 ? -.max : .max) : sum
    }
}
