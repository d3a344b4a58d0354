public import LitestreamClient
public import LitestreamCore
public import LTX
public import Foundation
import LitestreamHTTP
import NIOHTTP1
import SystemPackage

/// A replica in a Google Cloud Storage bucket, laid out exactly as Litestream 0.5.17's `gs` replica: objects
/// `<path>/ltx/<level>/<min>-<max>.ltx` (the level in decimal), each with its LTX timestamp in the custom metadata
/// `litestream-timestamp` (RFC 3339, UTC), over the JSON API.
///
/// - Listing: `objects.list` with the level's prefix, page by page (1000 objects a page); the listing carries the
///   metadata, so `createdAt` costs no request per file.
/// - Writing: one multipart request (resource and media) up to ``GCSConfiguration/chunkSize``, a resumable upload
///   in chunks beyond; level-0 objects with `ifGenerationMatch=0`, so another writer's file is never replaced.
/// - Reading: media downloads into an unlinked temporary file, resumed with `Range` after a cut.
/// - Credentials: a service account key (`GOOGLE_APPLICATION_CREDENTIALS`) signs an assertion exchanged for an
///   access token, cached until five minutes before it expires; `STORAGE_EMULATOR_HOST`: an emulator, no
///   credentials.
/// - Requests are counted as list, get, put (every upload request), delete, head (an object's metadata).
public struct GCSReplicaClient: ReplicaClient {
    var client: GCSClient
    /// The objects' prefix, as Litestream keeps it.
    public let path: String

    public var type: String { "gs" }
    /// `gs://bucket/path`.
    public var location: String { "gs://\(client.bucket)/" + (path == "." ? "" : path) }
    public var requestCounts: RequestCounts? { client.requests.snapshot }
    /// One second, as Litestream's `sync-interval`: every upload is a billed request, so a busy database is
    /// uploaded at most once a second, its files in between merged into one.
    public var defaultSyncInterval: Duration? { .seconds(1) }

    /// A client for `configuration`, with credentials from `environment` where the configuration has none. Reads
    /// the service account key file; sends nothing.
    ///
    /// - Throws: ``GCSConfiguration/Invalid`` (no bucket), or ``GCSError`` `.credentials` naming the key file and
    ///   what is wrong with it (unreadable, not JSON, not a service account key, an unusable private key), or
    ///   that there are no credentials at all.
    public init(
        configuration: GCSConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        var c = configuration
        c.applyEnvironment(environment)
        client = try GCSClient(configuration: c)
        path = c.path
    }

