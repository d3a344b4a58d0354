public import LitestreamClient
public import LitestreamCore
import LitestreamHTTP
import SystemPackage
public import Foundation
public import LTX


/// A replica in an S3 (or S3-compatible) bucket, laid out exactly as Litestream 0.5.17's `s3` replica:
/// keys `<path>/<level as %04x>/<min>-<max>.ltx`, each object carrying its LTX timestamp in the metadata
/// `x-amz-meta-litestream-timestamp` (RFC 3339 with nanoseconds, UTC).
///
/// Listing cost: ``ltxFiles(level:)`` sends one ListObjectsV2 request per 1000 keys and takes `createdAt` from
/// each object's `LastModified` (the upload time, within a sync interval of the LTX timestamp), as Litestream
/// does. Set ``timestampsFromMetadata`` to read the exact timestamp with a HeadObject per key instead: the
/// point-in-time restore by timestamp does that, as Litestream's restore does.
public struct S3ReplicaClient: ReplicaClient {
    public let configuration: S3Configuration
    var client: S3Client
    /// Read `createdAt` from each object's `litestream-timestamp` metadata (one HeadObject per key).
    public var timestampsFromMetadata = false
    /// Keys per ListObjectsV2 page (S3's maximum is 1000; smaller for tests).
    var listPageSize: Int?

    public var type: String { "s3" }
    /// Every HTTP request this client (and its copies) sent, by kind.
    public var requestCounts: RequestCounts? { client.requests.snapshot }
    /// One second, as Litestream's `sync-interval`: S3 bills each PUT, so a busy database is uploaded at most once
    /// a second, its files in between merged into one; an isolated commit still goes at once.
    public var defaultSyncInterval: Duration? { .seconds(1) }
    public var location: String { "s3://\(configuration.bucket)/\(configuration.path) at \(client.endpointDescription)" }

    /// A client for `configuration`; credentials and region missing from it are read from `environment`.
    ///
    /// - Parameters:
    ///   - configuration: bucket, path, endpoint, region, credentials and upload settings.
    ///   - environment: where `AWS_ACCESS_KEY_ID`/`LITESTREAM_ACCESS_KEY_ID` and the rest are looked up.
    /// - Throws: when the configuration cannot work (no bucket, no credentials); nothing is sent yet.
    public init(
        configuration: S3Configuration, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        self.configuration = configuration
        self.client = try S3Client(configuration: configuration, environment: environment)
    }

