import Foundation
import Testing

/// `litestream replicate -config FILE` end to end with the built binary: several replicas per database,
/// directory mode picking up databases created while it runs, `exec:` from the file, and the DB_PATH forms of
/// `restore` and `ltx`. Restores are checked with our binary and with litestream 0.5.17 where it is installed.
@Suite(.ownThreads) struct ConfigFileTests {
    struct Setup {
        let litestream: String
        let dir: URL
        var config: String { dir.appendingPathComponent("litestream.yml").path }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        init(_ name: String) throws {
            litestream = try #require(TestEnvironment.ourBinary()?.path, "build the litestream executable first")
            dir = try TestEnvironment.temporaryDirectory(name)
        }

        func write(_ yaml: String) throws { try yaml.write(toFile: config, atomically: true, encoding: .utf8) }

        func waitFor(_ process: TestEnvironment.BackgroundProcess, log text: String, timeout: Duration = .seconds(30)) {
            let deadline = ContinuousClock.now + timeout
            while !process.output.stderr.contains(text) && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }

        /// Restores `replicaURL` with our binary (and litestream 0.5.17 when available); returns the query result
        /// of each.
        func restoreAndQuery(_ replicaURL: String, _ sql: String) throws -> [String] {
            var results: [String] = []
            var binaries = [litestream]
            if let reference = TestEnvironment.litestreamBinary { binaries.append(reference) }
            for (i, binary) in binaries.enumerated() {
                let out = path("restored-\(UUID().uuidString)-\(i).db")
                let r = try TestEnvironment.run(binary, ["restore", "-o", out, replicaURL])
                #expect(r.status == 0, "\(binary) restore \(replicaURL): \(r.stderr)")
                results.append(try TestEnvironment.sqlite3(out, sql))
            }
            return results
        }
    }

