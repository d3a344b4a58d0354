import Foundation
import LitestreamClient
import LitestreamSpawn
import Synchronization
import Logging

extension ReplicationSupervisor {
    /// Restore on boot, then WAL mode. Call it before the app opens its databases (in `configure`, before Fluent or
    /// GRDB opens a connection). For every database: if the file is missing and a replica has a backup, restores it
    /// (into a temporary file, checked, then moved into place); then puts the database into WAL mode if it is not
    /// (once, logged). It never touches a database that exists: safe in a restart loop and when a second instance
    /// starts while the first still writes.
    ///
    /// Runs `litestream prepare -json`. With replication switched off or no replica configured it does nothing
    /// and returns an empty list.
    ///
    /// - Throws: ``SupervisorError`` `.commandFailed` with the command's error, `.executableNotFound`.
    public func prepareDatabases() async throws -> [PreparedDatabase] {
        guard configuration.isEnabled else { return [] }
        return try await withCommandRunner { runner, configPath, _ in
            guard let configPath else { return [] }
            let output = try await runner.capture(["prepare", "-json", "-config", configPath], logger: logger)
            guard output.status == .exited(0) else {
                throw SupervisorError(.commandFailed, "litestream prepare failed (\(output.status)): \(output.errorSummary)")
            }
            let entries: [PrepareEntry]
            do {
                entries = try Self.decodeJSON(output.standardOutput)
            } catch {
                throw SupervisorError(.commandFailed, "litestream prepare printed unexpected output", cause: error)
            }
            return entries.map { entry in
                let prepared = PreparedDatabase(
                    path: entry.path, action: PreparedDatabase.Action(rawValue: entry.action) ?? .exists,
                    switchedToWAL: entry.switchedToWAL ?? false)
                if prepared.action == .restored {
                    logger.notice("litestream: database was missing; restored from its replica", metadata: ["db": "\(prepared.path)"])
                } else if prepared.action == .noBackup {
                    logger.info("litestream: database is missing and no replica has a backup; starting empty", metadata: ["db": "\(prepared.path)"])
                }
                if prepared.switchedToWAL {
                    logger.notice("litestream: database switched to WAL mode (replication needs it)", metadata: ["db": "\(prepared.path)"])
                }
                return prepared
            }
        }
    }

    /// Proves the backup restores: writes a sentinel row (table `_litestream_verification`), waits until the
    /// replicas hold it (through the status, no fixed sleep), restores into a temporary directory, and checks the
    /// sentinel and `integrity_check`.
    ///
    /// Runs `litestream verify -json` against the running replicator; when there is none (not started, switched
    /// off), the result is `failed` with that reason.
    public func verify(_ database: String, timeout: Duration = .seconds(60)) async -> VerificationResult {
        guard configuration.isEnabled else { return .failed(reason: "replication is switched off") }
        let path = ControlClient.absolutePath(database)
        do {
            return try await verifications.run(path) {
                try await verifyNow(path, timeout: timeout)
            }
        } catch {
            return .failed(reason: "\(error)")
        }
    }

    private func verifyNow(_ path: String, timeout: Duration) async throws -> VerificationResult {
        try await withCommandRunner { runner, configPath, socketPath in
            guard let configPath else { return .failed(reason: "no replica is configured for \(path)") }
            guard let socketPath else {
                return .failed(reason: "no replicator is running for \(path): the supervisor has not started one "
                    + "(set socketPath to verify the replicator of another process)")
            }
            let output = try await runner.capture(
                ["verify", "-json", "-config", configPath, "-socket", socketPath,
                 "-timeout", "\(max(1, timeout.wholeMilliseconds))ms", path],
                logger: logger)
            let report: VerifyEntry? = try? Self.decodeJSON(output.standardOutput)
            let reason = report?.reason ?? output.errorSummary
            switch (output.status, report?.result) {
            case (.exited(0), _), (_, "verified"): return .verified
            case (.exited(3), _), (_, "inconclusive"): return .inconclusive(reason: reason)
            default: return .failed(reason: reason)
            }
        }
    }

