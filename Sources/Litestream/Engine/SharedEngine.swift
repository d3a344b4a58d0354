import Foundation
import LTX

/// The database engine behind a lock, shared by the sync loop and the replicas' uploaders, which need it for
/// snapshots and catch-up files. Every sync goes through here, so the monitor learns of each new local file.
final class SharedEngine: @unchecked Sendable {
    // @unchecked: every access to `engine` holds `lock`.
    private let lock = NSLock()
    private let engine: DatabaseEngine
    let store: LocalLTXStore
    let monitor: ReplicationMonitor
    /// Called after a sync wrote new files (wakes the uploaders).
    private let onNewFiles: @Sendable () -> Void

    init(_ engine: DatabaseEngine, monitor: ReplicationMonitor, onNewFiles: @escaping @Sendable () -> Void) {
        self.engine = engine
        self.store = engine.store
        self.monitor = monitor
        self.onNewFiles = onNewFiles
    }

    func withEngine<T>(_ body: (DatabaseEngine) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(engine)
    }

    var position: TXID { withEngine { $0.position } }

    /// Syncs and reports what was written.
    @discardableResult
    func sync(checkpoint: Bool = true) throws -> DatabaseEngine.SyncResult {
        let result = try withEngine { e in
            let served = monitor.syncStarting()
            do {
                let r = try e.sync(checkpoint: checkpoint)
                report(r, position: e.position, served: served)
                return r
            } catch {
                monitor.syncFailed(error)
                throw error
            }
        }
        if !result.written.isEmpty { onNewFiles() }
        return result
    }

    /// Reports files written by a sync made directly on the engine (under the lock).
    func report(_ r: DatabaseEngine.SyncResult, position: TXID, served: Int) {
        let now = POSIX.nowMilliseconds()
        var files: [ReplicationMonitor.PendingFile] = []
        // The engine writes each L0 file as a single TXID (min == max), so no directory listing is needed.
        for txid in r.written {
            let bytes = POSIX.fileSize(store.path(min: txid, max: txid)) ?? 0
            files.append(.init(maxTXID: txid, bytes: bytes, writtenAt: now))
        }
        monitor.synced(position: position, written: files, servedRequests: served, at: now,
            checkpoint: r.checkpointed == .none ? nil : r.checkpointDuration)
    }

    /// Writes every page of the current state, as a file covering `minTXID...position`, to a local temporary
    /// file, after syncing to the end of the WAL. Nil when there is nothing to write yet. Done under the lock but
    /// without any network I/O, so a slow replica never holds up syncing.
    func writeFullDatabaseFile(minTXID: TXID, to tmp: String) throws -> LTXHeader? {
        let header = try withEngine { e -> LTXHeader? in
            let served = monitor.syncStarting()
            let r = try e.sync(checkpoint: false)
            report(r, position: e.position, served: served)
            let txid = e.position
            guard txid > .zero, txid >= minTXID else { return nil }
            try? POSIX.remove(tmp)
            let fd = try FileDescriptor(path: tmp, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o600)
            return try e.encodeSnapshot(at: txid, minTXID: minTXID) { bytes in
                try POSIX.writeAll(fd.fd, bytes, path: tmp)
            }
        }
        onNewFiles()
        return header
    }
}
