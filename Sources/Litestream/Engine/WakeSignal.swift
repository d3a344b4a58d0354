@preconcurrency import Dispatch
import Synchronization

/// A wake-up call for one waiting task: `signal()` wakes the current or the next `wait`; several signals before a
/// wait count as one. Tells a replica's uploader that new local files exist, and the sync loop that the WAL changed
/// (inside `WALWatcher`).
///
/// A wait costs one continuation and one dispatch timer, no child tasks: it runs for every sync, and a task group
/// per wait (two child tasks, a cancelled sleep) was a good part of the steady-state context switches. Each wait
/// has its own number, so the timer of a wait that a signal already ended can never end a later one early.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var lastID: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Where timeouts fire; shared, they only resume a continuation.
    private static let timers = DispatchQueue(label: "litestream.wake-signal")

    init(pending: Bool = false) {
        state.withLock { $0.pending = pending }
    }

    func signal() {
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
    func consume() -> Bool {
        state.withLock { s in
            defer { s.pending = false }
            return s.pending
        }
    }

    /// Returns on a signal, after `timeout`, or when the task is cancelled.
    func wait(timeout: Duration) async {
        if consume() { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let id = state.withLock { s -> UInt64? in
                    if s.pending || Task.isCancelled {
                        s.pending = false
                        return nil
                    }
                    s.lastID += 1
                    s.waiter = (s.lastID, c)
                    return s.lastID
                }
                guard let id else { return c.resume() }
                let (seconds, attoseconds) = max(timeout, .zero).components
                let nanoseconds = Int(clamping: seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue
                    + attoseconds / 1_000_000_000)
                Self.timers.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [weak self] in
                    self?.resume(only: id)
                }
            }
        } onCancel: {
            resume(only: nil)
        }
    }

    /// Resumes the waiter, if any: only if it is wait `id`, when given.
    private func resume(only id: UInt64?) {
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let w = s.waiter, id == nil || w.id == id else { return nil }
            s.waiter = nil
            return w.continuation
        }
        w?.resume()
    }
}
