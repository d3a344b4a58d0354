import ArgumentParser
import Litestream
import Logging

struct ReplicateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicate",
        abstract: "Runs a server to replicate databases.",
        discussion: """
            Replicates the databases of the configuration file (-config, $LITESTREAM_CONFIG or \
            /etc/litestream.yml), or DB_PATH to REPLICA_URL, until SIGINT or SIGTERM, then does a final sync and \
            exits.
            """
    )

    @Argument(help: "The SQLite database to replicate (instead of a configuration file).")
    var dbPath: String?

    @Argument(help: "Where to replicate it: file:///path, s3://bucket/path or a directory.")
    var replicaURL: String?

    @OptionGroup var configOptions: ConfigOptions

    @Flag(name: .litestream("once"), help: "Sync once, upload, and exit.")
    var once = false

    @Flag(name: .litestream("force-snapshot"), help: "Also write a snapshot. Requires -once.")
    var forceSnapshot = false

    @Flag(name: .litestream("enforce-retention"), help: "Also apply retention. Requires -once.")
    var enforceRetention = false

    @Option(name: .litestream("log-level"), help: "trace, debug, info, warn or error (default: the file's logging.level, else info).")
    var logLevel: String?

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
        if let logLevel, Logger.Level(litestream: logLevel) == nil { throw ValidationError("invalid -log-level \(logLevel)") }
        if dbPath != nil && replicaURL == nil {
            throw ValidationError("usage: litestream replicate DB_PATH REPLICA_URL, or a configuration file with -config")
        }
        if dbPath != nil && configOptions.config != nil {
            throw ValidationError("cannot specify a replica URL and the -config flag")
        }
        if let m = minSyncInterval { _ = try durationFlag("min-sync-interval", m) }
    }

    func run() async throws {
        // Configuration errors are printed before logging starts, as one line naming the file, line and key.
        let config: LitestreamConfiguration?
        do {
            config = dbPath == nil ? try configOptions.load() : nil
        } catch {
            printError("\(error)")
            throw ExitCode.failure
        }
        let level = logLevel.flatMap(Logger.Level.init(litestream:))
            ?? config.flatMap { Logger.Level(litestream: $0.logging.level.rawValue) } ?? .info
        SlogTextHandler.bootstrap(level: level, format: config?.logging.type == .json ? .json : .text)
        let logger = Logger(label: "litestream")
        logger.info("litestream", metadata: ["version": "\(LitestreamVersion.string)"])
        for feature in config?.unsupportedFeatures ?? [] {
            logger.warning("configuration setting not supported yet; ignored", metadata: ["setting": "\(feature)"])
        }
        unblockTerminationSignals()
        do {
            let plan = try makePlan(config)
            for (c, restore) in zip(plan.databases, plan.restoreIfMissing) {
                // A wrong bucket, region, credential or endpoint is reported now, before replication begins.
                for r in c.replicas { if let s3 = r.client as? S3ReplicaClient { try await s3.checkAccess() } }
                if restore && !fileExists(c.database.path) {
                    try await RestoreCommand.restoreIfPossible(replica: c.replica, output: c.database.path, logger: logger)
                }
            }
            if once {
                for c in plan.databases {
                    let replicator = Replicator(configuration: c, logger: logger)
                    try await replicator.open()
                    try await replicator.runOnce(forceSnapshot: forceSnapshot, enforceRetention: enforceRetention)
                    try await replicator.shutdown()
                }
                return
            }
            let status = try await serve(plan, config: config, logger: logger)
            logger.info("litestream shut down")
            if let status { throw ExitCode(status) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            logger.error("\(error)")
            throw ExitCode.failure
        }
    }

    /// The configured control socket, Prometheus endpoint, metrics and heartbeat, next to the server. Their
    /// failures are logged: replication goes on without them.
    private func addServices(
        _ config: LitestreamConfiguration, server: ReplicationServer, trigger: ShutdownTrigger, logger: Logger,
        to group: inout ThrowingTaskGroup<Ended, any Error>
    ) {
        let configPath = LitestreamConfiguration.resolvePath(flag: configOptions.config).path
        if config.socket.enabled {
            let control = ControlServer(
                configuration: .init(path: config.socket.path, permissions: .init(config.socket.permissions),
                    version: LitestreamVersion.string, configPath: configPath),
                server: server,
                makeConfiguration: { path, url in
                    // `register DB -replica URL`, or a database the file describes (a directory entry's file).
                    if let url { return try SocketRegistration.configuration(path: path, replicaURL: url) }
                    guard let db = config.database(at: path) else {
                        throw CLIError("\(path) is not in the configuration file; give -replica URL")
                    }
                    return try config.replicatorConfiguration(for: db, path: db.directory == nil ? nil : absolutePath(path))
                },
                logger: logger)
            group.addTask {
                do { try await control.run(until: trigger) } catch {
                    logger.error("control socket failed; replication goes on without it",
                        metadata: ["socket": "\(config.socket.path)", "error": "\(error)"])
                }
                return .other
            }
        }
        if let addr = config.addr {
            group.addTask {
                do { try await MetricsServer(address: addr, server: server, logger: logger).run(until: trigger) } catch {
                    logger.error("metrics endpoint failed; replication goes on without it",
                        metadata: ["addr": "\(addr)", "error": "\(error)"])
                }
                return .other
            }
        }
        group.addTask {
            await ReplicationMetrics(server: server).run(until: trigger)
            return .other
        }
        if let url = config.heartbeatURL?.value {
            group.addTask {
                await Heartbeat(url: url, interval: config.heartbeatInterval, server: server, logger: logger).run(until: trigger)
                return .other
            }
        }
    }

    enum Ended { case server, signal, child, other }

    /// What to replicate: the command-line database, or the configured ones (directory entries are scanned
    /// when the server starts).
    struct Plan {
        var databases: [Replicator.Configuration] = []
        var restoreIfMissing: [Bool] = []
        var directories: [(DatabaseConfiguration, DatabaseDirectory)] = []
    }

    private func makePlan(_ config: LitestreamConfiguration?) throws -> Plan {
        var plan = Plan()
        let minSync = minSyncInterval.flatMap { GoDuration.parse($0) }
        func add(_ c: Replicator.Configuration, restore: Bool) {
            var c = c
            if let minSync { c.minSyncInterval = minSync }
            plan.databases.append(c)
            plan.restoreIfMissing.append(restore)
        }
        guard let config else {
            add(Replicator.Configuration(database: .init(path: dbPath!), replica: try ReplicaURL.client(replicaURL!)),
                restore: restoreIfDBNotExists)
            return plan
        }
        if config.databases.isEmpty { throw CLIError("no databases specified in the configuration file") }
        for db in config.databases {
            if let dir = db.directory {
                plan.directories.append((db, DatabaseDirectory(path: dir.path, pattern: dir.pattern, recursive: dir.recursive)))
            } else {
                add(try config.replicatorConfiguration(for: db), restore: db.restoreIfDatabaseNotExists || restoreIfDBNotExists)
            }
        }
        return plan
    }

    /// Runs the replication server until a signal (or the -exec child's exit), then waits for the final syncs.
    /// Returns the child's exit status, if there was a child.
    private func serve(_ plan: Plan, config: LitestreamConfiguration?, logger: Logger) async throws -> Int32? {
        // SIGINT/SIGTERM trigger a graceful stop: the replicators' tasks are not cancelled, so their final sync
        // and upload can finish.
        let trigger = ShutdownTrigger()
        let server = ReplicationServer(logger: logger)
        let child = (exec ?? config?.exec).map(ChildProcess.init(command:))
        let minSync = minSyncInterval.flatMap { GoDuration.parse($0) }
        try await withThrowingTaskGroup(of: Ended.self) { group in
            group.addTask {
                await server.run(databases: plan.databases, until: trigger)
                return .server
            }
            if let config { addServices(config, server: server, trigger: trigger, logger: logger, to: &group) }
            for (db, dir) in plan.directories {
                guard let config else { break }
                group.addTask {
                    // Picks up databases as they are created (every monitor interval with `watch`).
                    repeat {
                        for path in dir.scan(excluding: Set(server.databasePaths)) {
                            do {
                                var c = try config.replicatorConfiguration(for: db, path: path)
                                if let minSync { c.minSyncInterval = minSync }
                                if server.register(c) { logger.info("database found", metadata: ["db": "\(path)"]) }
                            } catch {
                                logger.error("cannot replicate database", metadata: ["db": "\(path)", "error": "\(error)"])
                            }
                        }
                        if !(db.directory?.watch ?? false) { break }
                        // Cancelled with the group once the server has stopped.
                        try? await Task.sleep(for: db.monitorInterval)
                    } while !trigger.isTriggered && !Task.isCancelled
                    return .other
                }
            }
            if let child {
                group.addTask {
                    // The application starts once the configured databases are open (restored if need be and in
                    // WAL mode), or after 10 s if one cannot be opened yet.
                    let deadline = ContinuousClock.now + .seconds(10)
                    while !trigger.isTriggered && ContinuousClock.now < deadline
                        && !plan.databases.allSatisfy({ server.monitor(for: $0.database.path)?.isRunning == true })
                    {
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                    guard !trigger.isTriggered else { return .child }
                    logger.info("starting child process", metadata: ["command": "\(child.command)"])
                    try child.start()
                    if let status = await child.exitStatus() {
                        logger.info("child process exited", metadata: ["status": "\(status)"])
                        trigger.trigger()
                    }
                    return .child
                }
            }
            group.addTask {
                if let sig = await Signals.wait() {
                    logger.info("signal received, litestream shutting down", metadata: ["signal": "\(sig)"])
                    // With -exec the application stops first; its exit then stops replication.
                    if child?.forward(sig) != true { trigger.trigger() }
                }
                return .signal
            }
            // Wait for the final syncs; once the server has returned, stop waiting for anything else. An error
            // ends the group, which cancels the other tasks.
            while let ended = try await group.next() {
                if ended == .server { group.cancelAll() }
            }
        }
        return child?.status
    }
}
