import LitestreamSpawn
import Logging
import Synchronization

/// Runs one `litestream` command (`prepare`, `verify`, or any command for the app's command line) with the
/// supervisor's executable, environment and configuration.
///
/// The configuration reaches the command through `LITESTREAM_CONFIG`, which every command that reads a
/// configuration file honours, rather than an inserted `-config`: the arguments stay exactly as the user gave
/// them, a `-config` the user does give still wins, and commands whose meaning `-config` would change (`status`
/// reads the running server without it, the local files with it) keep their meaning. `LITESTREAM_SOCKET` points
/// the socket commands (`status`, `sync`, `verify`, …) at the supervisor's replicator.
struct CommandRunner: Sendable {
    var executable: String
    var environment: [String: String]

    /// What a command printed and how it ended.
    struct Output: Sendable {
        var status: ExitStatus
        var standardOutput: String
        /// The last lines of standard error, for an error message.
        var errorLines: [String]

        /// The last error lines, as one message.
        var errorSummary: String {
            let text = errorLines.suffix(5).joined(separator: "\n")
            return text.isEmpty ? "litestream exited with \(status)" : text
        }
    }

    init(executable: String, environment: [String: String], configPath: String?, socketPath: String?) {
        self.executable = executable
        var environment = environment
        if let configPath { environment["LITESTREAM_CONFIG"] = configPath }
        if let socketPath { environment["LITESTREAM_SOCKET"] = socketPath }
        self.environment = environment
    }

    /// Runs the command with the app's standard input, output and error, in the app's process group (Ctrl-C at a
    /// terminal reaches both), and returns its exit code (128 + signal if a signal ended it).
    func runInteractively(_ arguments: [String]) async throws -> Int32 {
        let child = try await ChildProcess.spawn(.init(
            executable: executable, arguments: arguments, environment: environment, standardIO: .inherited,
            ownProcessGroup: false, lifeline: false))
        return await withTaskCancellationHandler {
            await child.exitStatus().code
        } onCancel: {
            child.terminate()
        }
    }

    /// Runs the command with its standard output collected and its standard error forwarded into `logger` (and
    /// kept, for an error message).
    func capture(_ arguments: [String], logger: Logger) async throws -> Output {
        let collected = Mutex((output: [String](), errors: [String]()))
        let forwarder = ChildLogForwarder(logger: logger) { _ in }
        let child = try await ChildProcess.spawn(.init(
            executable: executable, arguments: arguments, environment: environment,
            standardIO: .captured { pid, stream, line in
                switch stream {
                case .standardOutput:
                    collected.withLock { $0.output.append(line) }
                case .standardError:
                    collected.withLock {
                        $0.errors.append(line)
                        if $0.errors.count > 50 { $0.errors.removeFirst() }
                    }
                    forwarder.forward(pid: pid, stream: stream, line: line)
                }
            },
            ownProcessGroup: true, lifeline: false))
        let status = await withTaskCancellationHandler {
            await child.exitStatus()
        } onCancel: {
            child.terminate()
        }
        return collected.withLock {
            Output(status: status, standardOutput: $0.output.joined(separator: "\n"), errorLines: $0.errors)
        }
    }
}
