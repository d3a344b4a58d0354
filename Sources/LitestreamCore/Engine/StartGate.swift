import Synchronization

/// How many databases of the process may be starting at once: listing their replicas, opening SQLite and writing
/// their first sync. Started all at once, 10,000 tenant databases each opened three SQLite connections (eight
/// descriptors, a few hundred KB) and listed ten replica levels in the same second: the process ran out of
/// descriptors and refused most of them, and its peak memory was that of every database open together. Through
/// the gate they start `limit` at a time, in the order they asked, and each one that goes idle closes its
/// connections again (`Replicator.Configuration.closeIdleAfter`), so only a bounded number is ever open.
///
/// A FIFO semaphore without a thread: waiters are continuations, resumed by `leave()`.
package final class StartGate: Sendable {
    /// The process's gate. 16: enough to keep the engine's 16 threads busy; a database's start is mostly its
    /// first snapshot (disk and CPU), which more at once would not make faster.
    package static let shared = StartGate(limit: 16)

    private struct Waiter {
        var id: Int
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var inside = 0
        var waiters: [Waiter] = []
        var head = 0
        var nextID = 0
    }

    package let limit: Int
    private let state = Mutex(State())

    package init(limit: Int) {
        precondition(limit > 0)
        self.limit = limit
    }

    /// Databases starting now (tests, status).
    package var inside: Int { state.withLock { $0.inside } }
    /// Databases waiting to start.
    package var waiting: Int { state.withLock { $0.waiters.count - $0.head } }

    /// Waits for a place. Throws `CancellationError` if the task is cancelled while it waits (it then holds none).
    package func enter() async throws {
        let id = state.withLock { s -> Int? in
            if s.inside < limit, s.head == s.waiters.count {
                s.inside += 1
                return nil
            }
            s.nextID += 1
            return s.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let enteredNow = state.withLock { s -> Bool? in
                    if Task.isCancelled { return false }
                    // A place may have freed between the first look and now.
                    if s.inside < limit, s.head == s.waiters.count {
                        s.inside += 1
                        return true
                    }
                    s.waiters.append(Waiter(id: id, continuation: c))
                    return nil
                }
                switch enteredNow {
                case true?: c.resume()
                case false?: c.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let i = s.waiters[s.head...].firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            c?.resume(throwing: CancellationError())
        }
    }

    /// Takes a place if one is free and nobody waits for one; never waits. For work that can come back later (a
    /// scheduled snapshot): databases starting go first, and the caller stays free meanwhile.
    package func tryEnter() -> Bool {
        state.withLock { s in
            guard s.inside < limit, s.head == s.waiters.count else { return false }
            s.inside += 1
            return true
        }
    }

    /// Gives a place back: to the longest waiter, if any.
    package func leave() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            guard s.head < s.waiters.count else {
                s.inside -= 1
                return nil
            }
            let w = s.waiters[s.head]
            s.head += 1
            if s.head == s.waiters.count || s.head >= 64 && s.head * 2 >= s.waiters.count {
                s.waiters.removeFirst(s.head)
                s.head = 0
            }
            return w.continuation
        }
        next?.resume()
    }
}
