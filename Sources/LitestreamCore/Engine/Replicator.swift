import LitestreamClient
public import LTX
public import Logging
public import ServiceLifecycle
import Synchronization

/// Replicates one database to one or more replicas, as a `Service` of swift-service-lifecycle: wakes on WAL
/// changes, writes local L0 files, and has one uploader per replica ship them in TXID order; at graceful shutdown,
/// a final sync and upload.
///
/// Run it in a `ServiceGroup` like any other service (Hummingbird: `app.addServices(replicator)`). A group shuts
/// its services down in reverse order, so list the replicator before the services that write to the database:
/// they stop first, and the final sync has their last commits.
///
/// `run()` never throws for a failing replica or a transient database error: it logs, backs off and retries, so
/// it never takes its host process down. Each replica has its own position, uploads, snapshots, compaction and
/// backoff; a slow or failing replica never holds back another. Local L0 files are removed only once every
/// replica has them and has compacted them into L1.
public final class Replicator: Service, Sendable {
    /// One replica of the database.
    public struct Replica: Sendable {
        /// Unique per database; used in status output and logs. Default: the client's type.
        public var name: String
        public var client: any ReplicaClient
        /// The replica's `sync-interval`: at most one upload per interval, the local files written in between
        /// merged into one LTX file (one PUT on S3 however busy the database). A commit after a quiet spell (no
        /// upload for an interval) is uploaded at once, and a sync request that waits for the replicas
        /// (`sync -wait`, the control socket's `POST /sync?wait=true`, a durable write) has what is pending uploaded
        /// at once, whatever the interval. A sync request without the wait only syncs locally, as in Litestream.
        ///
        /// Nil, the default: the client's ``ReplicaClient/defaultSyncInterval``, which is one second for S3 (as
        /// Litestream) and none for a file replica. Zero: each local file is uploaded as soon as it is written
        /// (lowest lag, one PUT per sync on S3).
        public var syncInterval: Duration?

        /// - Parameters:
        ///   - name: unique per database; default: the client's type.
        ///   - client: where the files go.
        ///   - syncInterval: see ``syncInterval``.
        public init(name: String? = nil, client: any ReplicaClient, syncInterval: Duration? = nil) {
            self.name = name ?? client.type
            self.client = client
            self.syncInterval = syncInterval
        }
    }

    public struct Configuration: Sendable {
        public var database: DatabaseEngine.Configuration
        /// Where the database goes: at least one replica (the initializer checks).
        public private(set) var replicas: [Replica]
        /// Where there is no inotify (macOS, or a directory that cannot be watched): the longest time between two
        /// looks at an idle WAL's size and mtime (polls back off to it from 50 ms). Also how often the replicator
        /// looks for a database that does not exist yet. With inotify an idle database is never looked at. Default 1 s.
        public var monitorInterval: Duration = .seconds(1)
        /// The shortest time between two syncs; changes within it are batched into one L0 file. Default 100 ms:
        /// an isolated commit is still synced at once, and a steady writer costs at most ten L0 files a second.
        public var minSyncInterval: Duration = .milliseconds(100)
        /// Closes the database's SQLite connections after this long without a commit, once every committed frame
        /// is in a local L0 file; the next WAL change opens them again (see ``DatabaseEngine/suspend()``). An idle
        /// database then holds no file descriptor and no SQLite memory: what one process of thousands of tenant
        /// databases needs. The price: while closed, nothing holds the app's checkpoints back, so a commit that
        /// the app checkpoints away (and restarts the WAL over) before the replicator has looked is replicated by
        /// a full-database file instead of its pages. Nil, the default: never (directory mode sets it, see
        /// `DatabaseConfiguration`).
        public var closeIdleAfter: Duration?
        /// The gate that databases starting, and scheduled snapshots, take turns through (tests give their own).
        package var startGate: StartGate = .shared
        /// How long the final sync at shutdown may keep retrying a failing replica. Default 30 s.
        public var shutdownSyncTimeout: Duration = .seconds(30)
        /// Compaction, snapshots and retention, for every replica.
        public var maintenance = Maintenance.Configuration()

