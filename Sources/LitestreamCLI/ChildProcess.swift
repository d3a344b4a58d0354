import Foundation
import Synchronization

/// The application that `replicate -exec CMD` runs: started once the database is open, watched, and given the
/// termination signals `replicate` receives.
final class ChildProcess: Sendable {
    let command: String
    private let state = Mutex<State>(State())

    private struct State {
        var pid: Int32?
        var status: Int32?
        var waiters: [CheckedContinuation<Int32?, Never>] = []
        var cancelled = false
    }

    init(command: String) { self.command = command }

    /// The exit status, once the child has exited.
    var status: Int32? { state.withLock { $0.status } }

    /// Runs the command with our standard input and output. Like Litestream, the command is split into words
    /// (quotes and backslashes as in a shell) and run directly, not through a shell, so that signals reach it.
    func start() throws {
        let words = try Self.split(command)
        guard !words.isEmpty else { throw CLIError("-exec needs a command") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")  // looks the program up in PATH, then execs it
        process.arguments = words
        process.terminationHandler = { [self] p in
            // A child killed by a signal exits like a shell reports it: 128 + signal.
            let code = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
            finish(code)
        }
        // The child inherits this thread's signal mask, and Dispatch/Swift concurrency threads block SIGINT and
        // SIGTERM: spawn with nothing blocked, as a shell would, so that forwarded signals reach it.
        var all = sigset_t()
        var saved = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_UNBLOCK, &all, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try process.run()
        state.withLock { $0.pid = process.processIdentifier }
    }

    /// Forwards a signal to the child, if it runs. Returns false if there is none.
    func forward(_ sig: Int32) -> Bool {
        guard let pid = state.withLock({ $0.status == nil ? $0.pid : nil }) else { return false }
        return kill(pid, sig) == 0
    }

    /// The child's exit status, or nil if the waiting task is cancelled first.
    func exitStatus() async -> Int32? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Int32?, Never>) in
                let ready = state.withLock { s -> Int32?? in
                    if let status = s.status { return .some(status) }
                    if s.cancelled { return .some(nil) }
                    s.waiters.append(c)
                    return .none
                }
                if let ready { c.resume(returning: ready) }
            }
        } onCancel: {
            let waiters = state.withLock { s -> [CheckedContinuation<Int32?, Never>] in
                s.cancelled = true
                defer { s.waiters = [] }
                return s.waiters
            }
            for w in waiters { w.resume(returning: nil) }
        }
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

    private func finish(_ code: Int32) {
        let waiters = state.withLock { s -> [CheckedContinuation<Int32?, Never>] in
            s.status = code
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: code) }
    }
}
