import Foundation
import LitestreamClient
import Logging
import Synchronization

// The child side of the supervisor contract (docs/integration.md): the environment a supervisor (the
// LitestreamSupervisor product, or any other) sets for its `litestream replicate` child. All of it is additive to
// Litestream 0.5.17: without these variables nothing changes.

enum SupervisorEnvironment {
    /// `LITESTREAM_SOCKET=PATH`: `replicate` serves its control socket there; every socket command's default
    /// `-socket`.
    static let socket = "LITESTREAM_SOCKET"
    /// `LITESTREAM_LIFELINE_FD=N`: the read end of a pipe only the supervisor writes to; EOF means it is gone.
    static let lifelineFD = "LITESTREAM_LIFELINE_FD"
    /// `LITESTREAM_SUPERVISOR_PID=P`: the supervisor's pid, for the parent-death checks.
    static let supervisorPID = "LITESTREAM_SUPERVISOR_PID"
    /// `LITESTREAM_SHUTDOWN_SYNC_TIMEOUT=28s`: the supervisor kills its child when its own stop timeout runs out;
    /// the final sync gives up (and says so in the log) before that, whatever the configuration file says.
    static let shutdownSyncTimeout = "LITESTREAM_SHUTDOWN_SYNC_TIMEOUT"

    /// The variable's value, nil when unset or empty (an empty value is how a shell unsets it for one command).
    static func value(_ name: String) -> String? {
        guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { return nil }
        return v
    }

    /// Started by a supervisor: a lifeline or a supervisor pid is set.
    static var isSupervised: Bool { value(lifelineFD) != nil || value(supervisorPID) != nil }

    /// `LITESTREAM_SOCKET`, if set.
    static var socketPath: String? { value(socket) }

    /// The final sync's time limit: `configured` (the file's `shutdown-sync-timeout`, 30 s by default), capped by
    /// `LITESTREAM_SHUTDOWN_SYNC_TIMEOUT` when a supervisor sets it.
    static func shutdownSyncLimit(_ configured: Duration) -> Duration {
        guard let text = value(shutdownSyncTimeout), let limit = GoDuration.parse(text) else { return configured }
        return min(configured, limit)
    }
}

/// `LITESTREAM_LIFELINE_FD`: the supervisor holds the only write end of a pipe whose read end is this fd. The
/// supervisor never writes to it; when it exits, however it exits (SIGKILL included), the kernel closes the write
/// end and a read here sees EOF. That works on every platform, where `PR_SET_PDEATHSIG` is Linux-only, and it
/// notices the death of the supervising process, not of the thread that spawned us.
struct Lifeline: Sendable {
    let fd: Int32

    /// The lifeline the environment names, marked close-on-exec so that it does not leak into `-exec`'s child (a
    /// child that held it would keep nothing alive, but it would be a descriptor it never asked for).
    ///
    /// - Returns: nil when the variable is unset.
    /// - Throws: when the value is not a number or not an open descriptor: the supervisor that set it expects to
    ///   be watched, so running on unwatched would leave an orphan behind later.
    static func fromEnvironment() throws -> Lifeline? {
        guard let raw = SupervisorEnvironment.value(SupervisorEnvironment.lifelineFD) else { return nil }
        guard let fd = Int32(raw), fd > 2 else {
            throw CLIError("\(SupervisorEnvironment.lifelineFD)=\(raw) is not a file descriptor number above 2")
        }
        let flags = fcntl(fd, F_GETFD)
        guard flags >= 0 else {
            throw CLIError("\(SupervisorEnvironment.lifelineFD)=\(raw): descriptor \(fd) is not open (\(String(cString: strerror(errno))))")
        }
        _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC)
        return Lifeline(fd: fd)
    }

    /// Watches the descriptor on a thread of its own (blocked in `poll(2)`, no timeout: no busy loop, no task
    /// thread held) and calls `onClose` once, when it reads end-of-file or the descriptor hangs up or fails.
    /// Bytes written to the pipe are read and ignored.
    func watch(_ onClose: @escaping @Sendable () -> Void) {
        let fd = fd
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 256)
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while true {
                pfd.revents = 0
                let ready = poll(&pfd, 1, -1)
                if ready < 0 {
                    if errno == EINTR { continue }
                    break  // EBADF/ENOMEM: treat it as lost, rather than spin
                }
                if pfd.revents & Int16(POLLNVAL) != 0 { break }
                if pfd.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    // A hang-up with data still buffered is read to its end first: EOF is the signal.
                    let n = read(fd, &buffer, buffer.count)
                    if n > 0 { continue }
                    if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                    break
                }
            }
            onClose()
        }
        thread.name = "litestream-lifeline"
        thread.stackSize = 64 << 10
        thread.start()
    }
}

