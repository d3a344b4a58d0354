public import LitestreamClient
public import LitestreamCore
public import LTX
import Foundation
import LitestreamHTTP
import SystemPackage

/// A replica on a WebDAV server, laid out exactly as Litestream 0.5.17's `webdav` replica:
/// `<url>/<path>/ltx/<level>/<min>-<max>.ltx`, the level in decimal.
///
/// - Listing: one `PROPFIND` (`Depth: 1`) per level. A file's `createdAt` is the server's `getlastmodified`, to
///   the second: WebDAV has no custom metadata, so point-in-time restore by timestamp works with upload times,
///   as Litestream's does.
/// - Writing: the body goes to a temporary name beside the file (`<name>.<random>.tmp`) with its length known
///   (never chunked: some servers drop chunked bodies), then `MOVE`s over the final name, so no reader, ours or
///   Litestream's, ever lists a partial file. A missing directory is made with `MKCOL` (each missing parent in
///   turn) when a `PUT` finds it missing, so a write costs two requests once the directories exist (Litestream
///   sends `MKCOL` and `PUT`).
/// - Memory: bodies stream from and to files a chunk at a time; a body produced by an encoder is staged in an
///   unlinked temporary file first, as Litestream does, for its length and for retries.
/// - Requests are counted as PROPFIND → list, GET → get, PUT/MOVE/MKCOL → put, DELETE → delete.
public struct WebDAVReplicaClient: ReplicaClient {
    var client: WebDAVClient

    public var type: String { "webdav" }
    /// `webdav://host:port/path` (`webdavs://` for HTTPS): no credentials.
    public var location: String { client.endpoint.location }
    public var requestCounts: RequestCounts? { client.requests.snapshot }
    /// One second, as Litestream's `sync-interval`: every upload is two requests to a server that may be far
    /// away, so a busy database is uploaded at most once a second, its files in between merged into one.
    public var defaultSyncInterval: Duration? { .seconds(1) }

    /// A client for `configuration`. Sends nothing.
    ///
    /// - Throws: ``WebDAVConfiguration/Invalid`` when the URL cannot work (no host, not http or https).
    public init(configuration: WebDAVConfiguration) throws {
        client = try WebDAVClient(configuration: configuration)
    }

    /// A client for a `webdav://` or `webdavs://` URL (see ``WebDAVConfiguration/parse(url:)``).
    public init(url: String) throws {
        try self.init(configuration: WebDAVConfiguration.parse(url: url))
    }

    /// Checks that the server answers WebDAV at the configured root and takes the credentials (one `PROPFIND`
    /// with `Depth: 0` on `webdav-url`'s path, tried 3 times), so that a wrong host, port, path, user or password
    /// is reported before replication begins. The replica's own directory need not exist: the first write makes
    /// it.
    ///
    /// - Throws: a ``WebDAVError`` naming the URL and what to check: `unauthorized` (401), `forbidden` (403),
    ///   `notFound` (the root does not exist), `notWebDAV` (the server does not speak WebDAV there) or
    ///   `connectionFailed` (why nothing answered).
    public func checkAccess() async throws {
        let root = client.endpoint.url([], collection: true)
        let r = try await client.send(
            "PROPFIND", [], collection: true, headers: [("depth", "0"), ("content-type", "application/xml")],
            body: .data(WebDAVMultistatus.requestBody), attempts: 3)
        switch r.status {
        case 207:
            guard WebDAVMultistatus.parse(r.body) != nil else {
                throw WebDAVError(.notWebDAV,
                    "webdav PROPFIND \(root): the answer is not a WebDAV multistatus (is this a WebDAV server?)",
                    statusCode: r.status)
            }
        case 404:
            throw WebDAVError(.notFound,
                "webdav root \(root) does not exist (PROPFIND: HTTP 404): check the path of webdav-url", statusCode: 404)
        case 200..<300, 405, 501:
            throw WebDAVError(.notWebDAV,
                "webdav PROPFIND \(root) answered HTTP \(r.status) \(r.reason): the server does not speak WebDAV "
                    + "there; check webdav-url (or the replica URL's host and port)",
                statusCode: r.status)
        default:
            throw client.failure(r, "PROPFIND", [], collection: true)
        }
    }

