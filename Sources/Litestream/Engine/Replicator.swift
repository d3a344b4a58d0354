#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LTX
import Logging

/// Replicates one database to one replica until cancelled: wakes on WAL changes, writes local L0 files, uploads
/// them in TXID order, and on shutdown does a final sync and upload.
///
/// `run()` never throws for a failing replica or a transient database error: it logs, backs off and retries, so
/// it never takes its host process down. It returns when its task is cancelled.
public final class Replicator {
    public struct Configuration: Sendable {
        public var database: DatabaseEngine.Configuration
        public var replica: any ReplicaClient
        /// The longest the engine waits between looks at the WAL when no change is signalled. Default 1 s.
        public var monitorInterval: Duration = .seconds(1)
        /// The shortest time between two syncs; changes within it are batched into one L0 file. Default 100 ms:
        /// an isolated commit is still synced at once, and a steady writer costs at most ten L0 files a second.
        public var minSyncInterval: Duration = .milliseconds(100)
        /// How long the final sync at shutdown may keep retrying a failing replica. Default 30 s.
        public var shutdownSyncTimeout: Duration = .seconds(30)
        /// Compaction, snapshots and retention.
        public var maintenance = Maintenance.Configuration()

        public init(database: DatabaseEngine.Configuration, replica: any ReplicaClient) {
            self.database = database
            self.replica = replica
        }
    }

    public let configuration: Configuration
    public let engine: DatabaseEngine
    private let logger: Logger
    private var uploadedTXID: TXID = .zero
    private var uploadBackoff = Backoff()
    private var maintenance: Maintenance
    private var isOpen = false

    public init(configuration: Configuration, logger: Logger = Logger(label: "litestream")) {
        self.configuration = configuration
        self.engine = DatabaseEngine(configuration: configuration.database, logger: logger)
        self.logger = logger
        self.maintenance = Maintenance(configuration: configuration.maintenance, replica: configuration.replica, logger: logger)
    }

    /// The replica's newest TXID as last seen.
    public var replicaPosition: TXID { uploadedTXID }

    /// Opens the database (waiting for it to exist) and reconciles with the replica.
    /// Returns early, leaving the replicator closed, if `shutdown` is triggered while waiting.
    public func open(until shutdown: ShutdownTrigger? = nil) async throws {
        var warned = false
        while !POSIX.exists(engine.path) {
            if shutdown?.isTriggered == true { return }
            if !warned { logger.info("waiting for database to be created", metadata: ["db": "\(engine.path)"]); warned = true }
            try await Task.sleep(for: configuration.monitorInterval)
        }
        let remote = try await remoteMaxTXID()
        if shutdown?.isTriggered == true { return }
        try engine.open(remoteMaxTXID: remote)
        isOpen = true
        uploadedTXID = remote
        logger.info("replicating", metadata: [
            "db": "\(engine.path)", "replica": "\(configuration.replica.location)",
            "local": "\(engine.position)", "remote": "\(remote)",
        ])
    }

    /// The newest TXID in the replica: the end of its L0 chain, or of any level if L0 is empty.
    private func remoteMaxTXID() async throws -> TXID {
        var best = TXID.zero
        for level in LTXLevel.all {
            if let last = try await configuration.replica.ltxFiles(level: level).last, last.maxTXID > best {
                best = last.maxTXID
            }
        }
        return best
    }

    /// Syncs and uploads once. With `forceSnapshot`, also writes a level-9 snapshot.
    public func runOnce(forceSnapshot: Bool = false, enforceRetention: Bool = false) async throws {
        try engine.sync()
        try await upload()
        if forceSnapshot { try await snapshot() }
        if enforceRetention {
            let store = engine.store
            try await maintenance.enforceRetention(now: POSIX.nowMilliseconds()) { try? store.remove(min: $0.minTXID, max: $0.maxTXID) }
        }
    }

    /// Runs until `shutdown` is triggered or the task is cancelled, then syncs and uploads one last time.
    public func run(until shutdown: ShutdownTrigger = ShutdownTrigger()) async throws {
        let watcher = WALWatcher(walPath: engine.walPath, pollInterval: min(configuration.minSyncInterval, .milliseconds(100)))
        shutdown.onTrigger { watcher.signal() }
        let stopping = { Task.isCancelled || shutdown.isTriggered }
        guard isOpen else { return }  // stopped before it could open
        var lastSync = ContinuousClock.now - configuration.minSyncInterval
        var syncBackoff = Backoff()
        while !stopping() {
            await watcher.wait(timeout: configuration.monitorInterval)
            if stopping() { break }
            let since = ContinuousClock.now - lastSync
            if since < configuration.minSyncInterval {
                try? await Task.sleep(for: configuration.minSyncInterval - since)
            }
            lastSync = .now
            if syncBackoff.isWaiting { continue }
            do {
                var r = try engine.sync()
                // A writer between writing its commit frame and publishing it in the WAL index: the commit lands
                // within microseconds, and no WAL write will announce it. With nothing else synced, retry briefly
                // (1, 2, 4, 8, 16 ms) so an isolated commit is not left for the next poll; otherwise, or if it is
                // still pending (a writer that died there), look again after the minimum interval.
                var delay = Duration.milliseconds(1)
                while r.writerInProgress && r.written.isEmpty && delay <= .milliseconds(16) {
                    try await Task.sleep(for: delay)
                    delay *= 2
                    r = try engine.sync()
                }
                if r.writerInProgress { watcher.signal() }
                if let reason = r.snapshotReason { logger.info("full snapshot written", metadata: ["reason": "\(reason)"]) }
                syncBackoff.succeeded()
            } catch {
                logger.error("sync failed", metadata: ["error": "\(error)"])
                syncBackoff.failed()
                continue
            }
            await uploadLogged()
            await maintainLogged()
        }
        try await self.shutdown()
    }

