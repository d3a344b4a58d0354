public import Foundation
public import LitestreamClient
public import LitestreamCore
public import Logging
public import LTX
import NIOCore
import SystemPackage

/// A replica on an SFTP server, laid out exactly as Litestream 0.5.17's `sftp` replica: files
/// `<path>/ltx/<level>/<min>-<max>.ltx`, each written to `<name>.<pid>.<nanoseconds>.tmp`, its modification time
/// set to the LTX header's timestamp (whole seconds: SFTP v3 has no finer times), then renamed; point-in-time
/// restore reads the modification time back from the listing, as Litestream does.
///
/// One SSH connection per replica, opened on first use and again after it drops; a request that fails because the
/// connection dropped (or could not be made) is tried again on a new one, up to ``retryDelays`` times. An idle
/// replica sends nothing (no keep-alive requests). Transfers are pipelined in ``chunkSize`` pieces with at most
/// ``window`` outstanding, so memory stays bounded whatever the file size: a download goes to an unlinked local
/// temporary file, and a file produced by a writer (a compaction, a snapshot) is spooled to one before upload.
public struct SFTPReplicaClient: ReplicaClient {
    public let configuration: SFTPConfiguration
    let connector: SFTPConnector
    let requests = RequestCounter()
    /// Bytes per READ or WRITE request (OpenSSH's server takes up to 256 KiB; 32 KiB is what SFTP clients send).
    public var chunkSize = 32 * 1024
    /// Outstanding READ or WRITE requests per transfer.
    public var window = 16
    /// Waits before each new attempt after a transient failure (a lost or refused connection).
    public var retryDelays: [Duration] = [.milliseconds(250), .seconds(1), .seconds(3)]

    public var type: String { "sftp" }
    public var location: String { configuration.description }
    /// Files written (`PUT`), opened for reading (`GET`), directory listings (`LIST`), files deleted (`DELETE`)
    /// and stats (`HEAD`), as Litestream's operation counters count them.
    public var requestCounts: RequestCounts? { requests.snapshot }
    /// One second, Litestream's `sync-interval`: each upload is a few round trips, so a busy database uploads its
    /// files merged, at most once a second; an isolated commit still goes at once.
    public var defaultSyncInterval: Duration? { .seconds(1) }

