import Foundation
import Logging

/// Puts the child's log lines into the app's logger, at their own levels, with their key/values as metadata and
/// the child's `pid`: the app's log shows the replicator's lines as if they were its own.
///
/// Nothing is added but `pid`: the child already redacts secrets in what it logs, and the supervisor never logs
/// its environment.
struct ChildLogForwarder: Sendable {
    let logger: Logger
    /// Called with the message of every line at error level: the supervisor's `lastError`.
    let onError: @Sendable (String) -> Void

    func forward(pid: pid_t, stream: OutputReader.Stream, line: String) {
        guard !line.allSatisfy(\.isWhitespace) else { return }
        var metadata: Logger.Metadata = ["pid": "\(pid)"]
        if let parsed = ChildLogLine(parsing: line) {
            for (key, value) in parsed.metadata where key != "pid" { metadata[key] = "\(value)" }
            if parsed.level >= .error {
                onError(parsed.metadata["error"].map { "\(parsed.message): \($0)" } ?? parsed.message)
            }
            logger.log(level: parsed.level, "\(parsed.message)", metadata: metadata)
            return
        }
        // Not a log line: a crash report from the runtime is an error; anything else (a stray print, a command's
        // usage text) goes through at info, whichever stream it came on.
        if line.hasPrefix("Fatal error") || line.hasPrefix("panic:") {
            onError(line)
            logger.error("\(line)", metadata: metadata)
        } else {
            logger.info("\(line)", metadata: metadata)
        }
    }
}