/// `LITESTREAM_SUPERVISOR_PID`: on Linux, asks the kernel to send SIGTERM when our parent dies, then makes sure the
/// parent did not die before that request (it would never come): if our parent is no longer the supervisor, exits
/// at once. Elsewhere the lifeline does this job.
enum ParentDeath {
    /// - Returns: why we must exit now (the supervisor is already gone), or nil.
    static func arm(logger: Logger) throws -> String? {
        guard let raw = SupervisorEnvironment.value(SupervisorEnvironment.supervisorPID) else { return nil }
        guard let pid = Int32(raw), pid > 0 else {
            throw CLIError("\(SupervisorEnvironment.supervisorPID)=\(raw) is not a process id")
        }
        #if os(Linux)
        // prctl is variadic in C, which Swift does not import: call it through a fixed signature (integer
        // arguments pass the same way on Linux's x86-64 and arm64 calling conventions).
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl") else {
            throw CLIError("prctl is not available; cannot watch supervisor pid \(pid)")
        }
        let prctl = unsafeBitCast(sym, to: Prctl.self)
        let PR_SET_PDEATHSIG: Int32 = 1
        guard prctl(PR_SET_PDEATHSIG, UInt(SIGTERM), 0, 0, 0) == 0 else {
            throw CLIError("prctl(PR_SET_PDEATHSIG): \(String(cString: strerror(errno)))")
        }
        // Checked after prctl: a parent that dies from here on sends the signal.
        let parent = getppid()
        if parent != pid {
            return "supervisor (pid \(pid)) is gone: our parent is now pid \(parent); exiting"
        }
        logger.debug("watching supervisor", metadata: ["supervisorPid": "\(pid)"])
        #endif
        return nil
    }
}

/// What the lifeline's end does, depending on how far `replicate` got: before replication starts there is nothing
/// to sync, and it exits at once (as SIGTERM would, its handler not being installed yet); once the service group
/// runs, it shuts down gracefully (``arm(_:)``'s action).
final class ShutdownTrigger: Sendable {
    private enum State { case starting, armed(@Sendable () -> Void), fired }
    private let state = Mutex<State>(.starting)
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Whether the lifeline has ended (the shutdown is the supervisor's, not a signal's).
    var hasFired: Bool { state.withLock { if case .fired = $0 { true } else { false } } }

    /// From now on, the lifeline's end runs `action` (once).
    func arm(_ action: @escaping @Sendable () -> Void) {
        let fireNow = state.withLock { s -> Bool in
            if case .fired = s { return true }
            s = .armed(action)
            return false
        }
        if fireNow { action() }
    }

    /// The lifeline ended.
    func fire() {
        let previous = state.withLock { s -> State in
            let p = s
            s = .fired
            return p
        }
        switch previous {
        case .starting:
            logger.warning("supervisor gone (lifeline closed) before replication started; exiting")
            exit(1)
        case .armed(let action):
            logger.info("supervisor gone (lifeline closed), litestream shutting down")
            action()
        case .fired:
            break
        }
    }
}
