import Foundation
import Testing

/// The child side of the supervisor contract (docs/integration.md), with the built `litestream` and a real parent
/// process: `LITESTREAM_LIFELINE_FD`, `LITESTREAM_SUPERVISOR_PID` and `LITESTREAM_SOCKET`.
@Suite(.ownThreads) struct SupervisorContractTests {
    /// A scratch directory with a WAL database `app.db` (table `t`), a file replica and the built binary.
    struct Setup {
        let litestream: String
        let dir: URL
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        var db: String { path("app.db") }
        var replica: String { path("replica") }
        var replicaURL: String { "file://" + replica }
        var config: String { path("litestream.yml") }

        init(_ name: String, database: Bool = true) throws {
            litestream = try #require(TestEnvironment.ourBinary()?.path, "build the litestream executable first")
            dir = try TestEnvironment.temporaryDirectory(name)
            if database { try TestEnvironment.sqlite3(db, "PRAGMA journal_mode=wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);") }
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }

        /// `litestream ARGS` to completion.
        @discardableResult
        func run(_ args: [String], environment: [String: String]? = nil, timeout: Duration = .seconds(120)) throws
            -> (status: Int32, stdout: String, stderr: String)
        {
            try TestEnvironment.run(litestream, args, environment: environment, timeout: timeout)
        }

        /// Restores the replica into a new file and returns `SELECT count(*) FROM t` there.
        func restoredCount(_ replicaURL: String? = nil) throws -> String {
            let out = path("restored-\(UUID().uuidString).db")
            let r = try run(["restore", "-o", out, replicaURL ?? self.replicaURL])
            #expect(r.status == 0, "restore: \(r.stderr)")
            return try TestEnvironment.sqlite3(out, "SELECT count(*) FROM t")
        }

