import ArgumentParser
import Foundation
import LTX
import Litestream
import Logging
import UnixSignals

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Recovers a database from a replica.",
        discussion: """
            SOURCE is a replica URL (file:///path, s3://bucket/path), a database path listed in the configuration \
            file (its replica is used; -o defaults to that path), or a replica directory.
            """
    )

    @Argument(help: "A replica URL, a configured database path, or a replica directory.")
    var source: String

    @OptionGroup var configOptions: ConfigOptions

    @Option(name: .litestream("replica"), help: "With several replicas configured for the database: the one to restore from (by name). Default: the first.")
    var replicaName: String?

    @Option(name: [.customShort("o"), .customLong("o")], help: "Output path of the restored database.")
    var output: String?

    @Option(name: .litestream("txid"), help: "Restore up to this transaction ID (16 hex digits, inclusive).")
    var txid: String?

    @Option(name: .litestream("timestamp"), help: "Restore to this point in time (RFC 3339).")
    var timestamp: String?

    @Flag(name: .litestream("if-db-not-exists"), help: "Exit 0 without restoring if the output database exists.")
    var ifDBNotExists = false

    @Flag(name: .litestream("if-replica-exists"), help: "Exit 0 if the replica has no backups.")
    var ifReplicaExists = false

    @Flag(name: .litestream("dry-run"), help: "Print the restore plan and exit.")
    var dryRun = false

    @Flag(name: .litestream("force"), help: "Overwrite an existing output database and its -wal/-shm files.")
    var force = false

    @Flag(name: .litestream("json"), help: "Print a JSON summary.")
    var json = false

    @Flag(name: .customShort("f"), help: "Follow: keep applying new changes to the restored copy.")
    var follow = false

    @Option(name: .litestream("follow-interval"), help: "Polling interval for -f (default 1s, at least 100ms).")
    var followInterval: String = "1s"

    @Option(name: .litestream("parallelism"), help: "Accepted for compatibility.")
    var parallelism: Int = 8

    @Option(name: .litestream("integrity-check"), help: "none, quick or full.")
    var integrityCheck: String = "none"

    @Option(name: .litestream("log-level"), help: "trace, debug, info, warn or error.")
    var logLevel: String = "info"

    func validate() throws {
        if Restorer.IntegrityCheck(rawValue: integrityCheck) == nil {
            throw ValidationError("invalid -integrity-check \(integrityCheck): want none, quick or full")
        }
        if let txid, TXID(hex: txid) == nil { throw ValidationError("invalid txid format: \(txid) (want 16 hex digits)") }
        if let timestamp, Self.parseTimestamp(timestamp) == nil {
            throw ValidationError("invalid -timestamp \(timestamp): want RFC 3339, e.g. 2026-01-02T15:04:05Z")
        }
        if follow && (txid != nil || timestamp != nil) { throw ValidationError("cannot use -f with -txid or -timestamp") }
        if txid != nil && timestamp != nil { throw ValidationError("cannot use -txid and -timestamp together") }
        if output == nil && ReplicaURL.isURL(source) {
            throw ValidationError("-o PATH is required when restoring from a replica URL")
        }
        // 0 or 1ns made -f poll the replica in a busy loop (on S3, hundreds of LISTs a second).
        guard try durationFlag("follow-interval", followInterval) >= .milliseconds(100) else {
            throw ValidationError("invalid -follow-interval \(followInterval): want at least 100ms (each poll lists the replica)")
        }
    }

    static func parseTimestamp(_ s: String) -> Int64? {
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            let f = ISO8601DateFormatter()
            f.formatOptions = options
            if let d = f.date(from: s) { return Int64((d.timeIntervalSince1970 * 1000).rounded(.down)) }
        }
        return nil
    }

    static func formatTimestamp(_ ms: Int64) -> String { RFC3339.format(milliseconds: ms) }

    func run() async throws {
        SlogTextHandler.bootstrap(level: Logger.Level(litestream: logLevel) ?? .info)
        let logger = Logger(label: "litestream")
        do {
            try await restore(logger: logger)
        } catch let e as ExitCode {
            throw e
        } catch {
            printError("\(error)")
            throw ExitCode.failure
        }
    }

    /// The replica to read and where to write: a URL or directory as given, or a configured database's replica.
    private func resolveSource() throws -> (replica: any ReplicaClient, output: String) {
        // A timestamp restore needs each file's exact creation time (S3: one HeadObject per file).
        let exact = timestamp != nil
        if !ReplicaURL.isURL(source), let config = try configOptions.loadIfPresent(), let db = config.database(at: source) {
            let candidates = replicaName.map { n in db.replicas.filter { $0.name == n } } ?? Array(db.replicas.prefix(1))
            guard let chosen = candidates.first else {
                throw CLIError(replicaName.map { "database \(source) has no replica named \($0) (configured: \(db.replicas.map(\.name).joined(separator: ", ")))" }
                    ?? "database \(source) has no replica configured")
            }
            var client = try chosen.makeClient()
            if var s3 = client as? S3ReplicaClient {
                s3.timestampsFromMetadata = exact
                client = s3
            } else if var oss = client as? OSSReplicaClient {
                oss.timestampsFromMetadata = exact
                client = oss
            }
            return (client, output ?? source)
        }
        guard let output else {
            throw CLIError("\(source) is not a database in the configuration file; give a replica URL or directory and -o PATH")
        }
        return (try ReplicaURL.client(source, exactTimestamps: exact), output)
    }

    private func restore(logger: Logger) async throws {
        let (replica, output) = try resolveSource()
        try Restorer.checkOutput(output)
        if ifDBNotExists && fileExists(output) {
            logger.info("database already exists, skipping")
            return
        }
        if fileExists(output) && !force && !dryRun {
            throw CLIError("cannot restore, output path already exists and is not empty: \(output). Use -force to overwrite")
        }
        let restorer = Restorer(replica: replica)
        let target = timestamp.flatMap(Self.parseTimestamp)
        let targetTXID = txid.flatMap { TXID(hex: $0) }
        // nil: the replica is empty.
        let planned = try await restorer.planning { files -> [LTXFileInfo]? in
            if files.values.allSatisfy(\.isEmpty) { return nil }
            if let target { try RestorePlan.checkTimestamp(target, files: files) }
            return try RestorePlan.make(files: files, txid: targetTXID, timestamp: target)
        }
        guard let plan = planned else {
            if ifReplicaExists {
                logger.info("no matching backups found")
                return
            }
            throw CLIError("no matching backup files available")
        }
        if dryRun {
            printPlan(plan, replica: replica, output: output)
            return
        }
        let start = ContinuousClock.now
        let mode = Restorer.IntegrityCheck(rawValue: integrityCheck)!
        let result: Restorer.Result
        do {
            result = try await restorer.restore(to: output, plan: plan, integrityCheck: mode, overwrite: force)
        } catch let e as RestoreError where e.code == .outputExists && ifDBNotExists {
            // Another process (a second instance booting) created it while we restored: it was left untouched.
            logger.info("database appeared during the restore; left untouched", metadata: ["path": "\(output)"])
            return
        }
        logMovedAside(result.movedAside, logger: logger)
        let elapsed = ContinuousClock.now - start
        if json {
            try printJSON(Summary(dbPath: absolutePath(output), replica: replica.type, txid: "\(result.txid)",
                durationMS: elapsed.wholeMilliseconds, integrityCheck: integrityCheck))
        } else {
            logger.info("restore complete", metadata: ["txid": "\(result.txid)", "path": "\(output)", "duration": "\(elapsed)"])
        }
        if follow {
            let interval = GoDuration.parse(followInterval)!
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await Follower(replica: replica, output: absolutePath(output), txid: result.txid, logger: logger)
                        .run(interval: interval)
                }
                group.addTask { for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { break } }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    /// What `-json` prints: Litestream's `RestoreResult`.
    private struct Summary: Encodable {
        var dbPath, replica, txid: String
        var durationMS: Int64
        var integrityCheck: String
        enum CodingKeys: String, CodingKey {
            case dbPath = "db_path", replica, txid, durationMS = "duration_ms", integrityCheck = "integrity_check"
        }
    }

    private func printPlan(_ plan: [LTXFileInfo], replica: any ReplicaClient, output: String) {
        print("Restore plan:")
        print("  source: \(ReplicaURL.redacted(source))")
        print("  target: \(absolutePath(output))")
        print("  replica: \(replica.type)")
        if let first = plan.first, let last = plan.last {
            print("  txid range: \(first.minTXID) - \(last.maxTXID)")
        }
        print("")
        print("Files to fetch:")
        let rows = [["level", "file", "min_txid", "max_txid", "size", "timestamp"]] + plan.map {
            ["\($0.level)", $0.name, "\($0.minTXID)", "\($0.maxTXID)", "\($0.size)", Self.formatTimestamp($0.createdAt)]
        }
        print(Table.render(rows), terminator: "")
    }

    /// Used by `replicate -restore-if-db-not-exists`: restores the latest state if the replica has any.
    static func restoreIfPossible(replica: any ReplicaClient, output: String, logger: Logger) async throws {
        let restorer = Restorer(replica: replica)
        let planned = try await restorer.planning { files -> [LTXFileInfo]? in
            files.values.allSatisfy(\.isEmpty) ? nil : try RestorePlan.make(files: files)
        }
        guard let plan = planned else {
            logger.info("no backup found, starting with a new database", metadata: ["db": "\(output)"])
            return
        }
        let r: Restorer.Result
        do {
            r = try await restorer.restore(to: output, plan: plan, integrityCheck: .quick)
        } catch let e as RestoreError where e.code == .outputExists {
            logger.info("database appeared during the restore; left untouched", metadata: ["db": "\(output)"])
            return
        }
        logMovedAside(r.movedAside, logger: logger)
        logger.info("database restored from replica", metadata: ["db": "\(output)", "txid": "\(r.txid)"])
    }
}

/// Says which stale `-wal`/`-shm` files a restore renamed aside (they may hold an earlier database's last commits).
func logMovedAside(_ paths: [String], logger: Logger) {
    for p in paths {
        logger.warning("stale WAL/SHM file of the missing database moved aside before the restore",
            metadata: ["movedTo": "\(p)"])
    }
}
