public import LitestreamClient

/// What the app can read about its replicator: the supervisor's own state and, while the child runs, the
/// replication status of every database (``ReplicationStatus``, as `litestream status -json` prints it).
public struct SupervisorStatus: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        /// Replication is switched off, or no replica is configured.
        case disabled
        /// The child is starting (or restarting after a backoff) and has not answered on its socket yet.
        case starting
        case running
        /// The child died and the supervisor waits out its backoff.
        case restarting
        /// Too many restarts within the window: the supervisor gave up (see ``lastError``).
        case failed
        case stopped
    }

    public var state: State
    /// The child's pid, while it runs.
    public var pid: Int32?
    /// Restarts since the supervisor started.
    public var restarts: Int
    /// When the current child started (Unix milliseconds).
    public var startedAt: Int64?
    /// How the last child ended ("exit status 1", "killed by signal 9"), if one did.
    public var lastExit: String?
    /// The last problem the supervisor saw (the child's last error line, a spawn failure, ...).
    public var lastError: String?
    /// Per database and replica: TXIDs, lag, last sync, last upload, last error. Empty while the child is down.
    public var databases: [ReplicationStatus]

    public init(state: State, pid: Int32? = nil, restarts: Int = 0, startedAt: Int64? = nil, lastExit: String? = nil,
                lastError: String? = nil, databases: [ReplicationStatus] = []) {
        self.state = state
        self.pid = pid
        self.restarts = restarts
        self.startedAt = startedAt
        self.lastExit = lastExit
        self.lastError = lastError
        self.databases = databases
    }
}
