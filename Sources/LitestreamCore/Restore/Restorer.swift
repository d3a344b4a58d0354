import LitestreamClient
import CLitestreamSQLite
public import LTX

/// Builds a database from a replica's LTX files.
///
/// The database is written to a temporary file beside `output`, checked (optionally), fsynced and put in place, and
/// the directory fsynced: the output path never holds a half-written database. Unless asked to overwrite, it is put
/// in place without ever replacing a file that appeared at `output` meanwhile (a second instance booting during a
/// deploy while the first one writes): that restore fails with ``RestoreError/Code/outputExists`` and leaves the
/// file alone.
public struct Restorer: Sendable {
    public enum IntegrityCheck: String, Sendable, CaseIterable {
        case none, quick, full
    }

    public struct Result: Sendable {
        public var txid: TXID
        public var pageSize: UInt32
        public var pages: UInt32
        public var files: [LTXFileInfo]
        /// Stale `-wal`/`-shm` files of the missing output that were renamed aside (see
        /// ``moveAsideStaleSideFiles(of:)``), for the caller to log.
        public var movedAside: [String] = []
    }

    public let replica: any ReplicaClient

    /// - Parameter replica: where the LTX files are read from.
    public init(replica: any ReplicaClient) { self.replica = replica }

    /// The files a restore would apply, in order.
    ///
    /// - Parameters:
    ///   - txid: the last transaction to include; nil for the latest state.
    ///   - timestamp: the newest file time to include, Unix ms (a point in time); nil for the latest state.
    /// - Throws: ``RestoreError`` when the replica is empty or has no chain of files reaching the target.
    public func plan(txid: TXID? = nil, timestamp: Int64? = nil) async throws -> [LTXFileInfo] {
        try await planning { try RestorePlan.make(files: $0, txid: txid, timestamp: timestamp) }
    }

    /// How many more times ``planning(_:)`` lists the replica when a plan finds the chain broken.
    public static let relistings = 2

    /// Lists the replica and hands the listing to `plan`. When `plan` finds the chain of files broken
    /// (`nonContiguous` or `noMatchingBackupFiles`), the replica is listed again, up to ``relistings`` times,
    /// before the error is believed.
    ///
    /// A listing taken while a replicator writes is not a snapshot: a directory read while files are added may
    /// miss one and show a later one (ext4 returns names in hash order, and readdir promises nothing about entries
    /// added meanwhile; listings of a directory of thousands of files growing every few ms did so here), and
    /// files may be deleted between two levels' listings. A hole that a new listing no longer shows was never a
    /// state of the replica. Litestream 0.5.17 fails on the first such listing ("non-contiguous ltx files").
    public func planning<T>(_ plan: ([Int: [LTXFileInfo]]) throws -> T) async throws -> T {
        var relisted = 0
        while true {
            let files = try await replica.allFilesByLevel()
            do {
                return try plan(files)
            } catch let error as RestoreError
                where relisted < Self.relistings && [.nonContiguous, .noMatchingBackupFiles].contains(error.code)
                && !files.values.allSatisfy(\.isEmpty)
            {
                relisted += 1
            }
        }
    }

