import LitestreamSpawn
import Foundation
public import LTX
import LitestreamClient
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// Runs `litestream replicate` beside the app, in a child process of its own, and keeps it running.
///
/// Why a child process: a Vapor app on Fluent carries sqlite-nio's private copy of SQLite, and two SQLite copies
/// touching one database in one process drop each other's POSIX locks (docs/design.md). The child is the only
/// place this package opens the database.
///
/// As a `Service` (Hummingbird's `addServices`, any `ServiceGroup`; Vapor: `app.litestream`), it
/// - starts the child, holds its pid, and forwards its log lines into `logger` at their own levels;
/// - restarts it with exponential backoff when it dies, counting restarts, and gives up loudly after
///   ``Configuration-swift.struct/RestartPolicy-swift.struct/maximumRestarts`` within the window;
/// - on graceful shutdown (after the HTTP server stopped, when it is registered before it) stops the child with
///   SIGTERM, which makes it ship the last writes (a final sync), waiting at most
///   ``Configuration-swift.struct/shutdownTimeout``, then SIGKILL;
/// - never leaves an orphan: the child watches a pipe from this process and stops when the app is gone, even
///   after SIGKILL.
///
/// It throws from ``run()`` only for a configuration that cannot work (no `litestream` executable, an unwritable
/// temporary directory): a replicator that keeps dying is reported (``SupervisorStatus/State-swift.enum/failed``,
/// a `critical` log line) but never takes the app down.
public final class ReplicationSupervisor: Service, Sendable {
    public let configuration: Configuration
    let logger: Logger
    let metrics: SupervisorMetrics
    let stopSignal = StopSignal()
    let state = Mutex(SupervisorState())
    /// One verification per database at a time.
    let verifications = KeyedSerialization()

    /// How long a cancelled supervisor (its task cancelled, not gracefully shut down) lets the child's final sync
    /// run before SIGKILL: cancellation means "quickly", but a few seconds usually ship the last commit.
    static let cancellationTimeout: Duration = .seconds(5)

