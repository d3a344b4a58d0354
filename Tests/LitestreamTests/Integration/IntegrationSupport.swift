import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// End-to-end tests that drive `litestream` executables as separate processes: the replicator, the
// application writing to the database, and every restore are different processes, as in production.
//
// Each test takes the implementations it uses as arguments (`.reference` = the real Litestream 0.5.17,
// `.swift` = our executable), so any combination can be run. To develop the harness without our
// executable, point `LITESTREAM_SWIFT_BIN` at the reference binary: `.swift` then runs it instead (and
// our extra flags such as `-min-sync-interval` are left out).

extension Tag {
    /// Tests that take more than about 20 s. They still run by default.
    @Tag static var slow: Self
}

/// The parent of every integration suite. Serialized: these tests start several processes each and
/// measure time; running them side by side on a small machine only makes them slower and flakier.
///
/// Every test compares with the real Litestream 0.5.17. Without it the suite is skipped, except on CI
/// (`CI=true`), where the tests run and fail on the missing binary.
@Suite(
    .serialized,
    .enabled(
        if: TestEnvironment.isCI || TestEnvironment.litestreamBinary != nil,
        "the reference litestream 0.5.17 binary is missing: set LITESTREAM_BIN or run scripts/test.sh")
)
struct Integration {}

// Everything below lives in the `Integration` namespace, to keep clear of other test files' helpers.
extension Integration {
    // MARK: - Implementations

    /// Which `litestream` executable plays a role.
    enum Implementation: String, Sendable, CaseIterable, CustomTestStringConvertible {
        /// The real Litestream 0.5.17 (`TestEnvironment.requireLitestreamBinary()`).
        case reference
        /// Our executable (`TestEnvironment.ourBinary()`).
        case swift

        var testDescription: String { self == .reference ? "litestream-0.5.17" : "litestream-swift" }

        /// The executable to run. Throws (a test failure, also on CI) when it is missing.
        func binary() throws -> Binary {
            let reference = try TestEnvironment.requireLitestreamBinary()
            switch self {
            case .reference:
                return Binary(path: reference, isReference: true, role: self)
            case .swift:
                guard let url = TestEnvironment.ourBinary() else {
                    throw TestEnvironment.Failure.missingTool(
                        "our litestream executable is not built: run `swift build --product litestream`")
                }
                let path = url.path
                let isReference =
                    URL(fileURLWithPath: path).resolvingSymlinksInPath().path
                        == URL(fileURLWithPath: reference).resolvingSymlinksInPath().path
                    || (try? TestEnvironment.run(path, ["version"], timeout: .seconds(30)))?.stdout
                        .trimmingCharacters(in: .whitespacesAndNewlines) == "0.5.17"
                return Binary(path: path, isReference: isReference, role: self)
            }
        }
    }

    /// A resolved `litestream` executable.
    struct Binary: Sendable, CustomStringConvertible {
        let path: String
        /// True when this is the real Litestream (possibly standing in for ours during harness development).
        let isReference: Bool
        let role: Implementation

        var description: String { "\(role.testDescription) (\(path))" }

        /// Extra `replicate` flags: our `-min-sync-interval`, when this is our executable.
        func replicateFlags(minSyncInterval: String?) -> [String] {
            guard !isReference, let minSyncInterval else { return [] }
            return ["-min-sync-interval", minSyncInterval]
        }
    }

    // MARK: - Running processes without blocking Swift concurrency's threads

    /// Runs blocking work (waiting for a child process) on its own thread, so that the few cooperative
    /// threads of a 2-core machine stay free for the other tests.
    static func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    typealias ProcessResult = (status: Int32, stdout: String, stderr: String)

    /// Runs a program to completion off the cooperative pool.
    static func runProcess(
        _ executable: String, _ args: [String], input: Data? = nil, timeout: Duration = .seconds(120)
    ) async throws -> ProcessResult {
        let start = ContinuousClock.now
        let result = try await offload { try TestEnvironment.run(executable, args, input: input, timeout: timeout) }
        trace("\(([executable] + args).joined(separator: " ").prefix(200)) -> \(result.status) in \(ContinuousClock.now - start)")
        return result
    }

