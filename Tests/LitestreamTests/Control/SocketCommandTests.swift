import Foundation
import LTX
import NIOPosix
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// The built `litestream` binary's socket commands against an in-process server: output shapes and the exit
/// codes that supervisors rely on (docs/status.md).
@Suite struct SocketCommandTests {
    /// Runs the binary off the task threads (the servers under test need them). The in-process server answers
    /// on those threads, which the rest of a parallel `swift test` on two cores has been seen to hold for 36 s:
    /// longer than the commands' default 30 s `-timeout`, so the test gives them 100 s.
    static func litestream(_ args: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        guard let binary = TestEnvironment.ourBinary()?.path else { throw TestEnvironment.Failure.missingTool("litestream not built") }
        let args = args.contains("-timeout") ? args : [args[0], "-timeout", "100s"] + args.dropFirst()
        return try await NIOThreadPool.singleton.runIfActive { try TestEnvironment.run(binary, args, timeout: .seconds(150)) }
    }

    @Test(.timeLimit(.minutes(5))) func statusExitCodesAndJSON() async throws {
        guard TestEnvironment.ourBinary() != nil else { return }
        let f = try ControlServerTests.Fixture("cli")
        let app = try f.makeDatabase("a")
        try app.exec("INSERT INTO t (v) VALUES ('x')")
        let db = absolutePath(f.dbPath("a"))

        // Nobody listening: exit 1.
        let unreachable = try await Self.litestream(["status", "-socket", f.socketPath])
        #expect(unreachable.status == 1, "\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("cannot reach control socket"))

        try await f.withServers([f.configuration("a")]) { server, client in
            try await ControlServerTests.waitFor("a running") { server.monitor(for: db)?.isRunning == true }
            _ = try await client.sync(path: db, wait: true)

            let healthy = try await Self.litestream(["status", "-socket", f.socketPath, "-max-lag", "1m"])
            #expect(healthy.status == 0, "\(healthy.stderr)")
            #expect(healthy.stdout.contains("DATABASE"))
            #expect(healthy.stdout.contains(db))

            let json = try await Self.litestream(["status", "--socket", f.socketPath, "-json", db])
            #expect(json.status == 0, "\(json.stderr)")
            let statuses = try JSONDecoder().decode([ReplicationStatus].self, from: Data(json.stdout.utf8))
            #expect(statuses.map(\.path) == [db])
            #expect(statuses[0].replicas[0].txid == statuses[0].localTXID)

            let info = try await Self.litestream(["info", "-socket", f.socketPath, "-json"])
            #expect(try JSONDecoder().decode(ControlInfo.self, from: Data(info.stdout.utf8)).databases == 1)

            let sync = try await Self.litestream(["sync", "-socket", f.socketPath, "-wait", "-timeout", "100s", "-json", db])
            #expect(sync.status == 0, "\(sync.stderr)")
            #expect(try JSONDecoder().decode(ControlSyncResult.self, from: Data(sync.stdout.utf8)).path == db)

            let unknown = try await Self.litestream(["status", "-socket", f.socketPath, f.dbPath("nope")])
            #expect(unknown.status == 1, "\(unknown.stderr)")

            // A stopped database is unhealthy for a health check: exit 2.
            let stop = try await Self.litestream(["stop", "-socket", f.socketPath, db])
            #expect(stop.status == 0, "\(stop.stderr)")
            #expect(stop.stdout.contains("stopped"))
            let unhealthy = try await Self.litestream(["status", "-socket", f.socketPath, "-max-lag", "1m"])
            #expect(unhealthy.status == 2, "\(unhealthy.stderr)")
            #expect(unhealthy.stderr.contains("unhealthy"))
            // Without -max-lag, status only reports.
            #expect(try await Self.litestream(["status", "-socket", f.socketPath]).status == 0)

            let list = try await Self.litestream(["list", "-socket", f.socketPath])
            #expect(list.stdout.contains("stopped"))
            #expect(try await Self.litestream(["start", "-socket", f.socketPath, db]).status == 0)
            let dry = try await Self.litestream(["unregister", "-socket", f.socketPath, "-dry-run", db])
            #expect(dry.stdout.contains("would unregister"))
            #expect(try await client.list().count == 1)
        }
    }
}