    public init(configuration: Configuration, logger: Logger = Logger(label: "litestream")) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = SupervisorMetrics()
    }

    /// With a metrics backend of the caller's own instead of the bootstrapped one (tests).
    init(configuration: Configuration, logger: Logger = Logger(label: "litestream"), metricsFactory: any MetricsFactory) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = SupervisorMetrics(factory: metricsFactory)
    }

    /// Runs and supervises the child until graceful shutdown or cancellation.
    ///
    /// - Throws: ``SupervisorError`` `.executableNotFound` when there is no `litestream` to run (the message says
    ///   where it looked and how to build one), `.invalidConfiguration` when the private directory or the
    ///   generated configuration cannot be written, or when `run()` is called a second time.
    public func run() async throws {
        let first = state.withLock { s in
            defer { s.hasRun = true }
            return !s.hasRun
        }
        guard first else {
            throw SupervisorError(.invalidConfiguration, "ReplicationSupervisor.run() was called twice; make one supervisor per run")
        }
        defer { state.withLock { $0.runtime = nil } }
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await runUntilStopped()
            } onCancel: {
                self.requestStop(.cancelled)
            }
        } onGracefulShutdown: {
            self.requestStop(.graceful)
        }
    }

    private func runUntilStopped() async throws {
        guard configuration.isEnabled else {
            return await idle("litestream: replication is switched off (isEnabled = false); not replicating")
        }
        let environment = ChildEnvironment.make(for: configuration)
        if configuration.configPath == nil {
            let hasReplica = configuration.databases.contains { !$0.replicas.isEmpty }
                || !(environment["LITESTREAM_REPLICA_BUCKET"] ?? "").isEmpty
            guard !configuration.databases.isEmpty, hasReplica else {
                return await idle(configuration.databases.isEmpty
                    ? "litestream: no database configured, not replicating; list the app's databases and a bucket "
                        + "(or LITESTREAM_REPLICA_BUCKET) or replica URLs to enable it"
                    : "litestream: no replica configured, not replicating; set bucket (or LITESTREAM_REPLICA_BUCKET) "
                        + "or a replica URL for each database to enable it")
            }
        }
        let executable: String
        do {
            executable = try ExecutableLocator.find(configured: configuration.executablePath, environment: environment)
        } catch {
            state.withLock {
                $0.status.state = .failed
                $0.status.lastError = "\(error)"
            }
            logger.critical("litestream: cannot start replication", metadata: ["error": "\(error)"])
            throw error
        }
        let directory = try PrivateDirectory.create(environment: environment)
        defer { directory.remove() }
        let socketPath = configuration.socketPath ?? directory.file("litestream.sock")
        let configPath: String
        if let given = configuration.configPath {
            configPath = given
        } else {
            // Checked above: some database has a replica, so there is a file to write.
            guard let file = try ChildConfigurationFile.make(
                databases: configuration.databases, environment: environment, socketPath: socketPath,
                shutdownSyncTimeout: Self.childShutdownSyncTimeout(configuration.shutdownTimeout))
            else { return }
            for path in file.skipped {
                logger.warning("litestream: database has no replica and is not replicated", metadata: ["db": "\(path)"])
            }
            configPath = try directory.write(file.yaml, to: "litestream.yml")
        }
        let runtime = Runtime(
            executable: executable, environment: environment, configPath: configPath, socketPath: socketPath)
        state.withLock { $0.runtime = runtime }
        await supervise(runtime)
        state.withLock { s in
            if s.status.state != .failed { s.status.state = .stopped }
            s.status.pid = nil
        }
    }

    /// The child's own limit for its final sync: a little inside the supervisor's, so that the child gives up,
    /// says so and exits by itself before the supervisor would have to kill it.
    static func childShutdownSyncTimeout(_ shutdownTimeout: Duration) -> Duration {
        shutdownTimeout > .seconds(4) ? shutdownTimeout - .seconds(2) : shutdownTimeout * 0.5
    }

    /// Nothing to run: says so once and waits for the app to stop.
    private func idle(_ line: String) async {
        state.withLock { $0.status.state = .disabled }
        logger.notice("\(line)")
        _ = await stopSignal.wait(upTo: nil)
    }

    // MARK: - Supervision

    /// Starts the child, waits for it, restarts it after a backoff when it dies; returns once a stop was requested
    /// and the child is gone.
    private func supervise(_ runtime: Runtime) async {
        var schedule = RestartSchedule(policy: configuration.restartPolicy)
        while stopSignal.requested == nil {
            let began = ContinuousClock.now
            let exit = await runChild(runtime)
            if stopSignal.requested != nil { break }
            guard let delay = schedule.delay(afterRunOf: .now - began) else {
                let policy = configuration.restartPolicy
                let message = "the replicator died \(policy.maximumRestarts + 1) times within \(policy.window)"
                    + (exit.map { "; last: \($0)" } ?? "") + "; replication is stopped until the app restarts"
                state.withLock { s in
                    s.status.state = .failed
                    s.status.lastError = message + (s.status.lastError.map { " (last error: \($0))" } ?? "")
                }
                logger.critical("litestream: giving up: \(message)")
                _ = await stopSignal.wait(upTo: nil)
                return
            }
            let restarts = state.withLock { s in
                s.status.state = .restarting
                s.status.restarts += 1
                return s.status.restarts
            }
            metrics.restarted()
            logger.warning(
                "litestream: restarting the replicator",
                metadata: ["restart": "\(restarts)", "backoff": "\(delay)"])
            if await stopSignal.wait(upTo: delay) != nil { break }
        }
    }

    /// One life of the child: spawn, wait until its socket answers (running), wait for its exit. Returns how it
    /// ended; nil if it could not be started.
    private func runChild(_ runtime: Runtime) async -> ExitStatus? {
        state.withLock { s in
            s.status.state = .starting
            s.status.pid = nil
        }
        let forwarder = ChildLogForwarder(logger: logger) { [self] message in
            state.withLock { $0.status.lastError = message }
        }
        var environment = runtime.environment
        environment["LITESTREAM_SOCKET"] = runtime.socketPath
        environment["LITESTREAM_SUPERVISOR_PID"] = "\(getpid())"
        // Also for a configuration file of the app's own: the child's final sync ends before the SIGKILL.
        environment["LITESTREAM_SHUTDOWN_SYNC_TIMEOUT"] =
            GoDuration.format(Self.childShutdownSyncTimeout(configuration.shutdownTimeout))
        let child: ChildProcess
        do {
            child = try await ChildProcess.spawn(.init(
                executable: runtime.executable, arguments: ["replicate", "-config", runtime.configPath],
                environment: environment,
                standardIO: .captured { pid, stream, line in forwarder.forward(pid: pid, stream: stream, line: line) },
                ownProcessGroup: true, lifeline: true))
        } catch {
            state.withLock { $0.status.lastError = "\(error)" }
            logger.error("litestream: cannot start the replicator", metadata: ["error": "\(error)"])
            return nil
        }
        // Published under the lock, then the stop request is checked: `requestStop` records the request first and
        // then looks for a child under the same lock, so a stop that raced with the spawn is seen by one of them.
        state.withLock { s in
            s.child = child
            s.status.pid = child.pid
            s.status.startedAt = child.startedAt
        }
        if let kind = stopSignal.requested { stop(child, kind) }
        logger.info(
            "litestream: replicator started",
            metadata: ["pid": "\(child.pid)", "executable": "\(runtime.executable)", "config": "\(runtime.configPath)"])

        let status = await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.markRunningWhenAnswering(child, socketPath: runtime.socketPath) }
            let status = await child.exitStatus()
            group.cancelAll()
            return status
        }
        metrics.childIsUp(false)
        let stopping = stopSignal.requested != nil
        let lastError = state.withLock { s in
            s.child = nil
            s.status.pid = nil
            s.status.lastExit = status.description
            return s.status.lastError
        }
        if stopping {
            logger.info("litestream: replicator stopped", metadata: ["pid": "\(child.pid)", "exit": "\(status)"])
        } else {
            var metadata: Logger.Metadata = ["pid": "\(child.pid)", "exit": "\(status)"]
            if let lastError { metadata["lastError"] = "\(lastError)" }
            logger.error("litestream: replicator exited unexpectedly", metadata: metadata)
        }
        return status
    }

    /// Polls the control socket until the child answers there (state `running`), it exits, or the task is
    /// cancelled. The answer must come from this child (its pid), not from another replicator on the same path.
    private func markRunningWhenAnswering(_ child: ChildProcess, socketPath: String) async {
        let client = ControlClient(socketPath: socketPath, timeout: .seconds(2))
        let began = ContinuousClock.now
        var warned = false
        while !Task.isCancelled && !child.hasExited {
            if let info = try? await client.info(), info.pid == child.pid {
                let became = state.withLock { s in
                    guard s.child === child, s.status.state == .starting else { return false }
                    s.status.state = .running
                    return true
                }
                if became {
                    metrics.childIsUp(true)
                    logger.info("litestream: replicator running", metadata: ["pid": "\(child.pid)", "socket": "\(socketPath)"])
                }
                return
            }
            let waited = ContinuousClock.now - began
            if !warned && waited > .seconds(30) {
                warned = true
                logger.warning(
                    "litestream: the replicator runs but does not answer on its control socket",
                    metadata: ["pid": "\(child.pid)", "socket": "\(socketPath)"])
            }
            try? await Task.sleep(for: waited < .seconds(5) ? .milliseconds(50) : .seconds(1))
        }
    }

    // MARK: - Stopping

    /// A stop request, from the graceful-shutdown handler or task cancellation (both synchronous callbacks).
    func requestStop(_ kind: StopSignal.Kind) {
        stopSignal.request(kind)
        if let child = state.withLock({ $0.child }) { stop(child, kind) }
    }

    /// SIGTERM now (the child's final sync), SIGKILL if it still runs after the allowed time. The waiting
    /// thread reaps it either way.
    private func stop(_ child: ChildProcess, _ kind: StopSignal.Kind) {
        let allowed = kind == .graceful
            ? configuration.shutdownTimeout : min(configuration.shutdownTimeout, Self.cancellationTimeout)
        if !child.hasExited {
            logger.info(
                "litestream: stopping the replicator (final sync)",
                metadata: ["pid": "\(child.pid)", "timeout": "\(allowed)"])
        }
        child.terminate()
        let logger = self.logger
        // The deadline holds whatever happens to the task that asked for the stop (it may be cancelled right
        // after) and however busy the app is; nothing happens if the child exits first.
        child.killUnlessExited(after: allowed) {
            logger.error(
                "litestream: the replicator did not stop in time; killed",
                metadata: ["pid": "\(child.pid)", "timeout": "\(allowed)"])
        }
    }

    // MARK: - Status

    /// The supervisor's state alone, without asking the child (cheap, synchronous).
    var currentState: SupervisorStatus.State { state.withLock { $0.status.state } }

    /// The supervisor's state and, while the child runs, every database's replication status.
    ///
    /// When the child does not answer its control socket (within 2 s), `databases` is empty and `lastError` says
    /// why.
    public func status() async -> SupervisorStatus {
        let (snapshot, socketPath) = state.withLock { ($0.status, $0.runtime?.socketPath) }
        guard snapshot.state == .running, let socketPath else { return snapshot }
        var status = snapshot
        do {
            status.databases = try await ControlClient(socketPath: socketPath, timeout: .seconds(2)).list()
        } catch {
            status.lastError = "replication status unavailable: \(error)"
        }
        return status
    }

    /// Makes a commit durable: syncs `database` now and, with `waitForReplicas`, returns only once every replica
    /// holds it. Put it after a critical commit (a payment, a signup). While the replicator is still starting or
    /// restarting, or opening the database, it waits for that too, within the same `timeout`.
    ///
    /// - Parameters:
    ///   - database: the database file (relative paths against the app's working directory).
    ///   - waitForReplicas: wait until every replica holds the synced TXID (else only the local sync).
    ///   - timeout: how long the replicas may take.
    /// - Returns: the TXID the replicas hold.
    /// - Throws: ``SupervisorError`` `.timeout` when the replicas did not catch up within `timeout`,
    ///   `.notRunning` when the replicator is down, `.invalidConfiguration` when it does not replicate
    ///   `database`.
    @discardableResult
    public func sync(_ database: String, waitForReplicas: Bool = true, timeout: Duration = .seconds(10)) async throws -> TXID {
        let path = ControlClient.absolutePath(database)
        let deadline = ContinuousClock.now + timeout
        // A replicator that is starting or restarting is waited for, within the timeout: a critical commit right
        // after the app booted is shipped as soon as it runs, rather than refused.
        var (current, socketPath) = state.withLock { ($0.status.state, $0.runtime?.socketPath) }
        while current == .starting || current == .restarting, ContinuousClock.now + Self.startRetryInterval < deadline {
            try await Task.sleep(for: Self.startRetryInterval)
            (current, socketPath) = state.withLock { ($0.status.state, $0.runtime?.socketPath) }
        }
        guard current == .running, let socketPath else {
            throw SupervisorError(.notRunning, "cannot sync \(path): the replicator is not running (\(current.rawValue))")
        }
        // The request's own allowance on top of the server's wait: a hung server must not hang the app.
        let client = ControlClient(socketPath: socketPath, timeout: .seconds(5))
        while true {
            do {
                let remaining = max(.milliseconds(1), deadline - .now)
                return try await client.sync(path: path, wait: waitForReplicas, timeout: remaining).first?.txid ?? .zero
            } catch ControlClient.Failure.server(409, _) where ContinuousClock.now + Self.startRetryInterval < deadline {
                // 409: the child knows the database but its replication is not running yet (it answers on its
                // socket while it still opens the databases, right after a start or restart). A commit made then
                // is shipped as soon as it runs: wait for that, within the same timeout.
                try await Task.sleep(for: Self.startRetryInterval)
            } catch let failure as ControlClient.Failure {
                throw Self.syncError(failure, path: path, timeout: timeout)
            }
        }
    }

    /// How often `sync` looks again while the replicator or the database's replication is still starting.
    static let startRetryInterval: Duration = .milliseconds(50)

    static func syncError(_ failure: ControlClient.Failure, path: String, timeout: Duration) -> SupervisorError {
        switch failure {
        case .server(504, let message):
            return SupervisorError(.timeout, "sync of \(path) did not reach every replica within \(timeout): \(message)")
        case .server(404, let message):
            return SupervisorError(.invalidConfiguration, "\(path) is not replicated by this supervisor: \(message)")
        case .server(409, let message):
            return SupervisorError(.notRunning, "cannot sync \(path): \(message)")
        case .server(let status, let message):
            return SupervisorError(.commandFailed, "sync of \(path) failed (\(status)): \(message)")
        case .unreachable(_, let reason) where reason.hasPrefix("no answer within"):
            return SupervisorError(.timeout, "sync of \(path): the replicator did not answer in time", cause: failure)
        case .unreachable:
            return SupervisorError(.notRunning, "cannot sync \(path): the replicator is not reachable", cause: failure)
        case .invalidResponse:
            return SupervisorError(.commandFailed, "sync of \(path) failed", cause: failure)
        }
    }
}

/// What `run()` set up for its child, and what `status`, `sync` and the commands reuse while it runs.
struct Runtime: Sendable {
    var executable: String
    /// The child's environment, before the per-child variables (socket, lifeline, pid).
    var environment: [String: String]
    var configPath: String
    var socketPath: String
}

/// The supervisor's mutable state, behind its one lock.
struct SupervisorState: Sendable {
    /// `starting` from the outset: an app may call `sync` before its `ServiceGroup` got to `run()`, and that call
    /// should wait for the replicator like one made while the child starts.
    var status = SupervisorStatus(state: .starting)
    var child: ChildProcess?
    var runtime: Runtime?
    var hasRun = false
}