    @Test(.timeLimit(.minutes(3))) func twoReplicasAndDirectoryWatch() throws {
        let s = try Setup("config-multi")
        defer { try? FileManager.default.removeItem(at: s.dir) }
        try FileManager.default.createDirectory(atPath: s.path("tenants/eu"), withIntermediateDirectories: true)
        try s.write("""
            dbs:
              - path: \(s.path("app.db"))
                replicas:
                  - url: file://\(s.path("rep-a"))
                  - name: second
                    path: \(s.path("rep-b"))
              - dir: \(s.path("tenants"))
                pattern: "*.db"
                recursive: true
                watch: true
                monitor-interval: 200ms
                replica:
                  path: \(s.path("rep-tenants"))
            """)
        try TestEnvironment.sqlite3(s.path("app.db"), "PRAGMA journal_mode=wal; CREATE TABLE t (v); INSERT INTO t VALUES (1);")
        try TestEnvironment.sqlite3(s.path("tenants/first.db"), "PRAGMA journal_mode=wal; CREATE TABLE u (v); INSERT INTO u VALUES ('first');")
        let replicate = try TestEnvironment.launch(s.litestream, ["replicate", "-config", s.config])
        defer { replicate.signal(SIGKILL) }
        s.waitFor(replicate, log: "database found")
        // Created while replicate runs, in a subdirectory: picked up by the watcher.
        try TestEnvironment.sqlite3(s.path("tenants/eu/late.db"), "PRAGMA journal_mode=wal; CREATE TABLE u (v); INSERT INTO u VALUES ('late');")
        try TestEnvironment.sqlite3(s.path("app.db"), "INSERT INTO t VALUES (2);")
        let deadline = ContinuousClock.now + .seconds(30)
        while !FileManager.default.fileExists(atPath: s.path("rep-tenants/eu/late.db/ltx/0")) && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
        try TestEnvironment.sqlite3(s.path("tenants/eu/late.db"), "INSERT INTO u VALUES ('late-2');")
        Thread.sleep(forTimeInterval: 0.5)
        replicate.signal(SIGINT)
        let result = try replicate.wait(timeout: .seconds(60))
        #expect(result.status == 0, "\(result.stderr)")

        for rep in ["rep-a", "rep-b"] {
            for v in try s.restoreAndQuery("file://" + s.path(rep), "SELECT group_concat(v) FROM t") { #expect(v == "1,2") }
        }
        for v in try s.restoreAndQuery("file://" + s.path("rep-tenants/first.db"), "SELECT group_concat(v) FROM u") {
            #expect(v == "first")
        }
        for v in try s.restoreAndQuery("file://" + s.path("rep-tenants/eu/late.db"), "SELECT group_concat(v) FROM u") {
            #expect(v == "late,late-2")
        }
        // `restore DB_PATH` uses the configured replica; -replica picks the second; -o defaults to... an explicit
        // path here, since the database itself exists.
        let byName = s.path("by-name.db")
        let r = try TestEnvironment.run(s.litestream, ["restore", "-config", s.config, "-replica", "second", "-o", byName, s.path("app.db")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try TestEnvironment.sqlite3(byName, "SELECT count(*) FROM t") == "2")
        let ltx = try TestEnvironment.run(s.litestream, ["ltx", "-config", s.config, s.path("tenants/eu/late.db")])
        #expect(ltx.status == 0 && ltx.stdout.contains("min_txid"), "\(ltx.stderr)")
        let dbs = try TestEnvironment.run(s.litestream, ["databases", "-config", s.config])
        #expect(dbs.stdout.contains(s.path("app.db")) && dbs.stdout.contains("*.db"))
    }

    @Test func execFromTheFileAndFinalSync() throws {
        let s = try Setup("config-exec")
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let db = s.path("app.db")
        try TestEnvironment.sqlite3(db, "PRAGMA journal_mode=wal; CREATE TABLE t (v);")
        try s.write("""
            exec: sh -c 'sqlite3 \(db) "INSERT INTO t VALUES (1)"; sleep 0.2; sqlite3 \(db) "INSERT INTO t VALUES (2)"; exit 3'
            logging:
              type: json
            dbs:
              - path: \(db)
                replica:
                  url: file://\(s.path("replica"))
            """)
        let result = try TestEnvironment.run(s.litestream, ["replicate", "-config", s.config], timeout: .seconds(60))
        #expect(result.status == 3, "the child's status is ours: \(result.stderr)")
        // logging.type: json gives one JSON object per line, as slog's JSON handler.
        let lines = result.stderr.split(separator: "\n").filter { !$0.isEmpty }
        #expect(!lines.isEmpty && lines.allSatisfy { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["msg"] != nil
        }, "\(result.stderr.prefix(600))")
        for v in try s.restoreAndQuery("file://" + s.path("replica"), "SELECT count(*) FROM t") { #expect(v == "2") }
    }

    @Test func badConfigurationsFailWithTheirMessage() throws {
        let s = try Setup("config-bad")
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let cases: [(yaml: String, message: String)] = [
            ("dbs:\n  - path: /tmp/x.db\n    monitor-intervall: 1s\n    replica:\n      path: /tmp/r\n",
             "unknown key 'monitor-intervall'"),
            ("dbs:\n  - path: /tmp/x.db\n    replica:\n      path: /tmp/r\n      retention: 24h\n", "retention"),
            ("dbs:\n  - path: /tmp/x.db\n    busy-timeout: soon\n    replica:\n      path: /tmp/r\n", "busy-timeout"),
            ("dbs:\n  - path: /tmp/x.db\n    replica:\n      url: ftp://host/bucket\n", "unknown replica url scheme 'ftp'"),
            // #19.14: found when the replica's client is made, and still named after the file (was `<config>:4:`).
            ("dbs:\n  - path: /tmp/x.db\n    replica:\n      type: s3\n      bucket: b\n      path: x\n"
                + "      endpoint: http://127.0.0.1:1\n      sse-customer-key: tooshort\n", "32-byte key"),
        ]
        for c in cases {
            try s.write(c.yaml)
            let r = try TestEnvironment.run(s.litestream, ["replicate", "-config", s.config], timeout: .seconds(30))
            #expect(r.status != 0)
            #expect(r.stderr.contains(c.message), "expected '\(c.message)' in: \(r.stderr)")
            #expect(r.stderr.contains("litestream.yml:") && !r.stderr.contains("<config>"),
                    "the message names the file and line: \(r.stderr)")
        }
        let missing = try TestEnvironment.run(s.litestream, ["replicate", "-config", s.path("nope.yml")])
        #expect(missing.status != 0 && missing.stderr.contains("nope.yml"))
    }

    /// An unknown single-dash flag is named in a usage error (exit 64), as Go's flag package would: it is never
    /// read as a cluster of one-letter flags (`restore -bogus x` used to set `-o x` and miss its source).
    /// (ArgumentParser reports unknown options after a command's own validation: an invocation that also lacks,
    /// say, its replica URL gets that message instead, with the same exit code.)
    @Test func unknownFlagsAreNamed() throws {
        let s = try Setup("unknown-flag")
        defer { try? FileManager.default.removeItem(at: s.dir) }
        for args in [["restore", "-bogus", "x"], ["restore", "-o", s.path("out.db"), "-ofx", "file:///nowhere"],
                     ["replicate", "-once-only", s.path("app.db"), "file:///nowhere"],
                     ["restore", "-o", s.path("out.db"), "-bogus=1", "file:///nowhere"]] {
            let r = try TestEnvironment.run(s.litestream, args)
            let flag = String(args.first { $0.hasPrefix("-") && $0 != "-o" }!.dropFirst().prefix { $0 != "=" })
            #expect(r.status == 64, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("Unknown option '--\(flag)'"), "\(args): \(r.stderr)")
        }
        // Known flags keep working with one dash or two.
        let help = try TestEnvironment.run(s.litestream, ["restore", "-help"])
        #expect(help.status == 0 && help.stdout.contains("-if-replica-exists"))
        let missing = try TestEnvironment.run(s.litestream, [
            "restore", "-if-replica-exists", "--o", s.path("out.db"), "file://" + s.path("no-replica"),
        ])
        #expect(missing.status == 0, "\(missing.stderr)")
    }

