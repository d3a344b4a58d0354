#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A child process started with `posix_spawn`, signalled only while it is ours, and reaped once.
///
/// Why not Foundation's `Process`: on Linux (swift-corelibs-foundation of Swift 6.3) `Process.run()` lists
/// `/proc/self/fd` to close the caller's descriptors in the child and over-reads its buffer once the caller has more
/// than about 1,300 descriptors open: it crashes with SIGSEGV. A replicator with a few hundred databases has that
/// many (swift-corelibs-foundation PR #5472 fixes it upstream). Here the child closes them itself
/// (`posix_spawn_file_actions_addclosefrom_np`), and nothing lists `/proc`.
package final class SpawnedProcess: Sendable {
    /// How to start one child.
    package struct Options: Sendable {
        /// A path, or with ``searchPath`` a bare name looked up in this process's `PATH`.
        package var executable: String
        package var arguments: [String]
        /// The child's whole environment.
        package var environment: [String: String]
        /// Look ``executable`` up in `PATH` (`posix_spawnp`), as a shell does.
        package var searchPath = false
        /// Standard input from `/dev/null` instead of this process's.
        package var standardInputFromNull = false
        /// Descriptors of this process to appear in the child under another number (`dup2`). Every other
        /// descriptor above standard error is closed in the child, whether close-on-exec or not.
        package var descriptors: [Mapping] = []
        /// A process group of its own (a terminal's Ctrl-C then reaches only this process).
        package var ownProcessGroup = false

        package struct Mapping: Sendable {
            package var source: Int32
            package var target: Int32
            package init(_ source: Int32, to target: Int32) {
                self.source = source
                self.target = target
            }
        }

        package init(executable: String, arguments: [String], environment: [String: String]) {
            self.executable = executable
            self.arguments = arguments
            self.environment = environment
        }
    }

    package let pid: Int32

    private struct State {
        /// Set once the child has exited, before it is reaped: from then on it is never signalled, because its
        /// pid may belong to another process.
        var exited = false
    }

    private let state = Mutex(State())

    private init(pid: Int32) { self.pid = pid }

    /// Starts the child. Returns once `exec` succeeded.
    ///
    /// Signals: the child starts with no signal blocked (the threads of Swift concurrency and Dispatch block
    /// SIGINT, SIGTERM and more, and a mask is inherited) and with the termination signals at their default
    /// action (a process that traps SIGTERM through a Dispatch source sets it to SIG_IGN, and an ignored signal
    /// stays ignored across `exec`). SIGPIPE keeps the caller's disposition: NIO-based apps ignore it, and a supervised
    /// replicator whose app is gone writes its log lines to a pipe nobody reads; a default SIGPIPE would end it in the
    /// middle of its final sync.
    ///
    /// - Throws: ``SpawnError`` with the system's reason (`ENOENT` for a missing executable).
    package static func spawn(_ options: Options) throws(SpawnError) -> SpawnedProcess {
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
        if options.standardInputFromNull {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        // dup2 clears close-on-exec on the copy: these, and standard input, output and error, are all the child
        // keeps of ours.
        for mapping in options.descriptors {
            posix_spawn_file_actions_adddup2(&actions, mapping.source, mapping.target)
        }
        var flags = Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)
        #if canImport(Darwin)
        // Darwin's way to close everything else: all descriptors become close-on-exec but those inherited
        // explicitly or dup2'ed.
        flags |= Int32(POSIX_SPAWN_CLOEXEC_DEFAULT)
        let mapped = Set(options.descriptors.map(\.target))
        for fd in Int32(0)...2 where !mapped.contains(fd) && !(fd == 0 && options.standardInputFromNull) {
            posix_spawn_file_actions_addinherit_np(&actions, fd)
        }
        #else
        // A descriptor some library opened without close-on-exec (a listening socket, a pipe to our own parent)
        // would otherwise stay open in the child for its whole life.
        let highestKept = max(2, options.descriptors.map(\.target).max() ?? 2)
        if let closeFrom = addCloseFrom { _ = closeFrom(&actions, highestKept + 1) }
        #endif
        if options.ownProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        var pid: pid_t = 0
        let argv = [options.executable] + options.arguments
        let envp = options.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let code = withCStrings(argv) { argv in
            withCStrings(envp) { envp in
                options.searchPath
                    ? posix_spawnp(&pid, options.executable, &actions, &attributes, argv, envp)
                    : posix_spawn(&pid, options.executable, &actions, &attributes, argv, envp)
            }
        }
        guard code == 0 else { throw SpawnError(executable: options.executable, code: code) }
        return SpawnedProcess(pid: pid)
    }

    /// Whether the child has exited (it may not be reaped yet).
    package var hasExited: Bool { state.withLock { $0.exited } }

    /// Sends `signal` if the child has not exited. Returns whether it was sent.
    @discardableResult
    package func signal(_ signal: Int32) -> Bool {
        // Under the lock: ``waitForExit()`` marks the child exited under the same lock before it reaps it, so the
        // pid cannot belong to another process here.
        state.withLock { s in !s.exited && kill(pid, signal) == 0 }
    }

    /// Blocks the calling thread until the child exits, reaps it, and returns how it ended. Call it once, from a
    /// thread that may block (not one of Swift concurrency's).
    package func waitForExit() -> ExitStatus {
        // First wait without reaping (WNOWAIT): the pid stays ours while `signal` may still be called.
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 {
            if errno != EINTR { break }
        }
        state.withLock { $0.exited = true }
        var raw: Int32 = 0
        var reaped: pid_t
        repeat { reaped = waitpid(pid, &raw, 0) } while reaped < 0 && errno == EINTR
        // ECHILD: someone else in the process reaped it (a `waitpid(-1)` loop); the status is lost.
        return reaped == pid ? ExitStatus(waitStatus: raw) : .exited(-1)
    }

    #if !canImport(Darwin)
    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+), not declared for Swift: looked up at run time, nil
    /// before that (then only close-on-exec descriptors are closed).
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(
            symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
    }()
    #endif

    /// A NULL-terminated array of C strings, valid during `body`.
    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for p in pointers { free(p) } }
        return body(pointers)
    }
}

/// A child process could not be started.
package struct SpawnError: Error, CustomStringConvertible {
    /// What was to be started.
    package var executable: String
    /// The `errno` value `posix_spawn` returned.
    package var code: Int32

    package var description: String { "cannot start \(executable): \(String(cString: strerror(code)))" }
}
