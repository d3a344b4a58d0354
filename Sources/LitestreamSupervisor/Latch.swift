import Dispatch
import LitestreamClient
import Synchronization

/// A value that arrives once (a child's exit status, a stop request) and that any number of tasks await, each wait
/// optionally bounded by a timeout. Not `Task.sleep`-based on purpose: a wait must still work after its task was
/// cancelled (a cancelled app still gives its replicator time for the final sync).
final class Latch<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [UInt64: CheckedContinuation<Value?, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    /// The value, once set.
    var value: Value? { state.withLock { $0.value } }

    /// Sets the value and wakes every waiter with it. A value already set stays unless `replaces` says otherwise;
    /// waiters woken earlier keep what they got.
    func set(_ value: Value, replacing replaces: (_ current: Value) -> Bool = { _ in false }) {
        let waiters = state.withLock { s -> [CheckedContinuation<Value?, Never>] in
            if let current = s.value, !replaces(current) {} else { s.value = value }
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// Returns the value as soon as there is one, or nil after `timeout` (nil: no time limit).
    func wait(upTo timeout: Duration?) async -> Value? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
            let id: UInt64? = state.withLock { s in
                if let value = s.value {
                    continuation.resume(returning: value)
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
