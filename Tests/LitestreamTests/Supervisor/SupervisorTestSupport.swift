import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import LitestreamSupervisor

/// What the supervisor tests share: a log that can be read back, running a supervisor in a `ServiceGroup`, the
/// built executables, and checks on processes.
enum SupervisorTesting {
    /// Every line logged through a ``Log``'s logger, with level and metadata.
    struct Entry: Sendable, CustomStringConvertible {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
        var description: String {
            "\(level) \(message) \(metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
        }
    }

    /// A logger that keeps what it is given (and, with `SUPERVISOR_TRACE=1`, prints it).
    final class Log: Sendable {
        let entries = Mutex<[Entry]>([])

        var logger: Logger {
            var logger = Logger(label: "litestream") { _ in Handler(log: self) }
            logger.logLevel = .trace
            return logger
        }

        var all: [Entry] { entries.withLock { $0 } }

        func contains(_ predicate: (Entry) -> Bool) -> Bool { all.contains(where: predicate) }

        var text: String { all.map(\.description).joined(separator: "\n") }

        struct Handler: LogHandler {
            let log: Log
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .trace
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                var all: [String: String] = [:]
                for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { all[k] = "\(v)" }
                let entry = Entry(level: event.level, message: event.message.description, metadata: all)
                log.entries.withLock { $0.append(entry) }
                if ProcessInfo.processInfo.environment["SUPERVISOR_TRACE"] == "1" {
                    FileHandle.standardError.write(Data("[supervisor-test] \(entry)\n".utf8))
                }
            }
        }
    }

    /// Runs `supervisor` in a `ServiceGroup` while `body` runs, then shuts the group down gracefully and waits.
    static func withRunning<T>(
        _ supervisor: ReplicationSupervisor, _ body: () async throws -> T
    ) async throws -> T {
        try await withServices([supervisor], body)
    }

    /// The package's `litestream` executable (built by `swift build`, beside the test bundle).
    static func litestream() throws -> String {
        try #require(TestEnvironment.ourBinary()?.path, "build the litestream executable first: swift build --product litestream")
    }

    /// The SupervisorHost test app.
    static func host() throws -> String {
        try #require(TestEnvironment.ourBinary("SupervisorHost")?.path, "build it first: swift build --product SupervisorHost")
    }

    /// A configuration that finds our executable and stops fast.
    static func configuration(
        databases: [ReplicationSupervisor.Configuration.Database], environment: [String: String]? = nil
    ) throws -> ReplicationSupervisor.Configuration {
        var c = ReplicationSupervisor.Configuration(databases: databases, environment: environment)
        c.executablePath = try litestream()
        c.shutdownTimeout = .seconds(20)
        return c
    }

    /// Polls `condition` every 50 ms; fails the test after `timeout`.
    static func waitFor(
        _ what: String, timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () async throws -> Bool
    ) async throws {
        guard try await Integration.poll(timeout: timeout, interval: .milliseconds(50), condition) else {
            Issue.record("timed out after \(timeout) waiting for \(what)", sourceLocation: sourceLocation)
            throw CancellationError()
        }
    }

    /// Whether a process with this pid exists and has not exited. A zombie (exited, not reaped yet by whoever
    /// is its parent now) counts as gone: it runs no code and holds no file.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        // `pid (comm) S ...`: the state follows the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    /// The pids of the processes whose parent is `parent` (from /proc: the test checks what runs, not a `ps`).
    static func children(of parent: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent && isAlive(pid)
        }
    }

    /// A WAL-mode database with table `t(id, v)` and `rows` rows.
    static func makeDatabase(_ path: String, rows: Int = 1) throws {
        var sql = "PRAGMA journal_mode=wal;\nCREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT);\n"
        for i in 0..<rows { sql += "INSERT INTO t(v) VALUES ('row \(i)');\n" }
        try sqlite3(path, sql)
    }

    /// Restores `replica` into a new file in `directory` and returns its row count and last row's `v`, `count|v`.
    static func restoredRows(_ replica: String, in directory: URL, environment: [String: String]? = nil) async throws -> String {
        let litestream = try litestream()
        let output = directory.appendingPathComponent("restored-\(UUID().uuidString).db").path
        let result = try await Integration.offload {
            try TestEnvironment.run(litestream, ["restore", "-o", output, replica], environment: environment, timeout: .seconds(60))
        }
        try #require(result.status == 0, "restore failed: \(result.stderr)")
        return try sqlite3(output, "SELECT count(*), (SELECT v FROM t ORDER BY id DESC LIMIT 1) FROM t")
    }
}
