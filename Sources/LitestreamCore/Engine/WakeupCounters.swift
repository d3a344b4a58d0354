import Synchronization

/// Counts of one database's wake-ups, so that tests (and diagnostics) can check that an idle database costs
/// nothing: with nothing written, none of these should move. Each database's `ReplicationMonitor` has one.
package final class WakeupCounters: Sendable {
    private let syncLoopTurns = Atomic<Int>(0)
    private let uploaderTurns = Atomic<Int>(0)
    private let walPollCount = Atomic<Int>(0)

    package init() {}

    /// Sync-loop turns (each looks at the WAL: a sync).
    package var syncLoop: Int { syncLoopTurns.load(ordering: .relaxed) }
    /// Uploader turns (each lists the local L0 files and runs maintenance that is due).
    package var uploader: Int { uploaderTurns.load(ordering: .relaxed) }
    /// Looks at the WAL's size and mtime by a watcher that has no inotify.
    package var walPolls: Int { walPollCount.load(ordering: .relaxed) }

    func syncLoopWoke() { syncLoopTurns.add(1, ordering: .relaxed) }
    func uploaderWoke() { uploaderTurns.add(1, ordering: .relaxed) }
    func walPolled() { walPollCount.add(1, ordering: .relaxed) }
}
