import LitestreamClient
@preconcurrency import Dispatch
import Synchronization

/// A wake-up call for one waiting task: `signal()` wakes the current or the next `wait`; several signals before a
/// wait count as one. Tells a replica's uploader that new local files exist, and the sync loop that the WAL changed
/// (inside `WALWatcher`).
///
/// Cheap because it runs for every sync: a wait is one continuation, no child tasks (a task group per wait, two
/// child tasks and a cancelled sleep, cost many context switches), and timeouts share one dispatch
/// timer: a wait that a signal ends early leaves its timer armed, and the next wait, whose deadline is later,
/// reuses it (when it fires it re-arms for the current waiter's deadline). Under steady writes that is about one
/// timer a second instead of one per sync.
package final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: (deadline: DispatchTime, continuation: CheckedContinuation<Void, Never>)?
        /// When the earliest timer still outstanding fires; nil when none is.
        var armedUntil: DispatchTime?
    }

    private let state = Mutex(State())
    /// Where timeouts fire; shared, they only resume a continuation.
    private static let timers = DispatchQueue(label: "litestream.wake-signal")

    package init(pending: Bool = false) {
        state.withLock { $0.pending = pending }
    }

    package func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let w = s.waiter else {
                s.pending = true
                return nil
            }
            s.waiter = nil
            return w.continuation
        }
        waiter?.resume()
    }

    /// Takes a signal that arrived while nobody waited; true if there was one.
    package func consume() -> Bool {
        state.withLock { s in
            defer { s.pending = false }
            return s.pending
        }
    }

    /// Returns on a signal, after `timeout`, or when the task is cancelled.
    package func wait(timeout: Duration) async {
        if consume() { return }
        let deadline = DispatchTime.now() + .nanoseconds(Int(clamping: max(timeout, .zero).wholeNanoseconds))
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let arm = state.withLock { s -> Bool? in
                    if s.pending || Task.isCancelled {
                        s.pending = false
                        return nil
                    }
                    s.waiter = (deadline, c)
                    if let armed = s.armedUntil, armed <= deadline { return false }
                    s.armedUntil = deadline
                    return true
                }
                switch arm {
                case nil: c.resume()
                case true?: self.arm(deadline)
                case false?: break
                }
            }
        } onCancel: {
            let w = state.withLock { s in
                defer { s.waiter = nil }
                return s.waiter?.continuation
            }
            w?.resume()
        }
    }

    private func arm(_ deadline: DispatchTime) {
        Self.timers.asyncAfter(deadline: deadline) { [weak self] in self?.timerFired(deadline) }
    }

    /// Resumes the waiter if its deadline has passed; otherwise makes sure a timer is armed for it.
    private func timerFired(_ firedFor: DispatchTime) {
        let (due, rearm) = state.withLock { s -> (CheckedContinuation<Void, Never>?, DispatchTime?) in
            if s.armedUntil == firedFor { s.armedUntil = nil }
            guard let w = s.waiter else { return (nil, nil) }
            if DispatchTime.now() >= w.deadline {
                s.waiter = nil
                return (w.continuation, nil)
            }
            if let armed = s.armedUntil, armed <= w.deadline { return (nil, nil) }
            s.armedUntil = w.deadline
            return (nil, w.deadline)
        }
        due?.resume()
        if let rearm { arm(rearm) }
    }
}
