import LTX
import Logging
import Synchronization

/// Ships one replica's share of a database: uploads new local L0 files in TXID order, runs the replica's
/// snapshots, compaction and retention, and backs off on its own when the replica fails. Each replica has its
/// own worker and task, so a slow or failing replica never holds back another, nor the local sync.
actor ReplicaWorker {
    nonisolated let index: Int
    nonisolated let name: String
    nonisolated let client: any ReplicaClient
    /// Wakes the worker when new local files exist (or at shutdown).
    nonisolated let wake = WakeSignal()
    private let engine: SharedEngine
    /// Scheduled snapshots take turns through it with databases starting.
    private let startGate: StartGate
    private let logger: Logger
    /// The newest TXID the replica holds; nil until it could be listed.
    private var uploaded: TXID?
    private var backoff = Backoff()
    /// See `Replicator.Replica.syncInterval`; nil: each file at once.
    private let syncInterval: Duration?
    private var lastUpload: ContinuousClock.Instant?
    private var maintenance: Maintenance
    /// The newest TXID the replica's L1 covers (local L0 files up to it are no longer needed for its compaction).
    private(set) var compactedThrough: TXID = .zero
    /// The page size of the last file uploaded (nil: not known). A change gets a level-9 snapshot at once.
    private var pageSize: UInt32?
    /// The level-0 files this worker wrote, against which listings of the replica are checked. Behind a mutex
    /// because compaction checks its listing from inside `Maintenance`, while this actor is suspended in it.
    private nonisolated let ledger = Mutex(L0Ledger())
    /// Why the worker stopped writing to the replica (another process writes to it); nil while it writes.
    private(set) var halted: EngineError?
    /// Set by a failed upload: the position before it and the file it was uploading, which may have been stored
    /// though the answer was lost. The next listing must show one of the two, else someone else wrote.
    private var unconfirmed: (position: TXID, attempt: ClosedRange<TXID>?)?
    /// The upload in progress (see `unconfirmed`).
    private var attempt: ClosedRange<TXID>?
    /// The TXID of the last level-9 snapshot this worker wrote: it may end past the level-0 files (commits synced
    /// while it was encoded), and a listing after a failure may show it.
    private var snapshotThrough: TXID?
    /// The replica's newest state is not this database's (taken over from another database, or from a run whose
    /// local state is gone): its next file must be a full-database file, never an incremental one.
    private var continueWithFullFile = false
    /// Counts the times the replica was found emptied: maintenance started over then, and a run begun before must
    /// not put its old state back.
    private var losses = 0

    init(index: Int, name: String, client: any ReplicaClient, syncInterval: Duration? = nil,
         maintenance: Maintenance.Configuration, startGate: StartGate = .shared, engine: SharedEngine, logger: Logger) {
        self.index = index
        self.startGate = startGate
        // Unset: the client's default (one second for an object store); zero: each file at once.
        self.syncInterval = (syncInterval ?? client.defaultSyncInterval).flatMap { $0 > .zero ? $0 : nil }
        self.name = name
        self.client = client
        self.engine = engine
        var l = logger
        l[metadataKey: "replica"] = "\(name)"
        self.logger = l
        self.maintenance = Maintenance(configuration: maintenance, replica: client, logger: l)
    }

    var position: TXID? { uploaded }

    /// The newest TXID in the replica: the end of its L0 chain, or of any level if L0 is empty.
    ///
    /// The first listing takes the replica over, as it is (a replica written by an earlier run of ours or by
    /// Litestream). Later ones (after a failed upload, whose file may have been stored though the answer was lost)
    /// must show where this worker left the replica; anything else is another writer, or a replica deleted.
    func listPosition() async throws -> TXID {
        if let halted { throw halted }
        var best = TXID.zero
        var tail: LTXFileInfo?
        for level in LTXLevel.all {
            if let last = try await client.ltxFiles(level: level).last, last.maxTXID > best {
                best = last.maxTXID
                tail = last
            }
        }
        if let (before, attempt) = unconfirmed {
            unconfirmed = nil
            if best == before || best == attempt?.upperBound || best == snapshotThrough {
                if best != before, let attempt { ledger.withLock { $0.wrote(attempt) } }
            } else if best > before {
                throw halt(EngineError(.foreignWriter,
                    "another process writes to replica \(client.location): it holds TXID \(best), past the \(before) "
                        + "this replicator wrote (and the \(attempt.map { "\($0.upperBound)" } ?? "none") it was writing); "
                        + "this replicator stopped writing to it. Give each database a replica of its own (or stop the "
                        + "other writer), then restart replicate"))
            } else {
                throw lost(EngineError(.replicaLost,
                    "replica \(client.location) went back from TXID \(before) to \(best) (it was deleted or emptied); "
                        + "writing a snapshot again"))
            }
        } else {
            try await takeOver(at: best, tail: tail)
        }
        setPosition(best, uploadedNow: false)
        pageSize = try? engine.store.header(min: best, max: best).pageSize
        return best
    }

    /// Takes the replica over at `position`. Its newest file must hold this database's state at that TXID, or
    /// its chain cannot go on with this database's incremental files: another database (two configured to one
    /// replica) continued with its own would give a restore pages of both. So the trailer's post-apply checksum
    /// is compared with the local file ending there (one read of the tail file, at start only); when they differ,
    /// or there is no such local file, the next file is a full-database one. And on an object store, where a
    /// listing costs a request and is not made before each upload, a replica whose state is not ours is watched
    /// for a moment: when its newest TXID moves meanwhile, another process is writing to it, and this worker
    /// stops before writing anything.
    private func takeOver(at position: TXID, tail: LTXFileInfo?) async throws {
        ledger.withLock { $0.reset(at: position) }
        continueWithFullFile = false
        guard position > .zero, let tail else { return }
        if try await holdsLocalState(tail) { return }
        continueWithFullFile = true
        logger.info("the replica's newest state is not this database's; its next file is a full-database file",
            metadata: ["replica": "\(position)", "local": "\(engine.position)"])
        guard try client.ltxRangesWithoutRequest(level: 0) == nil else { return }
        try await Task.sleep(for: takeoverWatch)
        let now = try await client.ltxFiles(level: 0).map(\.maxTXID).max() ?? .zero
        if now > position {
            throw halt(EngineError(.foreignWriter,
                "another process writes to replica \(client.location): its newest TXID moved from \(position) to \(now) "
                    + "while this replicator took it over, so it writes nothing to it. Give each database a replica "
                    + "of its own (or stop the other writer), then restart replicate"))
        }
    }

    /// How long a replica whose state is not ours is watched before it is taken over: longer than the sync interval
    /// of a writer using the defaults (one second, ours and Litestream's), several times over.
    var takeoverWatch: Duration { max(.seconds(3), (syncInterval ?? .zero) * 3) }

    /// Whether `tail` (the replica's newest file) ends in this database's state: a local file ends at the same
    /// TXID with the same post-apply checksum.
    private func holdsLocalState(_ tail: LTXFileInfo) async throws -> Bool {
        let store = engine.store
        guard let local = try store.files().first(where: { $0.max == tail.maxTXID }),
            let ours = try? Self.postApplyChecksum(try store.open(min: local.min, max: local.max))
        else { return false }
        let theirs = try Self.postApplyChecksum(try await client.openLTXFile(tail))
        return ours == theirs
    }

    /// The post-apply checksum in a file's trailer (its last 16 bytes).
    static func postApplyChecksum(_ file: ReplicaFileReader) throws -> UInt64 {
        let size = try file.handle.size()
        guard size >= Int64(LTXTrailer.size) else { throw EngineError(.io, "\(file.file) is too short for an LTX file") }
        var bytes = [UInt8](repeating: 0, count: 8)
        let n = try bytes.withUnsafeMutableBytes { try file.handle.readFully($0, at: size - Int64(LTXTrailer.size)) }
        guard n == 8 else { throw EngineError(.io, "\(file.file): short read of its trailer") }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Stops writing to the replica for good (until replicate is restarted): another process writes to it.
    private func halt(_ error: EngineError) -> EngineError {
        if halted == nil {
            halted = error
            engine.monitor.replica(index, halted: error, at: POSIX.nowMilliseconds())
            logger.error("replica stopped: another process writes to it", metadata: [
                "location": "\(client.location)", "error": "\(error)",
            ])
        }
        return error
    }

    /// The replica lost files this worker wrote (deleted or emptied while replicating): forget what it held, and
    /// take it over again from what is left, with a snapshot (the next listing, the catch-up file, and the
    /// level-9 snapshot that maintenance writes when it finds none).
    private func lost(_ error: EngineError) -> EngineError {
        logger.error("replica lost files this replicator wrote; writing a snapshot again", metadata: [
            "location": "\(client.location)", "error": "\(error)",
        ])
        engine.monitor.replica(index, failed: error, at: POSIX.nowMilliseconds())
        engine.monitor.databaseEvent("replica \(name): \(error.message)", at: POSIX.nowMilliseconds())
        uploaded = nil
        unconfirmed = nil
        losses += 1
        maintenance = Maintenance(configuration: maintenance.configuration, replica: client, logger: logger)
        maintenance.requestSnapshot()
        compactedThrough = .zero
        ledger.withLock { $0.reset(at: .zero) }
        wake.signal()
        return error
    }

    /// Checks the replica's level 0 before an upload, where that costs no request (a file replica); false where it
    /// would cost one.
    private func checkTail() throws -> Bool {
        guard let files = try client.ltxRangesWithoutRequest(level: 0) else { return false }
        try examine(files)
        return true
    }

    /// Acts on what a listing of level 0 shows: another writer halts the worker, lost files start it over.
    private func examine(_ files: [ClosedRange<TXID>]) throws {
        let (finding, error) = ledger.withLock { l in
            let f = l.check(files)
            return (f, l.error(for: f, location: client.location))
        }
        switch finding {
        case .consistent: return
        case .foreign: throw halt(error!)
        case .missing: throw lost(error!)
        }
    }

    /// Uploads one level-0 file: the tail checked first (where that is free), never over an existing file, and
    /// recorded in the ledger.
    private func uploadL0(localPath: String, header: LTXHeader) async throws {
        let checked = try checkTail()
        let range = header.minTXID...header.maxTXID
        attempt = range
        do {
            try await client.upload(localPath: localPath, level: 0, header: header)
        } catch let e as ReplicaError where e.code == .fileExists {
            attempt = nil
            throw halt(EngineError(.foreignWriter, "\(e.message); this replicator stopped writing to it. Give each "
                + "database a replica of its own (or stop the other writer), then restart replicate", cause: e))
        }
        attempt = nil
        ledger.withLock { $0.wrote(range) }
        noteUploaded(pageSize: header.pageSize)
        // The tail was ours before, and this file went on top without replacing anything: it is the tail now.
        if checked { ledger.withLock { $0.checked(through: range.upperBound) } }
    }

    /// Notes the page size of a file just uploaded: when it changed, the replica gets a level-9 snapshot at once
    /// (see `Maintenance.requestSnapshot`).
    private func noteUploaded(pageSize new: UInt32) {
        if let old = pageSize, old != new {
            logger.info("the database's page size changed; writing a snapshot", metadata: ["from": "\(old)", "to": "\(new)"])
            maintenance.requestSnapshot()
        }
        pageSize = new
    }

    private func setPosition(_ txid: TXID, uploadedNow: Bool) {
        uploaded = txid
        maintenance.uploaded(through: txid)
        if uploadedNow {
            engine.monitor.replica(index, uploadedThrough: txid, at: POSIX.nowMilliseconds())
        } else {
            engine.monitor.replica(index, knownAt: txid)
        }
    }

    /// Until `stopping` says so: wait for new files or the next deadline, upload, maintain.
    func run(stopping: @Sendable () -> Bool) async {
        while !stopping() {
            await wake.wait(timeout: halted == nil ? nextDeadline() : nil)
            engine.monitor.wakeups.uploaderWoke()
            if stopping() { break }
            await step()
        }
    }

    /// How long the worker may sleep unless new files are written: until its backoff ends, its sync interval lets
    /// it upload, or maintenance is due; nil (until new files) when none of those is pending. No periodic look:
    /// everything the worker does follows from an upload, a failure, or the clock.
    private func nextDeadline() -> Duration? {
        var timeout: Duration?
        func atMost(_ d: Duration) { timeout = min(timeout ?? d, d) }
        if backoff.isWaiting { atMost(backoff.remaining) }
        if let due = uploadDelay() { atMost(due) }
        // Until the replica could be listed, maintenance cannot know what is due; the backoff paces those retries.
        if uploaded != nil || !backoff.isWaiting {
            let now = POSIX.nowMilliseconds()
            if let at = maintenance.nextDue(now: now) { atMost(.milliseconds(at - now)) }
        }
        return timeout
    }

    /// One round: upload what is new, then housekeeping. Errors are logged and backed off, never thrown.
    func step() async {
        if backoff.isWaiting || halted != nil { return }
        do {
            try await upload()
            do {
                try await maintain()
            } catch let e as EngineError where e.code == .foreignWriter && halted == nil {
                throw halt(e)
            } catch let e as EngineError where e.code == .replicaLost {
                throw lost(e)
            }
            backoff.succeeded()
        } catch let e as EngineError where e.code == .replicaLost {
            // Reported by `lost`; the next round starts over at once.
        } catch {
            if halted != nil { return }  // reported by `halt`
            fail(error, "replication to replica failed; local files are kept and will be retried")
        }
    }

    private func fail(_ error: any Error, _ message: Logger.Message) {
        backoff.failed()
        // A failed upload may still have been stored (the answer was lost, or the connection cut after the body
        // went). Its retry need not be the same file (a merged upload takes what has arrived since, a catch-up goes
        // to the newest TXID), so the next round lists the replica's position instead of assuming the old one:
        // continuing from the old one put a second L0 file over the same TXIDs, and L1 compaction refuses overlaps.
        if let before = uploaded { unconfirmed = (before, attempt) }
        attempt = nil
        uploaded = nil
        engine.monitor.replica(index, failed: error, at: POSIX.nowMilliseconds())
        logger.error(message, metadata: [
            "location": "\(client.location)", "error": "\(error)", "retryIn": "\(backoff.delay)",
        ])
    }

    /// With a sync interval: how long until the next upload may run (nil: now, or no interval). Nil too while a
    /// served `sync -wait` (or a durable write) asks for a TXID this replica lacks: batching is for cost, never a
    /// reason to keep a caller waiting.
    private func uploadDelay() -> Duration? {
        guard let syncInterval, let lastUpload else { return nil }
        if engine.monitor.uploadRequested > (uploaded ?? .zero) { return nil }
        let wait = syncInterval - (ContinuousClock.now - lastUpload)
        return wait > .zero ? wait : nil
    }

    /// Uploads local L0 files the replica does not have yet, strictly in TXID order. When the replica lacks files
    /// that are no longer local, it gets one full-database file continuing its own TXIDs instead. With a sync
    /// interval, waits for it (unless `force`, or a `sync -wait`) and merges what accumulated into one file.
    func upload(force: Bool = false) async throws {
        if let halted { throw halted }
        if !force, uploadDelay() != nil { return }
        var uploaded = try await knownPosition()
        let local = engine.position
        if uploaded > local {
            // The replica is ahead of this database (restored elsewhere, or local state lost): the engine must
            // continue after the replica's TXID, with a full-database file.
            logger.warning("replica is ahead of the local database; continuing it with a full snapshot",
                metadata: ["replica": "\(uploaded)", "local": "\(local)"])
            try engine.withEngine { [uploaded] e in
                if e.position < uploaded { try e.reset(to: uploaded, reason: "replica \(name) is ahead") }
            }
            try engine.sync(checkpoint: false)
        }
        let store = engine.store
        if continueWithFullFile {
            // The replica's newest state is another database's: go on from it with our whole database only.
            guard engine.position > uploaded else { return }
            try await catchUp(from: uploaded)
            continueWithFullFile = false
            return try await upload(force: true)
        }
        let pending = try store.files().filter { $0.max > uploaded }
        // The first upload after taking the replica over is one local file, not a merge: another writer that took it
        // over at the same TXID writes that same name first, and one of the two exclusive writes must fail.
        let takenOver = ledger.withLock { $0.written.isEmpty }
        if syncInterval != nil, pending.count > 1, !takenOver, let first = pending.first, first.min <= uploaded.next {
            lastUpload = .now
            let batch = Array(pending.prefix(Self.maxMergedFiles))
            try await uploadMerged(batch)
            // What arrived during that upload waits for the next interval (going on at once made a slow store
            // get PUTs back to back); only a backlog larger than one batch goes on now.
            if pending.count > batch.count { return try await upload(force: true) }
            return
        }
        for f in pending {
            guard f.min <= uploaded.next else {
                try await catchUp(from: uploaded)
                return try await upload(force: force)
            }
            if syncInterval != nil { lastUpload = .now }
            let header = try store.header(min: f.min, max: f.max)
            try await uploadL0(localPath: store.path(min: f.min, max: f.max), header: header)
            uploaded = f.max
            setPosition(f.max, uploadedNow: true)
            // That single first file after a takeover went: the rest is merged again.
            if takenOver && syncInterval != nil && pending.count > 1 { return try await upload(force: true) }
        }
    }

    /// At most this many local files go into one merged upload (Litestream's `max-sync-ltx-files` default).
    static let maxMergedFiles = 256

    /// Merges consecutive local L0 files into one LTX file and uploads it as one L0 file.
    private func uploadMerged(_ pending: [(min: TXID, max: TXID)]) async throws {
        let store = engine.store
        // No file mixes two page sizes: a batch ends where the page size changes (the next starts with the
        // full-database file the engine wrote at the change).
        var files = pending
        if let first = files.first {
            let size = try store.header(min: first.min, max: first.max).pageSize
            if let change = try files.firstIndex(where: { try store.header(min: $0.min, max: $0.max).pageSize != size }) {
                files = Array(files[..<change])
            }
        }
        let decoders = try files.map { f in
            LTXDecoder(mergeInput: try store.open(min: f.min, max: f.max), name: store.path(min: f.min, max: f.max), maxBufferSize: 1 << 16)
        }
        var merger = try LTXMerger(decoders, contiguity: .strict)
        let tmp = temporaryPath("batch")
        defer { try? POSIX.remove(tmp) }
        do {
            let out = try OpenFile.creatingNew(tmp)
            try merger.merge { try out.write($0) }
        }
        try await uploadL0(localPath: tmp, header: merger.header)
        setPosition(merger.header.maxTXID, uploadedNow: true)
    }

    private func knownPosition() async throws -> TXID {
        if let uploaded { return uploaded }
        return try await listPosition()
    }

    /// The replica lacks files that are no longer local: send it one full-database L0 file covering everything
    /// after its last TXID, so that its chain stays contiguous.
    private func catchUp(from uploaded: TXID) async throws {
        logger.warning("replica is missing files that are no longer local; sending a full-database file",
            metadata: ["replica": "\(uploaded)", "local": "\(engine.position)"])
        let tmp = temporaryPath("catchup")
        defer { try? POSIX.remove(tmp) }
        guard let file = try engine.fullDatabaseFile(minTXID: uploaded.next, temporary: tmp) else { return }
        try await uploadL0(localPath: file.path, header: file.header)
        setPosition(file.header.maxTXID, uploadedNow: true)
    }

    /// Writes a level-9 snapshot of the current state to the replica.
    ///
    /// - Parameter unlessBusy: when the start gate has no free place, write nothing and return false (maintenance
    ///   tries again shortly) instead of waiting in line.
    /// - Returns: whether the snapshot was written (or there was nothing to write).
    @discardableResult
    func snapshot(unlessBusy: Bool = false) async throws -> Bool {
        if let halted { throw halted }
        // Snapshots of thousands of tenants fall due together (at start, and daily at 00:00 UTC), and each opens
        // its closed database to read every page: they take turns through the start gate. A scheduled one does not
        // wait in line: this worker's uploads wait for it, and a commit to a tenant whose worker queued behind
        // thousands of snapshots took over 30 s to reach the replica.
        try await upload(force: true)
        if unlessBusy {
            guard startGate.tryEnter() else { return false }
        } else {
            try await startGate.enter()
        }
        let tmp = temporaryPath("snapshot")
        defer { try? POSIX.remove(tmp) }
        let built = Result { try engine.fullDatabaseFile(minTXID: TXID(1), temporary: tmp) }
        startGate.leave()
        guard let file = try built.get() else { return true }
        try await client.upload(localPath: file.path, level: LTXLevel.snapshot, header: file.header)
        snapshotThrough = file.header.maxTXID
        logger.info("snapshot written", metadata: ["txid": "\(file.header.maxTXID)"])
        try await upload(force: true)
        return true
    }

    private func temporaryPath(_ kind: String) -> String {
        "\(engine.store.metaPath)/\(kind)-\(String(name.map { $0.isLetter || $0.isNumber ? $0 : "_" })).ltx.tmp"
    }

    private func maintain() async throws {
        var m = maintenance
        let losses = self.losses
        defer {
            if losses == self.losses {
                maintenance = m
                compactedThrough = m.compactedThrough
                // Every L1 file was merged by us after its level-0 listing was checked, even when the run threw
                // later (retention failing, say): files up to it need no further check, and L0 retention may
                // delete them now.
                self.ledger.withLock { $0.checked(through: m.compactedThrough) }
            }
        }
        let store = engine.store
        // Compaction lists level 0 every 30 s under writes anyway: that listing is checked for another writer's
        // files and for ours gone, at no extra request.
        let location = client.location
        try await m.run(
            now: POSIX.nowMilliseconds(), snapshot: { try await self.snapshot(unlessBusy: true) },
            checkL0: { [self] files in
                try self.ledger.withLock { l in
                    if let e = l.error(for: l.check(files.map { $0.minTXID...$0.maxTXID }), location: location) { throw e }
                }
            },
            // Local copies are removed by the replicator once every replica is done with them.
            deleteLocalL0: { _ in },
            localL0Path: { f in
                let p = store.path(min: f.minTXID, max: f.maxTXID)
                return POSIX.exists(p) ? p : nil
            })
    }

    /// Applies retention now (`replicate -once -enforce-retention`).
    func enforceRetention() async throws {
        try await maintenance.enforceRetention(now: POSIX.nowMilliseconds()) { _ in }
    }

    /// The final upload at shutdown, retried until `deadline`.
    func finalUpload(deadline: ContinuousClock.Instant) async throws {
        // Stopped for another writer: reported when it stopped; shutting down is no reason to write again.
        if halted != nil { return }
        var lastError: (any Error)?
        repeat {
            do {
                try await upload(force: true)
                return
            } catch {
                if halted != nil { return }
                lastError = error
                engine.monitor.replica(index, failed: error, at: POSIX.nowMilliseconds())
                logger.warning("final upload failed; retrying", metadata: ["error": "\(error)"])
                // Cancelled (a graceful shutdown that took too long, say): give up.
                do { try await Task.sleep(for: .milliseconds(500)) } catch { break }
            }
        } while ContinuousClock.now < deadline
        if let lastError { throw lastError }
    }
}