    /// A client for an `s3://bucket/path?endpoint=…` URL.
    ///
    /// - Parameters:
    ///   - url: `s3://BUCKET/PATH`, with `endpoint`, `region` and `force-path-style` as query options.
    ///   - environment: where credentials and the region are looked up.
    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try self.init(configuration: S3Configuration.parse(url: url), environment: environment)
    }

    /// The key prefix of one level: `<path>/<level %04x>/`.
    public func levelPrefix(_ level: Int) -> String {
        "\(configuration.path)/\(String(format: "%04x", level))/"
    }

    /// The key of one file.
    public func key(level: Int, minTXID: TXID, maxTXID: TXID) -> String {
        levelPrefix(level) + LTXFileName.format(min: minTXID, max: maxTXID)
    }

    /// Checks that the bucket is reachable with these credentials (one ListObjectsV2 with `max-keys=1`), so that
    /// a wrong bucket, region, credential, clock or endpoint is reported before replication begins.
    ///
    /// Throws an ``S3Error`` whose description is one line naming the bucket and endpoint and what to fix: the
    /// credentials, the bucket name, the bucket's actual region, the clock skew, or why the endpoint could not be
    /// reached. On AWS with no region configured, the bucket's region is learned here (as Litestream does).
    public func checkAccess() async throws {
        _ = try await client.listObjectsV2(prefix: "\(configuration.path)/", continuationToken: nil, maxKeys: 1)
    }

    public func ltxFiles(level: Int) async throws -> [LTXFileInfo] {
        let prefix = levelPrefix(level)
        var files: [LTXFileInfo] = []
        for object in try await client.listAll(prefix: prefix, maxKeys: listPageSize) {
            guard object.key.hasPrefix(prefix) else { continue }
            let name = object.key.dropFirst(prefix.count)
            guard let (min, max) = LTXFileName.parse(name) else { continue }
            let modified = object.lastModified.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } ?? 0
            files.append(LTXFileInfo(level: level, minTXID: min, maxTXID: max, size: object.size, createdAt: modified))
        }
        if timestampsFromMetadata {
            files = try await withMetadataTimestamps(files)
        }
        return files.sorted { ($0.minTXID, $0.maxTXID) < ($1.minTXID, $1.maxTXID) }
    }

    /// Replaces each file's `createdAt` with its `litestream-timestamp` metadata (when present), 16 HEADs at a time.
    func withMetadataTimestamps(_ files: [LTXFileInfo]) async throws -> [LTXFileInfo] {
        var out = files
        try await withThrowingTaskGroup(of: (Int, Int64?).self) { group in
            var next = 0
            func addNext() {
                guard next < files.count else { return }
                let i = next
                let f = files[i]
                let k = key(level: f.level, minTXID: f.minTXID, maxTXID: f.maxTXID)
                group.addTask { [client] in
                    let headers = try await client.headObject(key: k)
                    return (i, headers?["x-amz-meta-litestream-timestamp"].flatMap(S3Timestamp.parse))
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
        let k = key(level: file.level, minTXID: file.minTXID, maxTXID: file.maxTXID)
        let tmp = FileManager.default.temporaryDirectory.path + "/litestream-s3-\(UUID().uuidString).ltx"
        let copy = try OpenFile(tmp, .readWrite, options: [.create, .exclusiveCreate], permissions: .ownerReadWrite)
        try POSIX.remove(tmp)  // the descriptor keeps the data until it is closed
        _ = try await client.download(key: k, to: copy)
        guard lseek(copy.descriptor.rawValue, 0, SEEK_SET) == 0 else { throw SystemError.last("lseek", tmp) }
        return ReplicaFileReader(copy, file: file)
    }

    /// Uploads as the body is produced, with at most `concurrency + 1` parts of `partSize` in memory; `write`
    /// runs on a dedicated thread while this call waits (see ``ReplicaClient/writeLTXFile(level:minTXID:maxTXID:timestamp:write:)``).
    @discardableResult
    public func writeLTXFile(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64,
        write: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) async throws -> LTXFileInfo {
        let k = key(level: level, minTXID: minTXID, maxTXID: maxTXID)
        var size: Int64 = 0
        try await exclusively(level: level, key: k, size: { size }) {
            size = try await client.upload(
                key: k, metadata: ["litestream-timestamp": S3Timestamp.format(milliseconds: timestamp)],
                exclusive: level == 0, write: write)
        }
        return LTXFileInfo(level: level, minTXID: minTXID, maxTXID: maxTXID, size: size, createdAt: timestamp)
    }

    /// Uploads a local LTX file part by part (pread), never holding more than `concurrency` parts in memory.
    @discardableResult
    public func upload(localPath: String, level: Int, header: LTXHeader) async throws -> LTXFileInfo {
        let local = try OpenFile(localPath, .readOnly)
        let size = try local.size()
        let k = key(level: level, minTXID: header.minTXID, maxTXID: header.maxTXID)
        try await exclusively(level: level, key: k, size: { size }) {
            try await client.upload(
                file: local, size: size, key: k,
                metadata: ["litestream-timestamp": S3Timestamp.format(milliseconds: header.timestamp)],
                exclusive: level == 0)
        }
        return LTXFileInfo(
            level: level, minTXID: header.minTXID, maxTXID: header.maxTXID, size: size, createdAt: header.timestamp)
    }

    /// Runs an upload of `key`, conditional (`If-None-Match: *`) at level 0, where a file is never written twice:
    /// a 412 means the key exists. To the first try that is another writer's file (``ReplicaError`` `.fileExists`).
    /// To a retry it may be our own first try, stored but its answer lost: the object's size (one HEAD) decides,
    /// and an object of our size is taken as ours.
    private func exclusively(level: Int, key: String, size: () -> Int64, _ upload: () async throws -> Void) async throws {
        do {
            try await upload()
        } catch let e as S3Error where level == 0 && e.statusCode == 412 {
            if e.attempt > 0, let head = try await client.headObject(key: key),
                head["content-length"].flatMap({ Int64($0) }) == size()
            {
                return
            }
            throw ReplicaError(.fileExists, "s3 key \(key) already exists: another process writes to this replica", cause: e)
        }
    }

    public func deleteLTXFiles(_ files: [LTXFileInfo]) async throws {
        try await client.deleteObjects(keys: files.map { key(level: $0.level, minTXID: $0.minTXID, maxTXID: $0.maxTXID) })
    }

    /// Deletes every object under `<path>/`, as Litestream's `DeleteAll`.
    public func deleteAll() async throws {
        let keys = try await client.listAll(prefix: "\(configuration.path)/", maxKeys: listPageSize).map(\.key)
        try await client.deleteObjects(keys: keys)
    }
}
