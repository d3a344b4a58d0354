import LitestreamClient
@preconcurrency import Dispatch
import Synchronization

/// A wake-up call for one waiting task: `signal()` wakes the current or the next `wait`; several signals before a
/// wait count as one. Tells a replica's uploader that new local files exist, and the sync loop that the WAL changed
/// (inside `WALWatcher`).
///
/// Cheap because it runs for every sync: a wait is one continuation, no child tasks (a task group per wait, two
/// child tasks and a cancelled sleep, cost many context switches), and timeouts go to the process's one
/// `DeadlineQueue`: a wait that a signal ends early leaves its deadline queued, and the next wait, whose deadline is
/// later, reuses it (when it fires it re-queues for the current waiter's deadline). Under steady writes that is
/// about one deadline a second instead of one per sync. A wait without a timeout queues nothing: an idle database
/// costs no timer at all.
package final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: (deadline: DispatchTime?, continuation: CheckedContinuation<Bool, Never>)?
        /// When the earliest timer still outstanding fires; nil when none is.
        var armedUntil: DispatchTime?
    }

    private let state = Mutex(State())

    package init(pending: Bool = false) {
        state.withLock { $0.pending = pending }
    }

    package func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard let w = s.waiter else {
                s.pending = true
                return nil
            }
            s.waiter = nil
            return w.continuation
        }
        waiter?.resume(returning: true)
    }

    /// Takes a signal that arrived while nobody waited; true if there was one.
    package func consume() -> Bool {
        state.withLock { s in
            defer { s.pending = false }
            return s.pending
        }
    }

    /// Returns on a signal, after `timeout` (nil: none), or when the task is cancelled; true for a signal.
    @discardableResult
    package func wait(timeout: Duration?) async -> Bool {
        if consume() { return true }
        let deadline = timeout.map { DispatchTime.now() + .nanoseconds(Int(clamping: max($0, .zero).wholeNanoseconds)) }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let arm = state.withLock { s -> Bool? in
                    if s.pending || Task.isCancelled {
                        s.pending = false
                        return nil
                    }
                    s.waiter = (deadline, c)
                    guard let deadline else { return false }
                    if let armed = s.armedUntil, armed <= deadline { return false }
                    s.armedUntil = deadline
                    return true
                }
                switch arm {
                case nil: c.resume(returning: true)
                case true?: self.arm(deadline!)
                case false?: break
                }
            }
        } onCancel: {
            let w = state.withLock { s in
                defer { s.waiter = nil }
                return s.waiter?.continuation
            }
            w?.resume(returning: false)
        }
    }

    private func arm(_ deadline: DispatchTime) {
        DeadlineQueue.shared.schedule(at: deadline) { [weak self] in self?.timerFired(deadline) }
    }

    /// Resumes the waiter if its deadline has passed; otherwise makes sure a timer is armed for it.
    private func timerFired(_ firedFor: DispatchTime) {
        let (due, rearm) = state.withLock { s -> (CheckedContinuation<Bool, Never>?, DispatchTime?) in
            if s.armedUntil == firedFor { s.armedUntil = nil }
            guard let w = s.waiter, let deadline = w.deadline else { return (nil, nil) }
            if DispatchTime.now() >= deadline {
                s.waiter = nil
                return (w.continuation, nil)
            }
            if let armed = s.armedUntil, armed <= deadline { return (nil, nil) }
            s.armedUntil = deadline
            return (nil, deadline)
        }
        due?.resume(returning: false)
        if let rearm { arm(rearm) }
    }
}