    /// Restores to `output`, building it in a temporary file beside it, fsynced, then put into place.
    ///
    /// - Parameters:
    ///   - output: the database file to create; it must be missing or, with `overwrite`, a regular file.
    ///   - plan: the files to apply, from ``plan(txid:timestamp:)``.
    ///   - integrityCheck: the SQLite check the new database must pass before it is put into place.
    ///   - overwrite: replace an existing `output` (and remove its `-wal`/`-shm`), only once the new one is complete.
    ///     Without it, the new file is linked into place only if `output` still does not exist, and `-wal`/`-shm`
    ///     files left from an earlier database at that path are renamed aside first (SQLite would replay a stale
    ///     WAL onto the restored file).
    /// - Returns: the TXID reached and the database's page size and count.
    /// - Throws: ``RestoreError/Code/outputExists`` when `output` exists, or appeared during the restore (it is
    ///   left untouched), unless `overwrite`.
    @discardableResult
    public func restore(
        to output: String, plan: [LTXFileInfo], integrityCheck: IntegrityCheck = .none, overwrite: Bool = false
    ) async throws -> Result {
        let output = absolutePath(output)
        guard let last = plan.last else { throw RestoreError(.noBackups, "no backup files to restore from \(replica.location)") }
        try Self.checkOutput(output)
        if !overwrite && POSIX.exists(output) {
            throw RestoreError(.outputExists, "output file already exists: \(output)")
        }
        let dir = POSIX.dirname(output)
        try POSIX.mkdirs(dir)
        // Without overwrite, two processes may restore the same missing database at once (two instances booting):
        // each builds its own file, so neither links the other's half-written one into place.
        let tmp = overwrite ? output + ".tmp" : output + ".tmp-\(getpid())"
        try? POSIX.remove(tmp)
        var pageSize: UInt32 = 0
        var commit: UInt32 = 0
        do {
            var writer: PageWriter?
            for file in plan {
                let reader = try await replica.openLTXFile(file)
                // The writer hashes the pages on its own thread; the decoder folds those checksums into the file's.
                var dec = reader.decoder(deferPageChecksums: true)
                let h = try dec.readHeader()
                guard h.minTXID == file.minTXID, h.maxTXID == file.maxTXID else {
                    throw RestoreError(.inconsistent, "\(file) holds TXIDs \(h.minTXID)-\(h.maxTXID), not what its name says")
                }
                // The database's page size changed (PRAGMA page_size and VACUUM, or another database put in its
                // place): the replicator wrote every page again in the new size, in this file. What came before is
                // void: the output starts again from it, and it must hold the whole database.
                let restart = pageSize != 0 && h.pageSize != pageSize
                if restart {
                    try writer?.finish(size: 0)
                    writer = nil
                }
                pageSize = h.pageSize
                if writer == nil { writer = try PageWriter(path: tmp, pageSize: Int(pageSize)) }
                let pageChecksums = try writer!.decodeAll(&dec)
                // Verified before the next file and long before the rename: a corrupt file fails the restore.
                try dec.finish(pageChecksums: pageChecksums)
                if restart && pageChecksums.count < Self.pageCount(commit: h.commit, pageSize: h.pageSize) {
                    throw RestoreError(.inconsistent, "\(file) changes the page size to \(h.pageSize) but holds \(pageChecksums.count) "
                        + "of the database's \(h.commit) pages (a change of page size must come with every page): restore an "
                        + "earlier point with -txid or -timestamp")
                }
                commit = h.commit
            }
            try writer?.finish(size: Int64(commit) * Int64(pageSize))
        } catch {
            try? POSIX.remove(tmp)
            throw error
        }
        if integrityCheck != .none {
            do { try Self.checkIntegrity(path: tmp, mode: integrityCheck) } catch {
                try? POSIX.remove(tmp)
                // Named after the output the user asked for (the temporary file is gone), with what to do.
                throw RestoreError(.integrity, "restore to \(output) at TXID \(last.maxTXID) failed: \(error); nothing was "
                    + "written to \(output). The replica's files do not make a valid database at this point: try an "
                    + "earlier point with -txid or -timestamp (`litestream ltx` lists the replica's files), or restore "
                    + "with -integrity-check none to keep the file for inspection")
            }
        }
        var movedAside: [String] = []
        if overwrite {
            // Only now that the new database is complete: stale -wal/-shm files would be replayed onto it.
            try POSIX.remove(output + "-wal")
            try POSIX.remove(output + "-shm")
            try POSIX.rename(tmp, output)
        } else {
            if POSIX.exists(output) {
                try? POSIX.remove(tmp)
                throw RestoreError(.outputExists, "output file already exists: \(output)")
            }
            do {
                movedAside = try Self.moveAsideStaleSideFiles(of: output)
                guard try POSIX.renameNoReplace(tmp, output) else {
                    try? POSIX.remove(tmp)
                    throw RestoreError(.outputExists, "output file appeared during the restore and was left untouched: \(output)")
                }
            } catch {
                try? POSIX.remove(tmp)
                throw error
            }
        }
        try POSIX.fsyncDirectory(dir)
        return Result(txid: last.maxTXID, pageSize: pageSize, pages: commit, files: plan, movedAside: movedAside)
    }

