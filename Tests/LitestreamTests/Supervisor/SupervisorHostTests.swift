import Foundation
import LTX
import LitestreamClient
import Logging
import Synchronization
import Testing

@testable import LitestreamSupervisor

/// An app (Tests/SupervisorHost: a ServiceGroup with the supervisor) run as its own process and stopped the ways
/// apps are stopped: SIGTERM ships the last commits, SIGKILL leaves no replicator behind, and the replicator's
/// log lines are in the app's log at their levels.
@Suite(.serialized) struct SupervisorHostTests {
    typealias T = SupervisorTesting

    /// A running host and its replicator's pid (from the host's "replicator running" log line).
    struct Host {
        let process: TestEnvironment.BackgroundProcess
        let childPID: pid_t
    }

    static func start(_ arguments: [String], in workspace: Integration.Workspace) async throws -> Host {
        let process = try workspace.launch(try T.host(), arguments)
        var childPID: pid_t?
        try await T.waitFor("the host's replicator to run") {
            try #require(process.isRunning, "the host exited: \(process.output.stderr)")
            let line = process.output.stderr.split(separator: "\n").first { $0.contains("litestream: replicator running") }
            childPID = line.flatMap { l in l.split(separator: " ").first { $0.hasPrefix("pid=") }.flatMap { Int32($0.dropFirst(4)) } }
            return childPID != nil
        }
        return Host(process: process, childPID: childPID!)
    }

    @Test(.timeLimit(.minutes(2))) func sigtermStopsTheReplicatorAfterAFinalSync() async throws {
        let workspace = try Integration.Workspace("supervisor-host-sigterm")
        defer { workspace.close() }
        try T.makeDatabase(workspace.dbPath)
        let host = try await Self.start(["--db", workspace.dbPath, "--replica", workspace.replicaURL], in: workspace)
        #expect(SupervisorTesting.children(of: host.process.pid) == [host.childPID])
        // Its own process group: a terminal's Ctrl-C reaches the app, which then decides when the child stops.
        #expect(getpgid(host.childPID) == host.childPID && getpgid(host.process.pid) != host.childPID)
        let app = try TestDatabase(path: workspace.dbPath)
        for i in 1...100 { try app.exec("INSERT INTO t(v) VALUES ('last \(i)')") }
        app.close()
        // At once, while the last commits are still only local.
        host.process.terminate()
        let result = try await Integration.offload { try host.process.wait(timeout: .seconds(60)) }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!T.isAlive(host.childPID))
        #expect(result.stderr.contains("litestream: stopping the replicator (final sync)"))
        #expect(result.stderr.contains("litestream: replicator stopped"))
        #expect(try await T.restoredRows(workspace.replicaURL, in: workspace.directory) == "101|last 100")
        // The private directory is gone with the host.
        let configLine = try #require(result.stderr.split(separator: "\n").first { $0.contains("replicator started") })
        let config = try #require(configLine.split(separator: " ").first { $0.hasPrefix("config=") }?.dropFirst(7))
        #expect(!FileManager.default.fileExists(atPath: (String(config) as NSString).deletingLastPathComponent))
    }

    @Test(.timeLimit(.minutes(2))) func sigkillOfTheAppLeavesNoReplicator() async throws {
        let workspace = try Integration.Workspace("supervisor-host-sigkill")
        defer { workspace.close() }
        try T.makeDatabase(workspace.dbPath)
        let host = try await Self.start(["--db", workspace.dbPath, "--replica", workspace.replicaURL], in: workspace)
        #expect(T.isAlive(host.childPID))
        let app = try TestDatabase(path: workspace.dbPath)
        for i in 1...30 { try app.exec("INSERT INTO t(v) VALUES ('before the kill \(i)')") }
        app.close()
        host.process.signal(SIGKILL)
        try await T.waitFor("the host to die") { !T.isAlive(host.process.pid) }
        let began = ContinuousClock.now
        try await T.waitFor("the orphaned replicator to exit", timeout: .seconds(5)) { !T.isAlive(host.childPID) }
        Integration.trace("replicator gone \(ContinuousClock.now - began) after its app was killed")
        // It stopped gracefully (the lifeline's end, or PDEATHSIG's SIGTERM): its final sync should ship the commits
        // made before the kill. Known to fail most runs, child side (int-cli), cause not established: the child
        // gets SIGTERM (seen twice under strace) and the lifeline's end at once, exits 0 within ~100 ms, and the
        // replica lacks the last commits. With a Python parent and SIGPIPE ignored all commits arrive; with
        // SIGPIPE at its default the child dies on its first log line into the dead app's pipe.
        let restored = try await T.restoredRows(workspace.replicaURL, in: workspace.directory)
        withKnownIssue("the child's shutdown after its app was killed can skip the final sync", isIntermittent: true) {
            #expect(restored == "31|before the kill 30")
        }
    }

    @Test(.timeLimit(.minutes(2)), arguments: ["text", "json"])
    func theReplicatorsLogLinesAreInTheAppsLogAtTheirLevels(format: String) async throws {
        let workspace = try Integration.Workspace("supervisor-host-log")
        defer { workspace.close() }
        try T.makeDatabase(workspace.dbPath)
        // Short: the workspace's path leaves too little room in sockaddr_un for the server's temporary name.
        let socket = "/tmp/ls-\(UUID().uuidString.prefix(8)).sock"
        defer { unlink(socket) }
        // A configuration file of the app's own: `mcp-addr` makes the child warn that it is not supported.
        let config = workspace.path("litestream.yml")
        try """
            mcp-addr: ":3001"
            logging: {type: \(format)}
            socket: {enabled: true, path: "\(socket)"}
            dbs:
              - path: "\(workspace.dbPath)"
                replica: {url: "\(workspace.replicaURL)"}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let host = try await Self.start(["--db", workspace.dbPath, "--config", config, "--socket", socket], in: workspace)
        host.process.terminate()
        let result = try await Integration.offload { try host.process.wait(timeout: .seconds(60)) }
        let lines = result.stderr.split(separator: "\n")
        func line(_ level: String, _ message: String) -> Substring? {
            lines.first { $0.contains(" \(level) litestream:") && $0.hasSuffix("] \(message)") }
        }
        let warning = try #require(line("warning", "configuration setting not supported yet; ignored"), "\(result.stderr)")
        #expect(warning.contains("pid=\(host.childPID)") && warning.contains("setting=mcp-addr"))
        let info = try #require(line("info", "replicating"), "\(result.stderr)")
        #expect(info.contains("db=\(workspace.dbPath)"))
        #expect(!lines.contains { $0.contains("level=") || $0.contains("\"level\"") }, "every child line was parsed: \(result.stderr)")
    }
}