    /// Polls `condition` every `interval` until it returns true; returns false after `timeout`.
    static func poll(
        timeout: Duration, interval: Duration = .milliseconds(200), _ condition: () async throws -> Bool
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if try await condition() { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: interval)
        }
    }

    /// Progress notes on stderr when `INTEGRATION_TRACE=1`, to see where the time goes.
    static func trace(_ message: @autoclosure () -> String) {
        guard ProcessInfo.processInfo.environment["INTEGRATION_TRACE"] == "1" else { return }
        let line = "[integration \(Date().formatted(.iso8601.time(includingFractionalSeconds: true)))] \(message())\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Lines of a command's output that a healthy run should not print.
    static func errorLines(_ result: ProcessResult) -> [String] {
        errorLines(result.stdout + "\n" + result.stderr)
    }

    static func errorLines(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter {
            $0.contains("level=ERROR") || $0.contains("panic:") || $0.contains("Fatal error")
        }
    }

    /// Formats a result for failure messages.
    static func describe(_ command: String, _ result: ProcessResult) -> String {
        "`\(command)` exited \(result.status)\nstdout:\n\(result.stdout.suffix(4000))\nstderr:\n\(result.stderr.suffix(6000))"
    }

    // MARK: - Workspace

    /// A scratch directory with a database, a file replica and the child processes a test starts. `close()`
    /// (call it in a `defer`) kills every child still running and removes the directory (kept when
    /// `KEEP_INTEGRATION_TMP=1`).
    final class Workspace: @unchecked Sendable {
        let directory: URL
        private let lock = NSLock()
        private var children: [TestEnvironment.BackgroundProcess] = []

        init(_ name: String) throws {
            directory = try TestEnvironment.temporaryDirectory("integration-\(name)")
        }

        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

        var dbPath: String { path("app.db") }
        var replicaDirectory: String { path("replica") }
        var replicaURL: String { "file://" + replicaDirectory }

        /// Starts a child process that `close()` will kill if it is still running.
        func launch(_ executable: String, _ args: [String]) throws -> TestEnvironment.BackgroundProcess {
            let child = try TestEnvironment.launch(executable, args)
            lock.lock()
            children.append(child)
            lock.unlock()
            return child
        }

        /// `litestream replicate [flags] DB REPLICA_URL` in the background.
        func launchReplicate(
            _ binary: Binary, db: String? = nil, replicaURL: String? = nil, minSyncInterval: String? = "10ms",
            extraFlags: [String] = []
        ) throws -> TestEnvironment.BackgroundProcess {
            try launch(
                binary.path,
                ["replicate"] + binary.replicateFlags(minSyncInterval: minSyncInterval) + extraFlags
                    + [db ?? dbPath, replicaURL ?? self.replicaURL])
        }

        /// Runs `litestream ARGS…` to completion.
        func litestream(_ binary: Binary, _ args: [String], timeout: Duration = .seconds(120)) async throws
            -> ProcessResult
        {
            try await runProcess(binary.path, args, timeout: timeout)
        }

        /// `litestream restore -o OUT [flags] REPLICA_URL`.
        func restore(
            _ binary: Binary, to output: String, flags: [String] = [], replicaURL: String? = nil,
            timeout: Duration = .seconds(120)
        ) async throws -> ProcessResult {
            try await litestream(binary, ["restore", "-o", output] + flags + [replicaURL ?? self.replicaURL], timeout: timeout)
        }

        /// Kills every child process still running, then removes the directory.
        func close() {
            lock.lock()
            let all = children
            children = []
            lock.unlock()
            for child in all where child.isRunning { child.signal(SIGKILL) }
            for child in all { _ = try? child.wait(timeout: .seconds(10)) }
            if ProcessInfo.processInfo.environment["KEEP_INTEGRATION_TMP"] != "1" {
                try? FileManager.default.removeItem(at: directory)
            }
        }
    }

    /// Stops a `replicate` (or `restore -f`) process with SIGINT, as Ctrl-C would, and returns how it ended.
    static func interruptAndWait(_ process: TestEnvironment.BackgroundProcess, timeout: Duration = .seconds(90)) async throws
        -> ProcessResult
    {
        process.interrupt()
        return try await offload { try process.wait(timeout: timeout) }
    }

    /// Waits until a background process has logged something (it is up: Litestream logs to stdout, we may
    /// log to stderr), or has exited.
    static func waitForStartup(_ process: TestEnvironment.BackgroundProcess, timeout: Duration = .seconds(30)) async throws {
        let start = ContinuousClock.now
        _ = try await poll(timeout: timeout, interval: .milliseconds(50)) {
            let output = process.output
            return !process.isRunning || !output.stderr.isEmpty || !output.stdout.isEmpty
        }
        trace("\(process.command.prefix(120)) started in \(ContinuousClock.now - start)")
    }

    // MARK: - SQLite (through the sqlite3 CLI, another process)

    /// Creates `db` in WAL mode with the test table `t` (see `WriterScript`).
    static func createTestDatabase(_ db: String) throws {
        try sqlite3(db, """
            PRAGMA journal_mode=wal;
            CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT NOT NULL, pad BLOB);
            """)
    }

    /// `SELECT * FROM t ORDER BY id` as the sqlite3 CLI prints it (`pad` as hex).
    static func dumpRows(_ db: String) async throws -> String {
        try await offload { try sqlite3(db, ".timeout 5000\nSELECT id, v, hex(pad) FROM t ORDER BY id;") }
    }

    /// Where two row dumps first differ (nil when equal), short enough for a failure message.
    static func firstDifference(_ actual: String, _ expected: String) -> String? {
        guard actual != expected else { return nil }
        let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(a.count, e.count) {
            let x = i < a.count ? String(a[i].prefix(120)) : "<end>"
            let y = i < e.count ? String(e[i].prefix(120)) : "<end>"
            if x != y || i >= a.count || i >= e.count {
                return "line \(i + 1) of \(a.count) vs \(e.count) expected: got \(x), want \(y)"
            }
        }
        return "same lines, different bytes"
    }

    /// `PRAGMA integrity_check` of `db`.
    static func integrityCheck(_ db: String) async throws -> String {
        try await offload { try sqlite3(db, ".timeout 5000\nPRAGMA integrity_check;") }
    }

    /// What a restore of the test table holds.
    struct RowSummary: Equatable, CustomStringConvertible {
        var count: Int
        var minID: Int
        var maxID: Int
        /// Rows whose `v` is not `row-<id>`.
        var badRows: Int

        /// Exactly rows 1...k for some k ≥ 0, each with the right content.
        var isPrefix: Bool { badRows == 0 && (count == 0 || (minID == 1 && maxID == count)) }

        var description: String { "count=\(count) min=\(minID) max=\(maxID) bad=\(badRows)" }
    }

    static func rowSummary(_ db: String, readOnly: Bool = false) async throws -> RowSummary {
        let sql = """
            .timeout 5000
            SELECT count(*), coalesce(min(id),0), coalesce(max(id),0), \
            (SELECT count(*) FROM t WHERE v IS NOT 'row-' || id) FROM t;
            """
        let out: String
        if readOnly {
            let result = try await runProcess("sqlite3", ["-batch", "-bail", "-readonly", db], input: Data(sql.utf8))
            guard result.status == 0 else {
                throw TestEnvironment.Failure.commandFailed(command: "sqlite3 -readonly \(db)", status: result.status, stderr: result.stderr)
            }
            out = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            out = try await offload { try sqlite3(db, sql) }
        }
        let fields = out.split(separator: "|").compactMap { Int($0) }
        guard fields.count == 4 else {
            throw TestEnvironment.Failure.commandFailed(command: "row summary of \(db)", status: 0, stderr: "unexpected output: \(out)")
        }
        return RowSummary(count: fields[0], minID: fields[1], maxID: fields[2], badRows: fields[3])
    }

    // MARK: - The application: a separate writer process

    /// A Python (stdlib `sqlite3`) writer that commits rows id = start, start+1, … one per transaction,
    /// `v = 'row-<id>'`, `pad` = a few random bytes; every `passiveEvery` rows it runs
    /// `PRAGMA wal_checkpoint(PASSIVE)`, every `truncateEvery` rows `wal_checkpoint(TRUNCATE)` with a short
    /// busy timeout (busy results ignored). It stops when the stop file appears, after `duration` seconds or
    /// after `count` rows, and prints `LAST <id>` (the last committed id) on stdout.
    enum WriterScript {
        static let source = #"""
            import os, random, sqlite3, sys, time

            def main():
                args = dict(a.split("=", 1) for a in sys.argv[1:])
                db = args["db"]
                next_id = int(args.get("start", "1"))
                count = int(args.get("count", "0"))
                duration = float(args.get("duration", "0"))
                stop_file = args.get("stop", "")
                rate = float(args.get("rate", "0"))
                passive_every = int(args.get("passive_every", "200"))
                truncate_every = int(args.get("truncate_every", "0"))
                rng = random.Random(int(args.get("seed", "1")))

                conn = sqlite3.connect(db, isolation_level=None, timeout=5.0)
                conn.execute("PRAGMA busy_timeout=5000")
                mode = conn.execute("PRAGMA journal_mode=wal").fetchone()[0]
                if mode != "wal":
                    print("journal_mode is " + mode, file=sys.stderr)
                    sys.exit(2)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT NOT NULL, pad BLOB)")

                first = next_id
                last = next_id - 1
                written = 0
                start = time.monotonic()
                busy = 0
                truncated = 0
                while True:
                    if count and written >= count:
                        break
                    if duration and time.monotonic() - start >= duration:
                        break
                    if stop_file and written % 20 == 0 and os.path.exists(stop_file):
                        break
                    pad = rng.randbytes(rng.randint(0, 120))
                    retried = False
                    while True:
                        try:
                            conn.execute("INSERT INTO t(id, v, pad) VALUES (?, ?, ?)", (next_id, "row-%d" % next_id, pad))
                            break
                        except sqlite3.IntegrityError:
                            if retried:
                                break  # the failed attempt had committed after all
                            raise
                        except sqlite3.OperationalError as e:
                            busy += 1
                            if busy > 1000:
                                raise
                            retried = True
                            time.sleep(0.01)
                    last = next_id
                    next_id += 1
                    written += 1
                    if passive_every and written % passive_every == 0:
                        try:
                            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                        except sqlite3.OperationalError:
                            pass
                    if truncate_every and written % truncate_every == 0:
                        try:
                            conn.execute("PRAGMA busy_timeout=100")
                            row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                            if row and row[0] == 0:
                                truncated += 1
                        except sqlite3.OperationalError:
                            pass
                        finally:
                            conn.execute("PRAGMA busy_timeout=5000")
                    if rate:
                        delay = start + written / rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                conn.close()
                print("FIRST %d" % first)
                print("LAST %d" % last)
                print("BUSY %d" % busy)
                print("TRUNCATED %d" % truncated)
                print("SECONDS %.2f" % (time.monotonic() - start))

            main()
            """#

        /// Writes the script into `workspace` and returns its path.
        static func install(in workspace: Workspace) throws -> String {
            let path = workspace.path("writer.py")
            if !FileManager.default.fileExists(atPath: path) {
                try source.write(toFile: path, atomically: true, encoding: .utf8)
            }
            return path
        }
    }

    /// A running writer process.
    final class Writer: @unchecked Sendable {
        let process: TestEnvironment.BackgroundProcess
        let stopFile: String

        /// Starts the writer on `workspace.dbPath` (or `db`). See `WriterScript` for the parameters.
        init(
            _ workspace: Workspace, db: String? = nil, start: Int = 1, count: Int = 0, duration: Double = 0,
            rate: Double = 0, passiveEvery: Int = 200, truncateEvery: Int = 0, seed: UInt64 = 1
        ) throws {
            let script = try WriterScript.install(in: workspace)
            stopFile = workspace.path("writer-stop-\(UUID().uuidString)")
            process = try workspace.launch(
                "python3",
                [
                    script, "db=\(db ?? workspace.dbPath)", "start=\(start)", "count=\(count)", "duration=\(duration)",
                    "stop=\(stopFile)", "rate=\(rate)", "passive_every=\(passiveEvery)",
                    "truncate_every=\(truncateEvery)", "seed=\(seed)",
                ])
        }

        /// Asks the writer to stop, waits for it and returns the last id it committed.
        @discardableResult
        func stop(timeout: Duration = .seconds(60)) async throws -> Int {
            _ = FileManager.default.createFile(atPath: stopFile, contents: nil)
            return try await finish(timeout: timeout)
        }

        /// Waits for the writer to stop by itself (count or duration reached); returns the last id committed.
        @discardableResult
        func finish(timeout: Duration = .seconds(120)) async throws -> Int {
            let process = self.process
            let result = try await offload { try process.wait(timeout: timeout) }
            trace("writer: \(result.stdout.split(separator: "\n").joined(separator: ", ")) \(result.stderr.suffix(2000))")
            guard result.status == 0,
                let line = result.stdout.split(separator: "\n").first(where: { $0.hasPrefix("LAST ") }),
                let last = Int(line.dropFirst(5))
            else {
                throw TestEnvironment.Failure.commandFailed(
                    command: process.command, status: result.status, stderr: result.stdout + result.stderr)
            }
            return last
        }
    }

    // MARK: - Replica layout

    /// An LTX file of a `file` replica: `<replica>/ltx/<level>/<min>-<max>.ltx`.
    struct ReplicaFile: Hashable, Comparable, CustomStringConvertible {
        var level: Int
        var minTXID: UInt64
        var maxTXID: UInt64

        static func < (a: Self, b: Self) -> Bool {
            (a.level, a.minTXID, a.maxTXID) < (b.level, b.minTXID, b.maxTXID)
        }

        var description: String {
            "L\(level)/" + String(format: "%016llx-%016llx", minTXID, maxTXID)
        }
    }

    /// Lists the LTX files of a file replica (directly, not through any `litestream`).
    static func replicaFiles(_ replicaDirectory: String) -> [ReplicaFile] {
        let fm = FileManager.default
        let ltx = replicaDirectory + "/ltx"
        var files: [ReplicaFile] = []
        for levelName in (try? fm.contentsOfDirectory(atPath: ltx)) ?? [] {
            guard let level = Int(levelName) else { continue }
            for name in (try? fm.contentsOfDirectory(atPath: ltx + "/" + levelName)) ?? [] {
                guard name.hasSuffix(".ltx"), name.count == 37 else { continue }
                let parts = name.dropLast(4).split(separator: "-")
                guard parts.count == 2, let min = UInt64(parts[0], radix: 16), let max = UInt64(parts[1], radix: 16)
                else { continue }
                files.append(ReplicaFile(level: level, minTXID: min, maxTXID: max))
            }
        }
        return files.sorted()
    }

    /// The TXIDs in 1...max that no file of any level covers (empty: a restore chain without gaps exists).
    static func uncoveredTXIDs(_ files: [ReplicaFile]) -> [ClosedRange<UInt64>] {
        let maxTXID = files.map(\.maxTXID).max() ?? 0
        var gaps: [ClosedRange<UInt64>] = []
        var covered: UInt64 = 0
        for file in files.sorted(by: { ($0.minTXID, $0.maxTXID) < ($1.minTXID, $1.maxTXID) }) {
            if file.minTXID > covered + 1 { gaps.append((covered + 1)...(file.minTXID - 1)) }
            covered = max(covered, file.maxTXID)
        }
        if covered < maxTXID { gaps.append((covered + 1)...maxTXID) }
        return gaps
    }

    /// A 16-hex-digit TXID, as `-txid` wants it.
    static func hexTXID(_ txid: UInt64) -> String { String(format: "%016llx", txid) }

    /// Failures can be replayed with the same seed.
    typealias SeededGenerator = SplitMix64
}
