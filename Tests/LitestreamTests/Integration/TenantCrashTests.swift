import Foundation
import Testing

/// Crash consistency in directory mode (issue 20): an application commits to 100 tenant databases at random,
/// checkpointing now and then, while `replicate` (a `dir:` entry with `watch: true`) is SIGKILLed and restarted;
/// after a last run stopped by SIGINT, every tenant restores to exactly its source.
@Suite(.ownThreads, .tags(.slow)) struct TenantCrashTests {
    static let tenants = 100

    @Test(.timeLimit(.minutes(5))) func killedReplicatorEveryTenantRestoresExactly() throws {
        let litestream = try #require(TestEnvironment.ourBinary()?.path, "build the litestream executable first")
        let dir = try TestEnvironment.temporaryDirectory("tenant-crash")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbs = dir.appendingPathComponent("dbs").path
        let replicas = dir.appendingPathComponent("replicas").path
        try FileManager.default.createDirectory(atPath: dbs, withIntermediateDirectories: true)
        let apps = try (0..<Self.tenants).map { i in
            let db = try TestDatabase(path: "\(dbs)/tenant-\(i).db")
            try db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, pad BLOB)")
            return db
        }
        let config = dir.appendingPathComponent("litestream.yml").path
        try """
            dbs:
              - dir: \(dbs)
                pattern: "*.db"
                watch: true
                replica:
                  type: file
                  path: \(replicas)
            """.write(toFile: config, atomically: true, encoding: .utf8)

        var random = SplitMix64(seed: 0x7E4A_4715)
        var commits = 0
        /// Commits to random tenants for `seconds`, a passive checkpoint by the app every 50th commit.
        func write(for seconds: Double) throws {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                let app = apps[Int(random.next() % UInt64(Self.tenants))]
                try app.exec("INSERT INTO t (v, pad) VALUES ('row \(commits)', randomblob(\(100 + random.next() % 3000)))")
                commits += 1
                if commits % 50 == 0 { try app.checkpoint("PASSIVE") }
                // Paced (up to about a thousand commits a second): the suite runs beside many other tests.
                usleep(1000)
            }
        }
        let cycles = 8
        for cycle in 1...cycles {
            let replicate = try TestEnvironment.launch(litestream, ["replicate", "-config", config])
            try write(for: 0.3 + Double(random.next() % 1200) / 1000)
            #expect(replicate.isRunning, "cycle \(cycle): replicate exited: \(replicate.output.stderr.suffix(2000))")
            replicate.signal(SIGKILL)
            let r = try replicate.wait(timeout: .seconds(30))
            #expect(r.status == 128 + SIGKILL, "cycle \(cycle)")
            // Writes while nothing replicates, one cycle in two.
            if cycle % 2 == 0 { try write(for: 0.3) }
        }
        let last = try TestEnvironment.launch(litestream, ["replicate", "-config", config])
        try write(for: 1)
        // Every tenant is open again before the stop (the final sync covers only what is open).
        let deadline = Date().addingTimeInterval(60)
        while last.output.stderr.components(separatedBy: "msg=replicating").count - 1 < Self.tenants, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
        Thread.sleep(forTimeInterval: 1)
        last.interrupt()
        let stopped = try last.wait(timeout: .seconds(120))
        #expect(stopped.status == 0, "\(stopped.stderr.suffix(3000))")
        #expect(commits > 500, "only \(commits) commits")

        var mismatched: [Int] = []
        for (i, app) in apps.enumerated() {
            app.close()
            let out = dir.appendingPathComponent("restored-\(i).db").path
            let r = try TestEnvironment.run(litestream, ["restore", "-o", out, "file://\(replicas)/tenant-\(i).db"])
            #expect(r.status == 0, "tenant \(i): \(r.stderr.suffix(1000))")
            guard r.status == 0 else { continue }
            if try TestDatabase.integrityCheck(path: out) != "ok"
                || TestDatabase.contentDigest(path: out) != TestDatabase.contentDigest(path: "\(dbs)/tenant-\(i).db")
            {
                mismatched.append(i)
            }
        }
        #expect(mismatched.isEmpty, "tenants whose restore differs from the source: \(mismatched)")
    }
}