        /// The replica's config file: one database, one replica (the file replica unless `url` names another),
        /// and whatever else `extra` says.
        func writeConfig(replicaExtra: String = "", extra: String = "", url: String? = nil) throws {
            try """
                \(extra)
                dbs:
                  - path: \(db)
                    replicas:
                      - name: file
                        url: \(url ?? replicaURL)
                \(replicaExtra)
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }

        /// Waits until `condition` holds; false after `timeout`.
        func waitFor(timeout: Duration = .seconds(30), _ condition: () throws -> Bool) rethrows -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if try condition() { return true }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return try condition()
        }
    }

    /// A supervisor in miniature (Python, so that it can hand a pipe to its child and be killed with SIGKILL like an
    /// app): starts `argv[3:]` in a session of its own with its stdout and stderr in the file `argv[2]`, with
    /// `LITESTREAM_LIFELINE_FD` (mode containing `lifeline`) and `LITESTREAM_SUPERVISOR_PID` (mode containing
    /// `pid`), prints the child's pid, then sleeps until killed.
    static let supervisorScript = #"""
        import os, subprocess, sys, time
        mode, log, args = sys.argv[1], sys.argv[2], sys.argv[3:]
        env = dict(os.environ)
        fds = ()
        if "lifeline" in mode:
            r, w = os.pipe()
            os.dup2(r, 40)  # a known number, for the tests to look for
            os.close(r)
            env["LITESTREAM_LIFELINE_FD"] = "40"
            fds = (40,)
        if "pid" in mode:
            env["LITESTREAM_SUPERVISOR_PID"] = str(os.getpid())
        with open(log, "wb") as out:
            child = subprocess.Popen(args, env=env, pass_fds=fds, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     start_new_session=True)
        if fds:
            os.close(fds[0])  # only the child holds the read end; the write end dies with us
        print(child.pid, flush=True)
        while True:
            time.sleep(3600)
        """#

    /// Starts `litestream ARGS` under the Python supervisor; returns the supervisor and the child's pid.
    static func superviseChild(_ s: Setup, mode: String, _ args: [String], log: String) throws
        -> (supervisor: TestEnvironment.BackgroundProcess, child: Int32)
    {
        let script = s.path("supervisor.py")
        try supervisorScript.write(toFile: script, atomically: true, encoding: .utf8)
        let supervisor = try TestEnvironment.launch("python3", [script, mode, log, s.litestream] + args)
        var child: Int32 = 0
        _ = s.waitFor { child = Int32(supervisor.output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0; return child > 0 }
        try #require(child > 0, "the supervisor script did not start its child: \(supervisor.output.stderr)")
        return (supervisor, child)
    }

    /// Whether `pid` is a live process (a zombie does not count: it runs nothing).
    static func isAlive(_ pid: Int32) -> Bool { SupervisorTesting.isAlive(pid) }

    static func text(_ file: String) -> String { (try? String(contentsOfFile: file, encoding: .utf8)) ?? "" }

    @Test(.timeLimit(.minutes(3))) func lifelineEOFShutsDownGracefullyWithAFinalSync() throws {
        let s = try Setup("lifeline")
        defer { s.remove() }
        let log = s.path("child.log")
        let (supervisor, child) = try Self.superviseChild(s, mode: "lifeline", ["replicate", s.db, s.replicaURL], log: log)
        defer { if Self.isAlive(child) { kill(child, SIGKILL) } }
        #expect(s.waitFor { FileManager.default.fileExists(atPath: s.replica + "/ltx") }, "\(Self.text(log))")
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('a')")
        #expect(s.waitFor { (try? s.restoredCount()) == "1" })
        // The last commit, then the app dies at once: no sync was asked for it.
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('b'); INSERT INTO t (v) VALUES ('c');")
        supervisor.signal(SIGKILL)
        _ = try supervisor.wait(timeout: .seconds(10))
        #expect(s.waitFor(timeout: .seconds(20)) { !Self.isAlive(child) }, "replicate still runs after its supervisor died")
        let output = Self.text(log)
        #expect(output.contains("lifeline closed"), "\(output)")
        #expect(output.contains("litestream shut down"), "a graceful shutdown: \(output)")
        #expect(try s.restoredCount() == "3", "the final sync shipped the last commit")
    }

    @Test(.timeLimit(.minutes(3))) func lifelineDoesNotLeakIntoExecAndStopsIt() throws {
        let s = try Setup("lifeline-exec")
        defer { s.remove() }
        let log = s.path("child.log")
        let seen = s.path("fds")
        // The -exec child lists its descriptors, then waits to be stopped. (Foundation's Process closes inherited
        // descriptors today; FD_CLOEXEC keeps the lifeline out whatever spawns the child.)
        let app = "sh -c 'ls /proc/self/fd /dev/fd 2>/dev/null | sort -u > \(seen); exec sleep 60'"
        let (supervisor, child) = try Self.superviseChild(s, mode: "lifeline", ["replicate", "-exec", app, s.db, s.replicaURL], log: log)
        defer { if Self.isAlive(child) { kill(child, SIGKILL) } }
        #expect(s.waitFor { Self.text(seen).contains("\n") })
        Thread.sleep(forTimeInterval: 0.2)
        let fds = Self.text(seen).split(separator: "\n").compactMap { Int($0) }
        #expect(fds.contains(2), "the listing worked: \(fds)")
        #expect(!fds.contains(40), "the lifeline leaked into the -exec child: \(fds)")
        supervisor.signal(SIGKILL)
        _ = try supervisor.wait(timeout: .seconds(10))
        #expect(s.waitFor(timeout: .seconds(20)) { !Self.isAlive(child) }, "replicate still runs after its supervisor died")
        #expect(Self.text(log).contains("child process exited"), "the -exec child was stopped first: \(Self.text(log))")
    }

    #if os(Linux)
    /// With both watches, the supervisor's death is seen twice (PDEATHSIG's SIGTERM and the lifeline's end): the
    /// `-exec` application still gets one SIGTERM, not a second that could cut its own graceful shutdown short.
    @Test(.timeLimit(.minutes(3))) func bothWatchesStopTheExecChildOnce() throws {
        let s = try Setup("lifeline-pid-exec")
        defer { s.remove() }
        let log = s.path("child.log")
        let count = s.path("terms")
        let app = s.path("app.py")
        try """
            import signal, sys, time
            n = 0
            def term(*_):
                global n
                n += 1
            signal.signal(signal.SIGTERM, term)
            open(sys.argv[1] + ".ready", "w").close()
            while n == 0:
                time.sleep(0.02)
            time.sleep(1.5)
            open(sys.argv[1], "w").write(str(n))
            """.write(toFile: app, atomically: true, encoding: .utf8)
        let (supervisor, child) = try Self.superviseChild(
            s, mode: "lifeline,pid", ["replicate", "-exec", "python3 \(app) \(count)", s.db, s.replicaURL], log: log)
        defer { if Self.isAlive(child) { kill(child, SIGKILL) } }
        // Python's start-up takes a while on a loaded machine: a SIGTERM before its handler would kill it outright.
        #expect(s.waitFor { FileManager.default.fileExists(atPath: count + ".ready") }, "\(Self.text(log))")
        supervisor.signal(SIGKILL)
        _ = try supervisor.wait(timeout: .seconds(10))
        #expect(s.waitFor(timeout: .seconds(20)) { !Self.isAlive(child) }, "\(Self.text(log))")
        #expect(Self.text(count) == "1", "SIGTERMs the application got: \(Self.text(count)); log: \(Self.text(log))")
    }

    @Test(.timeLimit(.minutes(3))) func parentDeathSignalStopsTheChild() throws {
        let s = try Setup("pdeathsig")
        defer { s.remove() }
        let log = s.path("child.log")
        let (supervisor, child) = try Self.superviseChild(s, mode: "pid", ["replicate", s.db, s.replicaURL], log: log)
        defer { if Self.isAlive(child) { kill(child, SIGKILL) } }
        #expect(s.waitFor { FileManager.default.fileExists(atPath: s.replica + "/ltx") })
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('a')")
        supervisor.signal(SIGKILL)
        _ = try supervisor.wait(timeout: .seconds(10))
        #expect(s.waitFor(timeout: .seconds(10)) { !Self.isAlive(child) }, "replicate outlived its supervisor: \(Self.text(log))")
        let output = Self.text(log)
        #expect(output.contains("signal received"), "PDEATHSIG's SIGTERM, handled gracefully: \(output)")
        #expect(output.contains("litestream shut down"), "\(output)")
        #expect(try s.restoredCount() == "1")
    }

    @Test func parentAlreadyGoneExitsAtOnce() throws {
        let s = try Setup("pdeathsig-late")
        defer { s.remove() }
        // Our parent is this test process, not pid 1: as if the supervisor had died before prctl, and we had been
        // reparented.
        let r = try s.run(["replicate", s.db, s.replicaURL], environment: ["LITESTREAM_SUPERVISOR_PID": "1"], timeout: .seconds(30))
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("supervisor (pid 1) is gone"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.replica), "nothing was replicated")
    }
    #endif

    @Test func badLifelineIsAnError() throws {
        let s = try Setup("lifeline-bad")
        defer { s.remove() }
        let r = try s.run(["replicate", s.db, s.replicaURL], environment: ["LITESTREAM_LIFELINE_FD": "987"], timeout: .seconds(30))
        #expect(r.status == 1)
        #expect(r.stderr.contains("LITESTREAM_LIFELINE_FD=987"), "\(r.stderr)")
    }

    /// `LITESTREAM_SHUTDOWN_SYNC_TIMEOUT` caps the file's `shutdown-sync-timeout`: a supervisor kills its child when
    /// its own stop timeout runs out, and the child's final sync must give up (and say so) before that.
    @Test(.timeLimit(.minutes(3))) func theSupervisorsShutdownSyncTimeoutCapsTheFiles() throws {
        let s = try Setup("shutdown-sync-cap")
        defer { s.remove() }
        try s.writeConfig(extra: "shutdown-sync-timeout: 60s")
        let replicate = try TestEnvironment.launch(s.litestream, ["replicate", "-config", s.config],
                                                   environment: ["LITESTREAM_SHUTDOWN_SYNC_TIMEOUT": "2s"])
        defer { replicate.signal(SIGKILL) }
        #expect(s.waitFor { FileManager.default.fileExists(atPath: s.replica + "/ltx/0") }, "\(replicate.output.stderr)")
        // The replica becomes unwritable (a file where its directory was), then a commit waits to be shipped.
        try FileManager.default.removeItem(atPath: s.replica)
        try Data("not a directory".utf8).write(to: URL(fileURLWithPath: s.replica))
        try TestEnvironment.sqlite3(s.db, "INSERT INTO t (v) VALUES ('stuck');")
        Thread.sleep(forTimeInterval: 0.5)
        let stopped = ContinuousClock.now
        replicate.signal(SIGTERM)
        _ = try replicate.wait(timeout: .seconds(60))
        let took = ContinuousClock.now - stopped
        #expect(took < .seconds(20), "the final sync ran \(took) with a 2 s cap (the file says 60 s)")
    }

    @Test(.timeLimit(.minutes(3))) func socketFromTheEnvironment() throws {
        let s = try Setup("socket-env")
        defer { s.remove() }
        let fileSocket = s.path("file.sock")
        let envSocket = s.path("env.sock")
        try s.writeConfig(extra: "socket:\n  enabled: true\n  path: \(fileSocket)")
        let replicate = try TestEnvironment.launch(s.litestream, ["replicate", "-config", s.config], environment: ["LITESTREAM_SOCKET": envSocket])
        defer { replicate.signal(SIGKILL) }
        #expect(s.waitFor { FileManager.default.fileExists(atPath: envSocket) }, "\(replicate.output.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fileSocket), "LITESTREAM_SOCKET overrides the file's socket.path")
        // Every socket command takes LITESTREAM_SOCKET as its default -socket.
        let status = try s.run(["status", "-json"], environment: ["LITESTREAM_SOCKET": envSocket])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains(s.db))
        let sync = try s.run(["sync", "-wait", s.db], environment: ["LITESTREAM_SOCKET": envSocket])
        #expect(sync.status == 0, "\(sync.stderr)")
        let info = try s.run(["info"], environment: ["LITESTREAM_SOCKET": envSocket])
        #expect(info.stdout.contains(envSocket), "\(info.stdout)")
        // -socket still wins.
        let flag = try s.run(["list", "-socket", fileSocket], environment: ["LITESTREAM_SOCKET": envSocket])
        #expect(flag.status == 1 && flag.stderr.contains(fileSocket), "\(flag.stderr)")
        replicate.interrupt()
        #expect(try replicate.wait(timeout: .seconds(30)).status == 0)
    }

    @Test(.timeLimit(.minutes(3))) func socketFromTheEnvironmentWithoutAConfigFile() throws {
        let s = try Setup("socket-env-url")
        defer { s.remove() }
        let socket = s.path("ctl.sock")
        let replicate = try TestEnvironment.launch(s.litestream, ["replicate", s.db, s.replicaURL], environment: ["LITESTREAM_SOCKET": socket])
        defer { replicate.signal(SIGKILL) }
        #expect(s.waitFor { FileManager.default.fileExists(atPath: socket) }, "\(replicate.output.stderr)")
        let list = try s.run(["list"], environment: ["LITESTREAM_SOCKET": socket])
        #expect(list.status == 0 && list.stdout.contains(s.db), "\(list.stderr)")
        replicate.interrupt()
        #expect(try replicate.wait(timeout: .seconds(30)).status == 0)
    }
}
