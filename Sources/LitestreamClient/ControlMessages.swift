public import LTX

/// The JSON bodies of the control socket (`litestream info`, `list`, `sync`, …). Stable shapes, documented in
/// docs/status.md; times are Unix milliseconds and TXIDs 16 hex digits, as in `ReplicationStatus`.

/// `GET /info`.
public struct ControlInfo: Sendable, Equatable, Codable {
    public var version: String
    public var pid: Int32
    /// When the server started, Unix ms.
    public var startedAt: Int64
    /// The config file the server was started with, if any.
    public var configPath: String?
    /// The socket path the server listens on.
    public var socketPath: String
    /// How many databases the server knows (running or stopped).
    public var databases: Int

    public init(version: String, pid: Int32, startedAt: Int64, configPath: String?, socketPath: String, databases: Int) {
        self.version = version
        self.pid = pid
        self.startedAt = startedAt
        self.configPath = configPath
        self.socketPath = socketPath
        self.databases = databases
    }
}

/// `POST /sync`: the local TXID after the sync (and, with `wait`, on every replica).
public struct ControlSyncResult: Sendable, Equatable, Codable {
    public var path: String
    public var txid: TXID

    public init(path: String, txid: TXID) {
        self.path = path
        self.txid = txid
    }
}

/// `POST /start`, `/stop`, `/register`, `/unregister`: what happened to which database.
public struct ControlActionResult: Sendable, Equatable, Codable {
    public var path: String
    /// `started`, `stopped`, `registered` or `unregistered`.
    public var status: String

    public init(path: String, status: String) {
        self.path = path
        self.status = status
    }
}

/// `POST /register` body.
public struct ControlRegisterRequest: Sendable, Equatable, Codable {
    public var path: String
    /// The replica URL (`file:///…`, `s3://…`); nil lets the server decide (e.g. from its config file).
    public var replica: String?

    public init(path: String, replica: String?) {
        self.path = path
        self.replica = replica
    }
}

/// Every error response: `{"error": "..."}`.
public struct ControlErrorBody: Sendable, Equatable, Codable {
    public var error: String
    public init(error: String) { self.error = error }
}
