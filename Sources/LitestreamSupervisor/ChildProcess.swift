import Foundation
import LitestreamClient
import LitestreamSpawn
import Synchronization

/// One started `litestream` process: spawned with `posix_spawn` from a thread of its own, which then waits for it
/// and reaps it, so the child never lingers as a zombie and its pid is never signalled after it was reused.
///
/// Why a dedicated thread: on Linux the child asks for `PR_SET_PDEATHSIG` (contract in docs/integration.md), and
/// the kernel sends that signal when the *thread* that forked it exits, not the process. A thread of Swift
/// concurrency's pool or Dispatch's may exit at any time; this one lives exactly as long as the child.
final class ChildProcess: Sendable {
    /// How to start one child.
    struct Request: Sendable {
        /// How the child's standard input, output and error are connected.
        enum StandardIO: Sendable {
            /// stdin `/dev/null`; stdout and stderr are pipes whose lines go to the callback (a replicator or a
            /// command whose output the supervisor reads).
            case captured(@Sendable (_ pid: pid_t, OutputReader.Stream, String) -> Void)
            /// The app's own (a command run for a person at a terminal).
            case inherited
        }

        var executable: String
        var arguments: [String]
        var environment: [String: String]
        var standardIO: StandardIO
        /// Its own process group: a terminal's Ctrl-C then reaches the app only, and the app decides when its
        /// replicator stops (after the HTTP server, with a final sync).
        var ownProcessGroup: Bool
        /// Give the child the read end of a pipe whose write end only this process holds, at
        /// ``ChildProcess/lifelineDescriptor``, announced in `LITESTREAM_LIFELINE_FD`: when this process dies,
        /// even by SIGKILL, the kernel closes the write end and the child reads end of file.
        var lifeline: Bool
    }

    /// The descriptor number of the lifeline in the child. A fixed low number, right after stderr.
    static let lifelineDescriptor: Int32 = 3

    let pid: pid_t
    /// When it was started (Unix milliseconds).
    let startedAt: Int64

    private let process: SpawnedProcess
    /// Whether SIGTERM was sent (see ``terminate()``).
    private let terminated = Mutex(false)
    /// The exit status, set by the waiting thread once the child is reaped.
    private let exit = Latch<ExitStatus>()

    private init(process: SpawnedProcess, startedAt: Int64) {
        self.process = process
        self.pid = process.pid
        self.startedAt = startedAt
    }

    /// Starts the child. Returns once it runs (the executable was found and exec'd).
    ///
    /// - Throws: ``SupervisorError`` `.spawnFailed` with the system's reason.
    static func spawn(_ request: Request) async throws -> ChildProcess {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ChildProcess, any Error>) in
            let thread = Thread {
                let launched: Launched
                do {
                    launched = try launch(request)
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                let child = ChildProcess(process: launched.process, startedAt: Int64(Date().timeIntervalSince1970 * 1000))
                var reader: OutputReader?
                if case .captured(let onLine) = request.standardIO, let out = launched.standardOutput,
                    let err = launched.standardError
                {
                    let pid = launched.process.pid
                    reader = OutputReader(standardOutput: out, standardError: err) { onLine(pid, $0, $1) }
                }
                continuation.resume(returning: child)
                child.waitAndReap(lifeline: launched.lifeline, reader: reader)
            }
            thread.name = "litestream-child"
            thread.stackSize = 512 << 10
            thread.start()
        }
    }

    /// The exit status, once the child has exited and its last output lines were handed over.
    func exitStatus() async -> ExitStatus {
        // Without a deadline the continuation is only ever resumed with a status.
        await exitStatus(within: nil)!
    }

    /// The exit status, or nil if the child still runs after `timeout`. Not cut short by task cancellation: the
    /// caller decides what a stop may cost, and a cancelled app still wants its replicator's final sync.
    func exitStatus(within timeout: Duration?) async -> ExitStatus? { await exit.wait(upTo: timeout) }

    /// SIGKILL after `timeout` unless the child has exited by then; `killed` runs if it was sent. A Dispatch
    /// timer, not a task: the deadline must hold when the app's cooperative thread pool is busy (a task resumed
    /// after the timeout waits for a free pool thread; on a loaded two-core machine that once took 8 s).
    func killUnlessExited(after timeout: Duration, killed: @escaping @Sendable () -> Void) {
        let nanoseconds = Int(max(0, min(timeout.wholeNanoseconds, Int64(Int.max))))
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [self] in
            if signal(SIGKILL) { killed() }
        }
    }

    /// Whether the child has exited (it may not be reaped yet).
    var hasExited: Bool { process.hasExited }

    /// Sends `signal` if the child has not exited. Returns whether it was sent.
    @discardableResult
    func signal(_ signal: Int32) -> Bool { process.signal(signal) }

    /// SIGTERM, once: `litestream replicate` does a final sync on the first SIGTERM and exits at once on a second,
    /// so a repeated stop request must not send another.
    func terminate() {
        terminated.withLock { sent in
            guard !sent else { return }
            sent = true
            process.signal(SIGTERM)
        }
    }

    // MARK: - Waiting (on the spawning thread)

    private func waitAndReap(lifeline: Int32?, reader: OutputReader?) {
        let status = process.waitForExit()
        if let lifeline { close(lifeline) }
        // The last lines (an error explaining the exit) are logged before the exit is reported.
        reader?.waitUntilFinished(timeout: .seconds(2))
        exit.set(status)
    }

    // MARK: - Spawning

    private struct Launched {
        var process: SpawnedProcess
        var standardOutput: Int32?
        var standardError: Int32?
        var lifeline: Int32?
    }

    private static func launch(_ request: Request) throws -> Launched {
        var parentEnds: [Int32] = []
        var childEnds: [Int32] = []
        var succeeded = false
        defer {
            for fd in childEnds { close(fd) }
            if !succeeded { for fd in parentEnds { close(fd) } }
        }
        var options = SpawnedProcess.Options(
            executable: request.executable, arguments: request.arguments, environment: request.environment)
        options.ownProcessGroup = request.ownProcessGroup
        var standardOutput: Int32?
        var standardError: Int32?
        var lifeline: Int32?
        do {
            if case .captured = request.standardIO {
                options.standardInputFromNull = true
                for target: Int32 in [1, 2] {
                    let pipe = try SpawnPipe.forChild(target)
                    parentEnds.append(pipe.ours)
                    childEnds.append(pipe.theirs)
                    options.descriptors.append(pipe.mapping)
                }
                standardOutput = parentEnds[0]
                standardError = parentEnds[1]
            }
            if request.lifeline {
                let pipe = try SpawnPipe.forChild(lifelineDescriptor, childReads: true)
                parentEnds.append(pipe.ours)
                childEnds.append(pipe.theirs)
                lifeline = pipe.ours
                options.descriptors.append(pipe.mapping)
                options.environment["LITESTREAM_LIFELINE_FD"] = "\(lifelineDescriptor)"
            }
        } catch {
            throw SupervisorError(.spawnFailed, error.description)
        }
        let process: SpawnedProcess
        do { process = try SpawnedProcess.spawn(options) } catch {
            throw SupervisorError(.spawnFailed, error.description)
        }
        succeeded = true
        return Launched(process: process, standardOutput: standardOutput, standardError: standardError, lifeline: lifeline)
    }
}