    /// `socket:` and `addr:` from the file: the socket commands talk to the running replicate (`sync -wait`
    /// returns once the replica has the commit), `status -max-lag` works as a health check, and `/metrics`
    /// serves the replication metrics.
    @Test(.timeLimit(.minutes(2))) func socketAndMetricsFromTheFile() throws {
        let s = try Setup("config-socket")
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let db = s.path("app.db")
        let socket = s.path("ls.sock")
        let port = try TestEnvironment.freeLoopbackPort()
        try TestEnvironment.sqlite3(db, "PRAGMA journal_mode=wal; CREATE TABLE t (v); INSERT INTO t VALUES (1);")
        try s.write("""
            addr: 127.0.0.1:\(port)
            socket:
              enabled: true
              path: \(socket)
            dbs:
              - path: \(db)
                monitor-interval: 30s
                replica:
                  url: file://\(s.path("replica"))
            """)
        let replicate = try TestEnvironment.launch(s.litestream, ["replicate", "-config", s.config])
        defer { replicate.signal(SIGKILL) }
        let deadline = ContinuousClock.now + .seconds(30)
        while !FileManager.default.fileExists(atPath: socket) && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int == 0o600)

        try TestEnvironment.sqlite3(db, "INSERT INTO t VALUES (2);")
        let sync = try TestEnvironment.run(s.litestream, ["sync", "-socket", socket, "-wait", "-json", db])
        #expect(sync.status == 0, "\(sync.stderr)")
        // Returned only once the replica has the commit: a restore now holds it.
        for v in try s.restoreAndQuery("file://" + s.path("replica"), "SELECT count(*) FROM t") { #expect(v == "2") }

        let status = try TestEnvironment.run(s.litestream, ["status", "-socket", socket, "-max-lag", "1m", "-json"])
        #expect(status.status == 0, "\(status.stdout) \(status.stderr)")
        #expect(status.stdout.contains(db))
        let list = try TestEnvironment.run(s.litestream, ["list", "-socket", socket])
        #expect(list.status == 0 && list.stdout.contains(db), "\(list.stderr)")

        let metrics = try TestEnvironment.run("curl", ["-sf", "http://127.0.0.1:\(port)/metrics"])
        #expect(metrics.status == 0 && metrics.stdout.contains("litestream_"), "\(metrics.stdout.prefix(500))")

        replicate.signal(SIGINT)
        let result = try replicate.wait(timeout: .seconds(60))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: socket), "the socket is removed at shutdown")
        let unreachable = try TestEnvironment.run(s.litestream, ["status", "-socket", socket])
        #expect(unreachable.status == 1)
    }

    /// `status -config` without a running replicate prints Litestream 0.5.17's local status, identically.
    @Test func localStatusMatchesLitestream() throws {
        let s = try Setup("config-status")
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let db = s.path("app.db")
        try TestEnvironment.sqlite3(db, "PRAGMA journal_mode=wal; CREATE TABLE t (v); INSERT INTO t VALUES (1);")
        let once = try TestEnvironment.run(s.litestream, ["replicate", "-once", db, "file://" + s.path("replica")])
        #expect(once.status == 0, "\(once.stderr)")
        try TestEnvironment.sqlite3(s.path("idle.db"), "PRAGMA journal_mode=wal; CREATE TABLE t (v);")
        try s.write("""
            dbs:
              - path: \(db)
                replica:
                  url: file://\(s.path("replica"))
              - path: \(s.path("idle.db"))
                replica:
                  url: file://\(s.path("replica-idle"))
              - path: \(s.path("missing.db"))
                replica:
                  url: file://\(s.path("replica-missing"))
            """)
        let ours = try TestEnvironment.run(s.litestream, ["status", "-config", s.config])
        #expect(ours.status == 0, "\(ours.stderr)")
        #expect(ours.stdout.contains("0000000000000001") && ours.stdout.contains("no database") && ours.stdout.contains("not initialized"))
        let oursJSON = try TestEnvironment.run(s.litestream, ["status", "-config", s.config, "-json"])
        if let reference = TestEnvironment.litestreamBinary {
            let theirs = try TestEnvironment.run(reference, ["status", "-config", s.config])
            #expect(ours.stdout == theirs.stdout)
            let theirsJSON = try TestEnvironment.run(reference, ["status", "-config", s.config, "-json"])
            #expect(oursJSON.stdout == theirsJSON.stdout)
        }
    }
}
