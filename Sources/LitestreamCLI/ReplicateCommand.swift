import ArgumentParser
import Litestream
import Logging

struct ReplicateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicate",
        abstract: "Runs a server to replicate a database.",
        discussion: """
            Replicates DB_PATH to REPLICA_URL (file:///path or a directory path) until SIGINT or SIGTERM, then does \
            a final sync and exits.
            """
    )

    @Argument(help: "The SQLite database to replicate.")
    var dbPath: String?

    @Argument(help: "Where to replicate it: file:///path or a directory.")
    var replicaURL: String?

    @Flag(name: .litestream("once"), help: "Sync once, upload, and exit.")
    var once = false

    @Flag(name: .litestream("force-snapshot"), help: "Also write a snapshot. Requires -once.")
    var forceSnapshot = false

    @Flag(name: .litestream("enforce-retention"), help: "Also apply retention. Requires -once.")
    var enforceRetention = false

    @Option(name: .litestream("log-level"), help: "trace, debug, info, warn or error.")
    var logLevel: String = "info"

    @Flag(name: .litestream("restore-if-db-not-exists"), help: "Restore the database from the replica first if it does not exist.")
    var restoreIfDBNotExists = false

    @Option(name: .litestream("exec"), help: "Run CMD once replication starts; exit when it exits, with its status, after a final sync.")
    var exec: String?

    @Option(name: .litestream("min-sync-interval"), help: "Shortest time between two syncs (default 100ms). Not in Litestream.")
    var minSyncInterval: String?

    func validate() throws {
        if forceSnapshot && !once { throw ValidationError("-force-snapshot requires -once") }
        if enforceRetention && !once { throw ValidationError("-enforce-retention requires -once") }
        if once && exec != nil { throw ValidationError("cannot use -exec with -once") }
        if Logger.Level(litestream: logLevel) == nil { throw ValidationError("invalid -log-level \(logLevel)") }
        if dbPath == nil || replicaURL == nil {
            throw ValidationError("usage: litestream replicate DB_PATH REPLICA_URL (configuration files are not supported yet)")
        }
        if let m = minSyncInterval, DurationParser.parse(m) == nil { throw ValidationError("invalid -min-sync-interval \(m)") }
    }

    func run() async throws {
        SlogTextHandler.bootstrap(level: Logger.Level(litestream: logLevel) ?? .info)
        let logger = Logger(label: "litestream")
        let replica = try ReplicaURL.client(replicaURL!)
        // A wrong bucket, region, credential or endpoint is reported now, before replication begins.
        if let s3 = replica as? S3ReplicaClient { try await s3.checkAccess() }
        var config = Replicator.Configuration(database: .init(path: dbPath!), replica: replica)
        if let m = minSyncInterval.flatMap(DurationParser.parse) { config.minSyncInterval = m }
        let configuration = config
        logger.info("litestream", metadata: ["version": "\(LitestreamVersion.string)"])
        unblockTerminationSignals()
        do {
            if restoreIfDBNotExists && !fileExists(dbPath!) {
                try await RestoreCommand.restoreIfPossible(replica: replica, output: dbPath!, logger: logger)
            }
            if once {
                let replicator = Replicator(configuration: configuration, logger: logger)
                try await replicator.open()
                try await replicator.runOnce(forceSnapshot: forceSnapshot, enforceRetention: enforceRetention)
                try await replicator.shutdown()
                return
            }
            // SIGINT/SIGTERM trigger a graceful stop: the replicator's task is not cancelled, so its final sync and
            // upload can finish.
            let trigger = ShutdownTrigger()
            let child = exec.map(ChildProcess.init(command:))
            enum Ended { case replicator, signal, child }
            try await withThrowingTaskGroup(of: Ended.self) { group in
                group.addTask {
                    let replicator = Replicator(configuration: configuration, logger: logger)
                    try await replicator.open(until: trigger)
                    if let child, !trigger.isTriggered {
                        logger.info("starting child process", metadata: ["command": "\(child.command)"])
                        try child.start()
                    }
                    try await replicator.run(until: trigger)
                    return .replicator
                }
                group.addTask {
                    if let sig = await Signals.wait() {
                        logger.info("signal received, litestream shutting down", metadata: ["signal": "\(sig)"])
                        // With -exec the application stops first; its exit then stops replication.
                        if child?.forward(sig) != true { trigger.trigger() }
                    }
                    return .signal
                }
                if let child {
                    group.addTask {
                        if let status = await child.exitStatus() {
                            logger.info("child process exited", metadata: ["status": "\(status)"])
                            trigger.trigger()
                        }
                        return .child
                    }
                }
                // Wait for the replicator's final sync; once it has returned, stop waiting for anything else. An
                // error ends the group, which cancels the other tasks.
                while let ended = try await group.next() {
                    if ended == .replicator { group.cancelAll() }
                }
            }
            logger.info("litestream shut down")
            if let status = child?.status { throw ExitCode(status) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            logger.error("\(error)")
            throw ExitCode.failure
        }
    }
}

/// Go-style durations: `500ms`, `1s`, `1m30s`, `2h`.
enum DurationParser {
    static func parse(_ s: String) -> Duration? {
        var total = Duration.zero
        var number = ""
        var unit = ""
        var any = false
        func flush() -> Bool {
            guard let v = Double(number) else { return false }
            let d: Duration
            switch unit {
            case "ns": d = .nanoseconds(Int64(v))
            case "us", "µs": d = .microseconds(v)
            case "ms": d = .milliseconds(v)
            case "s": d = .seconds(v)
            case "m": d = .seconds(v * 60)
            case "h": d = .seconds(v * 3600)
            default: return false
            }
            total += d
            number = ""
            unit = ""
            any = true
            return true
        }
        for ch in s {
            if ch.isNumber || ch == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(ch)
            } else {
                unit.append(ch)
            }
        }
        if s == "0" { return .zero }
        guard !number.isEmpty, flush(), any else { return nil }
        return total
    }
}
