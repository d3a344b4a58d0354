import LitestreamClient
import CLitestreamSQLite
public import LTX

/// An error reported by SQLite, with its result code and message.
public struct SQLiteError: CodedError, Sendable {
    public var code: Int32
    public var message: String
    public var cause: (any Error)? { nil }
    public var description: String { "sqlite error \(code): \(message)" }
    public var isBusy: Bool { code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }
}

/// A minimal wrapper over one system-libsqlite3 connection. Not thread-safe: one owner uses it at a time
/// (opened with `SQLITE_OPEN_NOMUTEX`).
final class SQLiteConnection {
    private(set) var handle: OpaquePointer?
    let path: String

    init(path: String, readOnly: Bool = false, create: Bool = false, busyTimeout: Int32 = 1000) throws(SQLiteError) {
        self.path = path
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | (create ? SQLITE_OPEN_CREATE : 0)
            | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            var msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            // SQLite's "unable to open database file" hides why; out of descriptors is worth saying.
            if let db, sqlite3_system_errno(db) == EMFILE { msg += " (too many open files)" }
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: "\(msg): \(path)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeout)
    }

    deinit { close() }

    func close() {
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    private func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed")
    }

    /// Runs one or more statements, discarding rows.
    func exec(_ sql: String) throws(SQLiteError) {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: msg)
        }
    }

    /// Runs one statement and returns its rows as text (NULL as nil).
    func query(_ sql: String) throws(SQLiteError) -> [[String?]] {
        var stmt: OpaquePointer?
        var rc = sqlite3_prepare_v2(handle, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK else { throw error(rc) }
        defer { sqlite3_finalize(stmt) }
        var rows: [[String?]] = []
        while true {
            rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error(rc) }
            var row: [String?] = []
            for i in 0..<sqlite3_column_count(stmt) {
                row.append(sqlite3_column_text(stmt, i).map { String(cString: $0) })
            }
            rows.append(row)
        }
        return rows
    }

    /// The first column of the first row, as text.
    func scalar(_ sql: String) throws(SQLiteError) -> String? {
        try query(sql).first?.first ?? nil
    }

    /// Retries a busy lock every 100 µs for up to `maxWait`. SQLite's own busy timeout sleeps in growing steps
    /// (1, 2, 5, 10 … ms) and so almost never wins the write lock against an application committing in a loop.
    func setEagerBusyHandler(maxWait: Duration) {
        let attempts = Int32(clamping: maxWait.wholeMicroseconds / 100)
        // The attempt limit travels in the context pointer's bit pattern: no allocation to manage.
        sqlite3_busy_handler(handle, { context, count in
            guard count < Int32(Int(bitPattern: context)) else { return 0 }
            usleep(100)
            return 1
        }, UnsafeMutableRawPointer(bitPattern: Int(attempts)))
    }

    /// Keeps the `-wal` file when this connection closes, so a later sync still sees where we stopped.
    func setPersistWAL() throws(SQLiteError) {
        var on: Int32 = 1
        let rc = sqlite3_file_control(handle, "main", SQLITE_FCNTL_PERSIST_WAL, &on)
        guard rc == SQLITE_OK else { throw error(rc) }
    }

    /// Closing this connection will never checkpoint: only the engine decides when frames may leave the WAL.
    func disableCheckpointOnClose() throws(SQLiteError) {
        let rc = litestream_sqlite3_disable_checkpoint_on_close(handle)
        guard rc == SQLITE_OK else { throw error(rc) }
    }

    enum CheckpointMode {
        case passive, full, restart, truncate
        var raw: Int32 {
            switch self {
            case .passive: SQLITE_CHECKPOINT_PASSIVE
            case .full: SQLITE_CHECKPOINT_FULL
            case .restart: SQLITE_CHECKPOINT_RESTART
            case .truncate: SQLITE_CHECKPOINT_TRUNCATE
            }
        }
    }

    /// Runs a checkpoint and returns the WAL's frame count when it ran (`mxFrame`) and how many frames are now
    /// back-filled. `busy` is true when the mode could not complete because of readers or writers.
    func checkpoint(_ mode: CheckpointMode) throws(SQLiteError) -> (busy: Bool, walFrames: Int32, backfilled: Int32) {
        var log: Int32 = -1
        var done: Int32 = -1
        let rc = sqlite3_wal_checkpoint_v2(handle, "main", mode.raw, &log, &done)
        if rc == SQLITE_BUSY { return (true, log, done) }
        guard rc == SQLITE_OK else { throw error(rc) }
        return (false, log, done)
    }

    var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Reads raw bytes of the main database file through SQLite's own file handle.
    ///
    /// Opening the file ourselves would be unsafe: closing any descriptor of a file drops every POSIX lock this
    /// process holds on it, including those of the application's SQLite connections when we run in-process.
    func readDatabaseFile(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SQLiteError) {
        let file = try mainFile()
        guard let read = file.pointee.pMethods?.pointee.xRead else {
            throw SQLiteError(code: SQLITE_MISUSE, message: "database file has no read method")
        }
        let rc = read(file, buffer.baseAddress, Int32(buffer.count), offset)
        // A short read past the end zero-fills the buffer, which is what a page beyond the end should read as.
        let shortRead = SQLITE_IOERR | (2 << 8)  // SQLITE_IOERR_SHORT_READ, a macro Swift cannot import
        guard rc == SQLITE_OK || rc == shortRead else { throw error(rc) }
    }

    /// The main database file's size in bytes, through SQLite's own file handle.
    func databaseFileSize() throws(SQLiteError) -> Int64 {
        let file = try mainFile()
        guard let size = file.pointee.pMethods?.pointee.xFileSize else {
            throw SQLiteError(code: SQLITE_MISUSE, message: "database file has no size method")
        }
        var n: sqlite3_int64 = 0
        let rc = size(file, &n)
        guard rc == SQLITE_OK else { throw error(rc) }
        return Int64(n)
    }

    /// What SQLite's shared WAL index says is committed: the number of frames (`mxFrame`) and the salts of the
    /// WAL generation it describes. Read through SQLite's own mapping of the `-shm` file (never opened by us), with
    /// SQLite's lock-free protocol: two copies of the header must agree. Nil when there is no index yet.
    func walIndexHeader() throws(SQLiteError) -> (frames: UInt32, salts: WALHeader.Salts)? {
        let file = try mainFile()
        guard let methods = file.pointee.pMethods?.pointee, methods.iVersion >= 2,
            let shmMap = methods.xShmMap, let barrier = methods.xShmBarrier
        else { return nil }
        var region: UnsafeMutableRawPointer?
        let rc = withUnsafeMutablePointer(to: &region) { p in
            p.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: 1) { shmMap(file, 0, 32768, 0, $0) }
        }
        guard rc == SQLITE_OK, let base = region else { return nil }
        let headerSize = 48
        var first = [UInt8](repeating: 0, count: headerSize)
        var second = [UInt8](repeating: 0, count: headerSize)
        for _ in 0..<100 {
            first.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: base, count: headerSize)) }
            barrier(file)
            second.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: base + headerSize, count: headerSize)) }
            guard first == second else { continue }  // a writer is updating it: read again
            if first[12] == 0 { continue }  // not initialised yet
            return first.withUnsafeBytes { h in
                // WalIndexHdr: iVersion u32, unused u32, iChange u32, isInit u8, bigEndCksum u8, szPage u16,
                // mxFrame u32 (native order), nPage u32, aFrameCksum[2], aSalt[2] (as in the WAL header, big-endian).
                guard h.load(fromByteOffset: 0, as: UInt32.self) == 3_007_000 else { return nil }
                return (h.load(fromByteOffset: 16, as: UInt32.self), WALHeader.Salts(
                    salt1: UInt32(bigEndian: h.loadUnaligned(fromByteOffset: 32, as: UInt32.self)),
                    salt2: UInt32(bigEndian: h.loadUnaligned(fromByteOffset: 36, as: UInt32.self))))
            }
        }
        // Still changing after many reads: report it as busy, never as "no index" (which would lift the limit).
        throw SQLiteError(code: SQLITE_BUSY, message: "WAL index header of \(path) is being rewritten")
    }

    private func mainFile() throws(SQLiteError) -> UnsafeMutablePointer<sqlite3_file> {
        var file: UnsafeMutablePointer<sqlite3_file>?
        let rc = sqlite3_file_control(handle, "main", SQLITE_FCNTL_FILE_POINTER, &file)
        guard rc == SQLITE_OK, let file, file.pointee.pMethods != nil else {
            throw SQLiteError(code: rc == SQLITE_OK ? SQLITE_MISUSE : rc, message: "cannot reach the database file of \(path)")
        }
        return file
    }
}
