@preconcurrency import Dispatch
import Synchronization

/// Wakes the engine when the database's WAL changes, so a commit reaches the replica in milliseconds instead of
/// waiting for the next poll. Linux uses inotify on the database's directory (the WAL may be created, truncated or
/// deleted); elsewhere, and if inotify is unavailable, it polls the WAL's size and mtime.
// @unchecked: `source` is set once in init and only cancelled in deinit; mutable state is behind `state`.
final class WALWatcher: @unchecked Sendable {
    private let walName: String
    private let walPath: String
    /// The WAL's directory, which inotify watches.
    private let directory: String
    private let pollInterval: Duration
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "litestream.wal-watcher")
    private let source: (any DispatchSourceRead)?
    private let inotifyFD: Int32

    /// Pending changes and the waiting task. The first wait returns at once.
    private let wake = WakeSignal(pending: true)

    private struct State {
        var lastStat: (Int64, Int64) = (-1, -1)
        /// The inotify source is suspended from the first relevant event until the next `wait`: a busy writer
        /// makes hundreds of WAL writes a second, and waking a thread for each cost more CPU than the syncs.
        /// While suspended the kernel queues (and merges) the events; resuming delivers them.
        var sourceSuspended = false
    }

    init(walPath: String, pollInterval: Duration = .milliseconds(50)) {
        self.walPath = walPath
        self.directory = POSIX.dirname(walPath)
        self.walName = POSIX.basename(walPath)
        self.pollInterval = pollInterval
        #if os(Linux)
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if fd >= 0, inotify_add_watch(fd, directory, Self.listeningMask) >= 0 {
            inotifyFD = fd
            let src = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            source = src
            src.setEventHandler { [weak self] in self?.drainInotify() }
            src.setCancelHandler { close(fd) }
            src.resume()
        } else {
            if fd >= 0 { close(fd) }
            inotifyFD = -1
            source = nil
        }
        #else
        inotifyFD = -1
        source = nil
        #endif
    }

    deinit {
        guard let source else { return }
        source.cancel()
        // A suspended source never runs its cancel handler (which closes the descriptor).
        state.withLock { s in
            if s.sourceSuspended { s.sourceSuspended = false; source.resume() }
        }
    }

    /// Called on `queue` after a relevant event.
    private func suspendSource() {
        guard let source else { return }
        // suspend/resume under the lock, so they always pair up.
        state.withLock { s in
            if !s.sourceSuspended { s.sourceSuspended = true; source.suspend() }
        }
    }

    private func resumeSource() {
        guard let source else { return }
        state.withLock { s in
            if s.sourceSuspended { s.sourceSuspended = false; source.resume() }
        }
    }

    #if os(Linux)
    private static let listeningMask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_CLOSE_WRITE)
    /// Without IN_MODIFY: every write to a file in a watched directory costs the writing process a notification
    /// (about 5% of a fast writer's time, in its `pwrite`s), so writes are not watched while nobody would wait.
    private static let pausedMask = UInt32(IN_CREATE | IN_MOVED_TO | IN_DELETE)
    #endif

    /// Stops watching WAL writes until `listen()`. For a loop that syncs after a fixed delay whatever happens: a
    /// writer then pays nothing for the watch meanwhile.
    func pause() {
        #if os(Linux)
        setMask(Self.pausedMask)
        #endif
    }

    /// Watches WAL writes again. Call it before the sync whose result decides whether to `wait`, so that no write
    /// after that sync goes unheard. Events queued before it are dropped: the caller syncs next anyway.
    func listen() {
        #if os(Linux)
        setMask(Self.listeningMask)
        _ = takeQueuedEvents()
        #endif
    }

    #if os(Linux)
    /// Replaces the watch's event mask (adding a watch on a watched directory updates it).
    private func setMask(_ mask: UInt32) {
        guard source != nil else { return }
        _ = inotify_add_watch(inotifyFD, directory, mask)
    }
    #endif

    /// Whether changes are pushed by the kernel (false: polling).
    var isEventDriven: Bool { source != nil }

    #if os(Linux)
    /// Called on `queue` when the descriptor is readable.
    private func drainInotify() {
        if readQueuedEvents() {
            suspendSource()
            signal()
        }
    }

    /// Reads every queued event without blocking; true if one was about the WAL.
    private func readQueuedEvents() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var relevant = false
        while true {
            let n = buffer.withUnsafeMutableBytes { read(inotifyFD, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            var offset = 0
            buffer.withUnsafeBytes { raw in
                while offset + MemoryLayout<inotify_event>.size <= n {
                    let len = Int(raw.load(fromByteOffset: offset + 12, as: UInt32.self))
                    let nameStart = offset + MemoryLayout<inotify_event>.size
                    if len > 0 {
                        let nameBytes = raw[nameStart..<min(nameStart + len, n)].prefix { $0 != 0 }
                        if nameBytes.elementsEqual(walName.utf8) {
                            relevant = true
                        }
                    }
                    offset = nameStart + len
                }
            }
        }
        return relevant
    }
    #endif

    /// Marks a change (also used by tests and by explicit sync requests).
    func signal() { wake.signal() }

    /// Waits until the WAL changes or `timeout` passes, or the task is cancelled.
    func wait(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        if source == nil {
            // Polling: look at the WAL's size and mtime every pollInterval.
            while ContinuousClock.now < deadline && !Task.isCancelled {
                if wake.consume() || statChanged() { return }
                try? await Task.sleep(for: min(pollInterval, deadline - ContinuousClock.now))
            }
            return
        }
        if wake.consume() || takeQueuedEvents() { return }
        resumeSource()
        await wake.wait(timeout: timeout)
    }

    /// Under a steady writer the events of the last interval are already queued while the source is suspended:
    /// reading them here, on the waiting task's thread, saves waking the source's thread and then this task for
    /// them (two context switches per sync).
    private func takeQueuedEvents() -> Bool {
        #if os(Linux)
        // Only while suspended: the source's handler is the reader otherwise.
        return state.withLock { $0.sourceSuspended } && readQueuedEvents()
        #else
        return false
        #endif
    }

    private func statChanged() -> Bool {
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
