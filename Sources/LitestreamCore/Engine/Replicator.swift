import LitestreamClient
import LTX
import Logging
import Synchronization

/// Replicates one database to one or more replicas until stopped: wakes on WAL changes, writes local L0 files, and
/// has one uploader per replica ship them in TXID order; on shutdown, a final sync and upload.
///
/// `run()` never throws for a failing replica or a transient database error: it logs, backs off and retries, so
/// it never takes its host process down. Each replica has its own position, uploads, snapshots, compaction and
/// backoff; a slow or failing replica never holds back another. Local L0 files are removed only once every
/// replica has them and has compacted them into L1.
public final class Replicator {
    /// One replica of the database.
    public struct Replica: Sendable {
        /// Unique per database; used in status output and logs. Default: the client's type.
        public var name: String
        public var client: any ReplicaClient
        /// The replica's `sync-interval`: at most one upload per interval, the local files written in between
        /// merged into one LTX file (one PUT on S3 however busy the database). Nil, the default: each local file
        /// is uploaded as soon as it is written (lowest lag).
        public var syncInterval: Duration?

        public init(name: String? = nil, client: any ReplicaClient, syncInterval: Duration? = nil) {
            self.name = name ?? client.type
            self.client = client
            self.syncInterval = syncInterval
        }
    }

    public struct Configuration: Sendable {
        public var database: DatabaseEngine.Configuration
        /// Where the database goes: at least one replica.
        public var replicas: [Replica]
        /// The longest the engine waits between looks at the WAL when no change is signalled. Default 1 s.
        public var monitorInterval: Duration = .seconds(1)
        /// The shortest time between two syncs; changes within it are batched into one L0 file. Default 100 ms:
        /// an isolated commit is still synced at once, and a steady writer costs at most ten L0 files a second.
        public var minSyncInterval: Duration = .milliseconds(100)
        /// How long the final sync at shutdown may keep retrying a failing replica. Default 30 s.
        public var shutdownSyncTimeout: Duration = .seconds(30)
        /// Compaction, snapshots and retention, for every replica.
        public var maintenance = Maintenance.Configuration()

        public init(database: DatabaseEngine.Configuration, replicas: [Replica]) {
            precondition(!replicas.isEmpty, "a replicator needs at least one replica")
            self.database = database
            self.replicas = replicas
        }

        /// One replica.
        public init(database: DatabaseEngine.Configuration, replica: any ReplicaClient) {
            self.init(database: database, replicas: [Replica(client: replica)])
        }

        /// The first replica's client.
        public var replica: any ReplicaClient { replicas[0].client }
    }

    public let configuration: Configuration
    /// The engine. Use it directly only while `run()` is not running.
    public let engine: DatabaseEngine
    /// Status and controls, usable from any task.
    public let monitor: ReplicationMonitor
    private let shared: SharedEngine
    private let workers: [ReplicaWorker]
    private let logger: Logger
    private var isOpen = false

    public init(configuration: Configuration, logger: Logger = Logger(label: "litestream")) {
        self.configuration = configuration
        self.engine = DatabaseEngine(configuration: configuration.database, logger: logger)
        self.logger = logger
        let monitor = ReplicationMonitor(
            path: engine.path,
            replicas: configuration.replicas.map { ReplicaStatus(name: $0.name, type: $0.client.type, location: $0.client.location) })
        self.monitor = monitor
        let wakes = Mutex<[WakeSignal]>([])
        let shared = SharedEngine(engine, monitor: monitor) { wakes.withLock { $0 }.forEach { $0.signal() } }
        self.shared = shared
        self.workers = configuration.replicas.enumerated().map { i, r in
            ReplicaWorker(index: i, name: r.name, client: r.client, syncInterval: r.syncInterval,
                maintenance: configuration.maintenance, engine: shared, logger: logger)
        }
        wakes.withLock { $0 = workers.map(\.wake) }
    }

    /// The slowest replica's newest TXID as last seen.
    public var replicaPosition: TXID { monitor.status().replicas.map(\.txid).min() ?? .zero }

