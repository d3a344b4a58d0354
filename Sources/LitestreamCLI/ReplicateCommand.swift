import ArgumentParser
import Litestream
import Logging
import ServiceLifecycle
import UnixSignals

struct ReplicateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicate",
        abstract: "Runs a server to replicate databases.",
        discussion: """
            Replicates the databases of the configuration file (-config, $LITESTREAM_CONFIG or \
            /etc/litestream.yml), or DB_PATH to REPLICA_URL, until SIGINT or SIGTERM, then does a final sync and \
            exits.

            Under a supervisor (docs/integration.md): LITESTREAM_SOCKET=PATH serves the control socket at PATH \
            (over the file's socket:); LITESTREAM_LIFELINE_FD=N shuts down as on SIGTERM when fd N reads EOF; \
            LITESTREAM_SUPERVISOR_PID=P exits when that parent dies (Linux).
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
        // The supervisor's checks come first: a child whose supervisor is already gone must not start replicating.
        let shutdown = ShutdownTrigger(logger: logger)
        // Our stderr is a pipe to the supervisor: once the app is gone, a log line would raise SIGPIPE and kill us
        // before the final sync. Ignored, the write fails with EPIPE and the shutdown goes on.
        if SupervisorEnvironment.isSupervised { signal(SIGPIPE, SIG_IGN) }
        do {
            if let reason = try ParentDeath.arm(logger: logger) {
                logger.error("\(reason)")
                throw ExitCode.failure
            }
            try Lifeline.fromEnvironment()?.watch { shutdown.fire() }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            logger.error("\(error)")
            throw ExitCode.failure
        }
        logger.info("litestream", metadata: ["version": "\(LitestreamVersion.string)"])
        // As Go's runtime does for Litestream: thousands of databases need more than the usual soft limit of 1,024.
        if let limit = FileDescriptorLimit.raiseToHardLimit() {
            logger.debug("file descriptor limit", metadata: ["soft": "\(limit.soft)", "hard": "\(limit.hard)",
                "databases": "\(limit.soft / UInt64(FileDescriptorLimit.perDatabase))"])
        }
        for feature in config?.unsupportedFeatures ?? [] {
            logger.warning("configuration setting not supported yet; ignored", metadata: ["setting": "\(feature)"])
        }
        unblockTerminationSignals()
        do {
            let plan = try makePlan(config)
            for (c, restore) in zip(plan.databases, plan.restoreIfMissing) {
                // A wrong bucket, region, credential or endpoint is reported now, before replication begins.
                for r in c.replicas { try await r.client.checkAccess() }
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
            let status = try await serve(plan, config: config, shutdown: shutdown, logger: logger)
            logger.info("litestream shut down")
            if let status { throw ExitCode(status) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            logger.error("\(error)")
            throw ExitCode.failure
        }
    }

    /// The configured control socket, Prometheus endpoint, metrics and heartbeat. A failure of one is logged, and
    /// replication goes on without it.
    private func companions(_ config: LitestreamConfiguration, configPath: String?, server: ReplicationServer,
                            logger: Logger) -> [any Service] {
        /// Runs `service`; if it fails, says so and waits for the shutdown (a service that ends stops the group).
        func optional(_ service: any Service, _ failure: Logger.Message, _ metadata: Logger.Metadata) -> any Service {
            ClosureService {
                do { try await service.run() } catch {
                    logger.error(failure, metadata: metadata.merging(["error": "\(error)"]) { $1 })
                    try await gracefulShutdown()
                }
            }
        }
        var services: [any Service] = []
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
            services.append(optional(control, "control socket failed; replication goes on without it",
                ["socket": "\(config.socket.path)"]))
        }
        if let addr = config.addr {
            services.append(optional(MetricsServer(address: addr, server: server, logger: logger),
                "metrics endpoint failed; replication goes on without it", ["addr": "\(addr)"]))
        }
        if let url = config.heartbeatURL?.value {
            services.append(Heartbeat(url: url, interval: config.heartbeatInterval, server: server, logger: logger))
        }
        return services
    }

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
            var c = Replicator.Configuration(database: .init(path: dbPath!), replica: try ReplicaURL.client(replicaURL!))
            c.shutdownSyncTimeout = SupervisorEnvironment.shutdownSyncLimit(c.shutdownSyncTimeout)
            add(c, restore: restoreIfDBNotExists)
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

    /// Runs the replication server and its companions in a service group until SIGINT or SIGTERM (with -exec: the
    /// child's exit), then shuts them down gracefully, in reverse order: the child, the directory scans, the
    /// databases with their final syncs, and last the metrics and the control socket. Returns the child's exit
    /// status, if there was a child.
    private func serve(_ plan: Plan, config: LitestreamConfiguration?, shutdown: ShutdownTrigger, logger: Logger)
        async throws -> Int32?
    {
        let server = ReplicationServer(logger: logger)
        plan.databases.forEach { server.register($0) }
        let child = (exec ?? config?.exec).map(ChildProcess.init(command:))
        let minSync = minSyncInterval.flatMap { GoDuration.parse($0) }
        // LITESTREAM_SOCKET: the supervisor's socket, with or without a configuration file.
        var settings = config
        if let socket = SupervisorEnvironment.socketPath {
            if settings == nil { settings = LitestreamConfiguration() }
            settings!.socket.enabled = true
            settings!.socket.path = socket
        }
        let configPath = config == nil ? nil : LitestreamConfiguration.resolvePath(flag: configOptions.config).path
        var services = (settings.map { companions($0, configPath: configPath, server: server, logger: logger) } ?? [])
            + [server]
        for (db, dir) in plan.directories {
            guard let config else { break }
            // Picks up databases as they are created (with `watch`: as inotify reports them; without inotify, by
            // rescanning from every monitor interval).
            let search = DirectoryWatch(directory: dir, watch: db.directory?.watch ?? false, pollInterval: db.monitorInterval,
                isKnown: { server.isRegistered(path: $0) },
                found: { path in
                    do {
                        var c = try config.replicatorConfiguration(for: db, path: path)
                        if let minSync { c.minSyncInterval = minSync }
                        if server.register(c) { logger.info("database found", metadata: ["db": "\(path)"]) }
                    } catch {
                        logger.error("cannot replicate database", metadata: ["db": "\(path)", "error": "\(error)"])
                    }
                })
            services.append(ClosureService {
                try? await cancelWhenGracefulShutdown { try await search.run() }
                try await gracefulShutdown()
            })
        }
        var configurations = services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        if let child {
            // The child gets the signals, and its exit shuts replication down.
            let paths = plan.databases.map(\.database.path)
            let supervise = ClosureService {
                try await child.supervise(logger: logger) {
                    paths.allSatisfy { server.monitor(for: $0)?.isRunning == true }
                }
            }
            configurations.append(.init(service: supervise, successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup))
        } else {
            configurations.append(.init(service: ClosureService {
                try await gracefulShutdown()
                if !shutdown.hasFired { logger.info("signal received, litestream shutting down") }
                restoreDefaultTerminationSignals()
            }))
        }
        let group = ServiceGroup(configuration: .init(services: configurations,
            gracefulShutdownSignals: child == nil ? [.sigterm, .sigint] : [], logger: logger))
        // The lifeline's EOF does what SIGTERM does: with -exec, the child gets SIGTERM and its exit stops
        // replication; without, the group shuts down gracefully (final syncs).
        shutdown.arm {
            if let child { child.requestStop(SIGTERM) } else { Task { await group.triggerGracefulShutdown() } }
        }
        try await group.run()
        return child?.status
    }
}
