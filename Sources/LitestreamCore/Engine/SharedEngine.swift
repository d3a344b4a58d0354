import LTX
import Synchronization

/// The database engine behind a mutex, shared by the sync loop and the replicas' uploaders, which need it for
/// snapshots and catch-up files. Every sync goes through here, so the monitor learns of each new local file.
final class SharedEngine: Sendable {
    /// Owns the engine: nothing else holds a reference to it.
    private let engine: Mutex<DatabaseEngine>
    let store: LocalLTXStore
    let monitor: ReplicationMonitor
    /// The engine's, which never change.
    let path: String, walPath: String
    /// Called after a sync wrote new files or served a `sync -wait` (wakes the uploaders).
    private let onNewFiles: @Sendable () -> Void
    /// Called when a sync opened the connections that `suspendIfIdle` had closed (wakes the sync loop, which
    /// closes them again once idle).
    private let onResumed: @Sendable () -> Void

    init(_ engine: sending DatabaseEngine, monitor: ReplicationMonitor, onNewFiles: @escaping @Sendable () -> Void,
         onResumed: @escaping @Sendable () -> Void = {}) {
        (store, path, walPath) = (engine.store, engine.path, engine.walPath)
        self.monitor = monitor
        self.onNewFiles = onNewFiles
        self.onResumed = onResumed
        self.engine = Mutex(engine)
    }

    /// Runs `body` holding the mutex. `@Sendable` and a `Sendable` result, so that the compiler sees to it that the
    /// engine (which is not thread-safe) never leaves the mutex.
    func withEngine<T: Sendable, E: Error>(_ body: @Sendable (DatabaseEngine) throws(E) -> T) throws(E) -> T {
        try engine.withLock { e throws(E) in try body(e) }
    }

    var position: TXID { withEngine { $0.position } }

    func open(remoteMaxTXID: TXID?, verifyAfter: TXID?) throws {
        try withEngine { try $0.open(remoteMaxTXID: remoteMaxTXID, verifyAfter: verifyAfter) }
    }

    func close() { withEngine { $0.close() } }

    /// Whether the engine's connections are closed (`DatabaseEngine.suspend()`).
    var isSuspended: Bool { withEngine { $0.isSuspended } }

    /// Closes the engine's connections when nothing was written for `idle` and every committed frame is in a
    /// local L0 file. Returns whether it closed them.
    @discardableResult
    func suspendIfIdle(for idle: Duration) -> Bool {
        let closed = withEngine { e in
            guard e.canSuspend, ContinuousClock.now - e.lastActivity >= idle else { return false }
            return e.suspend()
        }
        if closed { monitor.connectionsClosed(true) }
        return closed
    }

    /// Syncs and reports what was written. Wakes the uploaders when it wrote files, or when it served a sync
    /// request that waits for the replicas: they upload at once then, even files their sync interval held back.
    @discardableResult
    func sync(checkpoint: Bool = true) throws -> DatabaseEngine.SyncResult {
        let (result, servedRequest) = try withEngine { e in
            let served = monitor.syncStarting()
            do {
                let r = try e.sync(checkpoint: checkpoint)
                return (r, report(r, position: e.position, served: served))
            } catch {
                monitor.syncFailed(error)
                throw error
            }
        }
        if !result.written.isEmpty || servedRequest { onNewFiles() }
        return result
    }

    private func resumed(_ r: DatabaseEngine.SyncResult) {
        guard r.resumed else { return }
        monitor.connectionsClosed(false)
        onResumed()
    }

    /// Reports files written by a sync made directly on the engine (under the lock); returns whether the sync
    /// served a sync request that waits for the replicas.
    @discardableResult
    func report(_ r: DatabaseEngine.SyncResult, position: TXID, served: Int) -> Bool {
        resumed(r)
        let now = POSIX.nowMilliseconds()
        if let reason = r.reopenReason { monitor.databaseEvent(reason + "; the new database is replicated from a full snapshot", at: now) }
        var files: [ReplicationMonitor.PendingFile] = []
        // The engine writes each L0 file as a single TXID (min == max), so no directory listing is needed.
        for txid in r.written {
            let bytes = POSIX.fileSize(store.path(min: txid, max: txid)) ?? 0
            files.append(.init(maxTXID: txid, bytes: bytes, writtenAt: now))
        }
        return monitor.synced(position: position, written: files, servedRequests: served, at: now,
            checkpoint: r.checkpointed == .none ? nil : r.checkpointDuration)
    }

    /// A file holding every page of the current state, covering `minTXID...position`, after syncing to the end
    /// of the WAL: written to the local temporary file `tmp`, or, for a snapshot right after the first sync, the
    /// first local L0 file itself (it is one already: TXIDs 1...1, every page). Nil when there is nothing to write
    /// yet. Done under the lock but without any network I/O, so a slow replica never holds up syncing.
    func fullDatabaseFile(minTXID: TXID, temporary tmp: String) throws -> (header: LTXHeader, path: String)? {
        let file = try withEngine { e -> (header: LTXHeader, path: String)? in
            // Closed while idle and nothing written since: the position is current without opening the
            // connections (the first snapshot after a start uses the first local file, as below).
            if !e.isSuspended || e.walChangedSinceSuspend {
                let served = monitor.syncStarting()
                let r = try e.sync(checkpoint: false)
                report(r, position: e.position, served: served)
            }
            // Encoding the database again would compress every page a second time: half the time of
            // `replicate -once -force-snapshot` on a fresh replica, and of any first backup. The newest local file
            // was verified when the engine opened, or written since.
            if minTXID == TXID(1), e.position > .zero, let last = try e.store.files().last, last.min == TXID(1),
                last.max == e.position
            {
                return (try e.store.header(min: last.min, max: last.max), e.store.path(min: last.min, max: last.max))
            }
            if e.isSuspended {
                // Opening the connections may itself write a file (a full-database one when the WAL was emptied
                // meanwhile): the snapshot is of the position after it. Taken before, it never matched, and every
                // scheduled snapshot of such a database failed, reopened it, and moved its position again.
                let r = try e.sync(checkpoint: false)
                report(r, position: e.position, served: 0)
            }
            let txid = e.position
            guard txid > .zero, txid >= minTXID else { return nil }
            let header = try OpenFile.creatingNew(tmp).withSink { sink in
                try e.encodeSnapshot(at: txid, minTXID: minTXID, sink)
            }
            return (header, tmp)
        }
        onNewFiles()
        return file
    }
}
