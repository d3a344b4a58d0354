import CLitestreamSQLite
import Foundation
import LTX

/// An application's connection to a test database, through the system SQLite (the same library the engine uses).
final class TestDatabase {
    let path: String
    private var db: OpaquePointer?

    init(path: String, journalMode: String = "wal", busyTimeoutMilliseconds: Int32 = 5000) throws {
        self.path = path
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK else {
            throw TestDatabaseError(message: "cannot open \(path)")
        }
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        try exec("PRAGMA journal_mode = \(journalMode)")
    }

    deinit { close() }

    func close() {
        if let db { sqlite3_close_v2(db) }
        db = nil
    }

    func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "rc \(rc)"
            sqlite3_free(err)
            throw TestDatabaseError(message: "\(msg) (rc \(rc)) in: \(sql.prefix(200))")
        }
    }

    func query(_ sql: String) throws -> [[String?]] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else {
            throw TestDatabaseError(message: String(cString: sqlite3_errmsg(db)))
        }
        defer { sqlite3_finalize(stmt) }
        var rows: [[String?]] = []
        while sqlite3_step(stmt) == SQLITE_ROW {
            rows.append((0..<sqlite3_column_count(stmt)).map { i in sqlite3_column_text(stmt, i).map { String(cString: $0) } })
        }
        return rows
    }

    func scalar(_ sql: String) throws -> String? { try query(sql).first?.first ?? nil }

    /// Returns (busy, log frames, checkpointed frames).
    @discardableResult
    func checkpoint(_ mode: String) throws -> [String?] {
        try query("PRAGMA wal_checkpoint(\(mode))").first ?? []
    }

    /// A digest of every user table's rows, to compare a restore with its source.
    static func contentDigest(path: String) throws -> String {
        let db = try TestDatabase(path: path, journalMode: "wal")
        defer { db.close() }
        var out: [String] = []
        let tables = try db.query("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_litestream_%' ORDER BY name")
        for t in tables.compactMap({ $0[0] }) {
            let rows = try db.query("SELECT * FROM \"\(t)\" ORDER BY rowid")
            out.append("\(t):\(rows.count):\(rows.map { $0.map { $0 ?? "NULL" }.joined(separator: ",") }.joined(separator: ";").crc64)")
        }
        let schema = try db.query("SELECT sql FROM sqlite_master WHERE name NOT LIKE '_litestream_%' ORDER BY name").map { $0[0] ?? "" }
        return out.joined(separator: "|") + "#" + schema.joined(separator: "|")
    }

    static func integrityCheck(path: String) throws -> String {
        let db = try TestDatabase(path: path, journalMode: "wal")
        defer { db.close() }
        return try db.scalar("PRAGMA integrity_check") ?? "nil"
    }
}

struct TestDatabaseError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension String {
    /// A stable digest (unlike `hashValue`, the same in every process).
    var crc64: String { String(CRC64.checksum(Array(utf8)), radix: 16) }
}
