import LitestreamClient
public import LTX
public import Logging

/// Turns one SQLite database's committed WAL frames into local L0 LTX files, one per sync, without ever losing or
/// tearing a committed transaction. Not thread-safe: one task owns it.
///
/// Where it resumes after a restart is the header of its newest local L0 file (Litestream's convention, so either
/// tool can take over from the other). When it cannot prove that the WAL is continuous with that position — the WAL
/// was restarted, truncated or deleted by someone else, or was restarted more than once — it writes a full-database
/// L0 file instead of an incremental one, so nothing can be missed.
public final class DatabaseEngine {
    public struct Configuration: Sendable {
        /// Path of the SQLite database.
        public var path: String
        /// Where local L0 files live. Default: `.<name>-litestream` next to the database.
        public var metaPath: String?
        /// SQLite busy timeout for the engine's own connections. Default 1 s.
        public var busyTimeout: Duration = .seconds(1)
        /// When the engine checkpoints.
        public var checkpoint = CheckpointPolicy()
        /// At most this many WAL bytes go into one L0 file (cut at commit boundaries). Default 64 MiB.
        public var maxSyncWALBytes: Int64 = 64 << 20

        public init(path: String) { self.path = path }
    }

    /// What a call to `sync` did.
    public struct SyncResult: Sendable, Equatable {
        /// L0 files written, in order.
        public var written: [TXID] = []
        /// Whether a full-database file had to be written, and why.
        public var snapshotReason: String?
        public var checkpointed: CheckpointPolicy.Action = .none
        /// How long that checkpoint took (zero without one).
        public var checkpointDuration: Duration = .zero
        /// A writer had written a commit frame but not yet published it in the WAL index: sync again shortly.
        public var writerInProgress = false
        /// The database file had been replaced, and the engine opened the new one: why (nil when it had not).
        public var reopenReason: String?
        /// The engine's connections had been closed by `suspend()`, and this sync opened them again.
        public var resumed = false
    }

    public let configuration: Configuration
    public let path: String
    public let walPath: String
    let store: LocalLTXStore
    private let logger: Logger

    private var connections: [SQLiteConnection] = []
    private var barrier: SQLiteConnection?
    private var metaLock: OpenFile?
    /// The database file the connections have open (see `followReplacement`).
    private var identity: FileIdentity?
    /// Set from the moment the file is found replaced until the new one is open.
    private var replacedReason: String?
    private var readLock: ReadLock?
    private let wal: WALReader
    public private(set) var pageSize: UInt32 = 0

    /// Where the last L0 file left off.
    struct Cursor: Equatable {
        var txid: TXID
        /// The WAL generation `offset` belongs to.
        var salts: WALHeader.Salts
        /// WAL offset where the next sync resumes; 0 when unknown (forces a full-database file).
        var offset: Int64
        var commit: UInt32

        /// The position `txid` with no place in any WAL (nil for zero: before the first file). The next sync from it
        /// writes a full-database file.
        static func withoutWALPosition(at txid: TXID) -> Cursor? {
            txid == .zero ? nil : Cursor(txid: txid, salts: .zero, offset: 0, commit: 0)
        }
    }

    private var cursor: Cursor?
    /// True when no committed frame can have been lost since `cursor` (see `ReadLock` and docs/design.md).
    private var trusted = false
    /// Set when the next sync must write a full-database file.
    private var pendingSnapshotReason: String?
    private var lastCheckpoint = ContinuousClock.now
    private var syncedSinceCheckpoint = false
    /// True while `suspend()` has the connections, the WAL and the local state's lock closed.
    public private(set) var isSuspended = false
    /// The database file the connections had open when they were suspended.
    private var suspendedIdentity: FileIdentity?
    /// The WAL as it was when the connections were suspended (nil: there was none).
    private var suspendedWAL: FileStamp?
    /// When a sync last wrote a file, or the connections were opened: the start of the idle time `suspend` waits for.
    public private(set) var lastActivity = ContinuousClock.now
    /// Whether this engine counts as an open database in `FileDescriptorLimit`.
    private var holdsDescriptorReservation = false

    public init(configuration: Configuration, logger: Logger = Logger(label: "litestream.engine")) {
        self.configuration = configuration
        self.path = absolutePath(configuration.path)
        self.walPath = path + "-wal"
        self.store = LocalLTXStore(metaPath: configuration.metaPath ?? LocalLTXStore.defaultMetaPath(forDatabase: path))
        self.wal = WALReader(path: walPath)
        var l = logger
        l[metadataKey: "db"] = "\(path)"
        self.logger = l
    }

    deinit { close() }

