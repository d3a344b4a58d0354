/// The one place a stop request arrives: from the graceful-shutdown handler (the `ServiceGroup` is shutting down)
/// or from task cancellation. Waits on it (a restart backoff, a supervisor that gave up) end at once when it is
/// set.
///
/// Why not `Task.sleep` and `gracefulShutdown()`: a stop must reach the supervision loop in both cases alike, and
/// the loop must still be able to wait (for the child's final sync) after its task was cancelled, which
/// `Task.sleep` cannot do.
final class StopSignal: Sendable {
    enum Kind: Sendable, Equatable {
        /// Graceful shutdown: the child gets its full final-sync time.
        case graceful
        /// The task was cancelled: the child still gets SIGTERM, but a shorter time.
        case cancelled
    }

    private let latch = Latch<Kind>()

    /// The request so far, if any.
    var requested: Kind? { latch.value }

    /// Records a stop request and wakes every waiter. A later cancellation replaces a graceful request (the child's
    /// time then shrinks), but waiters woken earlier keep the first.
    func request(_ kind: Kind) { latch.set(kind) { _ in kind == .cancelled } }

    /// Returns the stop request as soon as there is one, or nil after `timeout` (nil: no time limit).
    func wait(upTo timeout: Duration?) async -> Kind? { await latch.wait(upTo: timeout) }
}
