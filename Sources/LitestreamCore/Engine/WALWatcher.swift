import Synchronization

/// Wakes the engine when the database's WAL changes, so a commit reaches the replica in milliseconds instead of
/// waiting for the next poll. Linux: a subscription to the process's one inotify instance (`FileEventHub`), for
/// the WAL's name in the database's directory (the WAL may be created, truncated or deleted); an idle database
/// then costs no system call, no timer and no wake-up. Elsewhere, or when the directory cannot be watched, it
/// polls the WAL's size and mtime, backing off from `pollInterval` to `maxPollInterval` while nothing changes.
final class WALWatcher: Sendable {
    private let walName: String
    private let walPath: String
    /// The WAL's directory, which inotify watches.
    private let directory: String
    private let pollInterval: Duration
    private let maxPollInterval: Duration
    private let hub: FileEventHub?
    private let subscription: FileEventHub.Token?
    /// The database file's own name: a file replaced under us (`mv` over it, `rm` and re-create, `restore -force`)
    /// makes the next sync notice and reopen it, even before the new file's WAL is written.
    private let databaseSubscription: FileEventHub.Token?
    private let watchLost: WatchLost
    private let counters: WakeupCounters?
    private let state = Mutex(State())

    /// Pending changes and the waiting task. The first wait returns at once.
    private let wake = WakeSignal(pending: true)

    private struct State {
        var lastStat: (Int64, Int64) = (-1, -1)
        /// The next poll's delay, doubled after each poll that saw no change.
        var pollDelay: Duration = .milliseconds(50)
    }

    /// Set by the hub's thread when the directory's watch went away: poll from then on.
    private final class WatchLost: Sendable {
        let value = Atomic(false)
    }

    /// - Parameters:
    ///   - walPath: the WAL's path (it need not exist yet).
    ///   - pollInterval: without inotify, the first poll's delay after a change.
    ///   - maxPollInterval: without inotify, the longest delay between polls of an idle WAL.
    ///   - hub: where events come from; nil polls.
    ///   - counters: where polls are counted.
    init(walPath: String, pollInterval: Duration = .milliseconds(50), maxPollInterval: Duration = .seconds(1),
         hub: FileEventHub? = FileEventHub.shared, counters: WakeupCounters? = nil) {
        self.counters = counters
        self.walPath = walPath
        self.directory = POSIX.dirname(walPath)
        self.walName = POSIX.basename(walPath)
        self.pollInterval = pollInterval
        self.maxPollInterval = max(maxPollInterval, pollInterval)
        self.hub = hub
        let wake = self.wake, lost = WatchLost()
        self.watchLost = lost
        #if os(Linux)
        subscription = hub?.subscribe(directory: directory, name: walName, mask: Self.listeningMask) { event in
            if event.lost, event.name == nil, event.mask & UInt32(IN_IGNORED) != 0 {
                lost.value.store(true, ordering: .releasing)
            }
            wake.signal()
        }
        databaseSubscription = walName.hasSuffix("-wal") && subscription != nil
            ? hub?.subscribe(directory: directory, name: String(walName.dropLast(4)),
                mask: UInt32(IN_CREATE | IN_MOVED_TO | IN_DELETE)) { _ in wake.signal() }
            : nil
        #else
        subscription = nil
        databaseSubscription = nil
        #endif
        state.withLock { $0.pollDelay = pollInterval }
        // Polling compares with the WAL as it is now; the first wait returns at once anyway (the engine syncs
        // when it starts).
        if !isEventDriven { _ = statChanged() }
    }

    deinit {
        if let subscription { hub?.unsubscribe(subscription) }
        if let databaseSubscription { hub?.unsubscribe(databaseSubscription) }
    }

    #if os(Linux)
    /// No IN_CLOSE_WRITE: closing a WAL changes nothing in it (SQLite's writes are `pwrite`s, which IN_MODIFY
    /// reports), yet every connection that closes would wake the engine, and one closed by the engine itself
    /// (`DatabaseEngine.suspend`) would open it again at once.
    private static let listeningMask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_DELETE)
    /// Without IN_MODIFY: every write to a file in a watched directory costs the writing process a notification
    /// (about 5% of a fast writer's time, in its `pwrite`s), so writes are not watched while nobody would wait.
    /// (A directory shared by several databases keeps IN_MODIFY while any of them listens.)
    private static let pausedMask = UInt32(IN_CREATE | IN_MOVED_TO | IN_DELETE)
    #endif

    /// Stops watching WAL writes until `listen()`. For a loop that syncs after a fixed delay whatever happens: a
    /// writer then pays nothing for the watch meanwhile.
    func pause() {
        #if os(Linux)
        if let subscription { hub?.setMask(subscription, Self.pausedMask) }
        #endif
    }

    /// Watches WAL writes again. Call it before the sync whose result decides whether to `wait`, so that no write
    /// after that sync goes unheard. Events of writes made before it are dropped: the caller syncs next anyway.
    func listen() {
        #if os(Linux)
        guard let subscription, let hub else { return }
        hub.setMask(subscription, Self.listeningMask)
        // The kernel queued the events of earlier writes when they were made: deliver them now, then drop them.
        hub.drain()
        _ = wake.consume()
        #endif
    }

    /// Whether changes are pushed by the kernel (false: polling).
    var isEventDriven: Bool { subscription != nil && !watchLost.value.load(ordering: .acquiring) }

    /// Marks a change (also used by tests and by explicit sync requests).
    func signal() { wake.signal() }

    /// Waits until the WAL changes, a signal, `timeout` (nil: none) passes, or the task is cancelled. Returns
    /// true for a change or a signal, false for the timeout.
    @discardableResult
    func wait(timeout: Duration?) async -> Bool {
        guard isEventDriven else { return await poll(timeout: timeout) }
        // Events of writes already made are delivered now, so they all end this wait rather than one ending it
        // and a straggler, read by the hub's thread a moment later, ending the next wait for nothing.
        hub?.drain()
        return await wake.wait(timeout: timeout)
    }

    /// Polling: looks at the WAL's size and mtime, first after `pollInterval`, then twice as long after each look
    /// that saw no change, up to `maxPollInterval`. A change or a signal starts over from `pollInterval`.
    private func poll(timeout: Duration?) async -> Bool {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while !Task.isCancelled {
            if wake.consume() || statChanged() { return resetPollDelay() }
            let now = ContinuousClock.now
            if let deadline, now >= deadline { return false }
            let delay = state.withLock { $0.pollDelay }
            if await wake.wait(timeout: deadline.map { min(delay, $0 - now) } ?? delay) { return resetPollDelay() }
            state.withLock { $0.pollDelay = min($0.pollDelay * 2, maxPollInterval) }
        }
        return false
    }

    private func resetPollDelay() -> Bool {
        state.withLock { $0.pollDelay = pollInterval }
        return true
    }

    private func statChanged() -> Bool {
        counters?.walPolled()
        var st = stat()
        let now: (Int64, Int64)
        if stat(walPath, &st) == 0 {
            #if canImport(Glibc)
            now = (Int64(st.st_size), Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
            #else
            now = (Int64(st.st_size), Int64(st.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(st.st_mtimespec.tv_nsec))
            #endif
        } else {
            now = (-1, -1)
        }
        return state.withLock { s in
            defer { s.lastStat = now }
            return s.lastStat != now
        }
    }
}