    /// The TXID of the newest local L0 file (zero before the first sync).
    public var position: TXID { cursor?.txid ?? .zero }

    /// The local L0 directory.
    public var localLTXDirectory: String { store.directory }
    public var metaPath: String { store.metaPath }

    // MARK: open / close

    /// Opens the database, switching it to WAL mode if needed, and loads the resume position.
    ///
    /// `remoteMaxTXID` is the replica's newest TXID. If the replica is ahead of the local state (the database was
    /// restored, or the local state deleted) or the local files cannot continue it, local state is discarded and
    /// the next sync writes a full-database file continuing the replica's TXIDs.
    ///
    /// Local files newer than `verifyAfter` (the slowest replica's TXID; nil: all of them) are read through and
    /// checked first: they are written without fsync, so after an OS crash one may be damaged, and a replica must
    /// never get it. A damaged file is removed, and a replica that needed it gets a full-database file instead.
    public func open(remoteMaxTXID: TXID? = nil, verifyAfter: TXID? = nil) throws {
        guard POSIX.exists(path) else {
            throw EngineError(.databaseNotFound, "database \(path) does not exist")
        }
        try reserveDescriptors()
        do {
            metaLock = try store.lock()
            replacedReason = nil
            isSuspended = false
            try openConnections()
        } catch {
            close()
            throw error
        }
        lastActivity = .now
        try loadPosition(remoteMaxTXID: remoteMaxTXID, verifyAfter: verifyAfter)
    }

    /// Counts this database in `FileDescriptorLimit` (once), or throws when the process has no room for its
    /// descriptors.
    private func reserveDescriptors() throws {
        guard !holdsDescriptorReservation else { return }
        try FileDescriptorLimit.reserveDatabase(path: path)
        holdsDescriptorReservation = true
    }

    private func releaseDescriptors() {
        guard holdsDescriptorReservation else { return }
        FileDescriptorLimit.releaseDatabase()
        holdsDescriptorReservation = false
    }

    /// Opens SQLite's connections to the file at `path` and notes its identity. The file is looked at before and
    /// after: if it was replaced in between, the connections may hold the old one, so they are opened again.
    private func openConnections() throws {
        for attempt in 1...Self.maxOpenAttempts {
            guard let before = FileIdentity.of(path) else {
                throw EngineError(.databaseNotFound, "database \(path) does not exist")
            }
            try openSQLite()
            if FileIdentity.of(path) == before {
                identity = before
                return
            }
            closeConnections()
            if attempt == Self.maxOpenAttempts {
                throw EngineError(.databaseReplaced, "database \(path) keeps being replaced while it is opened; will retry")
            }
        }
    }

    private static let maxOpenAttempts = 5

    private func openSQLite() throws {
        do {
            let busy = Int32(clamping: configuration.busyTimeout.wholeMilliseconds)
            let first = try SQLiteConnection(path: path, busyTimeout: busy)
            let mode = try first.scalar("PRAGMA journal_mode")?.lowercased()
            if mode != "wal" {
                let newMode = try first.scalar("PRAGMA journal_mode = wal")?.lowercased()
                guard newMode == "wal" else {
                    throw EngineError(.notWALMode,
                        "database \(path) is in \(mode ?? "unknown") journal mode and could not be switched to WAL (got \(newMode ?? "nothing")); is another process holding it open in exclusive mode?")
                }
                logger.info("switched database to WAL mode", metadata: ["previous": "\(mode ?? "?")"])
            }
            let second = try SQLiteConnection(path: path, busyTimeout: busy)
            for c in [first, second] {
                try c.setPersistWAL()
                try c.disableCheckpointOnClose()
                // Our connections never write, but make sure they never auto-checkpoint either.
                try c.exec("PRAGMA wal_autocheckpoint = 0")
            }
            guard let ps = try first.scalar("PRAGMA page_size").flatMap({ UInt32($0) }), LTXHeader.isValidPageSize(ps) else {
                throw EngineError(.sqlite, "cannot read the page size of \(path)")
            }
            pageSize = ps
            connections = [first, second]
            // Holds SQLite's write lock (and writes nothing) for the length of one of our checkpoints: see
            // checkpointIfNeeded. A short busy timeout: if the app is in a long write, checkpoint without it.
            let barrier = try SQLiteConnection(path: path, busyTimeout: 100)
            barrier.setEagerBusyHandler(maxWait: .milliseconds(250))
            try barrier.setPersistWAL()
            try barrier.disableCheckpointOnClose()
            self.barrier = barrier
            readLock = ReadLock(connections: connections)
        } catch let e as SQLiteError {
            closeConnections()
            throw EngineError(.sqlite, "cannot open database \(path)", cause: e)
        } catch {
            closeConnections()
            throw error
        }
    }