        /// - Parameters:
        ///   - database: the database to replicate.
        ///   - replicas: where it goes; at least one.
        /// - Throws: `EngineError` with code `invalidConfiguration` when there is no replica.
        public init(database: DatabaseEngine.Configuration, replicas: [Replica]) throws(EngineError) {
            guard !replicas.isEmpty else {
                throw EngineError(.invalidConfiguration, "database \(database.path) has no replica: give it at least one")
            }
            self.database = database
            self.replicas = replicas
        }

        /// One replica.
        ///
        /// - Parameters:
        ///   - database: the database to replicate.
        ///   - replica: where it goes.
        public init(database: DatabaseEngine.Configuration, replica: any ReplicaClient) {
            self.database = database
            self.replicas = [Replica(client: replica)]
        }

        /// The first replica's client.
        public var replica: any ReplicaClient { replicas[0].client }
    }

    public let configuration: Configuration
    /// The engine, behind the mutex it shares with the uploaders.
    var engine: SharedEngine { shared }
    /// Status and controls, usable from any task.
    public let monitor: ReplicationMonitor
    /// The engine, behind its lock.
    private let shared: SharedEngine
    private let workers: [ReplicaWorker]
    private let logger: Logger
    private let opened = Atomic(false)
    /// Whether this replicator holds a place in its start gate (`Configuration.startGate`).
    private let startSlot = Atomic(false)
    /// Wakes the running sync loop when someone else's sync (an uploader's snapshot) opened closed connections.
    private let onResumed: Hook

    /// A callback set while `run()` runs.
    private final class Hook: Sendable {
        private let action = Mutex<(@Sendable () -> Void)?>(nil)
        func set(_ a: (@Sendable () -> Void)?) { action.withLock { $0 = a } }
        func call() { action.withLock { $0 }?() }
    }
    private var isOpen: Bool { opened.load(ordering: .acquiring) }

    /// Does nothing until `run()`.
    ///
    /// - Parameters:
    ///   - configuration: the database, its replicas and the intervals.
    ///   - logger: where the replicator reports what it does.
    public init(configuration: Configuration, logger: Logger = Logger(label: "litestream")) {
        self.configuration = configuration
        let engine = DatabaseEngine(configuration: configuration.database, logger: logger)
        self.logger = logger
        let monitor = ReplicationMonitor(
            path: engine.path,
            replicas: configuration.replicas.map { ReplicaStatus(name: $0.name, type: $0.client.type, location: $0.client.location) },
            requestCounts: configuration.replicas.map { r in { r.client.requestCounts } })
        self.monitor = monitor
        let wakes = Mutex<[WakeSignal]>([])
        let resumed = Hook()
        self.onResumed = resumed
        let shared = SharedEngine(engine, monitor: monitor,
            onNewFiles: { wakes.withLock { $0 }.forEach { $0.signal() } },
            onResumed: { resumed.call() })
        self.shared = shared
        self.workers = configuration.replicas.enumerated().map { i, r in
            ReplicaWorker(index: i, name: r.name, client: r.client, syncInterval: r.syncInterval,
                maintenance: configuration.maintenance, startGate: configuration.startGate, engine: shared, logger: logger)
        }
        wakes.withLock { $0 = workers.map(\.wake) }
    }

    /// The slowest replica's newest TXID as last seen.
    public var replicaPosition: TXID { monitor.status().replicas.map(\.txid).min() ?? .zero }

    /// Opens the database (waiting for it to exist) and reconciles with the replicas; `run()` does it itself.
    ///
    /// A replica that cannot be listed now does not stop replication to the others: its uploader keeps trying.
    /// It fails only when no replica can be reached.
    ///
    /// - Parameter gated: wait for a place in the start gate once the database exists, and keep it until the
    ///   first sync (`run()`'s own opening); given back at once if opening fails.
    package func open(gated: Bool = false) async throws {
        try await onEngineThreads {
            var warned = false
            while !POSIX.exists(monitor.path) {
                if !warned { logger.info("waiting for database to be created", metadata: ["db": "\(monitor.path)"]); warned = true }
                try await Task.sleep(for: configuration.monitorInterval)
            }
            // Thousands of databases start a few at a time (see StartGate); the place is given back after the
            // first sync, or now if opening fails.
            if gated, !startSlot.exchange(true, ordering: .acquiringAndReleasing) {
                do { try await configuration.startGate.enter() } catch {
                    startSlot.store(false, ordering: .releasing)
                    throw error
                }
            }
            do { try await listAndOpen() } catch {
                leaveStartGate()
                throw error
            }
        }
    }

