public import LTX
public import LitestreamClient
public import Logging
public import ServiceLifecycle

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
public final class ReplicationSupervisor: Service, Sendable {
    public let configuration: Configuration
    let logger: Logger

    public init(configuration: Configuration, logger: Logger = Logger(label: "litestream")) {
        self.configuration = configuration
        self.logger = logger
        fatalError("skeleton")
    }

    /// Runs and supervises the child until graceful shutdown or cancellation.
    public func run() async throws {
        fatalError("skeleton")
    }

    /// The supervisor's state and, while the child runs, every database's replication status.
    public func status() async -> SupervisorStatus {
        fatalError("skeleton")
    }

    /// Makes a commit durable: syncs `database` now and, with `waitForReplicas`, returns only once every replica
    /// holds it. Put it after a critical commit (a payment, a signup).
    ///
    /// - Returns: the TXID the replicas hold.
    /// - Throws: ``SupervisorError`` `.timeout` when the replicas did not catch up within `timeout`,
    ///   `.notRunning` when the replicator is down.
    @discardableResult
    public func sync(_ database: String, waitForReplicas: Bool = true, timeout: Duration = .seconds(10)) async throws -> TXID {
        fatalError("skeleton")
    }

    /// Restore on boot, then WAL mode. Call it before the app opens its databases (in `configure`, before Fluent or
    /// GRDB opens a connection). For every database: if the file is missing and a replica has a backup, restores it
    /// (into a temporary file, checked, then moved into place); then puts the database into WAL mode if it is not
    /// (once, logged). It never touches a database that exists: safe in a restart loop and when a second instance
    /// starts while the first still writes.
    public func prepareDatabases() async throws -> [PreparedDatabase] {
        fatalError("skeleton")
    }

    /// Proves the backup restores: writes a sentinel row (table `_litestream_verification`), waits until the
    /// replicas hold it (through the status, no fixed sleep), restores into a temporary directory, and checks the
    /// sentinel and `integrity_check`.
    public func verify(_ database: String, timeout: Duration = .seconds(60)) async -> VerificationResult {
        fatalError("skeleton")
    }

    /// Runs a `litestream` command (`restore`, `status`, `ltx`, ...) with this configuration, its output and
    /// exit code untouched; for the app's own command line. Arguments are passed exactly as given.
    /// - Returns: the command's exit status.
    public func runCommand(_ arguments: [String]) async throws -> Int32 {
        fatalError("skeleton")
    }
}

/// What ``ReplicationSupervisor/prepareDatabases()`` did to one database.
public struct PreparedDatabase: Sendable, Equatable {
    public enum Action: String, Sendable {
        /// The file was missing and was restored from a replica.
        case restored
        /// The file was missing and no replica has a backup: the app starts with a new database.
        case noBackup
        /// The file exists: left as it is (apart from WAL mode).
        case exists
    }

    public var path: String
    public var action: Action
    /// The database was switched to WAL mode (it was in another journal mode).
    public var switchedToWAL: Bool

    public init(path: String, action: Action, switchedToWAL: Bool) {
        self.path = path
        self.action = action
        self.switchedToWAL = switchedToWAL
    }
}

/// The outcome of ``ReplicationSupervisor/verify(_:timeout:)``; `litestream verify` exits 0, 1 or 3 for them.
public enum VerificationResult: Sendable, Equatable {
    /// The sentinel was restored from the replicas and the restored database passed `integrity_check`.
    case verified
    /// The backup is not usable: the reason says why (replica unreachable, sentinel missing, corrupt restore).
    case failed(reason: String)
    /// Replication lagged past the timeout: nothing is proven either way.
    case inconclusive(reason: String)
}
