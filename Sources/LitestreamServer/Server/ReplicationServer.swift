import LitestreamClient
import LitestreamCore
import Logging
import Synchronization

/// Replicates several databases at once, each in its own task (a config file's `dbs`, or the databases found in
/// watched directories), and lets a supervisor or the control socket add, remove, stop, start and sync them
/// while it runs.
///
/// One failing database never stops the others: a database whose replicator fails to open is retried with
/// backoff, and its status says why.
public final class ReplicationServer: Sendable {
    /// Something added to the server while it runs.
    private enum Command: Sendable {
        case start(Replicator.Configuration)
    }

    private struct Entry {
        var configuration: Replicator.Configuration
        var monitor: ReplicationMonitor?
        var stop: ShutdownTrigger
        var running: Bool
        var openError: String?
    }

    private let logger: Logger
    private let entries = Mutex<[String: Entry]>([:])
    private let commands: AsyncStream<Command>
    private let commandSink: AsyncStream<Command>.Continuation
    private let finished = ShutdownTrigger()
    /// Called with each database's result when its replication ends (for tests and supervisors).
    private let onStopped: @Sendable (String, (any Error)?) -> Void

    public init(logger: Logger = Logger(label: "litestream"),
                onStopped: @escaping @Sendable (String, (any Error)?) -> Void = { _, _ in }) {
        self.logger = logger
        self.onStopped = onStopped
        (commands, commandSink) = AsyncStream.makeStream(of: Command.self)
    }

    /// The status of every database, in path order.
    public func statuses() -> [ReplicationStatus] {
        entries.withLock { e in
            e.values.sorted { $0.configuration.database.path < $1.configuration.database.path }.map { entry in
                var s = entry.monitor?.status()
                    ?? ReplicationStatus(path: absolutePath(entry.configuration.database.path),
                        replicas: entry.configuration.replicas.map {
                            ReplicaStatus(name: $0.name, type: $0.client.type, location: $0.client.location)
                        })
                if !entry.running { s.lastError = s.lastError ?? "stopped" }
                if let o = entry.openError { s.lastError = o }
                return s
            }
        }
    }

    /// The paths of the databases the server knows, running or stopped.
    public var databasePaths: [String] { entries.withLock { $0.keys.sorted() } }

    /// The monitor of a running database (for `sync`), by path.
    public func monitor(for path: String) -> ReplicationMonitor? {
        entries.withLock { $0[absolutePath(path)]?.monitor }
    }

    /// Starts replicating a database (again). False if it is already running.
    @discardableResult
    public func register(_ configuration: Replicator.Configuration) -> Bool {
        let key = absolutePath(configuration.database.path)
        let added = entries.withLock { e -> Bool in
            if let existing = e[key], existing.running { return false }
            e[key] = Entry(configuration: configuration, monitor: nil, stop: ShutdownTrigger(), running: true)
            return true
        }
        if added { commandSink.yield(.start(configuration)) }
        return added
    }

    /// Stops replicating a database (after its final sync) and forgets it.
    @discardableResult
    public func unregister(path: String) -> Bool {
        let stop = entries.withLock { $0.removeValue(forKey: absolutePath(path))?.stop }
        stop?.trigger()
        return stop != nil
    }

    /// Stops replicating a database (after its final sync) but keeps it listed, so `start` can resume it.
    @discardableResult
    public func stop(path: String) -> Bool {
        let stop = entries.withLock { e -> ShutdownTrigger? in
            guard var entry = e[absolutePath(path)], entry.running else { return nil }
            entry.running = false
            e[absolutePath(path)] = entry
            return entry.stop
        }
        stop?.trigger()
        return stop != nil
    }

    /// Resumes a stopped database.
    @discardableResult
    public func start(path: String) -> Bool {
        guard let config = entries.withLock({ e -> Replicator.Configuration? in
            guard let entry = e[absolutePath(path)], !entry.running else { return nil }
            return entry.configuration
        }) else { return false }
        return register(config)
    }

    /// Replicates `databases` and whatever is registered later, until `shutdown` triggers; then every database
    /// does its final sync and upload and this returns.
    public func run(databases: [Replicator.Configuration], until shutdown: ShutdownTrigger) async {
        for d in databases { register(d) }
        shutdown.onTrigger { [commandSink] in commandSink.finish() }
        await withTaskGroup(of: Void.self) { group in
            for await command in commands {
                switch command {
                case .start(let configuration):
                    group.addTask { await self.replicate(configuration, shutdown: shutdown) }
                }
            }
            // Shutdown: stop every database; each finishes its final sync.
            let stops = entries.withLock { $0.values.map(\.stop) }
            stops.forEach { $0.trigger() }
            await group.waitForAll()
        }
    }

    private func replicate(_ configuration: Replicator.Configuration, shutdown: ShutdownTrigger) async {
        let key = absolutePath(configuration.database.path)
        guard let stop = entries.withLock({ $0[key]?.stop }) else { return }
        shutdown.onTrigger { stop.trigger() }
        var backoff = Backoff()
        var result: (any Error)?
        while !stop.isTriggered {
            let replicator = Replicator(configuration: configuration, logger: logger)
            entries.withLock { $0[key]?.monitor = replicator.monitor }
            do {
                try await replicator.open(until: stop)
                entries.withLock { $0[key]?.openError = nil }
                try await replicator.run(until: stop)
                result = nil
                break
            } catch {
                result = error
                entries.withLock { $0[key]?.openError = "\(error)" }
                backoff.failed()
                logger.error("cannot replicate database; retrying", metadata: [
                    "db": "\(key)", "error": "\(error)", "retryIn": "\(backoff.delay)",
                ])
                let wake = WakeSignal()
                stop.onTrigger { wake.signal() }
                await wake.wait(timeout: backoff.remaining)
            }
        }
        entries.withLock { e in
            if e[key]?.stop === stop { e[key]?.running = false }
        }
        onStopped(key, result)
    }
}
