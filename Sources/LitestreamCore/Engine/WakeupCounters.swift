import Synchronization

/// Process-wide counts of the engine's wake-ups, so that tests (and diagnostics) can check that idle databases cost
/// nothing: with nothing written, none of these should move. Relaxed atomics, one increment per wake-up.
package enum WakeupCounters {
    /// Sync-loop turns (each looks at the WAL: a sync).
    static let syncLoop = Atomic<Int>(0)
    /// Uploader turns (each lists the local L0 files and runs maintenance that is due).
    static let uploader = Atomic<Int>(0)
    /// Looks at a WAL's size and mtime by a watcher that has no inotify.
    static let walPolls = Atomic<Int>(0)

    /// All three, in that order.
    package static var snapshot: (syncLoop: Int, uploader: Int, walPolls: Int) {
        (syncLoop.load(ordering: .relaxed), uploader.load(ordering: .relaxed), walPolls.load(ordering: .relaxed))
    }

    static func count(_ counter: borrowing Atomic<Int>) {
        counter.add(1, ordering: .relaxed)
    }
}
