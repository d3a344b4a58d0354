public import Foundation
public import LitestreamClient
public import LitestreamCore
public import LTX
import LitestreamHTTP
import SystemPackage

/// A replica in an Azure Blob Storage container, laid out exactly as Litestream 0.5.17's `abs` replica:
/// `<path>/ltx/<level>/<min>-<max>.ltx`, the level in decimal, each blob carrying its LTX timestamp in the metadata
/// `litestreamtimestamp` (RFC 3339 with milliseconds, UTC).
///
/// - Listing: List Blobs with `include=metadata`, 5,000 names a page, following `NextMarker`. A file's `createdAt`
///   is its `litestreamtimestamp` (free in the listing, as Litestream reads it), else the blob's creation time.
/// - Writing: one Put Blob up to ``ABSConfiguration/blockSize``; larger files as blocks of that size (Put Block,
///   one at a time, each streamed from the file) committed with Put Block List. Level-0 blobs are written with
///   `If-None-Match: *`, so another writer's file is never replaced.
/// - Memory: bodies stream from files a chunk at a time; a body produced by an encoder is staged in an unlinked
///   temporary file first (its length, retries); downloads go to an unlinked temporary file.
public struct ABSReplicaClient: ReplicaClient {
    public let configuration: ABSConfiguration
    var client: ABSClient
    /// Names per List Blobs page (the service's maximum is 5,000; smaller for tests).
    var listPageSize: Int?

    public var type: String { "abs" }
    /// `abs://account@container/path at <endpoint>`: no key, no token.
    public var location: String {
        "abs://\(configuration.accountName.isEmpty ? "" : configuration.accountName + "@")\(configuration.container)/"
            + "\(ABSConfiguration.clean(configuration.path)) at \(client.endpointDescription)"
    }
    public var requestCounts: RequestCounts? { client.requests.snapshot }
    /// One second, as Litestream's `sync-interval`: every request is billed.
    public var defaultSyncInterval: Duration? { .seconds(1) }

    /// A client for `configuration`; a key or SAS token missing from it is read from `environment`.
    ///
    /// - Throws: ``ABSConfiguration/Invalid`` when it cannot work (no container, no credentials, a key that is not
    ///   base64, no account name without an endpoint). Nothing is sent.
    public init(configuration: ABSConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.configuration = configuration
        self.client = try ABSClient(configuration: configuration, environment: environment)
    }

