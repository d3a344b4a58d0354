import Foundation
import Testing

/// An app's way to run the replicator (Examples/ServiceGroupReplicator): one `Service` in a `ServiceGroup` whose
/// SIGTERM is a graceful shutdown. Commits made right before the SIGTERM reach the replica: the final sync and
/// upload run in the graceful shutdown.
@Suite(.ownThreads) struct ServiceGroupExampleTests {
    @Test(.timeLimit(.minutes(2))) func sigtermRightAfterCommitsKeepsThem() throws {
        let example = try #require(TestEnvironment.ourBinary("ServiceGroupReplicator")?.path, "build the example first")
        let litestream = try #require(TestEnvironment.ourBinary()?.path, "build the litestream executable first")
        let dir = try TestEnvironment.temporaryDirectory("service-group")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("app.db").path
        let replica = dir.appendingPathComponent("replica").path
        let app = try TestDatabase(path: db)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")

        let replicator = try TestEnvironment.launch(example, [db, replica])
        defer { replicator.signal(SIGKILL) }
        // Replicating once the first file is in the replica.
        let deadline = ContinuousClock.now + .seconds(60)
        while (try? FileManager.default.contentsOfDirectory(atPath: replica + "/ltx/0"))?.isEmpty ?? true {
            try #require(replicator.isRunning && ContinuousClock.now < deadline, "\(replicator.output)")
            Thread.sleep(forTimeInterval: 0.05)
        }
        // Sustained writes: the loop syncs at most once per 100 ms, so the last commits are the final sync's.
        for i in 1...200 { try app.exec("INSERT INTO t (v) VALUES ('row \(i)')") }
        replicator.terminate()
        let result = try replicator.wait(timeout: .seconds(60))
        #expect(result.status == 0, "stderr: \(result.stderr)")

        let out = dir.appendingPathComponent("restored.db").path
        let restore = try TestEnvironment.run(litestream, ["restore", "-o", out, "file://" + replica])
        try #require(restore.status == 0, "\(restore.stderr)")
        #expect(try TestEnvironment.sqlite3(out, "SELECT count(*), max(id) FROM t") == "200|200")
    }
}
