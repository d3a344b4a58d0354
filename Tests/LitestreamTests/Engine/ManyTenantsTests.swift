import Foundation
import LTX
import ServiceLifecycle
import Testing

@testable import LitestreamClient
@testable import LitestreamCore
@testable import LitestreamServer

/// Directory mode with more databases than the kernel's default of 128 inotify instances per user: every one is
/// replicated, the process holds one inotify instance, and once the databases are idle nothing wakes: no sync-loop
/// turn, no uploader turn, no poll of a WAL. (Before, each database had an inotify instance of its own, those past
/// the limit polled their WAL every 50 ms, and every database's sync loop and uploader woke every second.)
///
/// The counters are each database's own (its monitor's), so tests running beside this one do not move them.
///
/// Serialized: the tests share the process-wide start gate, and the 130 starts of one held back the two of another
/// for over 20 s in a loaded clean-clone CI.
@Suite(.serialized, .timeLimit(.minutes(4))) struct ManyTenantsTests {
    /// Just past the 128 inotify instances: enough to show that none of them falls back to polling. (200 once
    /// crashed the suite: their descriptors in the test process made Foundation's `Process.run()` crash; the tests
    /// spawn through posix_spawn now, see TestEnvironment.BackgroundProcess.)
    static let tenants = Int(ProcessInfo.processInfo.environment["LITESTREAM_TEST_TENANTS"] ?? "") ?? 130

    @Test(.enabled(if: FileEventHub.shared != nil, "needs inotify (Linux)"))
    func idleTenantsCostNoWakeups() async throws {
        let root = try TestEnvironment.temporaryDirectory("tenants")
        defer { try? FileManager.default.removeItem(at: root) }
        let dbDir = root.appendingPathComponent("dbs").path
        let replicaDir = root.appendingPathComponent("replicas").path
        try FileManager.default.createDirectory(atPath: dbDir, withIntermediateDirectories: true)
        for i in 0..<Self.tenants {
            let db = try TestDatabase(path: "\(dbDir)/tenant-\(i).db")
            try db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('tenant \(i)')")
            db.close()
        }
        let server = ReplicationServer()
        let watch = DirectoryWatch(
            directory: DatabaseDirectory(path: dbDir, pattern: "*.db", recursive: false), watch: true,
            pollInterval: .seconds(1), isKnown: { server.isRegistered(path: $0) },
            found: { path in
                var c = Replicator.Configuration(database: .init(path: path),
                    replica: FileReplicaClient(path: replicaDir + "/" + POSIX.basename(path)))
                // Boundaries an hour apart: none falls in the idle window below (the default L1 is every 30 s).
                c.maintenance.levels = [CompactionLevel(level: 1, interval: .seconds(3600))]
                server.register(c)
            })
        /// The sums of every tenant's counters.
        func wakeups() -> [Int] {
            server.databasePaths.compactMap { server.monitor(for: $0)?.wakeups }.reduce(into: [0, 0, 0]) { sum, w in
                sum[0] += w.syncLoop
                sum[1] += w.uploader
                sum[2] += w.walPolls
            }
        }
        try await withServices([server, ClosureService { try? await cancelWhenGracefulShutdown { try await watch.run() } }]) {
            // Every tenant reaches its replica.
            let all = try await Integration.poll(timeout: .seconds(120), interval: .milliseconds(200)) {
                let s = server.statuses()
                return s.count == Self.tenants && s.allSatisfy { $0.replicas.allSatisfy { $0.txid >= TXID(1) } }
            }
            let missing = server.statuses().filter { $0.replicas.contains { $0.txid < TXID(1) } }.map(\.path)
            #expect(all, "\(server.statuses().count) databases found, not yet replicated: \(missing.prefix(5))")

            // One inotify instance for the process, not one per database (read from /proc, not from our code).
            #expect(Self.inotifyInstances() <= 2, "an inotify instance per database")

            // Idle: wait for the start's snapshots (every tenant's first level-9 file: a busy start gate puts one
            // off by up to 16 s, so a quiet half second does not prove they are done), then for the wake-ups to
            // settle, then nothing moves for three seconds.
            let snapshotted = try await Integration.poll(timeout: .seconds(90), interval: .milliseconds(100)) {
                (0..<Self.tenants).allSatisfy { i in
                    !((try? FileManager.default.contentsOfDirectory(atPath: "\(replicaDir)/tenant-\(i).db/ltx/9")) ?? []).isEmpty
                }
            }
            #expect(snapshotted, "not every tenant has its first snapshot")
            let settled = try await Integration.poll(timeout: .seconds(60), interval: .milliseconds(10)) {
                let before = wakeups()
                try await Task.sleep(for: .milliseconds(500))
                return wakeups() == before
            }
            #expect(settled, "the databases never went quiet")
            let before = wakeups()
            try await Task.sleep(for: .seconds(3))
            let after = wakeups()
            #expect(after[0] == before[0], "sync loops woke while idle: \(after[0] - before[0])")
            #expect(after[1] == before[1], "uploaders woke while idle: \(after[1] - before[1])")
            #expect(after[2] == 0, "WALs were polled: \(after[2]) times (polling fallback)")

            // And a write to one tenant still reaches its replica at once.
            let target = "\(dbDir)/tenant-\(Self.tenants / 2).db"
            let monitor = try #require(server.monitor(for: target))
            let was = monitor.status().replicas[0].txid
            let app = try TestDatabase(path: target)
            try app.exec("INSERT INTO t (v) VALUES ('later')")
            let started = ContinuousClock.now
            #expect(try await Integration.poll(timeout: .seconds(10), interval: .milliseconds(5)) {
                monitor.status().replicas[0].txid > was
            })
            #expect(ContinuousClock.now - started < .seconds(2), "an idle tenant's write took long to reach the replica")
            app.close()
        }
        // The final syncs left every tenant restorable.
        for i in [0, Self.tenants / 2, Self.tenants - 1] {
            let replica = FileReplicaClient(path: "\(replicaDir)/tenant-\(i).db")
            let out = root.appendingPathComponent("restored-\(i).db").path
            let restorer = Restorer(replica: replica)
            _ = try await restorer.restore(to: out, plan: try await restorer.plan(txid: nil), integrityCheck: .full)
            #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: "\(dbDir)/tenant-\(i).db"))
        }
    }

    /// A tenant's file that appears empty (SQLite writes the header with the first transaction, or a tool creates
    /// the file first) is replicated once it becomes a database: only new names are heard, so without another
    /// look it was never found.
    @Test(.enabled(if: FileEventHub.shared != nil, "needs inotify (Linux)"))
    func aFileCreatedEmptyIsFoundOnceItIsADatabase() async throws {
        let root = try TestEnvironment.temporaryDirectory("tenants-empty")
        defer { try? FileManager.default.removeItem(at: root) }
        let dbDir = root.appendingPathComponent("dbs").path
        let replicaDir = root.appendingPathComponent("replicas").path
        try FileManager.default.createDirectory(atPath: dbDir, withIntermediateDirectories: true)
        let atStart = "\(dbDir)/at-start.db", later = "\(dbDir)/later.db"
        #expect(FileManager.default.createFile(atPath: atStart, contents: nil))
        let server = ReplicationServer()
        let watch = DirectoryWatch(
            directory: DatabaseDirectory(path: dbDir, pattern: "*.db", recursive: false), watch: true,
            pollInterval: .milliseconds(100), isKnown: { server.isRegistered(path: $0) },
            found: { path in
                server.register(Replicator.Configuration(database: .init(path: path),
                    replica: FileReplicaClient(path: replicaDir + "/" + POSIX.basename(path))))
            })
        try await withServices([server, ClosureService { try? await cancelWhenGracefulShutdown { try await watch.run() } }]) {
            #expect(FileManager.default.createFile(atPath: later, contents: nil))
            try await Task.sleep(for: .seconds(1))
            #expect(server.databasePaths.isEmpty, "an empty file is not a database yet: \(server.databasePaths)")
            for path in [atStart, later] {
                let db = try TestDatabase(path: path)
                try db.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('\(POSIX.basename(path))')")
                db.close()
            }
            #expect(try await Integration.poll(timeout: .seconds(60), interval: .milliseconds(50)) {
                [atStart, later].allSatisfy { p in server.monitor(for: p).map { $0.status().replicas.allSatisfy { $0.txid >= TXID(1) } } ?? false }
            }, "registered: \(server.databasePaths)")
        }
    }

    /// Without inotify a watcher polls, but backs off while the WAL is idle (50 ms, 100, 200, … up to the cap),
    /// and a change is still heard at the next poll.
    @Test func pollingBacksOffWhileIdle() async throws {
        let dir = try TestEnvironment.temporaryDirectory("tenants-poll").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wal = dir + "/db-wal"
        try WALWatcherTests.append(wal)
        let counters = WakeupCounters()
        let watcher = WALWatcher(walPath: wal, pollInterval: .milliseconds(50), maxPollInterval: .milliseconds(400),
            hub: nil, counters: counters)
        #expect(!watcher.isEventDriven)
        await watcher.wait(timeout: .seconds(1))  // the first wait returns at once
        let before = counters.walPolls
        await watcher.wait(timeout: .seconds(2))
        let polls = counters.walPolls - before
        // 50+100+200+400+400+400+400 ms: about 7 polls in two seconds; without back-off, 40. A loaded machine
        // stretches the sleeps (3 polls once), so the lower bound only says that polling goes on.
        #expect(polls >= 2 && polls <= 12, "\(polls) polls in 2 s")
        async let heard = WaitTiming.elapsed { await watcher.wait(timeout: WaitTiming.long) }
        try await Task.sleep(for: .milliseconds(100))
        try WALWatcherTests.append(wal)
        #expect(await heard < WaitTiming.late)
    }

    /// Counts the process's inotify instances from /proc/self/fd.
    static func inotifyInstances() -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { fd in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) == "anon_inode:inotify"
        }.count
    }
}
