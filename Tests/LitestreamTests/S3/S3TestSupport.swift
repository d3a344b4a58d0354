import Foundation
import LTX
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// The S3 test server (moto, started by scripts/test.sh; `LITESTREAM_S3_ENDPOINT`).
enum S3TestServer {
    /// Run S3 server tests when a server is configured, and always on CI (where a missing server fails them).
    static var enabled: Bool { TestEnvironment.s3Endpoint != nil || TestEnvironment.isCI }

    static func endpoint() throws -> String {
        guard let e = TestEnvironment.s3Endpoint else {
            throw TestEnvironment.Failure.missingTool(
                "LITESTREAM_S3_ENDPOINT is not set (CI=true): run the tests with scripts/test.sh")
        }
        return e
    }

    /// The credentials the tests use (moto accepts any).
    static let environment = ["AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"]

    /// Creates a new bucket (an unsigned `PUT /<bucket>`, which moto accepts) and returns its name.
    static func makeBucket(_ name: String = "t") async throws -> String {
        let bucket = "\(name)-\(UUID().uuidString.lowercased().prefix(13))"
        try await S3Client(configuration: configuration(bucket: bucket), environment: environment).createBucket()
        return bucket
    }

    static func configuration(bucket: String, path: String = "db", endpoint: String? = nil) throws -> S3Configuration {
        var c = S3Configuration(bucket: bucket, path: path, endpoint: try endpoint ?? self.endpoint())
        c.maxAttempts = 3
        return c
    }

    static func replica(bucket: String, path: String = "db", endpoint: String? = nil) throws -> S3ReplicaClient {
        try S3ReplicaClient(configuration: configuration(bucket: bucket, path: path, endpoint: endpoint), environment: environment)
    }

    /// `s3://bucket/path?endpoint=…` as the CLIs take it.
    static func url(bucket: String, path: String = "db", endpoint: String? = nil) throws -> String {
        "s3://\(bucket)/\(path)?endpoint=\(try endpoint ?? self.endpoint())&region=us-east-1&force-path-style=true"
    }
}

/// An application committing numbered rows 1, 2, 3… to `t(id, v)`, one per transaction at a steady rate, on a
/// thread of its own (not Swift concurrency's few threads). `stop()` returns the last committed id: a restore of
/// the complete replica must then hold exactly rows 1...that id.
final class NumberedRowWriter: Sendable {
    private struct State {
        var stopping = false
        var last = 0
        var errors: [String] = []
    }
    private let state: Mutex<State>
    private let done = DispatchSemaphore(value: 0)

    /// Creates `t` if needed and writes from the next id on.
    init(path: String, interval: Duration = .milliseconds(10), padding: Int = 100) throws {
        let db = try TestDatabase(path: path)
        try db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        let start = Int(try db.scalar("SELECT coalesce(max(id), 0) FROM t") ?? "0") ?? 0
        db.close()
        state = Mutex(State(last: start))
        let pause = UInt32(interval.components.seconds * 1_000_000 + interval.components.attoseconds / 1_000_000_000_000)
        Thread { [self] in
            defer { done.signal() }
            guard let db = try? TestDatabase(path: path) else {
                state.withLock { $0.errors.append("cannot open \(path)") }
                return
            }
            defer { db.close() }
            var id = start + 1
            while !state.withLock({ $0.stopping }) {
                do {
                    try db.exec("INSERT INTO t (id, v) VALUES (\(id), 'row \(id) \(String(repeating: "x", count: padding))')")
                    state.withLock { $0.last = id }
                    id += 1
                } catch {
                    state.withLock { $0.errors.append("\(error)") }  // not committed: the same id again
                }
                usleep(pause)
            }
        }.start()
    }

    var lastCommitted: Int { state.withLock { $0.last } }
    var failures: [String] { state.withLock { $0.errors } }

    /// Stops writing and returns the last committed id.
    func stop() async -> Int {
        state.withLock { $0.stopping = true }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            Thread { [done] in done.wait(); done.signal(); c.resume() }.start()
        }
        return lastCommitted
    }

    /// [count, min, max, rows whose text matches their id] of `t` in `path`.
    static func summary(_ path: String) throws -> [Int] {
        let db = try TestDatabase(path: path)
        defer { db.close() }
        let row = try db.query(
            "SELECT count(*), coalesce(min(id),0), coalesce(max(id),0), coalesce(sum(v LIKE 'row ' || id || ' %'),0) FROM t"
        ).first ?? []
        return row.map { Int($0 ?? "-1") ?? -1 }
    }

    /// Expects `path` to hold exactly rows 1...`last` and pass `integrity_check`.
    static func expectExactly(
        _ last: Int, in path: String, _ label: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            #expect(try TestDatabase.integrityCheck(path: path) == "ok", "\(label)", sourceLocation: sourceLocation)
            #expect(
                try summary(path) == [last, 1, last, last],
                "\(label): [count, min, max, good rows], want rows 1...\(last)", sourceLocation: sourceLocation)
        } catch {
            Issue.record(error, "\(label)", sourceLocation: sourceLocation)
        }
    }
}

/// A `Replicator` running in a service group and a task of its own until `stop()`, as `litestream replicate`
/// runs it.
final class LiveReplicator: Sendable {
    let group: ServiceGroup
    let task: Task<Void, any Error>

    init(_ configuration: Replicator.Configuration) {
        let group = ServiceGroup(services: [Replicator(configuration: configuration)], logger: Logger(label: "test"))
        self.group = group
        task = Task { try await group.run() }
    }

    /// Graceful stop: a final sync and upload, then returns (or throws what `run` threw).
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

extension S3TestServer {
    /// Runs the reference litestream 0.5.17 (or another program) off Swift concurrency's threads, with the test
    /// credentials and without AWS_CA_BUNDLE (which 0.5.17 cannot start with).
    static func runTool(_ executable: String, _ args: [String], timeout: Duration = .seconds(120)) async throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        try await Integration.offload {
            try TestEnvironment.run(
                "env", ["-u", "AWS_CA_BUNDLE", executable] + args, environment: S3EndToEndTests.env(), timeout: timeout)
        }
    }

    /// Starts a long-running tool (e.g. `litestream replicate`); the caller stops it.
    static func launchTool(_ executable: String, _ args: [String]) throws -> TestEnvironment.BackgroundProcess {
        try TestEnvironment.launch("env", ["-u", "AWS_CA_BUNDLE", executable] + args, environment: S3EndToEndTests.env())
    }

    /// The highest MaxTXID of a level's files (0 when empty).
    static func maxTXID(_ replica: S3ReplicaClient, level: Int = 0) async throws -> UInt64 {
        try await replica.ltxFiles(level: level).map(\.maxTXID.rawValue).max() ?? 0
    }

    /// The TXIDs of the local L0 files in `<dir>/.<db>-litestream/ltx/0/` (max TXIDs, sorted).
    static func localL0(dbPath: String) -> [UInt64] {
        let url = URL(fileURLWithPath: dbPath)
        let dir = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent)-litestream/ltx/0").path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasSuffix(".ltx") }.compactMap { UInt64($0.dropFirst(17).prefix(16), radix: 16) }.sorted()
    }
}
