#if Vapor
public import Vapor
public import LitestreamSupervisor
public import LTX
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

// The module's overview and an example: LitestreamVapor.docc.

extension Application {
    /// Replication for this application: configuration, restore on boot, durable writes, status, routes and the
    /// `litestream` command.
    public var litestream: Litestream { Litestream(application: self) }

    /// The `app.litestream` namespace. A view on the application's storage; cheap to make.
    public struct Litestream: Sendable {
        public let application: Application

        /// What `configure` stored: the supervisor and how it runs.
        final class Box: Sendable {
            let supervisor: ReplicationSupervisor
            let credentials: DashboardCredentials
            /// The supervisor's own `ServiceGroup` while it runs: Vapor has none, and a group is how a
            /// swift-service-lifecycle service is told to shut down gracefully.
            let running = Mutex<(group: ServiceGroup, task: Task<Void, any Error>)?>(nil)

            init(supervisor: ReplicationSupervisor, credentials: DashboardCredentials) {
                self.supervisor = supervisor
                self.credentials = credentials
            }
        }

        struct Key: StorageKey {
            typealias Value = Box
        }

        /// The command name under which ``registerCommand()`` installs the `litestream` command.
        public static let commandName = "litestream"

        /// Sets up replication. Call it once, in `configure`, before ``prepareDatabases()`` and the routes.
        ///
        /// - Parameters:
        ///   - configuration: the databases and replicas (or a `configPath`), S3 settings, the executable.
        ///   - enabled: replicate or not; `nil` (the default) means the configuration's `isEnabled`, except in
        ///     Vapor's `.testing` environment, where the default is off: unit tests of the app must not ship
        ///     their throw-away databases to the production bucket.
        ///   - credentials: the dashboard's; `nil` means `LITESTREAM_USERNAME` / `LITESTREAM_PASSWORD`.
        ///   - registerCommand: also install the `litestream` command (``registerCommand()``). Default true.
        public func configure(
            _ configuration: ReplicationSupervisor.Configuration,
            enabled: Bool? = nil,
            credentials: DashboardCredentials? = nil,
            registerCommand: Bool = true
        ) {
            var configuration = configuration
            configuration.isEnabled = enabled ?? (configuration.isEnabled && application.environment != .testing)
            var logger = Logger(label: "litestream")
            logger.logLevel = application.logger.logLevel
            let supervisor = ReplicationSupervisor(configuration: configuration, logger: logger)
            let box = Box(
                supervisor: supervisor,
                credentials: (credentials ?? DashboardCredentials(password: nil)).fillingFromEnvironment()
            )
            application.storage[Key.self] = box
            application.lifecycle.use(LitestreamLifecycle(box: box))
            if registerCommand { self.registerCommand() }
        }

        var box: Box {
            guard let box = application.storage[Key.self] else {
                fatalError("app.litestream.configure(_:) must be called before app.litestream is used")
            }
            return box
        }

        /// The supervisor, for what this namespace does not wrap.
        public var supervisor: ReplicationSupervisor { box.supervisor }

        /// Whether this process runs `App litestream ...` rather than the server: `configure` can skip what only a
        /// server needs (migrations, warming caches), so that the command's output is the command's alone.
        public var isRunningCommand: Bool {
            Self.invokedCommand(application.environment.arguments) == Self.commandName
        }

        /// Restore on boot, then WAL mode (``ReplicationSupervisor/prepareDatabases()``). Call it in `configure`
        /// before Fluent opens the database: Fluent's SQLite driver keeps its files in rollback-journal mode and
        /// two connections open, so WAL has to be set while nobody has the file open.
        ///
        /// It does nothing when the app runs the `litestream` command: `App litestream restore ...` must find the
        /// files as they are.
        @discardableResult
        public func prepareDatabases() async throws -> [PreparedDatabase] {
            if isRunningCommand { return [] }
            return try await supervisor.prepareDatabases()
        }

        /// Makes a commit durable (``ReplicationSupervisor/sync(_:waitForReplicas:timeout:)``): put it after a
        /// critical commit.
        @discardableResult
        public func sync(_ database: String, waitForReplicas: Bool = true,
                         timeout: Duration = .seconds(10)) async throws -> TXID {
            try await supervisor.sync(database, waitForReplicas: waitForReplicas, timeout: timeout)
        }

        /// The supervisor's state and every database's replication status.
        public func status() async -> SupervisorStatus {
            await supervisor.status()
        }

        /// `GET path`: 200 when replication is healthy, 503 when the replicator is down, a database's sync fails,
        /// or a replica lags more than `maximumLag`. JSON body (``HealthReport/jsonBody()``). Unauthenticated, as
        /// a load balancer's check is: it shows paths and errors, no data.
        public func mountHealth(at path: String = "litestream/health", maximumLag: Duration = .seconds(60)) {
            let supervisor = self.supervisor
            application.get(path.pathComponents) { _ async -> Response in
                Response(LitestreamHTTP.health(status: await supervisor.status(), maximumLag: maximumLag))
            }
        }