    /// Closes the database. Never checkpoints.
    public func close() {
        closeConnections()
        metaLock = nil
        isSuspended = false
        suspendedIdentity = nil
        releaseDescriptors()
    }

    // MARK: idle: connections closed

    /// Whether `suspend()` would close the connections now: open, and every committed frame of the WAL is in a
    /// local L0 file (the last sync reached the committed end, with nothing pending).
    public var canSuspend: Bool {
        metaLock != nil && !isSuspended && readLock != nil && trusted && pendingSnapshotReason == nil
            && replacedReason == nil
    }

    /// Closes SQLite's three connections, the WAL, the local state's lock and the scan buffer of an idle database
    /// whose every committed frame is in a local L0 file, keeping only the position in memory: an idle database
    /// then holds no descriptor and no SQLite memory (page caches, lookaside, the `-shm` mapping). The next `sync`
    /// opens them again (`resumed` in its result). Returns false, and closes nothing, when the database is not
    /// fully synced.
    ///
    /// No frame can be lost meanwhile, although no read mark holds the app's checkpoints back any more: frames
    /// written while closed are either still in the same WAL generation, which the next sync continues from the
    /// position (the checksum chain proves it), or checkpointed into the database file and the WAL restarted,
    /// truncated or deleted, which the next sync sees (new salts, no header) and answers with a full-database
    /// file. The lock is taken again at the next sync; if another replicator wrote local files meanwhile, the
    /// position is read again from the newest one.
    @discardableResult
    public func suspend() -> Bool {
        guard canSuspend else { return false }
        suspendedIdentity = identity
        suspendedWAL = FileStamp.of(walPath)
        closeConnections()
        wal.releaseBuffers()
        metaLock = nil
        isSuspended = true
        releaseDescriptors()
        logger.debug("connections closed while idle", metadata: ["txid": "\(position)"])
        return true
    }

    /// Whether the WAL was written, created, removed or replaced since `suspend()` (true when not suspended): one
    /// `stat`. For a shutdown, which syncs a closed database only when it changed.
    public var walChangedSinceSuspend: Bool {
        !isSuspended || FileStamp.of(walPath) != suspendedWAL
    }

    /// Opens what `suspend()` closed. Nothing about the WAL is trusted: the next pass continues the position only
    /// in the same WAL generation, and writes a full-database file otherwise.
    private func resume() throws {
        try reserveDescriptors()
        let previousPageSize = pageSize
        do {
            metaLock = try store.lock()
            try openConnections()
        } catch {
            closeConnections()
            metaLock = nil
            releaseDescriptors()
            throw error
        }
        isSuspended = false
        trusted = false
        lastActivity = .now
        // Another replicator may have held the lock meanwhile and written files: go on from its newest.
        store.invalidate()
        var files = try store.files()
        if files.last?.max != cursor?.txid, !files.isEmpty {
            logger.warning("local L0 files changed while the connections were closed; resuming from the newest")
            try resumeFromNewestFile(&files)
        }
        if let before = suspendedIdentity, before != identity {
            cursor = .withoutWALPosition(at: position)
            pendingSnapshotReason = "database file was replaced while the connections were closed"
        } else if previousPageSize != 0, previousPageSize != pageSize, pendingSnapshotReason == nil {
            pendingSnapshotReason = "page size changed from \(previousPageSize) to \(pageSize)"
        }
        suspendedIdentity = nil
    }

    /// Closes SQLite's connections and the WAL, keeping the local state's lock.
    private func closeConnections() {
        readLock?.release()
        barrier?.close()
        barrier = nil
        for c in connections { c.close() }
        connections = []
        readLock = nil
        wal.close()
        identity = nil
    }

    // MARK: a replaced database file

    /// Follows the database file when its path names another file than the one the engine opened (deleted and
    /// created again, another file renamed over it, `restore -force -o` onto it): the connections still read the
    /// old file, which nobody writes any more, so every later commit would be missed without a word. The engine
    /// opens the new file and its next L0 file is a full-database one continuing the TXIDs, so a restore gives the
    /// new database. While the path names no file, syncs fail (the status shows it) until one appears.
    ///
    /// One `stat` per sync. Returns why the database was reopened, or nil when it was not.
    private func followReplacement() throws -> String? {
        if replacedReason == nil {
            guard let identity else { return nil }
            guard let now = FileIdentity.of(path) else {
                throw EngineError(.databaseNotFound,
                    "database \(path) was deleted while it was being replicated; waiting for a database at that path")
            }
            guard now != identity else { return nil }
            replacedReason = "database file was replaced (\(identity) became \(now))"
            logger.warning("database file was replaced; replicating the new one, starting with a full snapshot",
                metadata: ["old": "\(identity)", "new": "\(now)"])
            closeConnections()
        }
        // Until this succeeds (the new file may be missing for a moment, or not a database yet), every sync fails
        // and says why.
        try openConnections()
        let reason = replacedReason
        replacedReason = nil
        // Nothing in the new file's WAL continues the old position: a full-database file, one TXID after the last.
        // Local files stay: they are the old database's history, which replicas behind may still need.
        cursor = .withoutWALPosition(at: position)
        trusted = false
        pendingSnapshotReason = reason
        return reason
    }

