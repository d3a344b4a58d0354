/// The delay before a request is tried again: a random delay in [d/2, d] with d = min(maxDelay, baseDelay ×
/// 2^attempt). The jitter keeps replicas that failed together (a store's outage) from retrying in step.
package struct RetryBackoff: Sendable {
    /// The first retry's upper bound. Default 100 ms.
    package var baseDelay: Duration
    /// No delay is longer. Default 10 s.
    package var maxDelay: Duration

    package init(baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(10)) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The delay after failed attempt number `attempt` (0 for the first).
    package func delay(attempt: Int) -> Duration {
        let cap = min(maxDelay, baseDelay * (1 << min(attempt, 20)))
        return cap * Double.random(in: 0.5...1.0)
    }
}