    /// Gives back the place in the start gate, if this replicator holds one.
    private func leaveStartGate() {
        if startSlot.exchange(false, ordering: .acquiringAndReleasing) { configuration.startGate.leave() }
    }

    /// Lists every replica's position and opens the engine to continue the furthest.
    private func listAndOpen() async throws {
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
        // The engine takes room for its descriptors first: past the limit, this database waits, the open ones
        // go on.
        try shared.withEngine { [slowest] in try $0.open(remoteMaxTXID: remote, verifyAfter: slowest) }
        opened.store(true, ordering: .releasing)
        logger.info("replicating", metadata: [
            "db": "\(monitor.path)", "replicas": "\(configuration.replicas.map { "\($0.name)=\($0.client.location)" }.joined(separator: ", "))",
            "local": "\(shared.position)", "remote": "\(remote)",
        ])
    }

    /// `open()`, retried with backoff until it succeeds or the task is cancelled.
    private func openRetrying() async throws {
        var backoff = Backoff()
        while true {
            do { return try await open(gated: true) } catch {
                try Task.checkCancellation()
                shared.withEngine { $0.close() }
                // Out of descriptors: say so, rather than SQLite's "unable to open database file". The databases
                // already open are unaffected; this one retries with the backoff.
                let error = FileDescriptorLimit.explain(error, database: monitor.path)
                monitor.openFailed(error)
                backoff.failed()
                logger.error("cannot replicate database; retrying", metadata: [
                    "db": "\(monitor.path)", "error": "\(error)", "retryIn": "\(backoff.delay)",
                ])
                try await Task.sleep(for: backoff.remaining)
            }
        }
    }

