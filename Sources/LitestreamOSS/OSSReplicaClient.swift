public import Foundation
public import LitestreamClient
public import LitestreamCore
public import LTX
import LitestreamHTTP
import SystemPackage

/// A replica in an Alibaba Cloud OSS bucket, laid out exactly as Litestream 0.5.17's `oss` replica (the S3 key
/// scheme): `<path>/<level as %04x>/<min>-<max>.ltx`, each object carrying its LTX timestamp in the metadata
/// `x-oss-meta-litestream-timestamp` (RFC 3339 with milliseconds, UTC).
///
/// - Listing: ListObjectsV2, 1,000 keys a page; `createdAt` is each object's `LastModified` (the upload time), as
///   Litestream's listing gives it. With ``timestampsFromMetadata`` (point-in-time restore by timestamp) each
///   object's metadata is read with a HeadObject instead, 16 at a time.
/// - Writing: one PutObject up to ``OSSConfiguration/partSize``, else a multipart upload, parts streamed from the
///   file one at a time. Level-0 objects are written with `x-oss-forbid-overwrite: true`.
/// - Memory: bodies stream from files; an encoder's body is staged in an unlinked temporary file; downloads go to
///   an unlinked temporary file.
public struct OSSReplicaClient: ReplicaClient {
    public let configuration: OSSConfiguration
    var client: OSSClient
    /// Read `createdAt` from each object's `litestream-timestamp` metadata (one HeadObject per key).
    public var timestampsFromMetadata = false
    /// Keys per ListObjectsV2 page (OSS's maximum is 1,000; smaller for tests).
    var listPageSize: Int?

    public var type: String { "oss" }
    /// `oss://bucket/path at <endpoint>`: no credentials.
    public var location: String { "oss://\(configuration.bucket)/\(configuration.path) at \(client.endpointDescription)" }
    public var requestCounts: RequestCounts? { client.requests.snapshot }
    /// One second, as Litestream's `sync-interval`: every request is billed.
    public var defaultSyncInterval: Duration? { .seconds(1) }

    /// A client for `configuration`; credentials missing from it are read from `environment`.
    ///
    /// - Throws: ``OSSConfiguration/Invalid`` when it cannot work (no bucket, no credentials, a bad endpoint).
    ///   Nothing is sent.
    public init(configuration: OSSConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.configuration = configuration
        self.client = try OSSClient(configuration: configuration, environment: environment)
    }

