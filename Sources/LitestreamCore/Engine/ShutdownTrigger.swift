import Synchronization

/// Asks a running `Replicator` to stop: it finishes its current step, syncs and uploads one last time, and returns.
///
/// Cancelling the task would also stop it, but a cancelled task cannot reliably finish network uploads; this lets
/// the final sync run in an uncancelled task (the CLI triggers it on SIGINT/SIGTERM).
public final class ShutdownTrigger: Sendable {
    private let state = Mutex<(triggered: Bool, handlers: [@Sendable () -> Void])>((false, []))

    public init() {}

    public var isTriggered: Bool { state.withLock { $0.triggered } }

    /// Requests the stop. Idempotent.
    public func trigger() {
        let handlers = state.withLock { s -> [@Sendable () -> Void] in
            if s.triggered { return [] }
            s.triggered = true
            defer { s.handlers = [] }
            return s.handlers
        }
        for h in handlers { h() }
    }

    /// Runs `handler` on trigger (at once if already triggered).
    package func onTrigger(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.triggered { return true }
            s.handlers.append(handler)
            return false
        }
        if now { handler() }
    }
}
