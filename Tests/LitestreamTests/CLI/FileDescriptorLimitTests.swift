import Foundation
import Testing

/// `replicate` raises its soft descriptor limit to the hard one (as Go does for Litestream), and past the hard
/// limit it replicates the databases it has room for, says why it refuses the others, and keeps going.
@Suite(.ownThreads, .timeLimit(.minutes(3))) struct FileDescriptorLimitTests {
    @Test func raisesTheSoftLimitAndRefusesClearlyPastTheHardOne() throws {
        let litestream = try #require(TestEnvironment.ourBinary()?.path, "build the litestream executable first")
        let dir = try TestEnvironment.temporaryDirectory("fd-limit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbs = dir.appendingPathComponent("dbs").path
        try FileManager.default.createDirectory(atPath: dbs, withIntermediateDirectories: true)
        for i in 0..<20 {
            try TestEnvironment.sqlite3("\(dbs)/t\(i).db", "PRAGMA journal_mode=wal; CREATE TABLE t (x); INSERT INTO t VALUES (\(i));")
        }
        let config = dir.appendingPathComponent("litestream.yml").path
        let replicas = dir.appendingPathComponent("replicas").path
        try """
            dbs:
              - dir: \(dbs)
                pattern: "*.db"
                watch: true
                replica:
                  type: file
                  path: \(replicas)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        // Soft 60, hard 150: raised to 150, which leaves room for about a dozen databases of eight descriptors.
        let p = try TestEnvironment.launch("/bin/sh", ["-c", "ulimit -Sn 60 && ulimit -Hn 150 && exec \"$0\" replicate -config \"$1\"",
            litestream, config])
        defer { p.terminate(); _ = try? p.wait() }
        let deadline = ContinuousClock.now + .seconds(60)
        var limits = ""
        while ContinuousClock.now < deadline {
            limits = (try? String(contentsOfFile: "/proc/\(p.pid)/limits", encoding: .utf8)) ?? ""
            if p.output.stderr.contains("not enough file descriptors"),
                ((try? FileManager.default.contentsOfDirectory(atPath: replicas)) ?? []).count >= 10
            {
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let openFiles = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }.map {
            $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).prefix(2).map(String.init)
        }
        #expect(openFiles == ["150", "150"], "soft limit not raised to the hard one: \(limits)")
        let replicated = ((try? FileManager.default.contentsOfDirectory(atPath: replicas)) ?? []).count
        #expect(replicated >= 10 && replicated < 20, "\(replicated) of 20 databases replicated under a limit of 150")
        #expect(p.output.stderr.contains("not enough file descriptors"), "no clear error: \(p.output.stderr.suffix(2000))")
        #expect(p.output.stderr.contains("the databases already open keep replicating"))
        // The ones that are open still replicate a new commit.
        let open = try #require(try FileManager.default.contentsOfDirectory(atPath: replicas).first)
        try TestEnvironment.sqlite3("\(dbs)/\(open)", "INSERT INTO t VALUES (1000);")
        let out = dir.appendingPathComponent("restored.db").path
        var restored = ""
        while ContinuousClock.now < deadline + .seconds(30) {
            try? FileManager.default.removeItem(atPath: out)
            if (try? TestEnvironment.run(litestream, ["restore", "-o", out, "file://\(replicas)/\(open)"]))?.status == 0 {
                restored = (try? TestEnvironment.sqlite3(out, "SELECT max(x) FROM t;")) ?? ""
                if restored == "1000" { break }
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(restored == "1000")
    }
}
