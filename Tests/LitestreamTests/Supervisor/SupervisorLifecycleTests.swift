import Foundation
import LTX
import LitestreamClient
import Logging
import MetricsTestKit
import Synchronization
import Testing

@testable import LitestreamSupervisor

/// The supervisor in this process with real `litestream replicate` children: restarts, giving up, switched off,
/// and where it finds the executable.
@Suite(.serialized) struct SupervisorLifecycleTests {
    typealias T = SupervisorTesting

    @Test(.timeLimit(.minutes(2))) func aChildKilledWithSIGKILLIsRestarted() async throws {
        let dir = try TestEnvironment.temporaryDirectory("supervisor-restart")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("app.db").path
        try T.makeDatabase(db)
        var c = try T.configuration(databases: [.init(path: db, replica: "file://" + dir.appendingPathComponent("replica").path)])
        c.restartPolicy.initialBackoff = .milliseconds(100)
        let log = T.Log()
        let metrics = TestMetrics()
        let supervisor = ReplicationSupervisor(configuration: c, logger: log.logger, metricsFactory: metrics)
        try await T.withRunning(supervisor) {
            try await T.waitFor("the replicator to run") { await supervisor.status().state == .running }
            #expect(try metrics.expectGauge("litestream_supervisor_child_up").lastValue == 1)
            #expect(try metrics.expectCounter("litestream_supervisor_restarts_total").values.isEmpty)
            let first = try #require(await supervisor.status().pid)
            #expect(kill(first, SIGKILL) == 0)
            try await T.waitFor("the restarted replicator to run") {
                let s = await supervisor.status()
                return s.state == .running && s.pid != nil && s.pid != first
            }
            let status = await supervisor.status()
            #expect(status.restarts == 1)
            #expect(status.lastExit == "killed by signal 9")
            #expect(status.databases.map(\.path) == [db], "the restarted child answers with its status")
            #expect(!T.isAlive(first))
            #expect(log.contains { $0.level == .error && $0.message.contains("exited unexpectedly") })
            #expect(log.contains { $0.level == .warning && $0.message.contains("restarting") && $0.metadata["restart"] == "1" })
            // The app's metrics say the same: one restart, and the child up again.
            #expect(try metrics.expectCounter("litestream_supervisor_restarts_total").totalValue == 1)
            #expect(try metrics.expectGauge("litestream_supervisor_child_up").values == [1, 0, 1])
        }
        #expect(await supervisor.status().state == .stopped)
        #expect(try metrics.expectGauge("litestream_supervisor_child_up").lastValue == 0)
    }