    /// Runs a `litestream` command (`restore`, `status`, `ltx`, ...) with this configuration, its output and
    /// exit code untouched; for the app's own command line. Arguments are passed exactly as given; the
    /// configuration reaches the command as `LITESTREAM_CONFIG` (a `-config` among the arguments wins) and the
    /// replicator's control socket as `LITESTREAM_SOCKET` (set ``Configuration-swift.struct/socketPath`` for
    /// commands run from another process than the app's to reach its replicator).
    ///
    /// - Returns: the command's exit status (128 + the signal number if a signal ended it).
    /// - Throws: ``SupervisorError`` `.executableNotFound`, `.spawnFailed`.
    public func runCommand(_ arguments: [String]) async throws -> Int32 {
        try await withCommandRunner { runner, _, _ in try await runner.runInteractively(arguments) }
    }

    /// ``runCommand(_:)`` for a help text (`-h` anywhere), blocking the calling thread instead of awaiting: for a
    /// synchronous caller that may itself be on Swift concurrency's pool (ConsoleKit's `outputHelp`), where
    /// blocking on a task could deadlock a one-thread pool (a one-CPU container). A help text reads no database, so
    /// the configuration only has to be named (`LITESTREAM_CONFIG` when there is a file), never generated.
    package func runHelpCommandBlocking(_ arguments: [String]) throws -> Int32 {
        var environment = ChildEnvironment.make(for: configuration)
        let executable = try ExecutableLocator.find(configured: configuration.executablePath, environment: environment)
        if let configPath = configuration.configPath, environment["LITESTREAM_CONFIG"] == nil {
            environment["LITESTREAM_CONFIG"] = configPath
        }
        let process: SpawnedProcess
        do {
            process = try SpawnedProcess.spawn(.init(executable: executable, arguments: arguments, environment: environment))
        } catch {
            throw SupervisorError(.spawnFailed, error.description)
        }
        return process.waitForExit().code
    }

    // MARK: - The command environment

    /// Runs `body` with a runner for this configuration: the running replicator's (its configuration and socket)
    /// while ``run()`` is under way, else one of its own, with, when the Swift settings describe the databases, a
    /// generated configuration in a private directory that is removed afterwards.
    func withCommandRunner<T>(
        _ body: (CommandRunner, _ configPath: String?, _ socketPath: String?) async throws -> T
    ) async throws -> T {
        if let runtime = state.withLock({ $0.runtime }) {
            let runner = CommandRunner(
                executable: runtime.executable, environment: runtime.environment, configPath: runtime.configPath,
                socketPath: runtime.socketPath)
            return try await body(runner, runtime.configPath, runtime.socketPath)
        }
        let environment = ChildEnvironment.make(for: configuration)
        let executable = try ExecutableLocator.find(configured: configuration.executablePath, environment: environment)
        let socketPath = configuration.socketPath
        if let configPath = configuration.configPath {
            let runner = CommandRunner(
                executable: executable, environment: environment, configPath: configPath, socketPath: socketPath)
            return try await body(runner, configPath, socketPath)
        }
        let directory = try PrivateDirectory.create(environment: environment)
        defer { directory.remove() }
        guard let file = try ChildConfigurationFile.make(
            databases: configuration.databases, environment: environment,
            socketPath: socketPath ?? directory.file("litestream.sock"), shutdownSyncTimeout: nil)
        else {
            let runner = CommandRunner(executable: executable, environment: environment, configPath: nil, socketPath: socketPath)
            return try await body(runner, nil, socketPath)
        }
        let configPath = try directory.write(file.yaml, to: "litestream.yml")
        let runner = CommandRunner(executable: executable, environment: environment, configPath: configPath, socketPath: socketPath)
        return try await body(runner, configPath, socketPath)
    }

    /// The JSON a command printed: all of standard output, or else its last line that looks like JSON.
    static func decodeJSON<T: Decodable>(_ output: String) throws -> T {
        let decoder = JSONDecoder()
        if let whole = try? decoder.decode(T.self, from: Data(output.utf8)) { return whole }
        let line = output.split(separator: "\n").last { $0.hasPrefix("{") || $0.hasPrefix("[") } ?? ""
        return try decoder.decode(T.self, from: Data(line.utf8))
    }
}

/// One entry of `litestream prepare -json`.
private struct PrepareEntry: Decodable {
    var path: String
    var action: String
    var switchedToWAL: Bool?
}

/// `litestream verify -json`.
private struct VerifyEntry: Decodable {
    var path: String?
    var result: String
    var reason: String?
}