    /// The pages of a database of `commit` pages: all but SQLite's lock page, which no file holds.
    static func pageCount(commit: UInt32, pageSize: UInt32) -> Int {
        Int(commit) - (LTXHeader.lockPage(pageSize: pageSize) <= commit ? 1 : 0)
    }

    /// Renames the `-wal` and `-shm` files of a database that does not exist to `<name>.stale-<UTC time>`, so that
    /// SQLite cannot replay a WAL of an earlier database onto a new file at that path. They are kept, not deleted:
    /// they may hold the only copy of that database's last commits.
    ///
    /// - Returns: the new names of the files moved (empty when there were none, or the database exists).
    public static func moveAsideStaleSideFiles(of database: String) throws -> [String] {
        guard !POSIX.exists(database) else { return [] }
        var moved: [String] = []
        let stamp = Self.compactUTC(milliseconds: POSIX.nowMilliseconds())
        for suffix in ["-wal", "-shm"] where POSIX.exists(database + suffix) {
            let target = database + suffix + ".stale-" + stamp
            try POSIX.rename(database + suffix, target)
            moved.append(target)
        }
        if !moved.isEmpty { try POSIX.fsyncDirectory(POSIX.dirname(database)) }
        return moved
    }

    /// `20261203T220512.123Z`: sorts by time, and has no `:` (awkward in file names on some systems).
    static func compactUTC(milliseconds ms: Int64) -> String {
        var t = time_t(ms / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        return pad(tm.tm_year + 1900, 4) + pad(tm.tm_mon + 1, 2) + pad(tm.tm_mday, 2) + "T" + pad(tm.tm_hour, 2)
            + pad(tm.tm_min, 2) + pad(tm.tm_sec, 2) + "." + pad(Int32(ms % 1000), 3) + "Z"
    }

    /// Refuses an output that exists and is not a regular file (symlinks followed): the restore renames a new file
    /// over it, which would replace a device node or FIFO (`-force -o /dev/null`), and fails on a directory only
    /// once the whole database is written beside it.
    public static func checkOutput(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT != S_IFREG else { return }
        let kinds = [S_IFDIR: "a directory", S_IFCHR: "a character device", S_IFBLK: "a block device", S_IFIFO: "a FIFO",
            S_IFSOCK: "a socket"]
        throw RestoreError(.invalidRequest, "cannot restore to \(path): it is \(kinds[st.st_mode & S_IFMT] ?? "not a regular file"), "
            + "not a database file; give the path of a database file, or of one to create")
    }

    /// Runs `PRAGMA quick_check` or `integrity_check` on a database file (read-only, leaving no side files).
    public static func checkIntegrity(path: String, mode: IntegrityCheck) throws {
        guard mode != .none else { return }
        // immutable=1: no locks, no -wal/-shm files; the file is ours alone until it is renamed.
        let uri = "file:\(path)?immutable=1"
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nil)
        defer { sqlite3_close_v2(db) }
        guard rc == SQLITE_OK else { throw RestoreError(.integrity, "SQLite cannot open it (sqlite \(rc))") }
        let conn = try SQLiteConnectionRef(db!)
        let rows: [[String?]]
        do { rows = try conn.query(mode == .quick ? "PRAGMA quick_check" : "PRAGMA integrity_check") } catch {
            throw RestoreError(.integrity, "SQLite cannot read it (\(error))")
        }
        let result = rows.compactMap { $0.first ?? nil }
        guard result == ["ok"] else {
            throw RestoreError(.integrity, "the \(mode.rawValue) integrity check fails: \(result.prefix(5).joined(separator: "; "))")
        }
    }
}

/// Wraps a borrowed handle (for a one-off query).
private struct SQLiteConnectionRef {
    let db: OpaquePointer
    init(_ db: OpaquePointer) throws { self.db = db }
    func query(_ sql: String) throws -> [[String?]] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else {
            throw RestoreError(.integrity, String(cString: sqlite3_errmsg(db)))
        }
        defer { sqlite3_finalize(stmt) }
        var rows: [[String?]] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw RestoreError(.integrity, String(cString: sqlite3_errmsg(db))) }
            rows.append([sqlite3_column_text(stmt, 0).map { String(cString: $0) }])
        }
        return rows
    }
}

