import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Integration {
    /// A digest of table `t`'s content (`sha3_query` of the sqlite3 CLI).
    static func tableDigest(_ db: String) async throws -> String {
        try await offload { try sqlite3(db, ".timeout 5000\nSELECT hex(sha3_query('SELECT id, v, pad FROM t ORDER BY id'));") }
    }

    /// Issue test 2: the replicator is SIGKILLed at random moments while an application commits numbered
    /// rows and checkpoints the WAL itself; every restore taken meanwhile must be a consistent prefix of the
    /// application's history, and the final replica must hold every committed row.
    @Suite(.tags(.slow)) struct CrashConsistencyTests {
        /// The seed of the kill schedule: `INTEGRATION_SEED` to replay a run, else a fixed one.
        static var seed: UInt64 {
            ProcessInfo.processInfo.environment["INTEGRATION_SEED"].flatMap { UInt64($0) } ?? 0x5EED_2026
        }

        /// Ours; plus the reference Litestream, as a check of the harness, when `INTEGRATION_CRASH_REFERENCE=1`.
        static var replicators: [Implementation] {
            ProcessInfo.processInfo.environment["INTEGRATION_CRASH_REFERENCE"] == "1" ? [.swift, .reference] : [.swift]
        }

        /// What the restores taken during the run found.
        final class RestoreLog: @unchecked Sendable {
            private let lock = NSLock()
            private var _problems: [String] = []
            private var _successes = 0
            private var _emptyReplicaFailures = 0
            private var _largest = 0
            private var _listingRaces = 0

            func withLock<T>(_ body: (RestoreLog) -> T) -> T {
                lock.lock()
                defer { lock.unlock() }
                return body(self)
            }
            var problems: [String] { withLock { $0._problems } }
            var successes: Int { withLock { $0._successes } }
            var emptyReplicaFailures: Int { withLock { $0._emptyReplicaFailures } }
            var largest: Int { withLock { $0._largest } }
            var listingRaces: Int { withLock { $0._listingRaces } }

            func problem(_ message: String) { withLock { $0._problems.append(message) } }
            func emptyReplicaFailure() { withLock { $0._emptyReplicaFailures += 1 } }
            func listingRace() { withLock { $0._listingRaces += 1 } }
            /// Records a consistent restore of rows 1...k; returns the previous largest k.
            func success(rows: Int) -> Int {
                withLock {
                    $0._successes += 1
                    let previous = $0._largest
                    $0._largest = max(previous, rows)
                    return previous
                }
            }
        }

        final class StopFlag: @unchecked Sendable {
            private let lock = NSLock()
            private var stopped = false
            func stop() { lock.lock(); stopped = true; lock.unlock() }
            var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }
        }

        /// Restores the replica over and over while `flag` is not set, checking each restore.
        /// Every fourth restore is done by the reference Litestream instead, which must read any state of the
        /// replica too.
        static func restoreLoop(
            _ ws: Workspace, _ binary: Binary, reference: Binary, flag: StopFlag, log: RestoreLog
        ) async throws {
            var n = 0
            while !flag.isStopped {
                n += 1
                let out = ws.path("r\(n).db")
                let replicaWasEmpty = replicaFiles(ws.replicaDirectory).isEmpty
                let restorer = n % 4 == 0 ? reference : binary
                var result = try await ws.restore(restorer, to: out)
                if restorer.isReference && result.status != 0 && result.stderr.contains("non-contiguous ltx files") {
                    // Litestream 0.5.17 believes one listing; a directory read while files are added can miss one
                    // and show a later one (ext4 hash order; see `Restorer.planning`). Ours lists again; here the
                    // reference gets one more try, which must succeed.
                    log.listingRace()
                    trace("restore #\(n) by reference: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)); trying again")
                    result = try await ws.restore(restorer, to: out)
                }
                if result.status != 0 {
                    if replicaWasEmpty && log.successes == 0 {
                        log.emptyReplicaFailure()
                    } else {
                        log.problem("restore #\(n) by \(restorer) failed on a non-empty replica: \(describe("restore -o \(out)", result))")
                    }
                } else {
                    do {
                        let check = try await integrityCheck(out)
                        let summary = try await rowSummary(out)
                        if check != "ok" { log.problem("restore #\(n) by \(restorer): integrity_check: \(check.prefix(500))") }
                        if !summary.isPrefix {
                            log.problem("restore #\(n) by \(restorer) is not rows 1...k: \(summary)")
                        } else {
                            let previous = log.success(rows: summary.count)
                            if summary.count < previous {
                                log.problem("restore #\(n) by \(restorer) went back in time: \(summary.count) rows after \(previous)")
                            }
                            trace("restore #\(n) by \(restorer.isReference ? "reference" : "ours"): \(summary)")
                        }
                    } catch {
                        log.problem("restore #\(n) by \(restorer) cannot be read: \(error)")
                    }
                }
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: out + suffix) }
                try await Task.sleep(for: .milliseconds(150))
            }
        }

        @Test(
            "SIGKILLed replicator: every restore is a prefix of the history, the final one is all of it",
            .tags(.slow), .timeLimit(.minutes(5)),
            arguments: replicators)
        func killedReplicator(replicator: Implementation) async throws {
            let binary = try replicator.binary()
            let reference = try Implementation.reference.binary()
            let ws = try Workspace("crash-\(replicator.rawValue)")
            defer { ws.close() }
            var random = SeededGenerator(seed: Self.seed)
            try createTestDatabase(ws.dbPath)

            let writer = try Writer(ws, rate: 1500, passiveEvery: 200, truncateEvery: 1000, seed: Self.seed)
            let flag = StopFlag()
            let log = RestoreLog()
            let restores = Task { try await Self.restoreLoop(ws, binary, reference: reference, flag: flag, log: log) }
            defer { restores.cancel() }

            // Start, SIGKILL after a random 0.2–1.5 s (now and then a longer run), restart. Every seventh
            // run is stopped cleanly with SIGINT instead.
            let cycles = 20
            var kills = 0
            for cycle in 1...cycles {
                let replicate = try ws.launchReplicate(binary, minSyncInterval: "10ms")
                let lifetime =
                    cycle % 5 == 0
                    ? Double.random(in: 2.0...3.5, using: &random) : Double.random(in: 0.2...1.5, using: &random)
                try await Task.sleep(for: .seconds(lifetime))
                if !replicate.isRunning {
                    let result = try await offload { try replicate.wait(timeout: .seconds(5)) }
                    let note =
                        result.stderr.contains("signal received") || result.stdout.contains("signal received")
                        ? " (it received a signal this test did not send: is something else killing `litestream` processes?)"
                        : ""
                    Issue.record("cycle \(cycle): replicate exited by itself\(note): \(describe(replicate.command, result))")
                    continue
                }
                if cycle % 7 == 0 {
                    let result = try await interruptAndWait(replicate)
                    #expect(result.status == 0, "cycle \(cycle): \(describe(replicate.command, result))")
                    #expect(errorLines(result).isEmpty, "cycle \(cycle): \(describe(replicate.command, result))")
                    trace("cycle \(cycle): interrupted after \(lifetime) s")
                    continue
                }
                replicate.signal(SIGKILL)
                let result = try await offload { try replicate.wait(timeout: .seconds(30)) }
                #expect(result.status == 128 + SIGKILL)
                kills += 1
                let badLines = errorLines(result)
                #expect(badLines.isEmpty, "cycle \(cycle): \(badLines.joined(separator: "\n"))")
                trace("cycle \(cycle): killed after \(lifetime) s, replica max TXID \(replicaFiles(ws.replicaDirectory).map(\.maxTXID).max() ?? 0)")
                try await Task.sleep(for: .seconds(Double.random(in: 0...1.0, using: &random)))
            }

            let last = try await writer.stop()
            flag.stop()
            try await restores.value
            trace("writer committed rows 1...\(last); \(log.successes) restores during the run, largest \(log.largest) rows, \(log.listingRaces) reference restores tried again")
            #expect(kills >= cycles - cycles / 7 - 2, "only \(kills) of \(cycles) cycles ended with a SIGKILL")
            for problem in log.problems { Issue.record(Comment(rawValue: problem)) }
            #expect(log.successes >= 5, "only \(log.successes) restores succeeded during the run")
            #expect(last > 2000, "the writer committed only \(last) rows")

            // Once more, stopped by SIGINT: the final sync must bring the replica up to date.
            let final = try ws.launchReplicate(binary, minSyncInterval: "10ms")
            try await waitForStartup(final)
            try await Task.sleep(for: .seconds(2))
            #expect(final.isRunning, "final replicate exited early: \(final.output)")
            let stopped = try await interruptAndWait(final)
            #expect(stopped.status == 0, "\(describe(final.command, stopped))")
            #expect(errorLines(stopped).isEmpty, "\(describe(final.command, stopped))")

            let files = replicaFiles(ws.replicaDirectory)
            #expect(uncoveredTXIDs(files).isEmpty, "TXIDs covered by no file: \(uncoveredTXIDs(files))")
            let sourceDigest = try await tableDigest(ws.dbPath)
            let want = RowSummary(count: last, minID: 1, maxID: last, badRows: 0)
            #expect(try await rowSummary(ws.dbPath) == want, "the source itself")
            for restorer in [binary, reference] {
                let out = ws.path("final-\(restorer.role.rawValue)-\(restorer.isReference ? "ref" : "ours").db")
                let result = try await ws.restore(restorer, to: out)
                #expect(result.status == 0, "final restore by \(restorer): \(describe("restore -o \(out)", result))")
                guard result.status == 0 else { continue }
                #expect(try await integrityCheck(out) == "ok", "final restore by \(restorer)")
                #expect(try await rowSummary(out) == want, "final restore by \(restorer)")
                #expect(try await tableDigest(out) == sourceDigest, "final restore by \(restorer): content differs")
            }
        }
    }
}
