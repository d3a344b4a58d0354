import LTX
import Synchronization
import SystemPackage

/// The engine's local state: `<meta>/ltx/0/<txid>-<txid>.ltx`, exactly as Litestream keeps it, so either tool can
/// pick up where the other stopped. The newest file's header is the resume position; there is no other state file.
/// Its files hold the database's pages: they are 0600 and directories 0700, as Litestream's (a file replica
/// hard-links them).
struct LocalLTXStore {
    let metaPath: String
    var directory: String { "\(metaPath)/ltx/0" }
    /// Shared by copies of this store (the engine's and the uploaders').
    private let cache = ListingCache()

    init(metaPath: String) { self.metaPath = metaPath }

    /// The sorted listing, kept in memory: the engine and every uploader ask for it after each sync, and listing
    /// and parsing a directory of thousands of L0 files (kept for `l0Retention`) each time was most of the
    /// steady-state CPU. Our own writes and removals update it; the directory's mtime catches anyone else's.
    private final class ListingCache: Sendable {
        struct State {
            var stamp: DirectoryStamp?
            var files: [(min: TXID, max: TXID)] = []
        }
        let state = Mutex(State())
    }

    private struct DirectoryStamp: Equatable {
        var ino: UInt64, sec: Int64, nsec: Int64
    }

    private func stamp() -> DirectoryStamp? {
        guard let st = try? FilePath(directory).stat() else { return nil }
        return DirectoryStamp(ino: UInt64(st.inode.rawValue), sec: Int64(st.st_mtim.tv_sec), nsec: Int64(st.st_mtim.tv_nsec))
    }

    /// Applies our own change to the cached listing: `before` is the directory's stamp before the change, so a
    /// listing that was already stale (someone else changed the directory) is dropped instead.
    private func update(before: DirectoryStamp?, _ change: (inout [(min: TXID, max: TXID)]) -> Void) {
        let after = stamp()
        cache.state.withLock { s in
            guard let cached = s.stamp, cached == before, let after else {
                s.stamp = nil
                return
            }
            change(&s.files)
            s.stamp = after
        }
    }

    /// Forgets the cached listing (the next `files()` reads the directory).
    func invalidate() { cache.state.withLock { $0.stamp = nil } }

    /// `.<name>-litestream` next to the database, as Litestream names it.
    static func defaultMetaPath(forDatabase path: String) -> String {
        "\(POSIX.dirname(path))/.\(POSIX.basename(path))-litestream"
    }

    func path(min: TXID, max: TXID) -> String { "\(directory)/\(LTXFileName.format(min: min, max: max))" }

    /// Opens a local file for reading (its info's size and time are not looked up: reading needs neither).
    func open(min: TXID, max: TXID) throws -> ReplicaFileReader {
        let info = LTXFileInfo(level: 0, minTXID: min, maxTXID: max, size: 0, createdAt: 0)
        return ReplicaFileReader(try OpenFile(path(min: min, max: max), .readOnly), file: info)
    }

    /// Local L0 files sorted by TXID.
    func files() throws -> [(min: TXID, max: TXID)] {
        let now = stamp()
        if let now, let cached = cache.state.withLock({ s in s.stamp == now ? s.files : nil }) { return cached }
        let listed = try POSIX.listDirectory(directory).compactMap { LTXFileName.parse($0) }.sorted { $0.min < $1.min }
        // `now` was taken before listing: a change during the listing moves the mtime past it and is re-read.
        cache.state.withLock { s in
            s.stamp = now
            s.files = listed
        }
        return listed
    }

    /// Removes leftovers of writes interrupted by a crash.
    func removeTemporaryFiles() throws {
        for name in try POSIX.listDirectory(directory) where name.hasSuffix(".tmp") {
            try POSIX.remove("\(directory)/\(name)")
        }
    }

