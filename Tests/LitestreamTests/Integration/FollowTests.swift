import Foundation
import Testing

extension Integration {
    /// Issue test 5: `restore -f` keeps a read-only copy up to date while the database is replicated.
    @Suite(.tags(.slow)) struct FollowTests {
        @Test(
            "restore -f follows a live replica until SIGINT",
            arguments: [
                (Implementation.swift, Implementation.swift), (.swift, .reference), (.reference, .swift),
            ])
        func follow(replicator: Implementation, follower: Implementation) async throws {
            let replicatorBinary = try replicator.binary()
            let followerBinary = try follower.binary()
            let ws = try Workspace("follow-\(replicator.rawValue)-\(follower.rawValue)")
            defer { ws.close() }
            try createTestDatabase(ws.dbPath)

            let replicate = try ws.launchReplicate(replicatorBinary)
            let writer = try Writer(ws, rate: 200, passiveEvery: 100, truncateEvery: 450, seed: 5)
            // `restore -f` needs something to restore first.
            let uploaded = try await poll(timeout: .seconds(30)) { !replicaFiles(ws.replicaDirectory).isEmpty }
            try #require(uploaded, "nothing was replicated within 30 s: \(replicate.output)")

            let out = ws.path("follower.db")
            let followProcess = try ws.launch(followerBinary.path, ["restore", "-f", "-o", out, ws.replicaURL])
            try await Task.sleep(for: .seconds(4))
            try #require(followProcess.isRunning, "restore -f exited: \(followProcess.output)")
            let last = try await writer.stop()
            trace("writer stopped at \(last)")

            // The copy catches up within a few seconds of the last write (plus replication's own lag).
            let start = ContinuousClock.now
            var lastSeen: RowSummary?
            var readErrors: [String] = []
            let caughtUp = try await poll(timeout: .seconds(30), interval: .milliseconds(250)) {
                guard FileManager.default.fileExists(atPath: out) else { return false }
                do {
                    let summary = try await rowSummary(out, readOnly: true)
                    if !summary.isPrefix { readErrors.append("not a prefix: \(summary)") }
                    lastSeen = summary
                    return summary.count == last
                } catch {
                    readErrors.append("\(error)")
                    return false
                }
            }
            trace("follower caught up: \(caughtUp) after \(ContinuousClock.now - start); read errors: \(readErrors.count)")
            #expect(caughtUp, "the follower copy has \(lastSeen.map { "\($0)" } ?? "nothing"), want \(last) rows; \(followProcess.output)")
            let unexpected = readErrors.filter { !$0.contains("database is locked") && !$0.contains("no such table") }
            #expect(unexpected.isEmpty, "reading the follower copy: \(unexpected.prefix(5))")

            #expect(followProcess.isRunning, "restore -f exited by itself: \(followProcess.output)")
            let followed = try await interruptAndWait(followProcess, timeout: .seconds(30))
            #expect(followed.status == 0, "\(describe(followProcess.command, followed))")
            #expect(errorLines(followed).isEmpty, "\(describe(followProcess.command, followed))")

            let stopped = try await interruptAndWait(replicate)
            #expect(stopped.status == 0, "\(describe(replicate.command, stopped))")

            #expect(try await integrityCheck(out) == "ok")
            #expect(firstDifference(try await dumpRows(out), try await dumpRows(ws.dbPath)) == nil)
        }
    }
}
