import Foundation
public import LitestreamClient
public import LitestreamCore
public import Logging
public import LTX
import LitestreamHTTP
import SystemPackage

/// A replica in a NATS JetStream object store bucket, laid out exactly as Litestream 0.5.17's `nats` replica:
/// objects named `ltx/<level>/<min>-<max>.ltx`, each with the header `Litestream-Timestamp` (the LTX header's
/// time, RFC 3339 with milliseconds), which point-in-time restore reads back from the listing, as Litestream does.
/// The bucket must exist (Litestream does not create it either).
///
/// One connection per replica, opened on first use and again after it drops; an operation that fails because the
/// connection dropped, could not be made or timed out is tried again on a new one (``NATSConfiguration/maxReconnects``
/// times, waiting ``NATSConfiguration/reconnectWait``), then the replicator's own backoff takes over. An idle replica
/// sends nothing. Memory stays bounded whatever the file size: see ``NATSObjectStore``; a file produced by a writer
/// (a compaction, a snapshot) is spooled to an unlinked local temporary file first, so that it can be retried.
public struct NATSReplicaClient: ReplicaClient {
    public let configuration: NATSConfiguration
    let connector: NATSConnector
    let requests = RequestCounter()

    public var type: String { "nats" }
    public var location: String { configuration.description }
    /// Objects written (`PUT`), read (`GET`), listings (`LIST`) and objects deleted (`DELETE`), as Litestream's
    /// operation counters count them.
    public var requestCounts: RequestCounts? { requests.snapshot }
    /// One second, Litestream's `sync-interval`: each upload is a few round trips, so a busy database uploads its
    /// files merged, at most once a second; an isolated commit still goes at once.
    public var defaultSyncInterval: Duration? { .seconds(1) }

    /// A client for `configuration`; nothing is sent until it is used.
    ///
    /// - Throws: ``NATSConfiguration/Invalid`` when the configuration cannot work.
    public init(configuration: NATSConfiguration, logger: Logger = Logger(label: "litestream.nats")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.connector = NATSConnector(configuration: configuration, logger: logger)
    }

    /// A client for a `nats://[user:password@]host[:port]/bucket` URL (see ``NATSConfiguration/parse(url:)``).
    public init(url: String) throws {
        try self.init(configuration: NATSConfiguration.parse(url: url))
    }

    /// Protocol operations sent so far (every publish and subscription, over every connection), for checking that
    /// an idle replica is quiet.
    public var requestsSent: Int { get async { await connector.requestsSent } }

    /// Closes the connection (a later call connects again).
    public func close() async { await connector.close() }

    /// The waits before each new attempt after a transient failure.
    var retryDelays: [Duration] {
        let attempts = configuration.maxReconnects < 0 ? 3 : min(configuration.maxReconnects, 10)
        return (0..<attempts).map { $0 == 0 ? .milliseconds(250) : configuration.reconnectWait }
    }

    /// `ltx/<level>/<min>-<max>.ltx` (under ``NATSConfiguration/path`` when one is set).
    public func objectName(level: Int, minTXID: TXID, maxTXID: TXID) -> String {
        configuration.levelPrefix(level) + LTXFileName.format(min: minTXID, max: maxTXID)
    }

    // MARK: Connection and retries

    /// Connects (logging in) and checks that the bucket exists, so that a wrong host, credential or bucket is
    /// reported before replication begins. The description of the ``NATSError`` names the server and the bucket.
    public func checkAccess() async throws {
        try await withStore { try await $0.checkBucket() }
    }

    /// Runs `body` on the store over the connection, connecting first; after a transient failure, drops the
    /// connection and runs it again on a new one, after each of ``retryDelays``. `body` learns whether it is a
    /// retry.
    func withStore<T: Sendable>(_ body: (NATSObjectStore, _ retry: Bool) async throws -> T) async throws -> T {
        var attempt = 0
        var reconnectedAtOnce = false
        var retry = false
        let delays = retryDelays
        while true {
            var connection: NATSConnection?
            var reused = false
            do {
                (connection, reused) = try await connector.connection()
                return try await body(NATSObjectStore(bucket: configuration.bucket, connection: connection!), retry)
            } catch let error as NATSError where error.isTransient {
                if let connection { await connector.drop(connection) }
                retry = true
                // A kept connection that died while idle (the server restarted): a new one at once, no attempt spent.
                if reused && error.code == .connectionLost && !reconnectedAtOnce {
                    reconnectedAtOnce = true
                    continue
                }
                guard attempt < delays.count else { throw error }
                try await Task.sleep(for: delays[attempt])
                attempt += 1
            }
        }
    }