    /// A client for `abs://[account@]container/path` (see ``ABSConfiguration/parse(url:)``).
    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try self.init(configuration: ABSConfiguration.parse(url: url), environment: environment)
    }

    /// The name prefix of one level: `<path>/ltx/<level>/`.
    public func levelPrefix(_ level: Int) -> String {
        let path = ABSConfiguration.clean(configuration.path)
        return (path.isEmpty ? "" : path + "/") + "ltx/\(level)/"
    }

    /// The blob name of one file.
    public func blobName(level: Int, minTXID: TXID, maxTXID: TXID) -> String {
        levelPrefix(level) + LTXFileName.format(min: minTXID, max: maxTXID)
    }

    /// Checks that the container can be listed with these credentials (one List Blobs with `maxresults=1`), so that
    /// a wrong account, container, key, token, clock or endpoint is reported before replication begins.
    ///
    /// - Throws: an ``ABSError`` naming the container URL and what to check.
    public func checkAccess() async throws {
        _ = try await client.listBlobs(prefix: levelPrefix(0), marker: nil, maxResults: 1)
    }

    public func ltxFiles(level: Int) async throws -> [LTXFileInfo] {
        let prefix = levelPrefix(level)
        var files: [LTXFileInfo] = []
        for blob in try await client.listAll(prefix: prefix, maxResults: listPageSize) {
            guard blob.name.hasPrefix(prefix), let (min, max) = LTXFileName.parse(blob.name.dropFirst(prefix.count)) else {
                continue
            }
            files.append(LTXFileInfo(
                level: level, minTXID: min, maxTXID: max, size: blob.size,
                createdAt: blob.litestreamTimestamp ?? blob.creationTime ?? 0))
        }
        return files.sorted { ($0.minTXID, $0.maxTXID) < ($1.minTXID, $1.maxTXID) }
    }

    public func openLTXFile(_ file: LTXFileInfo) async throws -> ReplicaFileReader {
        let copy = try await OpenFile.downloaded(prefix: "litestream-abs") { copy in
            _ = try await client.getBlob(
                blobName(level: file.level, minTXID: file.minTXID, maxTXID: file.maxTXID),
                to: copy.descriptor.rawValue, path: copy.path)
        }
        return ReplicaFileReader(copy, file: file)
    }

    /// Stages the body in an unlinked temporary file (`write` runs here, on the calling task), then uploads it.
    @discardableResult
    public func writeLTXFile(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64,
        write: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) async throws -> LTXFileInfo {
        let size = try await OpenFile.staged(prefix: "litestream-abs", write) { staged, size in
            try await put(level: level, minTXID: minTXID, maxTXID: maxTXID, timestamp: timestamp, from: staged, size: size)
        }
        return LTXFileInfo(level: level, minTXID: minTXID, maxTXID: maxTXID, size: size, createdAt: timestamp)
    }

    /// Uploads a local LTX file straight from disk, a chunk at a time.
    @discardableResult
    public func upload(localPath: String, level: Int, header: LTXHeader) async throws -> LTXFileInfo {
        let local = try OpenFile(localPath, .readOnly)
        let size = try local.size()
        try await put(
            level: level, minTXID: header.minTXID, maxTXID: header.maxTXID, timestamp: header.timestamp, from: local,
            size: size)
        return LTXFileInfo(
            level: level, minTXID: header.minTXID, maxTXID: header.maxTXID, size: size, createdAt: header.timestamp)
    }

    public func deleteLTXFiles(_ files: [LTXFileInfo]) async throws {
        for f in files { try await client.deleteBlob(blobName(level: f.level, minTXID: f.minTXID, maxTXID: f.maxTXID)) }
    }

    /// Deletes every blob under `<path>/ltx/` (Litestream deletes everything under `<path>/`; the files are the
    /// same, and other blobs beside the replica stay).
    public func deleteAll() async throws {
        let path = ABSConfiguration.clean(configuration.path)
        for blob in try await client.listAll(prefix: (path.isEmpty ? "" : path + "/") + "ltx/", maxResults: listPageSize) {
            try await client.deleteBlob(blob.name)
        }
    }

    // MARK: - Writing

    /// Put Blob, or Put Block for each block and Put Block List. At level 0 the blob must not exist yet: a conflict
    /// on the first try is another writer's blob (``ReplicaError`` `.fileExists`); on a retry it may be our own
    /// first try, stored but its answer lost, and the stored size decides.
    private func put(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64, from file: borrowing OpenFile, size: Int64
    ) async throws {
        let name = blobName(level: level, minTXID: minTXID, maxTXID: maxTXID)
        let (fd, path) = (file.descriptor.rawValue, file.path)
        let stamp = RFC3339Timestamp.format(milliseconds: timestamp)
        let exclusive = level == 0
        do {
            if size <= Int64(configuration.blockSize) {
                try await client.putBlob(name, fd: fd, path: path, size: size, timestamp: stamp, exclusive: exclusive)
            } else {
                let blockSize = Int64(configuration.blockSize)
                let count = Int((size + blockSize - 1) / blockSize)
                var ids: [String] = []
                for i in 0..<count {
                    // Every id of a blob has the same length, as the service requires.
                    let id = Data(String(format: "litestream-%08d", i).utf8).base64EncodedString()
                    let offset = Int64(i) * blockSize
                    try await client.putBlock(name, id: id, fd: fd, path: path, offset: offset, count: min(blockSize, size - offset))
                    ids.append(id)
                }
                try await client.putBlockList(name, ids: ids, timestamp: stamp, exclusive: exclusive)
            }
        } catch let e as ABSError where exclusive && (e.statusCode == 409 || e.statusCode == 412) {
            if e.attempt > 0, try await client.blobSize(name) == size { return }
            throw ReplicaError(.fileExists,
                "abs blob \(client.displayURL(blob: name)) already exists: another process writes to this replica", cause: e)
        }
    }
}

extension ABSReplicaClient: CustomReflectable {
    /// For `dump` and debuggers: the location and settings, never a key or token.
    public var customMirror: Mirror { Mirror(self, children: ["location": location, "configuration": configuration]) }
}
