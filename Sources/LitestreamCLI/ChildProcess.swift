import Foundation
import LitestreamSpawn
import Logging
import Synchronization
import UnixSignals

/// The application that `replicate -exec CMD` runs: started once the database is open, watched, and given the
/// termination signals `replicate` receives.
final class ChildProcess: Sendable {
    let command: String
    private let state = Mutex<(process: SpawnedProcess?, status: Int32?, stopped: Bool)>((nil, nil, false))
    /// The exit status, when the child exits.
    private let exited: (stream: AsyncStream<Int32>, continuation: AsyncStream<Int32>.Continuation) = AsyncStream.makeStream()
    /// Stop requests that come from elsewhere than a signal (the supervisor's lifeline), handled as that signal.
    private let stops: (stream: AsyncStream<Int32>, continuation: AsyncStream<Int32>.Continuation) = AsyncStream.makeStream()

    init(command: String) { self.command = command }

    /// The exit status, once the child has exited.
    var status: Int32? { state.withLock { $0.status } }

    /// Runs the command with our standard input and output. Like Litestream, the command is split into words
    /// (quotes and backslashes as in a shell) and run directly, not through a shell, so that signals reach it; the
    /// program is looked up in `PATH`.
    func start() throws {
        let words = try Self.split(command)
        guard let program = words.first else { throw CLIError("-exec needs a command") }
        var options = SpawnedProcess.Options(
            executable: program, arguments: Array(words.dropFirst()),
            environment: ProcessInfo.processInfo.environment)
        options.searchPath = true
        let process: SpawnedProcess
        do { process = try SpawnedProcess.spawn(options) } catch {
            throw CLIError("-exec: \(error.description)")
        }
        state.withLock { $0.process = process }
        // A thread of its own waits for the exit: blocking in waitpid on a thread of Swift concurrency's pool could
        // starve it.
        let thread = Thread { [self] in
            // A child killed by a signal exits like a shell reports it: 128 + signal.
            let code = process.waitForExit().code
            state.withLock { $0.status = code }
            exited.continuation.yield(code)
        }
        thread.name = "litestream-exec"
        thread.stackSize = 256 << 10
        thread.start()
    }

    /// Stops the child as if `replicate` had received `sig` (forwarded to the child, or, before it started, not
    /// starting it). For the lifeline, which is not a signal.
    func requestStop(_ sig: Int32) { stops.continuation.yield(sig) }

    /// Runs the child for `replicate`: starts it once `ready()` (the databases are open) or after 10 s, gives it the
    /// SIGINT and SIGTERM `replicate` receives (and ``requestStop(_:)``'s), and returns when it exits, or at a
    /// signal that came before it started.
    func supervise(logger: Logger, ready: @escaping @Sendable () -> Bool) async throws {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await sig in signals {
                    logger.info("signal received, litestream shutting down", metadata: ["signal": "\(sig.rawValue)"])
                    restoreDefaultTerminationSignals()
                    // Stopped already (under a supervisor a second SIGTERM is not fatal to us, and PDEATHSIG's
                    // comes with the lifeline's end): one stop request is all the application gets.
                    if self.state.withLock({ $0.stopped }) { continue }
                    // The application stops first; its exit then stops replication.
                    if !self.forward(sig.rawValue) { return }
                }
            }
            group.addTask {
                for await sig in self.stops.stream {
                    // A signal forwarded already (PDEATHSIG's SIGTERM comes with the lifeline's end): a second one
                    // could cut the application's own graceful shutdown short.
                    if self.state.withLock({ $0.stopped }) { continue }
                    if !self.forward(sig) { return }
                }
            }
            group.addTask {
                let deadline = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deadline && !ready() { try await Task.sleep(for: .milliseconds(20)) }
                try Task.checkCancellation()  // a signal came first
                logger.info("starting child process", metadata: ["command": "\(self.command)"])
                try self.start()
                for await status in self.exited.stream {
                    logger.info("child process exited", metadata: ["status": "\(status)"])
                    break
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Forwards a signal to the child, if it runs. Returns false if there is none.
    func forward(_ sig: Int32) -> Bool {
        let process = state.withLock { s -> SpawnedProcess? in
            guard s.status == nil, let process = s.process else { return nil }
            s.stopped = true
            return process
        }
        guard let process else { return false }
        return process.signal(sig)
    }

    /// Splits a command line into words: whitespace separates, single quotes keep everything, double quotes keep
    /// everything but backslash escapes, a backslash outside quotes escapes the next character.
    static func split(_ line: String) throws -> [String] {
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for c in line {
            if escaped {
                word.append(c)
                escaped = false
            } else if let q = quote {
                if c == q {
                    quote = nil
                } else if c == "\\" && q == "\"" {
                    escaped = true
                } else {
                    word.append(c)
                }
            } else if c == "'" || c == "\"" {
                quote = c
                inWord = true
            } else if c == "\\" {
                escaped = true
                inWord = true
            } else if c.isWhitespace {
                if inWord { words.append(word) }
                word = ""
                inWord = false
            } else {
                word.append(c)
                inWord = true
            }
        }
        if quote != nil || escaped { throw CLIError("unterminated quote or escape in -exec command: \(line)") }
        if inWord { words.append(word) }
        return words
    }
}

/// Processes started from some runtimes inherit a mask that blocks SIGINT and SIGTERM; undo that so that
/// `replicate` always gets its chance to do a final sync.
func unblockTerminationSignals() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

/// After the first SIGINT or SIGTERM: a second one ends the process at once, as Litestream's second Ctrl-C does.
/// Not under a supervisor: there the app's death brings PDEATHSIG's SIGTERM and the supervisor's stop can bring
/// another, and a second SIGTERM must not cut the final sync short (the supervisor escalates with SIGKILL itself,
/// after its shutdown timeout).
func restoreDefaultTerminationSignals() {
    if SupervisorEnvironment.isSupervised { return }
    signal(SIGINT, SIG_DFL)
    signal(SIGTERM, SIG_DFL)
}
