import ArgumentParser
import Foundation
import Litestream
import Logging

/// `litestream prepare` (ours): what an app runs before it opens its databases. See ``DatabasePreparer``.
struct PrepareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Restores missing databases from their replicas and puts databases in WAL mode, before the app starts.",
        discussion: """
            For each DB (default: every database of the configuration file): if the file is missing and a replica \
            has a backup, restores it (built in a temporary file, checked with integrity_check, linked into place \
            only if no file appeared meanwhile; stale -wal/-shm files are renamed aside first). A database that \
            exists is never restored over. A missing database with no backup is created empty. Then switches the \
            database to WAL mode if it is not. Exit 1 at the first failure (error on stderr).
            """
    )

    @Argument(help: "Databases of the configuration file (default: all of them).")
    var databases: [String] = []

    @OptionGroup var configOptions: ConfigOptions

    @Flag(name: .litestream("json"), help: #"Print [{"path", "action": "restored"|"noBackup"|"exists", "switchedToWAL"}]."#)
    var json = false

    @Option(name: .litestream("log-level"), help: "trace, debug, info, warn or error.")
    var logLevel: String = "info"

    /// What `-json` prints for one database (docs/integration.md).
    struct Report: Codable, Equatable {
        var path: String
        var action: DatabasePreparer.Action
        var switchedToWAL: Bool
        var txid: String?
    }

    func validate() throws {
        if Logger.Level(litestream: logLevel) == nil { throw ValidationError("invalid -log-level \(logLevel)") }
    }

    func run() async throws {
        SlogTextHandler.bootstrap(level: Logger.Level(litestream: logLevel) ?? .info)
        let logger = Logger(label: "litestream")
        var reports: [Report] = []
        do {
            for (path, replicas) in try targets() {
                let outcome = try await DatabasePreparer(path: path, replicas: replicas).run()
                log(outcome, logger: logger)
                reports.append(Report(path: outcome.path, action: outcome.action, switchedToWAL: outcome.switchedToWAL,
                    txid: outcome.txid?.description))
            }
        } catch {
            printError("\(error)")
            throw ExitCode.failure
        }
        if json { return try printJSON(reports) }
        for r in reports {
            let action = r.action == .restored ? "restored (txid \(r.txid ?? "?"))" : r.action == .noBackup ? "no backup" : "exists"
            print("\(r.path): \(action)\(r.switchedToWAL ? ", switched to WAL" : "")")
        }
    }

    /// Each database to prepare, with its replicas' clients.
    private func targets() throws -> [(String, [any ReplicaClient])] {
        let config = try configOptions.load()
        let entries: [(String, DatabaseConfiguration)]
        if databases.isEmpty {
            // Directory entries are left out: their databases are whatever files exist, and those exist.
            entries = config.databases.compactMap { db in db.path.map { (absolutePath($0), db) } }
        } else {
            entries = try databases.map { path in
                guard let db = config.database(at: path) else { throw CLIError("\(path) is not a database of the configuration file") }
                return (absolutePath(path), db)
            }
        }
        return try entries.map { path, db in
            guard !db.replicas.isEmpty else { throw CLIError("database \(db.displayName) has no replica configured") }
            return (path, try db.replicas(forFile: path).map { try $0.makeClient() })
        }
    }

    private func log(_ o: DatabasePreparer.Outcome, logger: Logger) {
        logMovedAside(o.movedAside, logger: logger)
        switch o.action {
        case .restored:
            logger.info("database restored from replica",
                metadata: ["db": "\(o.path)", "txid": "\(o.txid?.description ?? "?")", "replica": "\(o.replica ?? "?")"])
        case .noBackup:
            logger.info("no backup found; created an empty database", metadata: ["db": "\(o.path)"])
        case .exists:
            logger.debug("database exists; not restored", metadata: ["db": "\(o.path)"])
        }
        if o.switchedToWAL {
            logger.info("database switched to WAL mode (replication needs it)", metadata: ["db": "\(o.path)"])
        }
    }
}
