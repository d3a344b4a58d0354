/// Exponential backoff with jitter, from 1 s up to 5 min, for failing uploads and syncs.
struct Backoff: Sendable {
    private(set) var delay: Duration = .zero
    private var until = ContinuousClock.now

    var isWaiting: Bool { ContinuousClock.now < until }
    var remaining: Duration { max(.zero, until - .now) }

    mutating func failed() {
        delay = delay == .zero ? .seconds(1) : min(delay * 2, .seconds(300))
        let jitter = Double.random(in: 0.8...1.2)
        until = .now + delay * jitter
    }

    mutating func succeeded() {
        delay = .zero
        until = .now
    }
}
