import Dispatch
import LitestreamClient
import Synchronization

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

    private struct State {
        var kind: Kind?
        var waiters: [UInt64: CheckedContinuation<Kind?, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    /// The request so far, if any.
    var requested: Kind? { state.withLock { $0.kind } }

    /// Records a stop request and wakes every waiter. A later, different request is recorded too (cancellation
    /// after a graceful shutdown began) but waiters only ever see the first.
    func request(_ kind: Kind) {
        let waiters = state.withLock { s -> [CheckedContinuation<Kind?, Never>] in
            if s.kind == nil || kind == .cancelled { s.kind = kind }
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: kind) }
    }

    /// Returns the stop request as soon as there is one, or nil after `timeout` (nil: no time limit).
    func wait(upTo timeout: Duration?) async -> Kind? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Kind?, Never>) in
            let id: UInt64? = state.withLock { s in
                if let kind = s.kind {
                    continuation.resume(returning: kind)
                    return nil
                }
                s.nextWaiter += 1
                s.waiters[s.nextWaiter] = continuation
                return s.nextWaiter
            }
            guard let id, let timeout else { return }
            let nanoseconds = Int(max(0, min(timeout.wholeNanoseconds, Int64(Int.max))))
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [self] in
                state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
            }
        }
    }
}