    /// Where the next sync continues: verify the local files, resume after the newest, and continue the replica.
    private func loadPosition(remoteMaxTXID: TXID?, verifyAfter: TXID?) throws {
        var files = try verifyLocalFiles(after: verifyAfter ?? .zero)
        try resumeFromNewestFile(&files)
        try reconcile(withReplica: remoteMaxTXID, localFiles: files)
        trusted = false  // nothing is known about what the WAL did while we were closed
    }

    /// Reads through every local file newer than `txid` but the newest (`resumeFromNewestFile` checks that one) and
    /// removes the damaged ones, so that no replica ever gets one. Returns the files left.
    private func verifyLocalFiles(after txid: TXID) throws -> [(min: TXID, max: TXID)] {
        try POSIX.mkdirs(store.directory, mode: 0o700)
        try store.removeTemporaryFiles()
        store.invalidate()  // the directory may have changed while we were closed
        for f in try store.files().dropLast() where f.max > txid {
            do {
                _ = try store.verifiedHeader(min: f.min, max: f.max)
            } catch {
                logger.error("local L0 file is damaged (an OS crash before it reached the disk?); removed, replicas that need it get a full-database file",
                    metadata: ["file": "\(store.path(min: f.min, max: f.max))", "error": "\(error)"])
                try store.remove(min: f.min, max: f.max)
            }
        }
        return try store.files()
    }

    /// Sets the cursor from the newest local file's header: where it left off in which WAL generation.
    private func resumeFromNewestFile(_ files: inout [(min: TXID, max: TXID)]) throws {
        cursor = nil
        guard let last = files.last else { return }
        do {
            let h = try store.verifiedHeader(min: last.min, max: last.max)
            cursor = Cursor(txid: h.maxTXID, salts: WALHeader.Salts(salt1: h.walSalt1, salt2: h.walSalt2),
                offset: h.walOffset > 0 ? h.walEnd : 0, commit: h.commit)
            if h.pageSize != pageSize {
                pendingSnapshotReason = "page size changed from \(h.pageSize) to \(pageSize)"
            }
        } catch {
            // A damaged newest file cannot be a resume point; keep the position before it and snapshot.
            logger.error("local L0 file is damaged; it will be replaced by a full snapshot",
                metadata: ["file": "\(store.path(min: last.min, max: last.max))", "error": "\(error)"])
            try store.remove(min: last.min, max: last.max)
            files.removeLast()
            pendingSnapshotReason = "damaged local L0 file"
            cursor = .withoutWALPosition(at: files.last?.max ?? TXID(last.max.rawValue > 1 ? last.max.rawValue - 1 : 0))
        }
    }

    /// Makes the local TXIDs continue the replica's (`remoteMaxTXID`, nil when unknown): when the replica is ahead or
    /// the local files cannot fill its gap, local state is discarded for a full-database file after its TXID.
    private func reconcile(withReplica remoteMaxTXID: TXID?, localFiles files: [(min: TXID, max: TXID)]) throws {
        if let remote = remoteMaxTXID, remote > .zero {
            let localMax = cursor?.txid ?? .zero
            let localMin = files.first?.min ?? .zero
            if remote > localMax {
                logger.info("replica is ahead of local state; continuing its TXIDs with a full snapshot",
                    metadata: ["local": "\(localMax)", "replica": "\(remote)"])
                try reset(to: remote, reason: "replica is ahead of local state")
            } else if remote < localMax && (files.isEmpty || localMin > remote.next) {
                logger.info("local L0 files cannot fill the replica's gap; continuing with a full snapshot",
                    metadata: ["local": "\(localMax)", "replica": "\(remote)"])
                try reset(to: remote, reason: "local files do not continue the replica")
            }
        } else if remoteMaxTXID == .zero, let first = files.first, first.min > TXID(1) {
            // Empty replica and no local chain from 1: start again at TXID 1.
            try reset(to: .zero, reason: "replica is empty")
        }
    }