    @Test(.timeLimit(.minutes(2))) func givesUpAfterTooManyRestartsAndKeepsTheAppRunning() async throws {
        let dir = try TestEnvironment.temporaryDirectory("supervisor-give-up")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runs = dir.appendingPathComponent("runs").path
        let script = dir.appendingPathComponent("failing-litestream").path
        try """
            #!/bin/sh
            echo run >> '\(runs)'
            echo 'time=2026-01-01T00:00:00Z level=ERROR msg="cannot open database" error="disk on fire"' >&2
            exit 1
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        var c = ReplicationSupervisor.Configuration(
            databases: [.init(path: dir.appendingPathComponent("app.db").path, replica: "file:///nowhere")])
        c.executablePath = script
        c.restartPolicy.initialBackoff = .milliseconds(20)
        c.restartPolicy.maximumRestarts = 2
        let log = T.Log()
        let metrics = TestMetrics()
        let supervisor = ReplicationSupervisor(configuration: c, logger: log.logger, metricsFactory: metrics)
        try await T.withRunning(supervisor) {
            try await T.waitFor("the supervisor to give up") { await supervisor.status().state == .failed }
            let status = await supervisor.status()
            #expect(status.restarts == 2)
            #expect(try metrics.expectCounter("litestream_supervisor_restarts_total").totalValue == 2)
            // Never answered on its socket: never up.
            #expect(try metrics.expectGauge("litestream_supervisor_child_up").values.allSatisfy { $0 == 0 })
            #expect(status.pid == nil)
            #expect(status.lastExit == "exit status 1")
            #expect(status.lastError?.contains("cannot open database: disk on fire") == true, "\(status.lastError ?? "")")
            #expect(try String(contentsOfFile: runs, encoding: .utf8).split(separator: "\n").count == 3)
            #expect(log.all.filter { $0.level == .critical }.count == 1, "\(log.text)")
            // The child's own error line went through at its level.
            #expect(log.contains { $0.level == .error && $0.message == "cannot open database" && $0.metadata["error"] == "disk on fire" })
            // Still failed a while later: no further attempt.
            try await Task.sleep(for: .milliseconds(300))
            #expect(try String(contentsOfFile: runs, encoding: .utf8).split(separator: "\n").count == 3)
        }
    }

    @Test(arguments: [false, true])
    func switchedOffOrWithoutReplicaItLogsOneLineAndStartsNothing(enabled: Bool) async throws {
        let dir = try TestEnvironment.temporaryDirectory("supervisor-disabled")
        defer { try? FileManager.default.removeItem(at: dir) }
        let marker = dir.appendingPathComponent("started").path
        let script = dir.appendingPathComponent("litestream").path
        try "#!/bin/sh\ntouch '\(marker)'\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        // Enabled, but no replica and no bucket anywhere (not even in the environment); or a replica, but off.
        var c = ReplicationSupervisor.Configuration(
            databases: [.init(path: "app.db", replicas: enabled ? [] : ["file:///r"])], environment: ["PATH": "/bin"])
        c.isEnabled = enabled
        c.executablePath = script
        let log = T.Log()
        let supervisor = ReplicationSupervisor(configuration: c, logger: log.logger)
        try await T.withRunning(supervisor) {
            try await T.waitFor("the supervisor to settle") { await supervisor.status().state == .disabled }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(log.all.count == 1, "\(log.text)")
        let line = try #require(log.all.first)
        #expect(line.level == .notice)
        #expect(line.message.contains(enabled ? "no replica configured, not replicating" : "replication is switched off"))
        #expect(!FileManager.default.fileExists(atPath: marker), "nothing was started")
        await #expect(throws: SupervisorError.self) { try await supervisor.sync("app.db") }
    }

    @Test func findsTheExecutableBesideTheAppsOwn() throws {
        // The test runner sits in the build products directory, where `swift build` put `litestream` too.
        let found = try ExecutableLocator.find(configured: nil, environment: ["PATH": "/nonexistent"])
        #expect(found == ExecutableLocator.ownExecutableDirectory()! + "/litestream")
        let error = try #require(throws: SupervisorError.self) {
            try ExecutableLocator.find(configured: "/no/such/litestream", environment: [:])
        }
        #expect(error.code == .executableNotFound)
        #expect(error.message.contains("/no/such/litestream") && error.message.contains("swift build --product litestream"))
        let fromEnvironment = try #require(throws: SupervisorError.self) {
            try ExecutableLocator.find(configured: nil, environment: ["LITESTREAM_EXECUTABLE": "/no/such/file"])
        }
        #expect(fromEnvironment.message.contains("LITESTREAM_EXECUTABLE=/no/such/file"))
    }
}

/// Cancellation (not a graceful shutdown) still stops the child with SIGTERM, quickly, and reaps it.
@Suite(.serialized) struct SupervisorCancellationTests {
    typealias T = SupervisorTesting

    @Test(.timeLimit(.minutes(2))) func cancellingTheTaskStopsTheChildQuickly() async throws {
        let dir = try TestEnvironment.temporaryDirectory("supervisor-cancel")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("app.db").path
        try T.makeDatabase(db)
        let c = try T.configuration(databases: [.init(path: db, replica: "file://" + dir.appendingPathComponent("replica").path)])
        let log = T.Log()
        let supervisor = ReplicationSupervisor(configuration: c, logger: log.logger)
        let task = Task { try await supervisor.run() }
        try await T.waitFor("the replicator to run") { await supervisor.status().state == .running }
        let pid = try #require(await supervisor.status().pid)
        try sqlite3(db, "INSERT INTO t(v) VALUES ('at cancellation')")
        let began = ContinuousClock.now
        task.cancel()
        _ = await task.result
        let took = ContinuousClock.now - began
        #expect(took < ReplicationSupervisor.cancellationTimeout + .seconds(2), "took \(took)")
        #expect(!T.isAlive(pid))
        #expect(await supervisor.status().state == .stopped)
        #expect(log.contains { $0.message == "litestream: replicator stopped" && $0.metadata["exit"] == "exit status 0" })
        // SIGTERM, not SIGKILL: the final sync shipped the last commit.
        #expect(try await T.restoredRows("file://" + dir.appendingPathComponent("replica").path, in: dir) == "2|at cancellation")
    }
}
