import Foundation
import LitestreamClient
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

    private struct State {
        /// Set once the child has exited, before it is reaped: from then on it is never signalled.
        var exited = false
        var terminated = false
    }

    private let state = Mutex(State())
    /// The exit status, set by the waiting thread once the child is reaped.
    private let exit = Latch<ExitStatus>()

    private init(pid: pid_t, startedAt: Int64) {
        self.pid = pid
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
                let child = ChildProcess(pid: launched.pid, startedAt: Int64(Date().timeIntervalSince1970 * 1000))
                var reader: OutputReader?
                if case .captured(let onLine) = request.standardIO, let out = launched.standardOutput,
                    let err = launched.standardError
                {
                    let pid = launched.pid
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
    var hasExited: Bool { state.withLock { $0.exited } }

    /// Sends `signal` if the child has not exited. Returns whether it was sent.
    @discardableResult
    func signal(_ signal: Int32) -> Bool {
        // Under the lock: the waiting thread marks the child exited under the same lock before it reaps it, so the
        // pid cannot belong to another process here.
        state.withLock { s in !s.exited && kill(pid, signal) == 0 }
    }

    /// SIGTERM, once: `litestream replicate` does a final sync on the first SIGTERM and exits at once on a second,
    /// so a repeated stop request must not send another.
    func terminate() {
        state.withLock { s in
            guard !s.exited, !s.terminated else { return }
            s.terminated = true
            kill(pid, SIGTERM)
        }
    }

    // MARK: - Waiting (on the spawning thread)

    private func waitAndReap(lifeline: Int32?, reader: OutputReader?) {
        // First wait without reaping (WNOWAIT): the pid stays ours while `signal` may still be called.
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 {
            if errno != EINTR { break }
        }
        state.withLock { $0.exited = true }
        var raw: Int32 = 0
        var reaped: pid_t
        repeat { reaped = waitpid(pid, &raw, 0) } while reaped < 0 && errno == EINTR
        // ECHILD: someone else in the app reaped it (a `waitpid(-1)` loop); the status is lost.
        let status = reaped == pid ? ExitStatus(waitStatus: raw) : .exited(-1)
        if let lifeline { close(lifeline) }
        // The last lines (an error explaining the exit) are logged before the exit is reported.
        reader?.waitUntilFinished(timeout: .seconds(2))
        exit.set(status)
    }

    // MARK: - Spawning

    private struct Launched {
        var pid: pid_t
        var standardOutput: Int32?
        var standardError: Int32?
        var lifeline: Int32?
    }

    private static func launch(_ request: Request) throws -> Launched {
        var parentEnds: [Int32] = []
        var childEnds: [Int32] = []
        var result = Launched(pid: 0)
        var succeeded = false
        defer {
            for fd in childEnds { close(fd) }
            if !succeeded { for fd in parentEnds { close(fd) } }
        }
        // Every descriptor is created close-on-exec, so that no other process the app starts (another child, a
        // `Process`) inherits one: a stray copy of a write end would keep the lifeline or a log pipe open forever.
        func makePipe() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            #if canImport(Glibc)
            guard let pipe2 = Self.pipe2 else { throw failure("pipe2", ENOSYS) }
            guard pipe2(&fds, O_CLOEXEC) == 0 else { throw failure("pipe", errno) }
            #else
            guard pipe(&fds) == 0 else { throw failure("pipe", errno) }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
            #endif
            return (fds[0], fds[1])
        }
        // The ends the child gets are moved above the descriptors they are dup2'ed onto (0...3): in an app that
        // closed its stdin or stdout, a new pipe could otherwise land on 0 or 1 and be overwritten before it is
        // duplicated.
        func raised(_ fd: Int32) throws -> Int32 {
            let high = fcntl(fd, F_DUPFD_CLOEXEC, 10)
            let saved = errno
            close(fd)
            guard high >= 0 else { throw failure("fcntl", saved) }
            return high
        }

        var mappings: [(from: Int32, to: Int32)] = []
        if case .captured = request.standardIO {
            let out = try makePipe()
            parentEnds.append(out.read)
            childEnds.append(try raised(out.write))
            let err = try makePipe()
            parentEnds.append(err.read)
            childEnds.append(try raised(err.write))
            result.standardOutput = out.read
            result.standardError = err.read
            mappings += [(childEnds[0], 1), (childEnds[1], 2)]
        }
        var environment = request.environment
        if request.lifeline {
            let pipe = try makePipe()
            parentEnds.append(pipe.write)
            let readEnd = try raised(pipe.read)
            childEnds.append(readEnd)
            result.lifeline = pipe.write
            mappings.append((readEnd, lifelineDescriptor))
            environment["LITESTREAM_LIFELINE_FD"] = "\(lifelineDescriptor)"
        }

        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        if case .captured = request.standardIO {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        // dup2 clears close-on-exec on the copy: these are the only descriptors of ours the child keeps.
        for (from, to) in mappings { posix_spawn_file_actions_adddup2(&actions, from, to) }
        // And nothing else of the app's: a descriptor some library opened without close-on-exec (a listening
        // socket, a pipe to the app's own parent) would otherwise stay open in the replicator for as long as it
        // runs, keeping a port bound or a pipe from reaching end of file after the app is gone.
        #if canImport(Glibc)
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, lifelineDescriptor + 1) }
        #endif

        // The spawning thread may block signals (Swift concurrency's and Dispatch's threads block SIGINT, SIGTERM
        // and more), and a child inherits that mask: `litestream` would then never see the SIGTERM that makes it
        // do its final sync. An app that trapped SIGTERM/SIGINT for its own graceful shutdown set them to SIG_IGN
        // (Dispatch signal sources need that), and ignored signals stay ignored across exec: reset those too.
        var flags = Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)
        #if canImport(Darwin)
        flags |= Int32(POSIX_SPAWN_CLOEXEC_DEFAULT)  // Darwin's way to close everything but the mapped descriptors
        #endif
        if request.ownProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        // SIGPIPE is left as the app has it (NIO-based apps ignore it): once the app is gone, the child's log lines
        // go to a pipe nobody reads, and a default SIGPIPE would end it in the middle of its final sync.
        for s in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let argv = [request.executable] + request.arguments
        let envp = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let code = withCStrings(argv) { argv in
            withCStrings(envp) { envp in
                posix_spawn(&result.pid, request.executable, &actions, &attributes, argv, envp)
            }
        }
        guard code == 0 else { throw failure("cannot start \(request.executable)", code) }
        succeeded = true
        return result
    }

    #if canImport(Glibc)
    /// `pipe2(2)`, which creates both ends close-on-exec atomically (`pipe` then `fcntl` leaves a window in which
    /// another thread's spawn inherits them). Glibc declares it only under `_GNU_SOURCE`, which Swift's Glibc
    /// module does not define, so it is looked up at run time (glibc has had it since 2.9).
    private static let pipe2: (@convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32).self)
    }()

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+; also not declared for Swift): nil before that.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(
            symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
    }()
    #endif

    private static func failure(_ what: String, _ code: Int32) -> SupervisorError {
        SupervisorError(.spawnFailed, "\(what): \(String(cString: strerror(code)))")
    }

    /// A NULL-terminated array of C strings, valid during `body`.
    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for p in pointers { free(p) } }
        return body(pointers)
    }
}
