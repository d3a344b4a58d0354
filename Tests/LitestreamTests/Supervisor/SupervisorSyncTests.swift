import Foundation
import LTX
import LitestreamClient
import Logging
import Synchronization
import Testing

@testable import LitestreamSupervisor

/// `sync(_:waitForReplicas:timeout:)`: returns only once the commit is in the replica, throws `.timeout` when the
/// replica cannot be reached; and the status the app reads while the child runs.
@Suite(.serialized) struct SupervisorSyncTests {
    typealias T = SupervisorTesting

    @Test(.timeLimit(.minutes(2))) func syncReturnsOnceTheReplicaHoldsTheCommit() async throws {
        let dir = try TestEnvironment.temporaryDirectory("supervisor-sync")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("app.db").path
        try T.makeDatabase(db)
        let replica = "file://" + dir.appendingPathComponent("replica").path
        let supervisor = ReplicationSupervisor(configuration: try T.configuration(databases: [.init(path: db, replica: replica)]))
        try await T.withRunning(supervisor) {
            // At once, while the replicator is still starting: the sync waits for it.
            let app = try TestDatabase(path: db)
            defer { app.close() }
            for i in 1...5 {
                try app.exec("INSERT INTO t(v) VALUES ('critical \(i)')")
                let began = ContinuousClock.now
                // The first one also waits out the replicator's start, which a loaded machine (the parallel suite)
                // can stretch to seconds; the later ones only the sync.
                let txid = try await supervisor.sync(db, waitForReplicas: true, timeout: .seconds(i == 1 ? 60 : 10))
                let waited = ContinuousClock.now - began
                #expect(txid > .zero)
                // Right after it returns, before anything else could ship it: a restore holds the row.
                #expect(try await T.restoredRows(replica, in: dir) == "\(i + 1)|critical \(i)")
                if i > 1 { #expect(waited < .seconds(5), "waited \(waited)") }
            }
            let status = await supervisor.status()
            let database = try #require(status.databases.first)
            #expect(database.path == db && database.localTXID > .zero)
            #expect(database.replicas.first?.txid == database.localTXID)
            #expect(status.pid != nil && status.startedAt != nil)
        }
    }

    @Test(.timeLimit(.minutes(2)), .enabled(if: S3TestServer.enabled))
    func syncThrowsTimeoutWhenTheReplicaIsUnreachable() async throws {
        let dir = try TestEnvironment.temporaryDirectory("supervisor-sync-unreachable")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("app.db").path
        try T.makeDatabase(db)
        // S3 through a proxy that can go down: the replicator starts against a working replica (it checks access
        // at start), then loses it.
        let bucket = try await S3TestServer.makeBucket("supervisor-down")
        let proxy = try await FaultProxy.start(upstream: try S3TestServer.endpoint())
        let replica = try S3TestServer.url(bucket: bucket, path: "app", endpoint: proxy.endpoint)
        var environment = ProcessInfo.processInfo.environment
        environment.merge(S3TestServer.environment) { $1 }
        var c = try T.configuration(databases: [.init(path: db, replica: replica)], environment: environment)
        // The final sync cannot ship either: a short stop keeps the test short (SIGKILL after 3 s at most).
        c.shutdownTimeout = .seconds(3)
        let supervisor = ReplicationSupervisor(configuration: c)
        // The proxy's HTTP client must be shut down whatever happens.
        var failure: (any Error)?
        var stop: (took: Duration, childGoneAfter: Duration?)?
        do { stop = try await Self.loseTheReplica(supervisor, db: db, proxy: proxy) } catch { failure = error }
        await proxy.stop()
        if let failure { throw failure }
        let (took, childGoneAfter) = try #require(stop)
        // The product's guarantee: the child is gone by shutdownTimeout (SIGKILL) even when the final sync cannot
        // ship, measured on a thread of the test's own. The SIGKILL deadline used to be a task resumed after the
        // timeout; on a loaded two-core machine it once waited 8 s for a free thread of the cooperative pool. It
        // is a Dispatch timer now.
        let gone = try #require(childGoneAfter, "the replicator still ran 20 s after the stop")
        #expect(gone < .seconds(3) + .seconds(2), "the replicator was gone \(gone) after the stop")
        // The whole stop (the service group's teardown included) also runs on the test's pool, which the parallel
        // suite's blocking tests can starve: recorded when slow, not failed.
        withKnownIssue("the whole stop took longer than shutdownTimeout + 3 s", isIntermittent: true) {
            #expect(took < .seconds(3) + .seconds(3), "stopping took \(took)")
        }
    }

    /// Returns how long the graceful stop took, and when the replicator was gone after it began.
    static func loseTheReplica(
        _ supervisor: ReplicationSupervisor, db: String, proxy: FaultProxy
    ) async throws -> (took: Duration, childGoneAfter: Duration?) {
        let watcher = Mutex<ExitWatcher?>(nil)
        let bodyEnded = try await T.withRunning(supervisor) {
            try await T.waitFor("the replicator to run") { await supervisor.status().state == .running }
            try await supervisor.sync(db, timeout: .seconds(20))
            // Down for good: a client retrying against a closed loopback port can end up connected to itself on
            // it, so the port cannot reliably be listened on again.
            await proxy.down()
            let app = try TestDatabase(path: db)
            defer { app.close() }
            try app.exec("INSERT INTO t(v) VALUES ('waits for the replica')")
            let began = ContinuousClock.now
            let error = try await #require(throws: SupervisorError.self) {
                try await supervisor.sync(db, waitForReplicas: true, timeout: .seconds(2))
            }
            let waited = ContinuousClock.now - began
            #expect(error.code == .timeout, "\(error)")
            #expect(waited >= .seconds(2) && waited < .seconds(15), "waited \(waited)")
            // Without waiting for the replicas, the local sync alone succeeds.
            #expect(try await supervisor.sync(db, waitForReplicas: false) > .zero)
            // Watched from now on, by a thread: the stop begins when the body returns.
            let pid = try #require(await supervisor.status().pid)
            watcher.withLock { $0 = ExitWatcher(pid: pid) }
            return ContinuousClock.now
        }
        let took = ContinuousClock.now - bodyEnded
        let gone = watcher.withLock { $0 }?.goneAt(waitingUpTo: .seconds(20))
        return (took, gone.map { $0 - bodyEnded })
    }