    /// A client for `oss://bucket[.oss-region.aliyuncs.com]/path` (see ``OSSConfiguration/parse(url:)``).
    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try self.init(configuration: OSSConfiguration.parse(url: url), environment: environment)
    }

    /// The key prefix of one level: `<path>/<level %04x>/`.
    public func levelPrefix(_ level: Int) -> String {
        "\(configuration.path)/\(String(format: "%04x", level))/"
    }

    public func key(level: Int, minTXID: TXID, maxTXID: TXID) -> String {
        levelPrefix(level) + LTXFileName.format(min: minTXID, max: maxTXID)
    }

    /// Checks that the bucket can be listed with these credentials (one ListObjectsV2 with `max-keys=1`), so that a
    /// wrong bucket, region, endpoint, key or clock is reported before replication begins.
    ///
    /// - Throws: an ``OSSError`` naming the bucket and endpoint and what to check.
    public func checkAccess() async throws {
        _ = try await client.listObjects(prefix: "\(configuration.path)/", continuationToken: nil, maxKeys: 1)
    }

    public func ltxFiles(level: Int) async throws -> [LTXFileInfo] {
        let prefix = levelPrefix(level)
        var files: [LTXFileInfo] = []
        for object in try await client.listAll(prefix: prefix, maxKeys: listPageSize) {
            guard object.key.hasPrefix(prefix), let (min, max) = LTXFileName.parse(object.key.dropFirst(prefix.count)) else {
                continue
            }
            files.append(LTXFileInfo(level: level, minTXID: min, maxTXID: max, size: object.size, createdAt: object.lastModified ?? 0))
        }
        if timestampsFromMetadata { files = try await withMetadataTimestamps(files) }
        return files.sorted { ($0.minTXID, $0.maxTXID) < ($1.minTXID, $1.maxTXID) }
    }

    /// Replaces each file's `createdAt` with its `litestream-timestamp` metadata (when present), 16 HEADs at a time.
    func withMetadataTimestamps(_ files: [LTXFileInfo]) async throws -> [LTXFileInfo] {
        var out = files
        try await withThrowingTaskGroup(of: (Int, Int64?).self) { group in
            var next = 0
            func addNext() {
                guard next < files.count else { return }
                let (i, f) = (next, files[next])
                let k = key(level: f.level, minTXID: f.minTXID, maxTXID: f.maxTXID)
                group.addTask { [client] in
                    (i, try await client.headObject(k)?["x-oss-meta-litestream-timestamp"].flatMap(RFC3339Timestamp.parse))
                }
                next += 1
            }
            for _ in 0..<16 { addNext() }
            while let (i, ts) = try await group.next() {
                if let ts { out[i].createdAt = ts }
                addNext()
            }
        }
        return out
    }

    public func openLTXFile(_ file: LTXFileInfo) async throws -> ReplicaFileReader {
        let copy = try await OpenFile.downloaded(prefix: "litestream-oss") { copy in
            _ = try await client.getObject(
                key(level: file.level, minTXID: file.minTXID, maxTXID: file.maxTXID), to: copy.descriptor.rawValue,
                path: copy.path)
        }
        return ReplicaFileReader(copy, file: file)
    }

    /// Stages the body in an unlinked temporary file (`write` runs here, on the calling task), then uploads it.
    @discardableResult
    public func writeLTXFile(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64,
        write: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) async throws -> LTXFileInfo {
        let size = try await OpenFile.staged(prefix: "litestream-oss", write) { staged, size in
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
        try await client.deleteObjects(files.map { key(level: $0.level, minTXID: $0.minTXID, maxTXID: $0.maxTXID) })
    }

    /// Deletes every object under `<path>/`, as Litestream's `DeleteAll`.
    public func deleteAll() async throws {
        try await client.deleteObjects(try await client.listAll(prefix: "\(configuration.path)/", maxKeys: listPageSize).map(\.key))
    }

    /// PutObject or a multipart upload. At level 0 the key must be free (`x-oss-forbid-overwrite`): a conflict on
    /// the first try is another writer's object (``ReplicaError`` `.fileExists`); on a retry it may be our own first
    /// try, stored but its answer lost, and the stored size decides.
    private func put(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64, from file: borrowing OpenFile, size: Int64
    ) async throws {
        let k = key(level: level, minTXID: minTXID, maxTXID: maxTXID)
        let (fd, path) = (file.descriptor.rawValue, file.path)
        let stamp = RFC3339Timestamp.format(milliseconds: timestamp)
        let exclusive = level == 0
        do {
            if size <= Int64(configuration.partSize) {
                try await client.putObject(k, fd: fd, path: path, size: size, timestamp: stamp, exclusive: exclusive)
            } else {
                try await client.multipartUpload(
                    k, fd: fd, path: path, size: size, partSize: Int64(configuration.partSize), timestamp: stamp,
                    exclusive: exclusive)
            }
        } catch let e as OSSError where exclusive && e.code == .exists {
            if e.attempt > 0, try await client.headObject(k)?["content-length"].flatMap({ Int64($0) }) == size { return }
            throw ReplicaError(.fileExists,
                "oss key \(k) already exists in bucket \(configuration.bucket): another process writes to this replica", cause: e)
        }
    }
}

extension OSSReplicaClient: CustomReflectable {
    /// For `dump` and debuggers: the location and settings, never a secret.
    public var customMirror: Mirror { Mirror(self, children: ["location": location, "configuration": configuration]) }
}
