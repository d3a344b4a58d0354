/// Exponential backoff with jitter, from 1 s up to 5 min, for failing uploads and syncs.
package struct Backoff: Sendable {
    package private(set) var delay: Duration = .zero
    private var until = ContinuousClock.now

    package init() {}

    package var isWaiting: Bool { ContinuousClock.now < until }
    package var remaining: Duration { max(.zero, until - .now) }

    package mutating func failed() {
        delay = delay == .zero ? .seconds(1) : min(delay * 2, .seconds(300))
        let jitter = Double.random(in: 0.8...1.2)
        until = .now + delay * jitter
    }

    package mutating func succeeded() {
        delay = .zero
        until = .now
    }
}
