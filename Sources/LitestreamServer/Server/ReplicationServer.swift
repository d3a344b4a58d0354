import LitestreamConfig
public import LitestreamClient
public import LitestreamCore
public import Logging
public import ServiceLifecycle
import Synchronization

/// Replicates several databases at once, each with its own `Replicator` (a config file's `dbs`, or the databases
/// found in watched directories), and lets a supervisor or the control socket add, remove, stop, start and sync
/// them while it runs. A `Service`: its graceful shutdown gives every database its final sync.
///
/// One failing database never stops the others: a database that cannot be opened is retried with backoff, and its
/// status says why.
public final class ReplicationServer: Service, Sendable {
    private struct Entry {
        var replicator: Replicator
        /// Runs the replicator: a group of its own, so that its graceful shutdown stops this database alone. The
        /// server's graceful shutdown reaches it too (a group inherits the graceful shutdown of the task it runs in).
        var group: ServiceGroup
        var running: Bool
    }

    private let logger: Logger
    private let entries = Mutex<[String: Entry]>([:])
    /// Groups of registered databases, to start.
    private let started: AsyncStream<(key: String, group: ServiceGroup)>
    private let startSink: AsyncStream<(key: String, group: ServiceGroup)>.Continuation
    /// Called with each database's result when its replication ends (for tests and supervisors).
    private let onStopped: @Sendable (String, (any Error)?) -> Void

    /// Replicates nothing until databases are registered and `run()` runs.
    ///
    /// - Parameters:
    ///   - logger: where the replicators report what they do.
    ///   - onStopped: called with each database's path and result (the error of its last upload, if it failed) when
    ///     its replication ends.
    public init(logger: Logger = Logger(label: "litestream"),
                onStopped: @escaping @Sendable (String, (any Error)?) -> Void = { _, _ in }) {
        self.logger = logger
        self.onStopped = onStopped
        (started, startSink) = AsyncStream.makeStream()
    }

    /// The status of every database, in path order.
    public func statuses() -> [ReplicationStatus] {
        entries.withLock { e in
            e.sorted { $0.key < $1.key }.map { _, entry in
                var s = entry.replicator.monitor.status()
                if !entry.running { s.lastError = s.lastError ?? "stopped" }
                return s
            }
        }
    }

    /// The paths of the databases the server knows, running or stopped.
    public var databasePaths: [String] { entries.withLock { $0.keys.sorted() } }

    /// Whether the server knows the database at this absolute path, running or stopped (one lookup, no listing).
    public func isRegistered(path: String) -> Bool {
        entries.withLock { $0[path] != nil }
    }

    /// The monitor of a database (for `sync`), by path.
    public func monitor(for path: String) -> ReplicationMonitor? {
        entries.withLock { $0[absolutePath(path)]?.replicator.monitor }
    }

    /// Starts replicating a database (again), at once if the server runs, else when it starts. False if it is
    /// already running.
    @discardableResult
    public func register(_ configuration: Replicator.Configuration) -> Bool {
        let key = absolutePath(configuration.database.path)
        let replicator = Replicator(configuration: configuration, logger: logger)
        let group = ServiceGroup(services: [replicator], logger: logger)
        let added = entries.withLock { e -> Bool in
            if let existing = e[key], existing.running { return false }
            e[key] = Entry(replicator: replicator, group: group, running: true)
            return true
        }
        if added { startSink.yield((key, group)) }
        return added
    }

    /// Stops replicating a database (after its final sync) and forgets it.
    @discardableResult
    public func unregister(path: String) async -> Bool {
        let group = entries.withLock { $0.removeValue(forKey: absolutePath(path))?.group }
        await group?.triggerGracefulShutdown()
        return group != nil
    }

    /// Stops replicating a database (after its final sync) but keeps it listed, so `start` can resume it.
    @discardableResult
    public func stop(path: String) async -> Bool {
        let group = entries.withLock { e -> ServiceGroup? in
            guard var entry = e[absolutePath(path)], entry.running else { return nil }
            entry.running = false
            e[absolutePath(path)] = entry
            return entry.group
        }
        await group?.triggerGracefulShutdown()
        return group != nil
    }

    /// Resumes a stopped database.
    @discardableResult
    public func start(path: String) -> Bool {
        guard let config = entries.withLock({ e -> Replicator.Configuration? in
            guard let entry = e[absolutePath(path)], !entry.running else { return nil }
            return entry.replicator.configuration
        }) else { return false }
        return register(config)
    }

    /// Replicates the registered databases, and those registered later, until the service group shuts down
    /// gracefully; then every database does its final sync and upload, and this returns.
    public func run() async {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                for await (key, database) in started {
                    group.addTask { await self.replicate(key, database) }
                }
            } onGracefulShutdown: { [startSink] in startSink.finish() }
        }
    }

    private func replicate(_ key: String, _ group: ServiceGroup) async {
        var result: (any Error)?
        do { try await group.run() } catch { result = error }
        entries.withLock { e in
            if e[key]?.group === group { e[key]?.running = false }
        }
        onStopped(key, result)
    }
}
