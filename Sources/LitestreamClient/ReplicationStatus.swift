public import LTX

/// Where one database and each of its replicas stand: what `litestream status`, the control socket and the
/// metrics report. A value type, safe to hand to any task.
///
/// JSON shape (stable; TXIDs as 16 hex digits as Litestream prints them, times as Unix milliseconds):
/// `{"path": "...", "localTXID": "0000000000000012", "replicas": [{"name": "s3", "type": "s3", "location": "...",
/// "txid": "0000000000000010", "lagSeconds": 1.5, "lagBytes": 8192, "pendingFiles": 2, "lastUploadAt": ...,
/// "lastError": null, "lastErrorAt": null, "requests": {"put": 12, "get": 0, "list": 3, "delete": 1, "head": 0}}]}`.
/// Fields added later (`requests`) are optional, so JSON from an older version still decodes.
public struct ReplicationStatus: Sendable, Equatable, Codable {
    /// The database path.
    public var path: String
    /// The newest TXID written locally (zero before the first sync).
    public var localTXID: TXID
    /// When the last local sync finished, Unix ms (nil before the first).
    public var lastSyncAt: Int64?
    /// The last sync error, cleared by a successful sync.
    public var lastError: String?
    /// Syncs that wrote something or found nothing to write, since this replication started (a counter).
    public var syncCount: Int64 = 0
    /// Syncs that failed, since this replication started (a counter).
    public var syncErrorCount: Int64 = 0
    /// Checkpoints run by the replicator since it started, and the time they took in all.
    public var checkpointCount: Int64 = 0
    public var checkpointSeconds: Double = 0
    /// The last thing that happened to the database that an operator should know of, though replication went on
    /// (its file was replaced and the new one is replicated from a full snapshot), and when (Unix ms). Nil until
    /// then, and in JSON from older versions.
    public var lastEvent: String?
    public var lastEventAt: Int64?
    /// True while the database is idle with its SQLite connections closed (`closeIdleAfter`, directory mode): it
    /// holds no descriptor, and its next commit opens them again. Nil while they are open, and in JSON from older
    /// versions.
    public var connectionsClosed: Bool?
    public var replicas: [ReplicaStatus]

    public init(path: String, localTXID: TXID = .zero, replicas: [ReplicaStatus] = []) {
        self.path = path
        self.localTXID = localTXID
        self.replicas = replicas
    }

    /// The largest lag of any replica, in seconds.
    public var maxLagSeconds: Double { replicas.map(\.lagSeconds).max() ?? 0 }
}

/// One replica's position and health.
public struct ReplicaStatus: Sendable, Equatable, Codable {
    /// The replica's name in the configuration (`file`, `s3`, …, unique per database).
    public var name: String
    public var type: String
    /// Where it is, safe to print (no secrets).
    public var location: String
    /// The newest TXID the replica holds (zero while unknown or empty).
    public var txid: TXID
    /// Whether `txid` was read from or written to the replica (false until it could be listed).
    public var positionKnown: Bool
    /// How long the oldest local change that the replica does not have yet has been waiting; 0 when current.
    public var lagSeconds: Double
    /// Bytes of local LTX files the replica does not have yet.
    public var lagBytes: Int64
    /// Local LTX files the replica does not have yet.
    public var pendingFiles: Int
    /// When the last upload to this replica succeeded, Unix ms.
    public var lastUploadAt: Int64?
    /// The last error talking to this replica, cleared by the next success.
    public var lastError: String?
    public var lastErrorAt: Int64?
    /// Bytes of LTX files uploaded to this replica since replication started (a counter).
    public var uploadBytes: Int64 = 0
    /// Failed calls to this replica since replication started (a counter).
    public var errorCount: Int64 = 0
    /// Requests sent to this replica since replication started, by kind (counters): what an object store bills.
    /// Nil for a replica that sends none (`file`), and in JSON from versions that did not count them.
    public var requests: RequestCounts?
    /// Why replication to this replica stopped, until `replicate` is restarted: another process writes to it (a
    /// second database configured to the same replica, say), and going on would interleave two databases' files.
    /// Nil while it replicates, and in JSON from older versions.
    public var stopped: String?

    public init(name: String, type: String, location: String) {
        self.name = name
        self.type = type
        self.location = location
        self.txid = .zero
        self.positionKnown = false
        self.lagSeconds = 0
        self.lagBytes = 0
        self.pendingFiles = 0
    }
}