    /// Discards local state so that the next sync writes a full-database file continuing at `txid`.
    public func reset(to txid: TXID, reason: String) throws {
        try store.removeAll()
        cursor = .withoutWALPosition(at: txid)
        pendingSnapshotReason = reason
    }

    // MARK: sync

    /// Copies every committed WAL frame not yet in a local L0 file into new L0 files, then applies the checkpoint
    /// policy. Safe to call at any time; does nothing when nothing changed.
    @discardableResult
    public func sync(checkpoint: Bool = true) throws -> SyncResult {
        var result = SyncResult()
        if isSuspended {
            try resume()
            result.resumed = true
        }
        guard metaLock != nil else { throw EngineError(.notOpen, "database \(path) is not open") }
        result.reopenReason = try followReplacement()
        guard readLock != nil else { throw EngineError(.notOpen, "database \(path) is not open") }
        try syncAndRenewMark(&result)
        if checkpoint { try checkpointIfNeeded(&result) }
        if !result.written.isEmpty { lastActivity = .now }
        return result
    }

    /// Syncs to the committed end, then moves the read mark past what was synced (see `ReadLock`).
    private func syncAndRenewMark(_ result: inout SyncResult) throws {
        try syncToCommittedEnd(&result)
        try readLock?.renew()
    }

    /// A guard against looping forever, not a limit a sync is expected to reach: a pass ends at the committed end,
    /// after `maxSyncWALBytes`, or when the WAL was restarted under it. What is left, the next sync copies.
    private static let maxSyncPasses = 10_000

    /// Runs passes until one reaches the WAL's committed end (or finds a writer mid-commit). Keeps the read mark
    /// where it is: the caller renews it, or, for a snapshot, must not.
    private func syncToCommittedEnd(_ result: inout SyncResult) throws {
        for _ in 0..<Self.maxSyncPasses { if try syncPass(&result) { break } }
    }

    /// One pass. Returns true once the WAL's committed end has been reached.
    private func syncPass(_ result: inout SyncResult) throws -> Bool {
        guard let readLock else { return true }
        if try readLock.acquire() { trusted = false }
        let h1 = try wal.readHeader()
        var limit: Int64?
        if let h1 {
            let committed = try committedLimit(h1)
            guard committed.settled else {
                result.writerInProgress = true
                return true  // decide nothing now; the caller syncs again shortly
            }
            limit = committed.limit
        }

        if let reason = pendingSnapshotReason ?? snapshotReason(header: h1) {
            return try writeSnapshot(header: h1, limit: limit, reason: reason, &result)
        }
        guard let h1, let cursor else {
            // No WAL content and nothing can have been missed.
            readLock.markSynced()
            trusted = true
            return true
        }
        let start = h1.salts == cursor.salts ? cursor.offset : Int64(WALHeader.size)
        guard let scan = try wal.scan(from: start, header: h1, maxBytes: configuration.maxSyncWALBytes, limit: limit) else {
            return try writeSnapshot(header: h1, limit: limit, reason: "WAL frames before the last position were overwritten", &result)
        }
        guard try sameGeneration(h1) else {
            trusted = false
            return false  // restarted while we read: start over, the next pass decides
        }
        if scan.stoppedAtLimit { result.writerInProgress = true }
        let reachedEnd = scan.endOffset - start < configuration.maxSyncWALBytes
        if scan.endOffset == start {
            readLock.markSynced()
            trusted = true
            return true
        }
        let txid = cursor.txid.next
        let commit = scan.commit
        var pages = scan.pages
        if commit > cursor.commit {
            // Pages the database grew by that this range does not hold: take them from earlier in this WAL
            // generation, or the database file.
            let missing = (cursor.commit + 1...commit).filter { pages[$0] == nil && $0 != lockPage }
            if !missing.isEmpty, start > Int64(WALHeader.size),
                let full = try wal.scan(from: Int64(WALHeader.size), header: h1, limit: scan.endOffset)
            {
                for p in missing { if let off = full.pages[p], off < scan.endOffset { pages[p] = off } }
            }
        }
        let header = LTXHeader(
            pageSize: pageSize, commit: commit, minTXID: txid, maxTXID: txid, timestamp: POSIX.nowMilliseconds(),
            walOffset: start, walSize: scan.endOffset - start, walSalt1: h1.salt1, walSalt2: h1.salt2)
        let growth: [UInt32] = commit > cursor.commit ? Array((cursor.commit + 1)...commit) : []
        let numbers = Set(pages.keys).union(growth.filter { $0 != lockPage }).filter { $0 <= commit }.sorted()
        let kept = try writeL0(header: header, generation: h1) { enc in
            try copyPages(numbers, from: pages, into: &enc)
        }
        guard kept else {
            trusted = false
            return false  // restarted while we copied pages: start over
        }
        self.cursor = Cursor(txid: txid, salts: h1.salts, offset: scan.endOffset, commit: commit)
        syncedSinceCheckpoint = true
        result.written.append(txid)
        if reachedEnd {
            // Trust needs a pass that reached the committed end: only then is every frame that a restart could
            // overwrite (those at or below the mark we hold) in an L0 file.
            trusted = true
            readLock.markSynced()
        }
        return reachedEnd
    }