    public func ltxFiles(level: Int) async throws -> [LTXFileInfo] {
        let dir = client.endpoint.levelDirectory(level)
        let r = try await client.send(
            "PROPFIND", dir, collection: true, headers: [("depth", "1"), ("content-type", "application/xml")],
            body: .data(WebDAVMultistatus.requestBody))
        if r.status == 404 { return [] }  // no file was ever written to this level
        guard r.status == 207 else { throw client.failure(r, "PROPFIND", dir, collection: true) }
        guard let entries = WebDAVMultistatus.parse(r.body) else {
            throw WebDAVError(.malformedResponse,
                "webdav PROPFIND \(client.endpoint.url(dir, collection: true)): the answer is not a multistatus",
                statusCode: r.status)
        }
        var files: [LTXFileInfo] = []
        for e in entries where !e.isCollection {
            guard let (min, max) = LTXFileName.parse(e.name) else { continue }
            files.append(LTXFileInfo(
                level: level, minTXID: min, maxTXID: max, size: e.size, createdAt: e.lastModified ?? 0))
        }
        return files.sorted { ($0.minTXID, $0.maxTXID) < ($1.minTXID, $1.maxTXID) }
    }

    public func openLTXFile(_ file: LTXFileInfo) async throws -> ReplicaFileReader {
        let copy = try await OpenFile.downloaded(prefix: "litestream-webdav") { copy in
            _ = try await client.download(
                fileSegments(file.level, file.minTXID, file.maxTXID), to: copy.descriptor, path: copy.path)
        }
        return ReplicaFileReader(copy, file: file)
    }

    /// Stages the body in an unlinked temporary file (`write` runs here, on the calling task), then uploads it.
    @discardableResult
    public func writeLTXFile(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64,
        write: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) async throws -> LTXFileInfo {
        let size = try await OpenFile.staged(prefix: "litestream-webdav", write) { staged, size in
            try await put(level: level, minTXID: minTXID, maxTXID: maxTXID, from: staged, size: size)
        }
        return LTXFileInfo(level: level, minTXID: minTXID, maxTXID: maxTXID, size: size, createdAt: timestamp)
    }

    /// Uploads a local LTX file straight from disk, a chunk at a time.
    @discardableResult
    public func upload(localPath: String, level: Int, header: LTXHeader) async throws -> LTXFileInfo {
        let local = try OpenFile(localPath, .readOnly)
        let size = try local.size()
        try await put(level: level, minTXID: header.minTXID, maxTXID: header.maxTXID, from: local, size: size)
        return LTXFileInfo(
            level: level, minTXID: header.minTXID, maxTXID: header.maxTXID, size: size, createdAt: header.timestamp)
    }

    public func deleteLTXFiles(_ files: [LTXFileInfo]) async throws {
        for f in files {
            let segments = fileSegments(f.level, f.minTXID, f.maxTXID)
            let r = try await client.send("DELETE", segments)
            guard (200..<300).contains(r.status) || r.status == 404 else { throw client.failure(r, "DELETE", segments) }
        }
    }

    /// Deletes the replica's `ltx/` directory with everything in it (Litestream deletes the whole `path`; the
    /// files are the same, and a replica at the server's root does not take the root with it).
    public func deleteAll() async throws {
        let dir = client.endpoint.path + ["ltx"]
        let r = try await client.send("DELETE", dir, collection: true)
        guard (200..<300).contains(r.status) || r.status == 404 else {
            throw client.failure(r, "DELETE", dir, collection: true)
        }
    }

    // MARK: - Writing

    func fileSegments(_ level: Int, _ minTXID: TXID, _ maxTXID: TXID) -> [String] {
        client.endpoint.levelDirectory(level) + [LTXFileName.format(min: minTXID, max: maxTXID)]
    }