    /// Opens the database (waiting for it to exist) and reconciles with the replicas.
    /// Returns early, leaving the replicator closed, if `shutdown` is triggered while waiting.
    ///
    /// A replica that cannot be listed now does not stop replication to the others: its uploader keeps trying.
    /// It fails only when no replica can be reached.
    public func open(until shutdown: ShutdownTrigger? = nil) async throws {
        try await onEngineThreads {
            var warned = false
            while !POSIX.exists(engine.path) {
                if shutdown?.isTriggered == true { return }
                if !warned { logger.info("waiting for database to be created", metadata: ["db": "\(engine.path)"]); warned = true }
                try await Task.sleep(for: configuration.monitorInterval)
            }
            var remote: TXID?
            // The slowest replica's position: local files after it may still be uploaded. Nil when one is unknown.
            var slowest: TXID? = TXID(UInt64.max)
            var firstError: (any Error)?
            for w in workers {
                do {
                    let p = try await w.listPosition()
                    remote = max(remote ?? .zero, p)
                    slowest = slowest.map { min($0, p) }
                } catch {
                    slowest = nil
                    firstError = firstError ?? error
                    shared.monitor.replica(w.index, failed: error, at: POSIX.nowMilliseconds())
                    logger.error("cannot list replica; will keep trying",
                        metadata: ["replica": "\(w.name)", "location": "\(w.client.location)", "error": "\(error)"])
                }
            }
            guard let remote else { throw firstError! }
            if shutdown?.isTriggered == true { return }
            try engine.open(remoteMaxTXID: remote, verifyAfter: slowest)
            isOpen = true
            logger.info("replicating", metadata: [
                "db": "\(engine.path)", "replicas": "\(configuration.replicas.map { "\($0.name)=\($0.client.location)" }.joined(separator: ", "))",
                "local": "\(engine.position)", "remote": "\(remote)",
            ])
        }
    }

    /// Syncs and uploads once. With `forceSnapshot`, also writes a level-9 snapshot to each replica.
    public func runOnce(forceSnapshot: Bool = false, enforceRetention: Bool = false) async throws {
        try await onEngineThreads {
            try shared.sync()
            try await upload()
            if forceSnapshot { try await snapshot() }
            if enforceRetention {
                for w in workers { try await w.enforceRetention() }
                await pruneLocalL0(force: true)
            }
        }
    }

    /// Uploads to every replica what it does not have yet. Throws the first failure.
    public func upload() async throws {
        try await onEngineThreads {
            for w in workers { try await w.upload(force: true) }
        }
    }

    /// Writes a level-9 snapshot of the current state to every replica.
    public func snapshot() async throws {
        try await onEngineThreads {
            for w in workers { try await w.snapshot() }
        }
    }

    /// Runs until `shutdown` is triggered or the task is cancelled, then syncs and uploads one last time.
    public func run(until shutdown: ShutdownTrigger = ShutdownTrigger()) async throws {
        try await onEngineThreads {
            guard isOpen else { return }  // stopped before it could open
            let watcher = WALWatcher(walPath: engine.walPath, pollInterval: min(configuration.minSyncInterval, .milliseconds(100)))
            shutdown.onTrigger { watcher.signal() }
            let finalSynced = ShutdownTrigger()
            let workers = self.workers
            finalSynced.onTrigger { workers.forEach { $0.wake.signal() } }
            // A sync request (`sync -wait`) also wakes the uploaders, which may be waiting out a backoff.
            monitor.started {
                watcher.signal()
                workers.forEach { $0.wake.signal() }
            }
            defer { monitor.stopped() }
            let monitorInterval = configuration.monitorInterval
            let finalTimeout = configuration.shutdownSyncTimeout
            await withTaskGroup(of: Void.self) { group in
                for w in workers {
                    group.addTask {
                        await w.run(monitorInterval: monitorInterval) { finalSynced.isTriggered || Task.isCancelled }
                    }
                }
                await self.syncLoop(watcher: watcher, shutdown: shutdown)
                do { try finalSync() } catch { logger.error("final sync failed", metadata: ["error": "\(error)"]) }
                finalSynced.trigger()
            }
            // The uploaders' last uploads, only now: when the task was cancelled, they stopped at once, possibly before
            // the final sync wrote the last file.
            let failures = await withTaskGroup(of: (any Error)?.self) { group in
                for w in workers {
                    group.addTask {
                        do { try await w.finalUpload(deadline: .now + finalTimeout) } catch { return error }
                        return nil
                    }
                }
                var failures: [any Error] = []
                for await case let e? in group { failures.append(e) }
                return failures
            }
            engine.close()
            isOpen = false
            if let first = failures.first { throw first }
        }
    }

    /// Runs the engine's work on its own threads (see ``EngineExecutor``), off Swift concurrency's pool.
    private func onEngineThreads<T>(_ body: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(EngineExecutor.shared, operation: body)
    }