    /// Final sync and upload, retried for up to `shutdownSyncTimeout`.
    public func shutdown() async throws {
        guard isOpen else { return }
        defer { isOpen = false }
        let deadline = ContinuousClock.now + configuration.shutdownSyncTimeout
        var lastError: (any Error)?
        repeat {
            do {
                try engine.sync(checkpoint: false)
                try await upload()
                lastError = nil
                break
            } catch {
                lastError = error
                logger.warning("final sync failed; retrying", metadata: ["error": "\(error)"])
                usleep(500_000)  // not Task.sleep: the task is usually cancelled already at shutdown
            }
        } while ContinuousClock.now < deadline
        engine.close()
        if let lastError { throw lastError }
    }

    private func uploadLogged() async {
        if uploadBackoff.isWaiting { return }
        do {
            try await upload()
            uploadBackoff.succeeded()
        } catch {
            uploadBackoff.failed()
            logger.error("upload failed; local L0 files are kept and will be retried",
                metadata: ["replica": "\(configuration.replica.location)", "error": "\(error)", "retryIn": "\(uploadBackoff.delay)"])
        }
    }

    private func maintainLogged() async {
        let store = engine.store
        maintenance.uploaded(through: uploadedTXID)
        do {
            try await maintenance.run(
                now: POSIX.nowMilliseconds(), snapshot: { try await self.snapshot() },
                deleteLocalL0: { file in
                    // Never the newest: it is the resume position.
                    if file.maxTXID < self.engine.position { try? store.remove(min: file.minTXID, max: file.maxTXID) }
                },
                localL0Path: { store.path(min: $0.minTXID, max: $0.maxTXID) })
        } catch {
            logger.error("maintenance failed", metadata: ["replica": "\(configuration.replica.location)", "error": "\(error)"])
        }
    }

    /// Uploads local L0 files the replica does not have yet, strictly in TXID order.
    public func upload() async throws {
        let store = engine.store
        for f in try store.files() where f.max > uploadedTXID {
            guard f.min <= uploadedTXID.next else {
                // The replica lost files we no longer have locally: continue it with a full snapshot.
                logger.warning("replica is missing files that are no longer local; writing a full snapshot",
                    metadata: ["replica": "\(uploadedTXID)", "local": "\(f.min)"])
                try engine.reset(to: uploadedTXID, reason: "replica is missing files")
                try engine.sync(checkpoint: false)
                return try await upload()
            }
            let header = try store.header(min: f.min, max: f.max)
            try await configuration.replica.upload(localPath: store.path(min: f.min, max: f.max), level: 0, header: header)
            uploadedTXID = f.max
        }
    }

    /// Writes a level-9 snapshot of the current state to the replica.
    public func snapshot() async throws {
        let txid = try engine.prepareSnapshot()
        try await upload()
        guard txid > .zero else { return }
        let engine = self.engine
        try await configuration.replica.writeLTXFile(
            level: LTXLevel.snapshot, minTXID: TXID(1), maxTXID: txid, timestamp: POSIX.nowMilliseconds()
        ) { sink in
            _ = try withoutActuallyEscaping(sink) { try engine.encodeSnapshot(at: txid, $0) }
        }
        logger.info("snapshot written", metadata: ["txid": "\(txid)"])
        try engine.sync(checkpoint: false)
    }
}

/// Exponential backoff with jitter, from 1 s up to 5 min, for failing uploads and syncs.
struct Backoff {
    private(set) var delay: Duration = .zero
    private var until = ContinuousClock.now

    var isWaiting: Bool { ContinuousClock.now < until }

    mutating func failed() {
        delay = delay == .zero ? .seconds(1) : min(delay * 2, .seconds(300))
        let jitter = Double.random(in: 0.8...1.2)
        until = .now + delay * jitter
    }

    mutating func succeeded() {
        delay = .zero
        until = .now
    }
}