    func withStore<T: Sendable>(_ body: (NATSObjectStore) async throws -> T) async throws -> T {
        try await withStore { store, _ in try await body(store) }
    }

    // MARK: ReplicaClient

    public func ltxFiles(level: Int) async throws -> [LTXFileInfo] {
        let prefix = configuration.levelPrefix(level)
        requests.count(.list)
        let objects = try await withStore { try await $0.list() }
        var files: [LTXFileInfo] = []
        for (info, modTime) in objects where info.name.hasPrefix(prefix) {
            let rest = info.name.dropFirst(prefix.count)
            guard !rest.contains("/"), let (min, max) = LTXFileName.parse(String(rest)) else { continue }
            let createdAt = info.header("Litestream-Timestamp").flatMap(RFC3339Timestamp.parse) ?? modTime
            files.append(LTXFileInfo(level: level, minTXID: min, maxTXID: max, size: Int64(info.size), createdAt: createdAt))
        }
        return files.sorted { ($0.minTXID, $0.maxTXID) < ($1.minTXID, $1.maxTXID) }
    }

    /// Downloads the object into an unlinked local temporary file, a chunk per request, and returns a reader on
    /// it. A download cut by a lost connection goes on from the chunk where it stopped.
    public func openLTXFile(_ file: LTXFileInfo) async throws -> ReplicaFileReader {
        let name = objectName(level: file.level, minTXID: file.minTXID, maxTXID: file.maxTXID)
        let copy = try OpenFile.unlinkedTemporary(prefix: "litestream-nats")
        let fd = copy.descriptor
        requests.count(.get)
        var progress = NATSObjectStore.ReadProgress()
        try await withStore { store in
            try await store.get(name: name, into: fd, progress: &progress)
        }
        return ReplicaFileReader(copy, file: file)
    }

    @discardableResult
    public func writeLTXFile(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64,
        write: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) async throws -> LTXFileInfo {
        // The writer is synchronous and runs once; spooled to a local file, the upload can be retried on a new
        // connection without holding the file in memory.
        let size = try await OpenFile.staged(prefix: "litestream-nats", write) { spool, size in
            try await put(from: spool.descriptor, size: size, level: level, minTXID: minTXID, maxTXID: maxTXID, timestamp: timestamp)
        }
        return LTXFileInfo(level: level, minTXID: minTXID, maxTXID: maxTXID, size: size, createdAt: timestamp)
    }

    /// Uploads a local LTX file straight from disk, a chunk at a time.
    @discardableResult
    public func upload(localPath: String, level: Int, header: LTXHeader) async throws -> LTXFileInfo {
        let local = try OpenFile(localPath, .readOnly)
        let size = try local.size()
        try await put(from: local.descriptor, size: size, level: level, minTXID: header.minTXID, maxTXID: header.maxTXID,
            timestamp: header.timestamp)
        _ = consume local
        return LTXFileInfo(level: level, minTXID: header.minTXID, maxTXID: header.maxTXID, size: size,
            createdAt: header.timestamp)
    }

    private func put(from fd: SystemPackage.FileDescriptor, size: Int64, level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64) async throws {
        let name = objectName(level: level, minTXID: minTXID, maxTXID: maxTXID)
        let headers = ["Litestream-Timestamp": [RFC3339Timestamp.format(milliseconds: timestamp)]]
        requests.count(.put)
        _ = try await withStore { store, retry in
            // Level 0 is exclusive: a file there under our name is another writer's.
            try await store.put(name: name, headers: headers, from: fd, size: size, exclusive: level == 0, retry: retry)
        }
    }

    /// Deletes the objects one by one (a record marked deleted, its chunks purged); missing ones are skipped.
    public func deleteLTXFiles(_ files: [LTXFileInfo]) async throws {
        for f in files {
            let name = objectName(level: f.level, minTXID: f.minTXID, maxTXID: f.maxTXID)
            requests.count(.delete)
            try await withStore { try await $0.delete(name: name) }
        }
    }

    /// Deletes every object under `ltx/` (under the configured path, when there is one). Litestream 0.5.17 deletes
    /// every object in the bucket; a bucket shared with anything else keeps that here.
    public func deleteAll() async throws {
        let prefix = configuration.levelPrefix(0).dropLast("0/".count)
        requests.count(.list)
        let objects = try await withStore { try await $0.list() }
        for (info, _) in objects where info.name.hasPrefix(prefix) {
            requests.count(.delete)
            try await withStore { try await $0.delete(name: info.name) }
        }
    }
}