    private func syncLoop(watcher: WALWatcher, shutdown: ShutdownTrigger) async {
        let stopping = { Task.isCancelled || shutdown.isTriggered }
        var lastSync = ContinuousClock.now - configuration.minSyncInterval
        var lastPrune = ContinuousClock.now
        var syncBackoff = Backoff()
        // Adaptive batching: wait out the minimum interval only while writes are sustained (the last sync wrote a
        // file). After an idle spell, or a sync that found only part of a commit, the next change syncs at once.
        var lastSyncWrote = false
        while !stopping() {
            let since = ContinuousClock.now - lastSync
            if lastSyncWrote && since < configuration.minSyncInterval {
                // Sustained writes: the next sync comes after the interval whatever the WAL does, so nothing
                // listens to it meanwhile (the app's writes then cost it no notifications), and the loop wakes
                // once per sync, for the timer. Listening resumes before the sync: if that sync finds nothing,
                // the wait below hears every write that follows it.
                watcher.pause()
                try? await Task.sleep(for: configuration.minSyncInterval - since)
                watcher.listen()
            } else {
                await watcher.wait(timeout: configuration.monitorInterval)
            }
            if stopping() { break }
            lastSync = .now
            if syncBackoff.isWaiting { continue }
            do {
                var r = try shared.sync()
                // A writer between writing its commit frame and publishing it in the WAL index: the commit lands
                // within microseconds, and no WAL write will announce it. With nothing else synced, retry briefly
                // (1, 2, 4, 8, 16 ms) so an isolated commit is not left for the next poll; otherwise, or if it is
                // still pending (a writer that died there), look again after the minimum interval.
                var delay = Duration.milliseconds(1)
                while r.writerInProgress && r.written.isEmpty && delay <= .milliseconds(16) {
                    try await Task.sleep(for: delay)
                    delay *= 2
                    r = try shared.sync()
                }
                // A commit still unpublished after the retries (a writer that died there) is looked at again only
                // after the interval, as before, not in a tight loop.
                lastSyncWrote = !r.written.isEmpty || r.writerInProgress
                if r.writerInProgress { watcher.signal() }
                if let reason = r.snapshotReason { logger.info("full snapshot written", metadata: ["reason": "\(reason)"]) }
                syncBackoff.succeeded()
            } catch {
                logger.error("sync failed", metadata: ["error": "\(error)"])
                lastSyncWrote = false
                syncBackoff.failed()
                continue
            }
            if ContinuousClock.now - lastPrune >= configuration.maintenance.l0RetentionCheckInterval {
                lastPrune = .now
                await pruneLocalL0(force: false)
            }
        }
    }

    /// Final sync without a checkpoint, retried for up to `shutdownSyncTimeout`.
    private func finalSync() throws {
        let deadline = ContinuousClock.now + configuration.shutdownSyncTimeout
        while true {
            do {
                try shared.sync(checkpoint: false)
                return
            } catch {
                if ContinuousClock.now >= deadline { throw error }
                logger.warning("final sync failed; retrying", metadata: ["error": "\(error)"])
                usleep(500_000)
            }
        }
    }

    /// Final sync and upload (for callers that use `runOnce` rather than `run`), then closes the engine.
    public func shutdown() async throws {
        try await onEngineThreads {
            guard isOpen else { return }
            defer {
                engine.close()
                isOpen = false
            }
            try finalSync()
            let deadline = ContinuousClock.now + configuration.shutdownSyncTimeout
            for w in workers { try await w.finalUpload(deadline: deadline) }
        }
    }

    /// Removes local L0 files that every replica has uploaded and compacted into L1, once older than
    /// `l0Retention` (or at once with `force`). The newest file stays: it is the resume position.
    private func pruneLocalL0(force: Bool) async {
        let retention = configuration.maintenance.l0Retention.wholeMilliseconds
        guard retention > 0 || force else { return }
        var covered = TXID(UInt64.max)
        for w in workers {
            let c = await w.compactedThrough
            let u = await w.position ?? .zero
            covered = min(covered, min(c, u))
        }
        let store = shared.store
        let now = POSIX.nowMilliseconds()
        shared.withEngine { e in
            guard let files = try? store.files() else { return }
            for f in files where f.max <= covered && f.max < e.position {
                let p = store.path(min: f.min, max: f.max)
                if !force, let mtime = POSIX.modificationTimeMilliseconds(p), now - mtime < retention { continue }
                try? store.remove(min: f.min, max: f.max)
            }
        }
    }
}