    /// Why the next file must be a full-database one, or nil when an incremental one is safe.
    private func snapshotReason(header h: WALHeader?) -> String? {
        guard let cursor else { return "first sync" }
        guard cursor.offset > 0 else { return "no WAL position in the last L0 file" }
        guard let h else { return trusted ? nil : "WAL was removed or truncated by another process" }
        if h.pageSize != pageSize { return "WAL page size differs from the database" }
        if h.salts == cursor.salts { return nil }
        // A new WAL generation. While we are trusted, our read marks allowed at most one restart since the last
        // sync, and only over frames we had synced (see ReadLock), so the new generation continues where we are.
        // SQLite's salts cannot tell us this: a writer that never checkpointed picks random ones.
        if trusted { return nil }
        return "WAL was restarted while we were not watching"
    }

    /// The end of the frames SQLite's WAL index declares committed in the generation of `h`, or nil when SQLite
    /// exposes no index. Frames past it are not committed (a writer is publishing them, or crashed before it could).
    /// `settled` is false when the index describes another generation than the WAL file's header, or is being
    /// rewritten: a writer is restarting the WAL (the index gets the new salts before the file does) or died doing
    /// so. Nothing can be decided then: the caller waits.
    private func committedLimit(_ h: WALHeader) throws -> (limit: Int64?, settled: Bool) {
        guard let conn = readLock?.heldConnection else { return (nil, true) }
        let index: (frames: UInt32, salts: WALHeader.Salts)?
        do { index = try conn.walIndexHeader() } catch where error.isBusy { return (nil, false) }
        guard let index else { return (nil, true) }
        guard index.salts == h.salts else { return (Int64(WALHeader.size), false) }
        return (Int64(WALHeader.size) + Int64(index.frames) * h.frameSize, true)
    }

    private func sameGeneration(_ h1: WALHeader) throws -> Bool {
        // The file the pages were read from: if the WAL was replaced meanwhile, they still all come from h1's
        // generation, and the next pass sees the new file.
        return try wal.readHeader(sameFile: true)?.salts == h1.salts
    }

    private var lockPage: UInt32 { LTXHeader.lockPage(pageSize: pageSize) }

    /// Writes every page of the database as it stands at the WAL's committed end.
    private func writeSnapshot(header h1: WALHeader?, limit: Int64?, reason: String, _ result: inout SyncResult) throws -> Bool {
        guard let readLock else { return true }
        var scan: WALScan?
        if let h1 {
            guard let s = try wal.scan(from: Int64(WALHeader.size), header: h1, limit: limit) else {
                throw EngineError(.io, "cannot scan WAL \(walPath)")
            }
            if s.stoppedAtLimit { result.writerInProgress = true }
            scan = s
        }
        if let h1, try !sameGeneration(h1) { return false }  // restarted while reading: try again
        let fileSize = try connections[0].databaseFileSize()
        var commit = scan.map { $0.commit } ?? 0
        if commit == 0 { commit = UInt32(fileSize / Int64(pageSize)) }
        guard commit > 0 else {
            // An empty database: nothing to replicate yet.
            readLock.markSynced()
            return true
        }
        let txid = (cursor?.txid ?? .zero).next
        let end = scan?.endOffset ?? Int64(WALHeader.size)
        let header = LTXHeader(
            pageSize: pageSize, commit: commit, minTXID: txid, maxTXID: txid, timestamp: POSIX.nowMilliseconds(),
            walOffset: Int64(WALHeader.size), walSize: end - Int64(WALHeader.size),
            walSalt1: h1?.salt1 ?? 0, walSalt2: h1?.salt2 ?? 0)
        logger.info("writing full snapshot", metadata: ["txid": "\(txid)", "reason": "\(reason)", "pages": "\(commit)"])
        let pages = scan?.pages ?? [:]
        let kept = try writeL0(header: header, generation: h1) { enc in
            try copyPages(everyPage(through: commit), from: pages, into: &enc)
        }
        guard kept else {
            trusted = false
            return false  // restarted while we read: try again
        }
        cursor = Cursor(txid: txid, salts: h1?.salts ?? .zero, offset: end, commit: commit)
        pendingSnapshotReason = nil
        trusted = true
        syncedSinceCheckpoint = true
        result.written.append(txid)
        result.snapshotReason = reason
        readLock.markSynced()
        return true
    }

