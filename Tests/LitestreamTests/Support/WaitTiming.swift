/// Bounds for tests of waits that end on a signal or a timeout. Upper bounds are loose (a minute, against
/// timeouts of ten): the test suite runs in parallel on two cores, and a resumed task may wait for a free thread
/// for many seconds.
enum WaitTiming {
    /// A timeout that must not be what ends the wait.
    static let long = Duration.seconds(600)
    /// Later than any wait ended by a signal may take.
    static let late = Duration.seconds(60)

    static func elapsed(_ body: () async -> Void) async -> Duration {
        let start = ContinuousClock.now
        await body()
        return ContinuousClock.now - start
    }
}
