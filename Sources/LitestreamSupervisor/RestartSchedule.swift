/// When to restart a replicator that died, and when to give up: exponential backoff from
/// ``ReplicationSupervisor/Configuration-swift.struct/RestartPolicy-swift.struct``.
///
/// The backoff doubles with each death in a row and starts over after a run of at least `resetAfter` (a child
/// that ran for an hour and then died is not in a crash loop). Giving up counts restarts within the sliding
/// `window`, whatever the backoff: a child that keeps dying every few minutes is broken too.
struct RestartSchedule: Sendable {
    let policy: ReplicationSupervisor.Configuration.RestartPolicy
    private var recentRestarts: [ContinuousClock.Instant] = []
    private var inARow = 0

    init(policy: ReplicationSupervisor.Configuration.RestartPolicy) {
        self.policy = policy
    }

    /// The wait before the next start, after a child that ran for `runTime` died at `now`; nil: give up, this
    /// would be restart number `maximumRestarts + 1` within the window.
    mutating func delay(afterRunOf runTime: Duration, at now: ContinuousClock.Instant = .now) -> Duration? {
        if runTime >= policy.resetAfter { inARow = 0 }
        recentRestarts.removeAll { now - $0 >= policy.window }
        guard recentRestarts.count < policy.maximumRestarts else { return nil }
        var delay = policy.initialBackoff
        for _ in 0..<inARow where delay < policy.maximumBackoff { delay *= 2 }
        inARow += 1
        recentRestarts.append(now)
        return min(delay, policy.maximumBackoff)
    }
}
