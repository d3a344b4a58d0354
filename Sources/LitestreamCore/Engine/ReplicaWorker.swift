import LTX
import Logging

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

    init(index: Int, name: String, client: any ReplicaClient, syncInterval: Duration? = nil,
         maintenance: Maintenance.Configuration, engine: SharedEngine, logger: Logger) {
        self.index = index
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
    func listPosition() async throws -> TXID {
        var best = TXID.zero
        for level in LTXLevel.all {
            if let last = try await client.ltxFiles(level: level).last, last.maxTXID > best { best = last.maxTXID }
        }
        setPosition(best, uploadedNow: false)
        pageSize = try? engine.store.header(min: best, max: best).pageSize
        return best
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
            await wake.wait(timeout: nextDeadline())
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
        if backoff.isWaiting { return }
        do {
            try await upload()
            try await maintain()
            backoff.succeeded()
        } catch {
            fail(error, "replication to replica failed; local files are kept and will be retried")
        }
    }

    private func fail(_ error: any Error, _ message: Logger.Message) {
        backoff.failed()
        // A failed upload may still have been stored (the answer was lost, or the connection cut after the body
        // went). Its retry need not be the same file (a merged upload takes what has arrived since, a catch-up goes
        // to the newest TXID), so the next round lists the replica's position instead of assuming the old one:
        // continuing from the old one put a second L0 file over the same TXIDs, and L1 compaction refuses overlaps.
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
        let pending = try store.files().filter { $0.max > uploaded }
        if syncInterval != nil, pending.count > 1, let first = pending.first, first.min <= uploaded.next {
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
            try await client.upload(localPath: store.path(min: f.min, max: f.max), level: 0, header: header)
            noteUploaded(pageSize: header.pageSize)
            uploaded = f.max
            setPosition(f.max, uploadedNow: true)
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
        try await client.upload(localPath: tmp, level: 0, header: merger.header)
        noteUploaded(pageSize: merger.header.pageSize)
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
        try await client.upload(localPath: file.path, level: 0, header: file.header)
        noteUploaded(pageSize: file.header.pageSize)
        setPosition(file.header.maxTXID, uploadedNow: true)
    }

    /// Writes a level-9 snapshot of the current state to the replica.
    func snapshot() async throws {
        try await upload(force: true)
        let tmp = temporaryPath("snapshot")
        defer { try? POSIX.remove(tmp) }
        // Snapshots of thousands of tenants fall due together (daily, at 00:00 UTC), and each opens its closed
        // database to read every page: they take turns through the start gate, as at start.
        try await StartGate.shared.enter()
        let built = Result { try engine.fullDatabaseFile(minTXID: TXID(1), temporary: tmp) }
        StartGate.shared.leave()
        guard let file = try built.get() else { return }
        try await client.upload(localPath: file.path, level: LTXLevel.snapshot, header: file.header)
        logger.info("snapshot written", metadata: ["txid": "\(file.header.maxTXID)"])
        try await upload(force: true)
    }

    private func temporaryPath(_ kind: String) -> String {
        "\(engine.store.metaPath)/\(kind)-\(String(name.map { $0.isLetter || $0.isNumber ? $0 : "_" })).ltx.tmp"
    }

    private func maintain() async throws {
        var m = maintenance
        defer {
            maintenance = m
            compactedThrough = m.compactedThrough
        }
        let store = engine.store
        try await m.run(
            now: POSIX.nowMilliseconds(), snapshot: { try await self.snapshot() },
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
        var lastError: (any Error)?
        repeat {
            do {
                try await upload(force: true)
                return
            } catch {
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