    /// Reads and fully verifies one local file, returning its header.
    func verifiedHeader(min: TXID, max: TXID) throws -> LTXHeader {
        let p = path(min: min, max: max)
        var dec = LTXDecoder(try open(min: min, max: max), name: p)
        let h = try dec.readHeader()
        try dec.finish()
        return h
    }

    func header(min: TXID, max: TXID) throws -> LTXHeader {
        let p = path(min: min, max: max)
        let file = try OpenFile(p, .readOnly)
        var buf = [UInt8](repeating: 0, count: LTXHeader.size)
        try buf.withUnsafeMutableBytes { _ = try file.readFully($0, at: 0) }
        return try buf.withUnsafeBytes { try LTXHeader(decoding: $0) }
    }

    /// Writes a new L0 file: encode to a temp file, rename. `keep` is asked before the rename; when it says no, the
    /// temp file is removed and false returned (nothing becomes visible).
    ///
    /// Not fsynced, unlike Litestream: the durable copy is the replica's (its client syncs), and a local file
    /// damaged or lost by an OS crash is detected when the engine opens (`open(verifyAfter:)`), so it is never
    /// uploaded; the replica then gets a full-database file instead. A process crash (SIGKILL) cannot damage a
    /// renamed file: its pages are in the page cache. This saves two fsyncs per sync, and a full-database file's
    /// write-back wait before its upload can start.
    @discardableResult
    func write(header: LTXHeader, keep: () throws -> Bool = { true }, pages: (inout LTXEncoder) throws -> Void) throws -> Bool {
        try POSIX.mkdirs(directory, mode: 0o700)
        let final = path(min: header.minTXID, max: header.maxTXID)
        let tmp = final + ".tmp"
        // Taken before the temporary file changes the directory: creating and renaming it are both ours.
        let before = stamp()
        do {
            try OpenFile(tmp, .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite).withSink { sink in
                var enc = try LTXEncoder(header: header, sink: sink)
                try pages(&enc)
                try enc.finish()
            }
            guard try keep() else {
                try POSIX.remove(tmp)
                update(before: before) { _ in }
                return false
            }
        } catch {
            try? POSIX.remove(tmp)
            invalidate()
            throw error
        }
        try POSIX.rename(tmp, final)
        update(before: before) { files in
            // Almost always a new last file: search from the end.
            files.removeAll { $0.min == header.minTXID && $0.max == header.maxTXID }
            var i = files.endIndex
            while i > files.startIndex && files[i - 1].min > header.minTXID { i -= 1 }
            files.insert((header.minTXID, header.maxTXID), at: i)
        }
        return true
    }

    func remove(min: TXID, max: TXID) throws {
        let before = stamp()
        try POSIX.remove(path(min: min, max: max))
        update(before: before) { files in files.removeAll { $0.min == min && $0.max == max } }
    }

    /// Takes an exclusive lock on `<meta>/lock` for as long as the returned descriptor lives, so that two of our
    /// replicators never write the same TXIDs. (A lock file, never the database: see docs/design.md.)
    ///
    /// A lock just given back (a database whose connections were closed while idle, opened again) can still be
    /// held for a moment by a child that another thread of this process is starting: the child shares the
    /// descriptor between its fork and its exec (close-on-exec closes it only then). So a held lock is tried
    /// again for up to half a second before it counts as another replicator's.
    func lock() throws -> OpenFile {
        try POSIX.mkdirs(metaPath, mode: 0o700)
        let file = try OpenFile("\(metaPath)/lock", .readWrite, options: .create, permissions: .ownerReadWrite)
        for attempt in 0..<Self.lockAttempts {
            if flock(file.descriptor.rawValue, LOCK_EX | LOCK_NB) == 0 { return file }
            if attempt + 1 < Self.lockAttempts { usleep(10_000) }
        }
        throw EngineError(.localState,
            "another replicator is already running for this database (\(metaPath)/lock is locked)")
    }

    private static let lockAttempts = 50

    func removeAll() throws {
        for f in try files() { try remove(min: f.min, max: f.max) }
    }
}