    @Test(.timeLimit(.minutes(2)), .enabled(if: S3TestServer.enabled))
    func theBucketSettingReplicatesToS3WithCredentialsFromTheEnvironmentOnly() async throws {
        let dir = try TestEnvironment.temporaryDirectory("supervisor-bucket")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("app.db").path
        try T.makeDatabase(db, rows: 3)
        let bucket = try await S3TestServer.makeBucket("supervisor")
        let secret = "supervisor-secret-\(UUID().uuidString)"
        // The deployment's environment has no credentials: the Swift settings provide them (moto accepts any).
        var environment = ProcessInfo.processInfo.environment
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_SECRET_ACCESS_KEY",
                     "LITESTREAM_REPLICA_BUCKET", "LITESTREAM_REPLICA_ENDPOINT", "LITESTREAM_REPLICA_REGION"] {
            environment.removeValue(forKey: name)
        }
        var c = try T.configuration(databases: [.init(path: db)], environment: environment)
        c.bucket = bucket
        c.endpoint = try S3TestServer.endpoint()
        c.region = "us-east-1"
        c.accessKeyID = "AKIATEST"
        c.secretAccessKey = secret
        let supervisor = ReplicationSupervisor(configuration: c)
        try await T.withRunning(supervisor) {
            try await T.waitFor("the replicator to run") { await supervisor.status().state == .running }
            try await supervisor.sync(db, timeout: .seconds(20))
            // The generated file, read back: no credential in it.
            let configPath = try #require(supervisor.state.withLock { $0.runtime?.configPath })
            let text = try String(contentsOfFile: configPath, encoding: .utf8)
            #expect(!text.contains(secret) && !text.contains("AKIATEST"), "\(text)")
            #expect(text.contains("${LITESTREAM_REPLICA_BUCKET}") && !text.contains(bucket))
            // Its directory is private.
            let attributes = try FileManager.default.attributesOfItem(atPath: (configPath as NSString).deletingLastPathComponent)
            #expect((attributes[.posixPermissions] as? Int) == 0o700)
            #expect((try FileManager.default.attributesOfItem(atPath: configPath)[.posixPermissions] as? Int) == 0o600)
        }
        let url = "s3://\(bucket)/app.db?endpoint=\(try S3TestServer.endpoint())&region=us-east-1&force-path-style=true"
        #expect(try await T.restoredRows(url, in: dir, environment: S3TestServer.environment) == "3|row 2")
    }
}

/// Watches a process from a thread of its own (every 10 ms), so that when it ended is known however busy the
/// test's cooperative pool is.
final class ExitWatcher: Sendable {
    private let gone = Mutex<ContinuousClock.Instant?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(pid: pid_t) {
        let thread = Thread { [self] in
            while SupervisorTesting.isAlive(pid) { Thread.sleep(forTimeInterval: 0.01) }
            gone.withLock { $0 = ContinuousClock.now }
            done.signal()
        }
        thread.start()
    }

    /// When the process was gone (exited, killed, or a zombie), waiting at most `timeout` for it.
    func goneAt(waitingUpTo timeout: Duration) -> ContinuousClock.Instant? {
        _ = done.wait(timeout: .now() + .seconds(Int(timeout.components.seconds)))
        return gone.withLock { $0 }
    }
}
