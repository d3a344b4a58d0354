/// Holds a read transaction on the database at all times, so that SQLite can never restart the WAL over frames the
/// engine has not copied yet.
///
/// SQLite restarts (overwrites) the WAL only when every frame is back-filled and no reader holds a read mark. A
/// single long-lived read transaction (Litestream's approach) pins an ever older snapshot and stops the app's own
/// checkpoints from making progress. Instead this type alternates two connections: the new read transaction starts
/// *before* the old one ends, so some mark is always held, and a renewal is only allowed after a sync that read the
/// WAL past the mark being released. The WAL can then restart only over frames that were synced. See
/// docs/design.md, "Never losing a frame".
final class ReadLock {
    private let connections: [SQLiteConnection]
    private var active: Int? = nil
    /// True once a sync has read the WAL to its committed end after the active mark was taken.
    private(set) var syncedSinceAcquire = false

    init(connections: [SQLiteConnection]) {
        precondition(connections.count == 2)
        self.connections = connections
    }

    var isHeld: Bool { active != nil }

    /// The connection holding the read transaction.
    var heldConnection: SQLiteConnection? { active.map { connections[$0] } }

    /// The connection that does not hold the read transaction, free for checkpoints.
    var idleConnection: SQLiteConnection { connections[(active ?? 1) == 0 ? 1 : 0] }

    private static func begin(_ c: SQLiteConnection) throws(SQLiteError) {
        try c.exec("BEGIN")
        do {
            // Any read of the file starts the WAL snapshot and takes a read mark.
            _ = try c.scalar("SELECT count(*) FROM sqlite_master")
        } catch {
            try? c.exec("ROLLBACK")
            throw error
        }
    }

    /// Takes a read transaction if none is held. Returns false if one was already held.
    @discardableResult
    func acquire() throws(SQLiteError) -> Bool {
        if active != nil { return false }
        try Self.begin(connections[0])
        active = 0
        syncedSinceAcquire = false
        return true
    }

    func markSynced() { syncedSinceAcquire = true }

    /// Moves the read mark forward: begin on the other connection, then end the current one. Does nothing unless a
    /// sync has covered the current mark.
    @discardableResult
    func renew() throws(SQLiteError) -> Bool {
        guard let a = active, syncedSinceAcquire else { return false }
        let b = a == 0 ? 1 : 0
        try Self.begin(connections[b])
        try? connections[a].exec("COMMIT")
        active = b
        syncedSinceAcquire = false
        return true
    }

    /// Ends every read transaction (only before an emergency TRUNCATE, or at shutdown).
    func release() {
        for c in connections where c.inTransaction { try? c.exec("COMMIT") }
        active = nil
        syncedSinceAcquire = false
    }
}