    /// Syncs and uploads once. With `forceSnapshot`, also writes a level-9 snapshot to each replica.
    package func runOnce(forceSnapshot: Bool = false, enforceRetention: Bool = false) async throws {
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
    package func upload() async throws {
        try await onEngineThreads {
            for w in workers { try await w.upload(force: true) }
        }
    }

    /// Writes a level-9 snapshot of the current state to every replica.
    package func snapshot() async throws {
        try await onEngineThreads {
            for w in workers { try await w.snapshot() }
        }
    }

    /// Replicates until the service group shuts down gracefully, then syncs and uploads one last time (retrying a
    /// failing replica for up to `shutdownSyncTimeout`) and closes the database. Cancellation stops it at once,
    /// without the final sync: the next run resumes where this one stopped.
    ///
    /// Opens the database first (unless `open()` did): it waits for the database to be created, and retries with
    /// backoff while the database cannot be opened or no replica can be reached (`monitor.status().lastError` says
    /// why).
    ///
    /// - Throws: the error of a replica's final upload that still failed at the timeout.
    public func run() async throws {
        try await onEngineThreads {
            if !isOpen { try? await cancelWhenGracefulShutdown { try await self.openRetrying() } }
            guard isOpen else { return }
            defer { close() }
            let watcher = WALWatcher(walPath: shared.withEngine(\.walPath),
                pollInterval: min(configuration.minSyncInterval, .milliseconds(100)),
                maxPollInterval: configuration.monitorInterval, counters: monitor.wakeups)
            let workers = self.workers
            // Ends the sync loop's wait-out of the minimum interval: a sync request is served at once.
            let requests = WakeSignal()
            let wakeAll: @Sendable () -> Void = {
                watcher.signal()
                requests.signal()
                workers.forEach { $0.wake.signal() }
            }
            // A sync request (`sync -wait`) also wakes the uploaders, which may be waiting out a backoff.
            monitor.started(wake: wakeAll)
            onResumed.set { watcher.signal() }
            defer { onResumed.set(nil) }
            defer { monitor.stopped() }
            // The uploaders stop with the sync loop; their last uploads come after the final sync.
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    for w in workers {
                        group.addTask {
                            await w.run { Task.isShuttingDownGracefully || Task.isCancelled }
                        }
                    }
                    await self.syncLoop(watcher: watcher, requests: requests)
                }
            } onGracefulShutdown: { wakeAll() }
            guard !Task.isCancelled else { return }
            do { try await finalSync(skipUnchanged: true) } catch { logger.error("final sync failed", metadata: ["error": "\(error)"]) }
            try await finalUpload()
        }
    }

    /// Runs the engine's work on its own threads (see ``EngineExecutor``), off Swift concurrency's pool.
    private func onEngineThreads<T>(_ body: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(EngineExecutor.shared, operation: body)
    }

    private func syncLoop(watcher: WALWatcher, requests: WakeSignal) async {
        let stopping = { Task.isCancelled || Task.isShuttingDownGracefully }
        var lastSync = ContinuousClock.now - configuration.minSyncInterval
        var lastPrune = ContinuousClock.now
        var syncBackoff = Backoff()
        // Adaptive batching: wait out the minimum interval only while writes are sustained (the last sync wrote a
        // file). After an idle spell, or a sync that found only part of a commit, the next change syncs at once.
        var lastSyncWrote = false
        while !stopping() {
            let since = ContinuousClock.now - lastSync
            // Whether the WAL changed, or someone asked for a sync (false: a deadline passed).
            var changed = true
            if lastSyncWrote && since < configuration.minSyncInterval {
                // Sustained writes: the next sync comes after the interval whatever the WAL does, so nothing
                // listens to it meanwhile (the app's writes then cost it no notifications), and the loop wakes
                // once per sync, for the timer. Listening resumes before the sync: if that sync finds nothing,
                // the wait below hears every write that follows it.
                // A sync request (`sync -wait`, a durable write) or the shutdown ends the wait: batching is for
                // throughput, never a reason to make a caller wait.
                watcher.pause()
                if !monitor.hasPendingSyncRequest {
                    await requests.wait(timeout: configuration.minSyncInterval - since)
                }
                watcher.listen()
            } else {
                // Idle: nothing but a WAL change, a request or a deadline of this database's own ends the wait,
                // so an idle database costs no wake-up at all.
                changed = await watcher.wait(timeout: idleTimeout(backoff: syncBackoff, lastPrune: lastPrune))
            }
            monitor.wakeups.syncLoopWoke()
            if stopping() { break }
            // With its connections closed, a database is opened again for a WAL change or a retry, never for a
            // deadline of its own (pruning needs no connection).
            let skipSync = !changed && syncBackoff.delay == .zero && shared.isSuspended
            if !skipSync {
                lastSync = .now
                if syncBackoff.isWaiting { continue }
                let synced = await syncOnce(watcher: watcher, backoff: &syncBackoff, wrote: &lastSyncWrote)
                // The first sync (a database's first snapshot) is done: the next database may start.
                leaveStartGate()
                guard synced else { continue }
                if let delay = closeDelay() { shared.suspendIfIdle(for: delay) }
            }
            if ContinuousClock.now - lastPrune >= configuration.maintenance.l0RetentionCheckInterval {
                lastPrune = .now
                await pruneLocalL0(force: false)
            }
        }
    }

    /// One sync of the loop; false when it failed (logged, and the backoff moved on).
    private func syncOnce(watcher: WALWatcher, backoff syncBackoff: inout Backoff, wrote lastSyncWrote: inout Bool) async -> Bool {
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
            return true
        } catch {
            logger.error("sync failed", metadata: ["error": "\(FileDescriptorLimit.explain(error, database: monitor.path))"])
            lastSyncWrote = false
            syncBackoff.failed()
            return false
        }
    }

    /// How long the idle sync loop may sleep without a WAL change: until the interval checkpoint is due, a failed
    /// sync is retried, local L0 files may be pruned, or the connections may be closed (`closeIdleAfter`); nil
    /// (until the WAL changes) when none of those is pending.
    private func idleTimeout(backoff: Backoff, lastPrune: ContinuousClock.Instant) -> Duration? {
        let closeAfter = closeDelay()
        var timeout = shared.withEngine { e -> Duration? in
            guard let closeAfter, e.canSuspend else { return e.checkpointDue }
            let close = max(.milliseconds(10), closeAfter - (.now - e.lastActivity))
            return min(e.checkpointDue ?? close, close)
        }
        func atMost(_ d: Duration) { timeout = min(timeout ?? d, d) }
        if backoff.isWaiting { atMost(backoff.remaining) }
        // Pruning keeps the newest local file: with only that one there is nothing to prune until a write.
        if configuration.maintenance.l0Retention > .zero, ((try? shared.store.files().count) ?? 0) > 1 {
            atMost(max(.milliseconds(10), configuration.maintenance.l0RetentionCheckInterval - (.now - lastPrune)))
        }
        return timeout
    }

    /// How long this database stays open without a commit (nil: always): `closeIdleAfter`, or at most
    /// `crowdedCloseDelay` while more than `crowdedOpenDatabases` databases of the process are open (a start of
    /// thousands, or many active at once), so that the number open, and their memory, stays bounded.
    private func closeDelay() -> Duration? {
        guard let delay = configuration.closeIdleAfter else { return nil }
        return FileDescriptorLimit.openDatabaseCount > Self.crowdedOpenDatabases ? min(delay, Self.crowdedCloseDelay) : delay
    }

    /// See `closeDelay()`. 64 open databases hold about 500 descriptors and 16 MB.
    static let crowdedOpenDatabases = 64
    static let crowdedCloseDelay: Duration = .milliseconds(250)

    /// Final sync without a checkpoint, retried for up to `shutdownSyncTimeout`. A database whose connections
    /// are closed is synced only when its WAL changed since (thousands of idle tenants are not all opened to stop).
    private func finalSync(skipUnchanged: Bool = false) async throws {
        if skipUnchanged, !shared.withEngine(\.walChangedSinceSuspend) { return }
        let deadline = ContinuousClock.now + configuration.shutdownSyncTimeout
        while true {
            do {
                try shared.sync(checkpoint: false)
                return
            } catch {
                if ContinuousClock.now >= deadline { throw error }
                logger.warning("final sync failed; retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// Every replica's last upload, each retried until `shutdownSyncTimeout`. Throws the first failure.
    private func finalUpload() async throws {
        let deadline = ContinuousClock.now + configuration.shutdownSyncTimeout
        let failures = await withTaskGroup(of: (any Error)?.self) { group in
            for w in workers {
                group.addTask {
                    do { try await w.finalUpload(deadline: deadline) } catch { return error }
                    return nil
                }
            }
            var failures: [any Error] = []
            for await case let e? in group { failures.append(e) }
            return failures
        }
        if let first = failures.first { throw first }
    }

    private func close() {
        leaveStartGate()
        shared.withEngine { $0.close() }
        opened.store(false, ordering: .releasing)
    }

    /// Final sync and upload (for callers that use `runOnce` rather than `run`), then closes the engine.
    package func shutdown() async throws {
        try await onEngineThreads {
            guard isOpen else { return }
            defer { close() }
            try await finalSync()
            try await finalUpload()
        }
    }

    /// Removes local L0 files that every replica has uploaded and compacted into L1, once older than
    /// `l0Retention` (or at once with `force`). The newest file stays: it is the resume position.
    private func pruneLocalL0(force: Bool) async {
        let retention = configuration.maintenance.l0Retention.wholeMilliseconds
        guard retention > 0 || force else { return }
        var covered = TXID(UInt64.max)
        for w in workers {
            // A worker stopped for another writer never uploads again in this run: it holds no local file back.
            if await w.halted != nil { continue }
            let c = await w.compactedThrough
            let u = await w.position ?? .zero
            covered = min(covered, min(c, u))
        }
        let store = shared.store
        let now = POSIX.nowMilliseconds()
        shared.withEngine { [covered] e in
            guard let files = try? store.files() else { return }
            for f in files where f.max <= covered && f.max < e.position {
                let p = store.path(min: f.min, max: f.max)
                if !force, let mtime = POSIX.modificationTimeMilliseconds(p), now - mtime < retention { continue }
                try? store.remove(min: f.min, max: f.max)
            }
        }
    }
}