    /// A client for `configuration`; nothing is sent until it is used.
    ///
    /// - Throws: ``SFTPConfiguration/Invalid`` when the configuration cannot work (no host, user or credential, or
    ///   a `host-key` that is not a public key).
    public init(
        configuration: SFTPConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "litestream.sftp")
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.connector = SFTPConnector(configuration: configuration, environment: environment, logger: logger)
    }

    /// A client for an `sftp://user[:password]@host[:port]/path` URL (see ``SFTPConfiguration/parse(url:)``).
    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try self.init(configuration: SFTPConfiguration.parse(url: url), environment: environment)
    }

    /// SFTP requests sent so far (every packet, over every connection), for checking that an idle replica is quiet.
    public var requestsSent: Int { get async { await connector.requestsSent } }

    // MARK: Layout

    var root: String {
        var p = configuration.path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }

    /// `<path>/ltx/<level>`, as Litestream's `path.Join` makes it.
    public func levelDirectory(_ level: Int) -> String { Self.join(root, "ltx/\(level)") }

    public func path(level: Int, minTXID: TXID, maxTXID: TXID) -> String {
        "\(levelDirectory(level))/\(LTXFileName.format(min: minTXID, max: maxTXID))"
    }

    static func join(_ a: String, _ b: String) -> String {
        a.isEmpty ? b : a == "/" ? "/" + b : a + "/" + b
    }

    // MARK: Connection and retries

    /// Connects (checking the host key and logging in) and checks that ``SFTPConfiguration/path`` is a directory
    /// or does not exist yet (it is created on the first upload), so that a wrong host, key, password or path is
    /// reported before replication begins. The description of the ``SFTPError`` names the endpoint.
    public func checkAccess() async throws {
        try await withConnection { c in
            guard let attributes = try await Self.statIfExists(c, root.isEmpty ? "." : root) else { return }
            if attributes.isDirectory == false {
                throw SFTPError(.invalidConfiguration, "\(root) on \(c.endpoint) is not a directory")
            }
        }
    }

    /// Closes the connection (a later call connects again).
    public func close() async { await connector.close() }

    /// Runs `body` on the connection, connecting first; after a transient failure (the connection dropped or could
    /// not be made), drops the connection and runs it again on a new one, after each of ``retryDelays``.
    func withConnection<T: Sendable>(_ body: (SFTPConnection) async throws -> T) async throws -> T {
        var attempt = 0
        var reconnectedAtOnce = false
        while true {
            var connection: SFTPConnection?
            var reused = false
            do {
                (connection, reused) = try await connector.connectionNoting()
                return try await body(connection!)
            } catch let error as SFTPError where error.isTransient {
                if let connection { await connector.drop(connection) }
                // A kept connection that died while idle (the server restarted): a new one at once, no attempt spent.
                if reused && error.code == .connectionLost && !reconnectedAtOnce {
                    reconnectedAtOnce = true
                    continue
                }
                guard attempt < retryDelays.count else { throw error }
                try await Task.sleep(for: retryDelays[attempt])
                attempt += 1
            }
        }
    }

    static func statIfExists(_ c: SFTPConnection, _ path: String) async throws -> SFTPAttributes? {
        do {
            return try await c.stat(path)
        } catch let e as SFTPError where e.isNoSuchFile {
            return nil
        }
    }

    // MARK: ReplicaClient

    public func ltxFiles(level: Int) async throws -> [LTXFileInfo] {
        let dir = levelDirectory(level)
        let names: [SFTPName] = try await withConnection { c in
            requests.count(.list)
            do {
                return try await c.readDirectory(dir)
            } catch let e as SFTPError where e.isNoSuchFile {
                return []
            }
        }
        var files: [LTXFileInfo] = []
        for n in names {
            guard let (min, max) = LTXFileName.parse(n.filename), n.attributes.isDirectory != true else { continue }
            files.append(LTXFileInfo(level: level, minTXID: min, maxTXID: max, size: Int64(n.attributes.size ?? 0),
                createdAt: Int64(n.attributes.modificationTime ?? 0) * 1000))
        }
        return files.sorted { ($0.minTXID, $0.maxTXID) < ($1.minTXID, $1.maxTXID) }
    }

    /// Downloads the file into an unlinked local temporary file (``window`` reads of ``chunkSize`` in flight) and
    /// returns a reader on it. A download cut by a lost connection goes on from where it stopped.
    public func openLTXFile(_ file: LTXFileInfo) async throws -> ReplicaFileReader {
        let remote = path(level: file.level, minTXID: file.minTXID, maxTXID: file.maxTXID)
        let tmp = FileManager.default.temporaryDirectory.path + "/litestream-sftp-\(UUID().uuidString).ltx"
        let copy = try OpenFile(tmp, .readWrite, options: [.create, .exclusiveCreate], permissions: .ownerReadWrite)
        try POSIX.remove(tmp)  // the descriptor keeps the data until it is closed
        let fd = copy.descriptor
        requests.count(.get)
        var done: Int64 = 0
        try await withConnection { c in
            done = try await download(c, remote, from: done, to: fd)
        }
        return ReplicaFileReader(copy, file: file)
    }

    /// Copies `remote` from `start` on into `fd` at the same offsets; returns the size reached.
    private func download(_ c: SFTPConnection, _ remote: String, from start: Int64, to fd: SystemPackage.FileDescriptor) async throws -> Int64 {
        let handle = try await c.open(remote, flags: .read)
        var end = start
        do {
            let size = Int64(try await c.fstat(handle: handle).size ?? 0)
            end = try await withThrowingTaskGroup(of: (Int64, Int64, ByteBuffer?).self) { group in
                var pending: [(Int64, Int64)] = []  // ranges still to ask for
                var next = start
                var reached = start
                var inFlight = 0
                let chunk = Int64(chunkSize)
                func schedule() {
                    while inFlight < window {
                        let range: (Int64, Int64)
                        if let r = pending.popLast() {
                            range = r
                        } else if next < size {
                            range = (next, min(chunk, size - next))
                            next += range.1
                        } else {
                            return
                        }
                        inFlight += 1
                        group.addTask {
                            (range.0, range.1, try await c.read(handle: handle, offset: UInt64(range.0), length: UInt32(range.1)))
                        }
                    }
                }
                schedule()
                while let (offset, length, data) = try await group.next() {
                    inFlight -= 1
                    if let data, data.readableBytes > 0 {
                        try data.withUnsafeReadableBytes { bytes in
                            _ = try fd.writeAll(toAbsoluteOffset: offset, bytes)
                        }
                        let got = Int64(data.readableBytes)
                        reached = Swift.max(reached, offset + got)
                        if got < length { pending.append((offset + got, length - got)) }
                    }
                    schedule()
                }
                return reached
            }
        } catch {
            _ = try? await c.close(handle: handle)
            throw error
        }
        try await c.close(handle: handle)
        return end
    }

    @discardableResult
    public func writeLTXFile(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64,
        write: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) async throws -> LTXFileInfo {
        // The writer is synchronous and runs once; spooled to a local file, the upload can be retried on a new
        // connection and is pipelined, without holding the file in memory.
        let tmp = FileManager.default.temporaryDirectory.path + "/litestream-sftp-\(UUID().uuidString).ltx"
        let spool = try OpenFile(tmp, .readWrite, options: [.create, .exclusiveCreate], permissions: .ownerReadWrite)
        try POSIX.remove(tmp)
        var size: Int64 = 0
        try write { bytes in
            try spool.write(bytes)
            size += Int64(bytes.count)
        }
        let fd = spool.descriptor
        try await put(from: fd, size: size, level: level, minTXID: minTXID, maxTXID: maxTXID, timestamp: timestamp)
        _ = consume spool
        return LTXFileInfo(level: level, minTXID: minTXID, maxTXID: maxTXID, size: size, createdAt: timestamp)
    }

    /// Uploads a local LTX file straight from disk (pipelined reads of the local file; no copy in memory).
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

    /// Writes `size` bytes of `fd` to a temporary name beside the final one, sets its times to `timestamp`, and
    /// renames it into place. Each attempt writes a new temporary file.
    private func put(
        from fd: SystemPackage.FileDescriptor, size: Int64, level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64
    ) async throws {
        let dir = levelDirectory(level)
        let final = path(level: level, minTXID: minTXID, maxTXID: maxTXID)
        let seconds = UInt32(clamping: timestamp / 1000)
        requests.count(.put)
        try await withConnection { c in
            let tmp = "\(final).\(ProcessInfo.processInfo.processIdentifier).\(DispatchTime.now().uptimeNanoseconds).tmp"
            let flags: SFTPOpenFlags = [.write, .create, .truncate]
            let mode = SFTPAttributes(permissions: 0o600)
            let handle: ByteBuffer
            do {
                handle = try await c.open(tmp, flags: flags, attributes: mode)
            } catch let e as SFTPError where e.isNoSuchFile {
                try await makeDirectories(c, dir)
                handle = try await c.open(tmp, flags: flags, attributes: mode)
            }
            do {
                try await writeChunks(c, handle, from: fd, size: size)
                try await c.close(handle: handle)
            } catch {
                _ = try? await c.close(handle: handle)
                _ = try? await c.remove(tmp)
                throw error
            }
            do {
                try await c.setstat(tmp, SFTPAttributes(accessTime: seconds, modificationTime: seconds))
                try await c.rename(tmp, to: final)
            } catch {
                _ = try? await c.remove(tmp)
                throw error
            }
        }
    }

    /// WRITE requests of ``chunkSize``, ``window`` at a time, read from `fd` as they are sent.
    private func writeChunks(_ c: SFTPConnection, _ handle: ByteBuffer, from fd: SystemPackage.FileDescriptor, size: Int64) async throws {
        let chunk = Int64(chunkSize)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var offset: Int64 = 0
            var inFlight = 0
            while offset < size {
                let n = Int(min(chunk, size - offset))
                var buffer = ByteBufferAllocator().buffer(capacity: n)
                let at = offset
                try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: n) { space in
                    var got = 0
                    while got < n {
                        let r = try fd.read(fromAbsoluteOffset: at + Int64(got),
                            into: UnsafeMutableRawBufferPointer(rebasing: space[got..<n]))
                        guard r > 0 else { throw SystemError(operation: "read", path: "(local LTX file)", errno: .ioError) }
                        got += r
                    }
                    return n
                }
                let data = buffer
                group.addTask { try await c.write(handle: handle, offset: UInt64(at), data: data) }
                inFlight += 1
                offset += Int64(n)
                if inFlight >= window {
                    try await group.next()
                    inFlight -= 1
                }
            }
            try await group.waitForAll()
        }
    }

    /// `mkdir -p` with mode 0700 (the files hold the database's pages).
    private func makeDirectories(_ c: SFTPConnection, _ dir: String) async throws {
        do {
            try await c.mkdir(dir, attributes: SFTPAttributes(permissions: 0o700))
        } catch let e as SFTPError where e.isNoSuchFile {
            let parent = (dir as NSString).deletingLastPathComponent
            guard !parent.isEmpty, parent != dir, parent != "/" else { throw e }
            try await makeDirectories(c, parent)
            try await makeDirectories(c, dir)
        } catch let e as SFTPError where e.code == .status {
            // Already there (OpenSSH answers FAILURE for EEXIST), or made meanwhile by another writer.
            guard let a = try await Self.statIfExists(c, dir), a.isDirectory != false else {
                throw SFTPError(.status, "cannot create the replica directory \(dir) on \(c.endpoint): \(e.message)",
                    status: e.status)
            }
        }
    }

    /// Removes the files, ``window`` at a time; files already gone are not an error.
    public func deleteLTXFiles(_ files: [LTXFileInfo]) async throws {
        guard !files.isEmpty else { return }
        let paths = files.map { path(level: $0.level, minTXID: $0.minTXID, maxTXID: $0.maxTXID) }
        try await withConnection { c in
            try await removeAll(c, paths)
        }
    }

    private func removeAll(_ c: SFTPConnection, _ paths: [String]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for p in paths {
                requests.count(.delete)
                group.addTask {
                    do {
                        try await c.remove(p)
                    } catch let e as SFTPError where e.isNoSuchFile {}
                }
                inFlight += 1
                if inFlight >= window {
                    try await group.next()
                    inFlight -= 1
                }
            }
            try await group.waitForAll()
        }
    }

    /// Deletes everything under the replica's path, and the emptied directories, as Litestream's `DeleteAll`.
    public func deleteAll() async throws {
        try await withConnection { c in
            try await removeTree(c, root.isEmpty ? "." : root)
        }
    }

    private func removeTree(_ c: SFTPConnection, _ dir: String) async throws {
        let entries: [SFTPName]
        do {
            requests.count(.list)
            entries = try await c.readDirectory(dir)
        } catch let e as SFTPError where e.isNoSuchFile {
            return
        }
        var files: [String] = []
        for e in entries {
            let p = Self.join(dir, e.filename)
            if e.attributes.isDirectory == true {
                try await removeTree(c, p)
            } else {
                files.append(p)
            }
        }
        try await removeAll(c, files)
        do {
            try await c.rmdir(dir)
        } catch let e as SFTPError where e.isNoSuchFile {}
    }
}
