import Foundation
import LTX
import LitestreamClient
import LitestreamCore
import Testing

/// #19.3: two databases configured to the same replica, or a second writer appearing on a replica. The second
/// used to continue the first's chain with its own files ("replica is ahead of local state", INFO), and a restore
/// then exited 0 with a malformed database. Now one of the two stops writing to the replica, with an ERROR in its
/// log and the reason in its status, and every restore (ours and Litestream 0.5.17's) passes `integrity_check` and
/// holds one writer's rows as that writer committed them.
@Suite(.ownThreads) struct ForeignWriterTests {
    typealias Setup = SupervisorContractTests.Setup

    enum Arrangement: String, Sendable, CustomTestStringConvertible {
        /// Two `replicate`s of two databases started at the same moment on an empty replica. (One configuration
        /// that names a replica twice is refused at start: ConfigErrorTests.)
        case together
        /// A second `replicate` of another database started on a replica the first one is writing.
        case secondProcess
        var testDescription: String { rawValue }
    }

    static let cases: [(Arrangement, LiveReplicate.Kind)] = LiveReplicate.kinds.flatMap { [(.together, $0), (.secondProcess, $0)] }

    /// Rows of the second database start at this id, so a restore tells the two databases apart.
    static let secondBase = 1_000_000

    @Test(.timeLimit(.minutes(4)), arguments: cases)
    func oneWriterStopsAndRestoresHoldOneDatabase(arrangement: Arrangement, kind: LiveReplicate.Kind) async throws {
        let s = try Setup("i19f-\(arrangement.rawValue.prefix(4))-\(kind)")
        defer { s.remove() }
        let other = s.path("other.db")
        try TestEnvironment.sqlite3(other,
            "PRAGMA journal_mode=wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL); INSERT INTO t VALUES (\(Self.secondBase), 'b');")
        let url = try await kind.url(s)
        let writerA = try NumberedRowWriter(path: s.db, interval: .milliseconds(20))
        var writerB: NumberedRowWriter?
        defer {
            Task { [writerA, writerB] in
                _ = await writerA.stop()
                _ = await writerB?.stop()
            }
        }

        var processes: [(process: TestEnvironment.BackgroundProcess, socket: String, dbs: [String])] = []
        defer { for p in processes where p.process.isRunning { p.process.signal(SIGKILL) } }
        /// `replicate -config` of one database to `url`, with its own control socket.
        func launch(_ db: String, _ name: String) throws -> (TestEnvironment.BackgroundProcess, String, [String]) {
            let socket = s.path("\(name).sock"), config = s.path("\(name).yml")
            try """
                socket:
                  enabled: true
                  path: \(socket)
                dbs:
                  - path: \(db)
                    replicas:
                      - url: \(url)
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let p = try TestEnvironment.launch(s.litestream, ["replicate", "-config", config], environment: LiveReplicate.environment)
            return (p, socket, [db])
        }
        switch arrangement {
        case .together:
            writerB = try NumberedRowWriter(path: other, interval: .milliseconds(20))
            processes.append(try launch(s.db, "a"))
            processes.append(try launch(other, "b"))
        case .secondProcess:
            let first = try LiveReplicate.start(s, url: url)
            processes.append((first.process, first.socket, [s.db]))
            #expect(try first.syncWait().status == 0)
            writerB = try NumberedRowWriter(path: other, interval: .milliseconds(20))
            processes.append(try launch(other, "b"))
        }

        // One replica stops, and says why, while both databases keep being written.
        func statuses() -> [ReplicationStatus] {
            processes.flatMap { p in
                p.dbs.compactMap { db -> ReplicationStatus? in
                    guard let r = try? s.run(["status", "-socket", p.socket, "-json", db], timeout: .seconds(30)), r.status == 0
                    else { return nil }
                    return try? JSONDecoder().decode([ReplicationStatus].self, from: Data(r.stdout.utf8)).first
                }
            }
        }
        var stopped: [(db: String, reason: String)] = []
        let halted = try await Integration.poll(timeout: .seconds(90), interval: .milliseconds(200)) {
            stopped = statuses().flatMap { st in st.replicas.compactMap { r in r.stopped.map { (st.path, $0) } } }
            return !stopped.isEmpty
        }
        #expect(halted, "no replica stopped: \(processes.map { $0.process.output.stderr.suffix(3000) })")
        #expect(stopped.count == 1, "\(stopped)")
        for (_, reason) in stopped { #expect(reason.contains("another process writes"), "\(reason)") }
        // `status -max-lag` calls it unhealthy.
        if let db = stopped.first?.db, let p = processes.first(where: { $0.dbs.contains(db) }) {
            #expect(try s.run(["status", "-max-lag", "1h", "-socket", p.socket, db]).status == 2)
        }

        try await Task.sleep(for: .seconds(2))
        let lastA = await writerA.stop()
        let lastB = await writerB?.stop() ?? 0
        var logs = ""
        for p in processes {
            p.process.interrupt()
            let r = try p.process.wait(timeout: .seconds(90))
            #expect(r.status == 0, "\(r.stderr.suffix(3000))")
            logs += r.stdout + r.stderr
        }
        let errors = Integration.errorLines(logs)
        #expect(errors.contains { $0.contains("another process writes") }, "\(logs.suffix(4000))")

        // Every restore is one database, as its writer committed it: A's rows 1...n, or B's from its first row on.
        for tool in [Integration.Implementation.swift, .reference] {
            let r = try LiveReplicate.restore(s, url: url, with: tool)
            let path = try #require(r.path, "\(r.output)")
            #expect(try TestEnvironment.sqlite3(path, "PRAGMA integrity_check;") == "ok", "\(tool.testDescription)")
            let row = try TestEnvironment.sqlite3(path, "SELECT min(id), max(id), count(*) FROM t;")
                .split(separator: "|").compactMap { Int($0) }
            try #require(row.count == 3, "\(tool.testDescription): \(row)")
            let (lo, hi, n) = (row[0], row[1], row[2])
            let isA = lo == 1 && hi == n && hi <= lastA
            let isB = lo == Self.secondBase && hi - lo + 1 == n && hi <= lastB
            #expect(isA || isB, "\(tool.testDescription) restored ids \(lo)...\(hi) (\(n) rows); A wrote 1...\(lastA), B \(Self.secondBase)...\(lastB)")
        }
    }
}