        /// `GET path`: the dashboard (``DashboardPage``), behind HTTP basic auth with the credentials of
        /// ``configure(_:enabled:credentials:registerCommand:)``. Without a password it answers 404: never open.
        public func mountDashboard(
            at path: String = "litestream",
            page: DashboardPage = DashboardPage(),
            verifications: (@Sendable () async -> [VerificationRecord])? = nil
        ) {
            let box = self.box
            application.get(path.pathComponents) { request async -> Response in
                Response(await LitestreamHTTP.dashboard(
                    authorization: request.headers.first(name: .authorization),
                    credentials: box.credentials,
                    page: page,
                    status: { await box.supervisor.status() },
                    verifications: { await verifications?() ?? [] }
                ))
            }
        }

        /// Installs `App litestream <command> ...`: every command of the `litestream` executable with this
        /// configuration, arguments passed through exactly as given, the exit status kept.
        /// ``configure(_:enabled:credentials:registerCommand:)`` calls it unless told not to.
        public func registerCommand() {
            application.asyncCommands.use(LitestreamCommand(box: box), as: Self.commandName)
        }

        /// The command Vapor runs for these arguments (argv with argv[0]): ConsoleKit takes the first argument
        /// as the command's name, and `serve` when there is none.
        static func invokedCommand(_ arguments: [String]) -> String {
            let rest = arguments.dropFirst().filter { !globalFlags.contains($0) }
            return rest.first ?? "serve"
        }

        /// ConsoleKit's global flags, which it removes wherever they are before it picks the command.
        static let globalFlags: Set<String> = ["-n", "--no", "-y", "--yes", "-h", "--help", "--autocomplete"]
    }
}

extension Application.Litestream.Box {
    func start(logger: Logger) {
        running.withLock { running in
            guard running == nil else { return }
            let group = ServiceGroup(configuration: .init(services: [.init(service: supervisor)], logger: logger))
            let task = Task {
                do {
                    try await group.run()
                } catch {
                    logger.error("litestream supervisor stopped: \(error)")
                    throw error
                }
            }
            running = (group, task)
        }
    }

    /// Graceful shutdown (the child's final sync within the supervisor's shutdown timeout), awaited.
    func stop() async {
        guard let (group, task) = running.withLock({ running in
            defer { running = nil }
            return running
        }) else { return }
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// Starts the supervisor when the app boots to serve, and stops it when the app shuts down. Vapor 4 runs the
/// lifecycle handlers' `shutdownAsync` *before* it shuts its HTTP server down (that happens with the storage, after
/// them), so the handler stops the server first: its in-flight requests finish, and then the replicator's final
/// sync ships their writes. The server's shutdown is idempotent; Vapor's own later call does nothing.
struct LitestreamLifecycle: LifecycleHandler {
    let box: Application.Litestream.Box

    func didBootAsync(_ application: Application) async throws {
        guard Application.Litestream.invokedCommand(application.environment.arguments) == "serve" else { return }
        box.start(logger: application.logger)
    }

    func shutdownAsync(_ application: Application) async {
        await application.server.shutdown()
        await box.stop()
    }
}

/// `App litestream <command> ...`. An `AnyAsyncCommand` rather than an `AsyncCommand`: a command with a
/// signature gets its arguments after ConsoleKit parsed them, and `litestream` flags (`-o PATH`, `-txid`, …)
/// must reach the executable untouched.
struct LitestreamCommand: AnyAsyncCommand {
    let box: Application.Litestream.Box

    var help: String {
        "Runs a litestream command with the app's configuration: litestream <command> [arguments]"
    }

    func run(using context: inout CommandContext) async throws {
        let status = try await box.supervisor.runCommand(Self.rawArguments(fallback: context.input.arguments))
        Self.finish(status)
    }

    /// ConsoleKit answers `-h`/`--help` anywhere in the line itself, synchronously; `litestream`'s own help
    /// (and a `-h` meant for a `litestream` command) is what the user asked for, so run the command here too,
    /// without awaiting a task (this may run on the cooperative pool, which can be one thread wide).
    func outputHelp(using context: inout CommandContext) throws {
        Self.finish(try box.supervisor.runHelpCommandBlocking(Self.rawArguments(fallback: context.input.arguments)))
    }

    /// Exits with the command's status after flushing what was printed. Vapor would map any error to status 1;
    /// `litestream` uses 2, 3 and 64 too, and scripts rely on them.
    static func finish(_ status: Int32) {
        fflush(nil)  // every stream: `stdout` itself is a global var that strict concurrency refuses
        if status != 0 { exit(status) }
    }

    /// The process's own arguments after the first `litestream`: ConsoleKit removes `-h`, `-y`, `-n` and
    /// `--autocomplete` wherever they are, and Vapor `--env`/`-e`, before a command sees its input.
    static func rawArguments(fallback: [String]) -> [String] {
        let argv = CommandLine.arguments
        guard let index = argv.dropFirst().firstIndex(of: Application.Litestream.commandName) else { return fallback }
        return Array(argv[(index + 1)...])
    }
}

extension Response {
    convenience init(_ response: LitestreamHTTPResponse) {
        var headers = HTTPHeaders()
        for (name, value) in response.headers { headers.replaceOrAdd(name: name, value: value) }
        self.init(status: HTTPResponseStatus(statusCode: response.status), headers: headers,
                  body: .init(buffer: ByteBuffer(bytes: response.body)))
    }
}
#endif