    /// Pages 1...commit, without SQLite's lock page (which no database file holds).
    private func everyPage(through commit: UInt32) -> some Sequence<UInt32> {
        (1...commit).lazy.filter { [lockPage] in $0 != lockPage }
    }

    /// Encodes the pages `numbers`, in order: each from its frame in `frames` (a page's newest WAL frame up to the
    /// position being written) when it has one, else from the database file.
    private func copyPages(_ numbers: some Sequence<UInt32>, from frames: [UInt32: Int64], into enc: inout LTXEncoder) throws {
        var buf = [UInt8](repeating: 0, count: Int(pageSize))
        for pgno in numbers {
            try buf.withUnsafeMutableBytes { b in
                if let off = frames[pgno] { try wal.readPage(frameOffset: off, into: b) } else { try readDatabasePage(pgno, into: b) }
            }
            try enc.encodePage(pgno, buf)
        }
    }

    private func readDatabasePage(_ pgno: UInt32, into buffer: UnsafeMutableRawBufferPointer) throws {
        // Through SQLite's own descriptor: see SQLiteConnection.readDatabaseFile.
        try connections[0].readDatabaseFile(into: buffer, at: Int64(pgno - 1) * Int64(pageSize))
    }

    /// Writes an L0 file unless the WAL generation `h` changed while its pages were read (possible while we hold
    /// read mark 0 before we are trusted): such a file could mix two generations and must never exist.
    private func writeL0(header: LTXHeader, generation h: WALHeader?, pages: (inout LTXEncoder) throws -> Void) throws -> Bool {
        do {
            return try store.write(header: header, keep: { try h.map(sameGeneration) ?? true }, pages: pages)
        } catch let e as SystemError where e.isDiskFull {
            throw EngineError(.io, "disk full while writing L0 file \(header.minTXID) for \(path); nothing was lost, will retry", cause: e)
        }
    }

    // MARK: checkpoints

    /// How long until the interval checkpoint may be due, for a sync loop that otherwise sleeps until the WAL
    /// changes; nil when none is pending (nothing synced since the last checkpoint, or no interval). Never zero: when
    /// overdue, the check already ran after the last sync and found nothing to do, so look again an interval later.
    public var checkpointDue: Duration? {
        guard readLock != nil, syncedSinceCheckpoint, let interval = configuration.checkpoint.interval, interval > .zero else {
            return nil
        }
        let left = interval - (ContinuousClock.now - lastCheckpoint)
        return left > .zero ? left : interval
    }

    private func checkpointIfNeeded(_ result: inout SyncResult, policy: CheckpointPolicy? = nil) throws {
        guard let cursor, let readLock, cursor.offset >= Int64(WALHeader.size) else {
            // No frames in the WAL: nothing for the interval checkpoint to do until a sync copies some.
            if cursor != nil { syncedSinceCheckpoint = false }
            return
        }
        let frameSize = Int64(pageSize) + 24
        // Frames of the WAL as it is now: after a restart or TRUNCATE the cursor still describes the old generation.
        let current = try wal.readHeader()
        let frames = current?.salts == cursor.salts ? Int((cursor.offset - Int64(WALHeader.size)) / frameSize) : 0
        let action = (policy ?? configuration.checkpoint).decide(
            walFrames: frames, syncedSinceCheckpoint: syncedSinceCheckpoint,
            sinceLastCheckpoint: ContinuousClock.now - lastCheckpoint)
        let started = ContinuousClock.now
        switch action {
        case .none:
            // The interval passed with at most one frame to back-fill: the interval check is done until the next
            // sync copies frames (an idle database's sync loop then has no reason to wake).
            if let interval = configuration.checkpoint.interval, ContinuousClock.now - lastCheckpoint >= interval {
                syncedSinceCheckpoint = false
            }
            return
        case .passive:
            // Under steady writes our read mark always trails the newest frame, so the WAL is never fully
            // back-filled when we renew, never restarts, and then the app's own auto-checkpoint runs (and fsyncs) on
            // every commit. So writers are held off for the length of one checkpoint: BEGIN IMMEDIATE takes SQLite's
            // write lock and writes nothing (Litestream inserts a row instead). We sync to the end, checkpoint
            // everything, and renew once more, which then gives us read mark 0: the next commit restarts the WAL.
            let locked = takeBarrier()
            defer { if locked { releaseBarrier() } }
            if locked { try syncAndRenewMark(&result) }
            let r = try readLock.idleConnection.checkpoint(.passive)
            logger.debug("checkpoint", metadata: ["mode": "PASSIVE", "busy": "\(r.busy)", "log": "\(r.walFrames)", "done": "\(r.backfilled)"])
            try syncAndRenewMark(&result)
        case .truncate:
            // TRUNCATE needs every reader gone, so the read mark is dropped for a moment. A commit by anyone else in
            // that moment would be checkpointed and lost from the WAL; the idle connection's data_version tells
            // whether one happened (SQLite reports no frame count for TRUNCATE). If none did, we stay trusted.
            let idle = readLock.idleConnection
            // data_version before and after the last sync pass must agree: then that pass saw every commit.
            var before: String?
            for _ in 0..<100 {
                let v = try idle.scalar("PRAGMA data_version")
                try syncToCommittedEnd(&result)
                if try idle.scalar("PRAGMA data_version") == v { before = v; break }
            }
            trusted = false  // until proven below: the mark is about to be dropped
            readLock.release()
            let r = try idle.checkpoint(.truncate)
            try readLock.acquire()
            // Read after the new mark is held: no commit at all since our last sync means the old generation ended
            // where we are and the next one starts fresh (at most one restart).
            let after = try idle.scalar("PRAGMA data_version")
            trusted = !r.busy && before != nil && before == after
            logger.info("checkpoint", metadata: ["mode": "TRUNCATE", "busy": "\(r.busy)", "continuous": "\(trusted)"])
            if trusted { readLock.markSynced() }
            try syncAndRenewMark(&result)
        }
        lastCheckpoint = .now
        syncedSinceCheckpoint = false
        result.checkpointed = action
        result.checkpointDuration = .now - started
    }