    /// PUT to a temporary name, making the directories when the server says they are missing, then MOVE over
    /// the final name. The temporary file is deleted when anything fails.
    private func put(level: Int, minTXID: TXID, maxTXID: TXID, from file: borrowing OpenFile, size: Int64) async throws {
        let dir = client.endpoint.levelDirectory(level)
        let name = LTXFileName.format(min: minTXID, max: maxTXID)
        let temporary = dir + ["\(name).\(UInt32.random(in: 0...UInt32.max).hex8).tmp"]
        let body = WebDAVClient.Body.file(descriptor: file.descriptor.rawValue, path: file.path, size: size)
        do {
            var r = try await client.send("PUT", temporary, body: body)
            // 409 Conflict is RFC 4918's answer for a missing parent; some servers say 404.
            if r.status == 409 || r.status == 404 {
                try await makeDirectories(dir)
                r = try await client.send("PUT", temporary, body: body)
            }
            guard (200..<300).contains(r.status) else { throw client.failure(r, "PUT", temporary) }
            try await move(temporary, to: dir + [name], exclusive: level == 0, size: size)
        } catch {
            if !Task.isCancelled { _ = try? await client.send("DELETE", temporary, attempts: 1) }
            throw error
        }
    }

    /// MOVE over the final name. A retry that finds the source gone after an attempt whose answer was lost checks
    /// that the destination is there.
    ///
    /// At level 0 (`exclusive`) with `Overwrite: F`: a file of that name already there is another writer's
    /// (RFC 4918 answers 412), and ``ReplicaError`` `.fileExists` stops this replica. On a retry, a 412 over a file
    /// of our size is our own earlier MOVE, done but its answer lost.
    private func move(_ source: [String], to destination: [String], exclusive: Bool, size: Int64) async throws {
        let r = try await client.send(
            "MOVE", source,
            headers: [("destination", client.endpoint.url(destination)), ("overwrite", exclusive ? "F" : "T")])
        if (200..<300).contains(r.status) { return }
        if r.status == 404 && r.attempt > 0 {
            let check = try await client.send("PROPFIND", destination, headers: [("depth", "0")])
            if check.status == 207 { return }
        }
        if exclusive && r.status == 412 {
            if r.attempt > 0, try await storedSize(destination) == size {
                _ = try? await client.send("DELETE", source, attempts: 1)
                return
            }
            throw ReplicaError(.fileExists,
                "webdav \(client.endpoint.url(destination)) already exists: another process writes to this replica")
        }
        throw client.failure(r, "MOVE", source)
    }

    /// The size of a stored file (`PROPFIND`, `Depth: 0`), nil if there is none.
    private func storedSize(_ path: [String]) async throws -> Int64? {
        let r = try await client.send(
            "PROPFIND", path, headers: [("depth", "0"), ("content-type", "application/xml")],
            body: .data(WebDAVMultistatus.requestBody))
        guard r.status == 207 else { return nil }
        return WebDAVMultistatus.parse(r.body)?.first { !$0.isCollection }?.size
    }

    /// MKCOL of `dir`; when its parent is missing too, MKCOL of each directory from the replica's path down.
    /// 405 (it exists already) counts as made.
    private func makeDirectories(_ dir: [String]) async throws {
        func mkcol(_ segments: [String]) async throws -> Int {
            let r = try await client.send("MKCOL", segments, collection: true)
            if (200..<300).contains(r.status) || r.status == 405 { return 201 }
            if r.status == 409 { return 409 }
            throw client.failure(r, "MKCOL", segments, collection: true)
        }
        guard try await mkcol(dir) == 409 else { return }
        for n in 1...dir.count {
            guard try await mkcol(Array(dir.prefix(n))) != 409 else {
                throw WebDAVError(.notFound,
                    "webdav MKCOL \(client.endpoint.url(Array(dir.prefix(n)), collection: true)) failed: HTTP 409 "
                        + "Conflict (the parent directory does not exist: check webdav-url)",
                    statusCode: 409)
            }
        }
    }
}

extension UInt32 {
    fileprivate var hex8: String {
        let s = String(self, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}
