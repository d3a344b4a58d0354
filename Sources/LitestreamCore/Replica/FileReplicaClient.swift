import LitestreamClient
import SystemPackage
public import LTX

/// A replica in a local directory, laid out as Litestream's `file` replica: `<root>/ltx/<level>/<min>-<max>.ltx`,
/// each file written to a temporary name, fsynced, renamed, its directory fsynced, and its mtime set to the LTX
/// header timestamp (point-in-time restore reads it). Files are 0600 and the directories it creates 0700: they
/// hold the database's pages. A level-0 file never replaces an existing one (``ReplicaError`` `.fileExists`).
public struct FileReplicaClient: ReplicaClient {
    public let root: String
    public var type: String { "file" }
    public var location: String { "file://\(root)" }

    /// - Parameter path: the replica's directory, made absolute against the working directory; created on the
    ///   first write.
    public init(path: String) {
        var p = absolutePath(path)
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        self.root = p
    }

    public func levelDirectory(_ level: Int) -> String { "\(root)/ltx/\(level)" }

    public func path(level: Int, minTXID: TXID, maxTXID: TXID) -> String {
        "\(levelDirectory(level))/\(LTXFileName.format(min: minTXID, max: maxTXID))"
    }

    public func ltxFiles(level: Int) async throws -> [LTXFileInfo] {
        let dir = levelDirectory(level)
        var files: [LTXFileInfo] = []
        for name in try POSIX.listDirectory(dir) {
            guard let (min, max) = LTXFileName.parse(name) else { continue }
            let p = "\(dir)/\(name)"
            guard let size = POSIX.fileSize(p), let mtime = POSIX.modificationTimeMilliseconds(p) else { continue }
            files.append(LTXFileInfo(level: level, minTXID: min, maxTXID: max, size: size, createdAt: mtime))
        }
        return files.sorted { ($0.minTXID, $0.maxTXID) < ($1.minTXID, $1.maxTXID) }
    }

    /// A directory read, no `stat`: what the replicator checks before each upload.
    public func ltxRangesWithoutRequest(level: Int) throws -> [ClosedRange<TXID>]? {
        try POSIX.listDirectory(levelDirectory(level)).compactMap { LTXFileName.parse($0).map { $0.0...$0.1 } }
    }

    public func openLTXFile(_ file: LTXFileInfo) async throws -> ReplicaFileReader {
        let p = path(level: file.level, minTXID: file.minTXID, maxTXID: file.maxTXID)
        return ReplicaFileReader(try OpenFile(p, .readOnly), file: file)
    }

    @discardableResult
    public func writeLTXFile(
        level: Int, minTXID: TXID, maxTXID: TXID, timestamp: Int64,
        write: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) async throws -> LTXFileInfo {
        let dir = levelDirectory(level)
        try POSIX.mkdirs(dir, mode: 0o700)
        let final = path(level: level, minTXID: minTXID, maxTXID: maxTXID)
        let tmp = final + ".tmp"
        var size: Int64 = 0
        do {
            let out = try OpenFile(tmp, .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
            try write { bytes in
                try out.write(bytes)
                size += Int64(bytes.count)
            }
            try out.sync()
        } catch {
            try? POSIX.remove(tmp)
            throw error
        }
        try POSIX.setModificationTime(tmp, milliseconds: timestamp)
        if level == 0 {
            guard try POSIX.renameNoReplace(tmp, final) else {
                try? POSIX.remove(tmp)
                throw Self.exists(final)
            }
        } else {
            try POSIX.rename(tmp, final)
        }
        try POSIX.fsyncDirectory(dir)
        return LTXFileInfo(level: level, minTXID: minTXID, maxTXID: maxTXID, size: size, createdAt: timestamp)
    }

    /// Hard-links the local file into the replica when both are on one file system, and copies it otherwise (or
    /// when the name exists, or the file system has no hard links).
    ///
    /// A link writes no data and allocates no inode: under a steady writer a sync's copy and its new inode were most
    /// of the replicator's CPU after the fsyncs themselves (on ext4 without a journal, allocating an inode scans
    /// past every one freed in the last minutes). The local file is fsynced before its replica name exists, so a
    /// crash never leaves a replica name over data that is not on disk, and no temporary name is ever linked.
    /// Sharing the inode is safe because no LTX file is ever written again once it has its name: both tools write
    /// a new temporary file and rename it, and remove local files with `unlink`.
    @discardableResult
    public func upload(localPath: String, level: Int, header: LTXHeader) async throws -> LTXFileInfo {
        if let info = try link(localPath: localPath, level: level, header: header) { return info }
        return try await uploadByCopying(localPath: localPath, level: level, header: header)
    }

    private func link(localPath: String, level: Int, header: LTXHeader) throws -> LTXFileInfo? {
        let dir = levelDirectory(level)
        try POSIX.mkdirs(dir, mode: 0o700)
        // Another file system: no link is possible, and fsyncing the local file first would be an fsync wasted on
        // every upload.
        guard let device = POSIX.device(localPath), device == POSIX.device(dir) else { return nil }
        let final = path(level: level, minTXID: header.minTXID, maxTXID: header.maxTXID)
        let local = try OpenFile(localPath, .readOnly)
        // The replica's mtime is the header's timestamp (point-in-time restore reads it); for the local file it
        // only dates its L0 retention, and the timestamp is when it was written.
        try POSIX.setModificationTime(localPath, milliseconds: header.timestamp)
        try local.sync()
        guard POSIX.hardLink(localPath, final) else {
            // Level 0 never replaces a file (the copy would rename over it): it is another writer's.
            if level == 0 && errno == EEXIST { throw Self.exists(final) }
            return nil
        }
        try POSIX.fsyncDirectory(dir)
        return LTXFileInfo(level: level, minTXID: header.minTXID, maxTXID: header.maxTXID,
            size: try local.size(), createdAt: header.timestamp)
    }

    static func exists(_ path: String) -> ReplicaError {
        ReplicaError(.fileExists, "\(path) already exists: another process writes to this replica")
    }

    public func deleteLTXFiles(_ files: [LTXFileInfo]) async throws {
        var dirs = Set<Int>()
        for f in files {
            try POSIX.remove(path(level: f.level, minTXID: f.minTXID, maxTXID: f.maxTXID))
            dirs.insert(f.level)
        }
        for level in dirs { try? POSIX.fsyncDirectory(levelDirectory(level)) }
    }

    public func deleteAll() async throws {
        for level in LTXLevel.all {
            let files = try await ltxFiles(level: level)
            try await deleteLTXFiles(files)
        }
    }
}
