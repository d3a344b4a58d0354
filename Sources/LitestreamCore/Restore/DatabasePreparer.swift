import LitestreamClient
public import LTX

/// Gets a database ready before its app opens it (`litestream prepare`, and the restore-on-boot of an app's
/// supervisor): restores it from a replica if the file is missing and a replica has a backup, then puts it in WAL
/// mode.
///
/// It never restores over a database that exists, and never replaces one that appears while it restores (a second
/// instance booting during a deploy while the first one writes): ``Restorer`` links the checked file into place
/// only if the name is still free. Stale `-wal`/`-shm` files of the missing database are renamed aside first.
///
/// Why WAL here: replication needs it, and the replicator switches a database itself when it opens it, but by then
/// an app may hold the database open in rollback-journal mode (Fluent's SQLite driver does), and the switch, which
/// needs the database to itself, would make the app's writes wait. Done before the app starts, nobody waits.
public struct DatabasePreparer: Sendable {
    public enum Action: String, Sendable, Codable {
        /// The file was missing and was restored from a replica.
        case restored
        /// The file was missing and no replica has a backup: an empty database was created, in WAL mode.
        case noBackup
        /// The file exists (or appeared during the restore): left as it is.
        case exists
    }

    public struct Outcome: Sendable {
        /// The database's absolute path.
        public var path: String
        public var action: Action
        /// Whether the database was switched to WAL mode (or created in it).
        public var switchedToWAL: Bool
        /// The TXID restored, for ``Action/restored``.
        public var txid: TXID?
        /// The replica restored from (its location), for ``Action/restored``.
        public var replica: String?
        /// Where stale `-wal`/`-shm` files were moved.
        public var movedAside: [String] = []
    }

    public var path: String
    public var replicas: [any ReplicaClient]
    /// The check a restored file must pass before it is put in place.
    public var integrityCheck: Restorer.IntegrityCheck = .full

    /// - Parameters:
    ///   - path: the database file.
    ///   - replicas: where backups may be; the one whose backup reaches the highest TXID is restored.
    public init(path: String, replicas: [any ReplicaClient]) {
        self.path = absolutePath(path)
        self.replicas = replicas
    }

    /// Restores if needed, then WAL mode.
    ///
    /// - Throws: when a replica cannot be listed (an unreachable replica is not "no backup": starting with an empty
    ///   database would start a new history beside the real one), the restore or its check fails, or the database
    ///   cannot be opened or switched to WAL mode.
    public func run() async throws -> Outcome {
        try Restorer.checkOutput(path)
        var outcome = Outcome(path: path, action: .exists, switchedToWAL: false)
        if !POSIX.exists(path) {
            if let (restorer, plan) = try await newestBackup() {
                do {
                    let r = try await restorer.restore(to: path, plan: plan, integrityCheck: integrityCheck)
                    outcome.action = .restored
                    outcome.txid = r.txid
                    outcome.replica = restorer.replica.location
                    outcome.movedAside = r.movedAside
                } catch let e as RestoreError where e.code == .outputExists {
                    outcome.action = .exists
                }
            } else {
                outcome.movedAside = try Restorer.moveAsideStaleSideFiles(of: path)
                outcome.action = .noBackup
            }
        }
        outcome.switchedToWAL = try Self.enableWAL(path: path, create: outcome.action == .noBackup)
        return outcome
    }

    /// The replica whose latest backup reaches the highest TXID, with its restore plan; nil when none has one.
    private func newestBackup() async throws -> (Restorer, [LTXFileInfo])? {
        var best: (Restorer, [LTXFileInfo])?
        for replica in replicas {
            let restorer = Restorer(replica: replica)
            let plan = try await restorer.planning { files -> [LTXFileInfo]? in
                files.values.allSatisfy(\.isEmpty) ? nil : try RestorePlan.make(files: files)
            }
            guard let plan, let last = plan.last else { continue }
            if best.map({ last.maxTXID > $0.1.last!.maxTXID }) ?? true { best = (restorer, plan) }
        }
        return best
    }

    /// Puts the database in WAL mode if it is not (`journal_mode` is stored in the file: it stays WAL for every
    /// later connection). Waits up to 5 s for other connections' locks.
    ///
    /// - Parameter create: create the database (empty) if it does not exist.
    /// - Returns: whether the mode changed.
    @discardableResult
    public static func enableWAL(path: String, create: Bool = false) throws -> Bool {
        if create { try POSIX.mkdirs(POSIX.dirname(absolutePath(path))) }
        let db = try SQLiteConnection(path: path, create: create, busyTimeout: 5000)
        defer { db.close() }
        let mode = try db.scalar("PRAGMA journal_mode")?.lowercased()
        if mode == "wal" { return false }
        let newMode = try db.scalar("PRAGMA journal_mode=WAL")?.lowercased()
        guard newMode == "wal" else {
            throw EngineError(.notWALMode,
                "database \(path) is in \(mode ?? "unknown") journal mode and could not be switched to WAL (got \(newMode ?? "nothing")); is another process holding it open in exclusive mode?")
        }
        return true
    }
}