    /// BEGIN IMMEDIATE on the barrier connection; false if the database stays busy past its short timeout.
    private func takeBarrier() -> Bool {
        guard let barrier else { return false }
        do {
            try barrier.exec("BEGIN IMMEDIATE")
            return true
        } catch {
            logger.debug("checkpoint without barrier", metadata: ["reason": "\(error)"])
            return false
        }
    }

    private func releaseBarrier() {
        try? barrier?.exec("ROLLBACK")
    }

    /// Syncs, then runs a checkpoint now regardless of thresholds (for tests and tools).
    public func checkpoint(_ action: CheckpointPolicy.Action) throws {
        var result = SyncResult()
        try syncAndRenewMark(&result)
        var policy = CheckpointPolicy()
        switch action {
        case .none: return
        case .passive: policy.minPageCount = 1; policy.truncatePageCount = nil
        case .truncate: policy.truncatePageCount = 1
        }
        try checkpointIfNeeded(&result, policy: policy)
    }

    // MARK: level-9 snapshots

    /// Brings the local position up to the WAL's committed end without moving the read mark, so that the database
    /// file plus this WAL generation describe exactly the state at `position`. Call `encodeSnapshot` next, then
    /// `sync` (which moves the mark again).
    public func prepareSnapshot() throws -> TXID {
        if isSuspended { try resume() }
        guard readLock != nil else { throw EngineError(.notOpen, "database \(path) is not open") }
        var result = SyncResult()
        try syncToCommittedEnd(&result)
        return position
    }

    /// Streams every page of the state at `position` to `sink`: a snapshot (TXIDs 1...position), or with a larger
    /// `minTXID` a full-database file that continues a replica holding TXIDs up to `minTXID - 1`.
    public func encodeSnapshot(at txid: TXID, minTXID: TXID = TXID(1), _ sink: @escaping LTXEncoder.Sink) throws -> LTXHeader {
        guard let cursor, cursor.commit > 0 else { throw EngineError(.localState, "nothing to snapshot yet for \(path)") }
        guard cursor.txid == txid else {
            throw EngineError(.localState, "position moved from \(txid) to \(cursor.txid) before the snapshot of \(path)")
        }
        var pages: [UInt32: Int64] = [:]
        if let h = try wal.readHeader(), h.salts == cursor.salts, cursor.offset > Int64(WALHeader.size) {
            guard let scan = try wal.scan(from: Int64(WALHeader.size), header: h, limit: cursor.offset),
                scan.endOffset == cursor.offset
            else {
                throw EngineError(.io, "WAL \(walPath) changed under a snapshot; will retry")
            }
            pages = scan.pages
        }
        let header = LTXHeader(
            pageSize: pageSize, commit: cursor.commit, minTXID: minTXID, maxTXID: cursor.txid,
            timestamp: POSIX.nowMilliseconds())
        var enc = try LTXEncoder(header: header, sink: sink)
        try copyPages(everyPage(through: cursor.commit), from: pages, into: &enc)
        try enc.finish()
        return header
    }
}