    /// A client for a `gs://bucket/path` URL (see ``GCSConfiguration/parse(url:)``).
    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try self.init(configuration: GCSConfiguration.parse(url: url), environment: environment)
    }

    /// Checks that the bucket exists and the credentials may list it (one `objects.list` of the replica's prefix,
    /// at most one object, tried 3 times), so that a wrong bucket, key or endpoint is reported before
    /// replication begins.
    ///
    /// - Throws: a ``GCSError`` naming the bucket and endpoint: `bucketNotFound`, `unauthorized`, `forbidden`,
    ///   `tokenRefused` (the key was refused), `connectionFailed` (why nothing answered).
    public func checkAccess() async throws {
        let prefix = GCSObjectName.join([path, "ltx"]) + "/"
        let r = try await client.send(
            .GET, client.objectsURL + "?maxResults=1&prefix=\(GCSObjectName.encode(prefix))", operation: "list",
            object: nil, kind: .list, attempts: 3)
        guard r.status == 200 else { throw client.failure(r, operation: "list", object: nil) }
        guard GCSObjectList.parse(r.body) != nil else {
            throw GCSError(.malformedResponse,
                "gs list gs://\(client.bucket) at \(client.base): the answer is not an object list (is this the "
                    + "GCS JSON API?)",
                statusCode: r.status)
        }
    }

    public func ltxFiles(level: Int) async throws -> [LTXFileInfo] {
        let dir = GCSObjectName.levelDirectory(root: path, level: level)
        var files: [LTXFileInfo] = []
        for item in try await list(prefix: dir + "/") {
            // Only the level's own objects (not deeper names under it), with LTX names.
            let name = item.name.dropFirst(dir.count + 1)
            guard !name.contains("/"), let (min, max) = LTXFileName.parse(String(name)) else { continue }
            let createdAt = item.metadata?["litestream-timestamp"].flatMap(RFC3339Timestamp.parse)
                ?? item.timeCreated.flatMap(RFC3339Timestamp.parse) ?? 0
            files.append(LTXFileInfo(level: level, minTXID: min, maxTXID: max, size: item.size, createdAt: createdAt))
        }
        return files.sorted { ($0.minTXID, $0.maxTXID) < ($1.minTXID, $1.maxTXID) }
    }

    /// Every object under `prefix`, page by page.
    func list(prefix: String) async throws -> [GCSObjectList.Item] {
        var items: [GCSObjectList.Item] = []
        var token: String?
        repeat {
            var url = client.objectsURL + "?prefix=\(GCSObjectName.encode(prefix))"
            if let token { url += "&pageToken=\(GCSObjectName.encode(token))" }
            let r = try await client.send(.GET, url, operation: "list", object: nil, kind: .list)
            guard r.status == 200 else { throw client.failure(r, operation: "list", object: nil) }
            guard let page = GCSObjectList.parse(r.body) else {
                throw GCSError(.malformedResponse,
                    "gs list gs://\(client.bucket)/\(prefix) at \(client.base): the answer is not an object list",
                    statusCode: r.status)
            }
            items += page.items
            token = page.nextPageToken
        } while token != nil
        return items
    }

    public func openLTXFile(_ file: LTXFileInfo) async throws -> ReplicaFileReader {
        let copy = try await OpenFile.downloaded(prefix: "litestream-gcs") { copy in
            _ = try await client.download(objectName(file.level, file.minTXID, file.maxTXID), to: copy.descriptor, path: copy.path)
        }
        return ReplicaFileReader(copy, file: file)
    }

    /// Stages the body in an unlinked temporary file (`write` runs here, on the calling task), then uploads it.
    @discardableResult
    public func writeLTXFile(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64,
        write: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) async throws -> LTXFileInfo {
        let size = try await OpenFile.staged(prefix: "litestream-gcs", write) { staged, size in
            try await put(level: level, minTXID: minTXID, maxTXID: maxTXID, timestamp: timestamp, from: staged, size: size)
        }
        return LTXFileInfo(level: level, minTXID: minTXID, maxTXID: maxTXID, size: size, createdAt: timestamp)
    }

    /// Uploads a local LTX file straight from disk.
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
        for f in files { try await delete(objectName(f.level, f.minTXID, f.maxTXID)) }
    }

    /// Deletes every object under `<path>/ltx/` (Litestream lists `<path>/` and deletes all it finds; ours are the
    /// same objects, and nothing else under the prefix is touched).
    public func deleteAll() async throws {
        for item in try await list(prefix: GCSObjectName.join([path, "ltx"]) + "/") { try await delete(item.name) }
    }

    // MARK: -

    func objectName(_ level: Int, _ minTXID: TXID, _ maxTXID: TXID) -> String {
        GCSObjectName.file(root: path, level: level, name: LTXFileName.format(min: minTXID, max: maxTXID))
    }

    private func delete(_ name: String) async throws {
        let r = try await client.send(.DELETE, client.objectURL(name), operation: "delete", object: name, kind: .delete)
        guard (200..<300).contains(r.status) || r.status == 404 else {
            throw client.failure(r, operation: "delete", object: name)
        }
    }

    /// Uploads with the timestamp metadata; at level 0 the object must not exist yet (another writer's file is
    /// reported as ``ReplicaError`` `.fileExists`, which stops this replica).
    private func put(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64, from file: borrowing OpenFile, size: Int64
    ) async throws {
        let name = objectName(level, minTXID, maxTXID)
        let upload = GCSClient.Upload(
            name: name, metadata: ["litestream-timestamp": RFC3339Timestamp.format(milliseconds: timestamp)],
            exclusive: level == 0)
        do {
            try await client.upload(upload, descriptor: file.descriptor.rawValue, path: file.path, size: size)
        } catch let e as GCSError where e.code == .preconditionFailed {
            throw ReplicaError(.fileExists,
                "gs://\(client.bucket)/\(name) already exists: another process writes to this replica", cause: e)
        }
    }
}
