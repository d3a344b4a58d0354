import Foundation
import Testing

extension Integration {
    /// Replication by one implementation, restore by both; and a replicator handing a live database and its
    /// replica over to the other implementation.
    @Suite(.tags(.slow)) struct InteropTests {
        /// Restores the replica with both implementations and checks each against `expectedRows`
        /// (`SELECT * FROM t ORDER BY id` of the source).
        static func expectRestoresMatch(
            _ ws: Workspace, expectedRows: String, expectedCount: Int, label: String,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws {
            var restored: [(binary: Binary, path: String)] = []
            for restorer in [Implementation.reference, .swift] {
                let binary = try restorer.binary()
                let out = ws.path("restored-\(label)-\(restorer.rawValue).db")
                let result = try await ws.restore(binary, to: out)
                #expect(
                    result.status == 0, "restore by \(binary) failed: \(describe("restore -o \(out)", result))",
                    sourceLocation: sourceLocation)
                if result.status == 0 { restored.append((binary, out)) }
            }
            // Both read the same files and write pages 1...commit: the databases are byte-identical.
            if restored.count == 2 {
                let bytes = restored.map { FileManager.default.contents(atPath: $0.path) }
                #expect(
                    bytes[0] == bytes[1],
                    "the two restores differ: \(bytes.map { $0?.count ?? -1 }) bytes", sourceLocation: sourceLocation)
            }
            for (binary, out) in restored {
                #expect(try await integrityCheck(out) == "ok", "restore by \(binary)", sourceLocation: sourceLocation)
                let rows = try await dumpRows(out)
                let summary = try await rowSummary(out)
                #expect(
                    summary == RowSummary(count: expectedCount, minID: 1, maxID: expectedCount, badRows: 0),
                    "restore by \(binary): \(summary), want rows 1...\(expectedCount)", sourceLocation: sourceLocation)
                let difference = firstDifference(rows, expectedRows)
                #expect(difference == nil, "restore by \(binary) differs from the source: \(difference ?? "")", sourceLocation: sourceLocation)
            }
        }

        /// After a clean stop, the local state (`.app.db-litestream/ltx/0/`, the same place as Litestream's)
        /// holds the newest L0 file, the one the replica ends with.
        static func expectLocalStateMatchesReplica(
            _ ws: Workspace, _ binary: Binary, sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let local = ws.path(".app.db-litestream/ltx/0")
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: local)) ?? []).filter { $0.hasSuffix(".ltx") }
            let localMax = names.compactMap { UInt64($0.prefix(16), radix: 16) }.max()
            let remoteMax = replicaFiles(ws.replicaDirectory).filter { $0.level == 0 }.map(\.maxTXID).max()
            #expect(localMax != nil, "\(binary) left no L0 files in \(local)", sourceLocation: sourceLocation)
            #expect(localMax == remoteMax, "\(binary): local L0 ends at \(localMax.map(hexTXID) ?? "-"), replica L0 at \(remoteMax.map(hexTXID) ?? "-")", sourceLocation: sourceLocation)
        }

        /// Issue test 1 (a), (b): a few seconds of writes by a separate process while `replicator` runs, then
        /// SIGINT; `litestream restore` (0.5.17) and ours must both give back the source rows.
        @Test(
            "Replicate with one implementation, restore with both",
            arguments: [Implementation.swift, .reference])
        func replicateThenRestore(replicator: Implementation) async throws {
            let binary = try replicator.binary()
            let ws = try Workspace("interop-\(replicator.rawValue)")
            defer { ws.close() }
            try createTestDatabase(ws.dbPath)

            let replicate = try ws.launchReplicate(binary)
            try await waitForStartup(replicate)
            let writer = try Writer(ws, duration: 3, rate: 300, passiveEvery: 150, truncateEvery: 400, seed: 11)
            let last = try await writer.finish()
            #expect(last > 100, "the writer committed only \(last) rows")
            // Real Litestream polls the WAL and uploads once a second; give it time before the final sync.
            try await Task.sleep(for: .seconds(3))
            #expect(replicate.isRunning, "replicate exited early: \(replicate.output)")
            let stopped = try await interruptAndWait(replicate)
            #expect(stopped.status == 0, "\(describe(replicate.command, stopped))")
            #expect(errorLines(stopped).isEmpty, "\(describe(replicate.command, stopped))")

            Self.expectLocalStateMatchesReplica(ws, binary)
            let source = try await dumpRows(ws.dbPath)
            #expect(try await rowSummary(ws.dbPath).count == last)
            try await Self.expectRestoresMatch(ws, expectedRows: source, expectedCount: last, label: "final")
            #expect(uncoveredTXIDs(replicaFiles(ws.replicaDirectory)).isEmpty)
        }

        /// Issue test 1 (c), (d): `first` replicates while the application writes and is stopped with SIGINT;
        /// `second` then replicates the same database to the same replica, taking over `first`'s local state
        /// (`.app.db-litestream`) and continuing the TXID sequence without a gap. Both restores must hold every row.
        @Test(
            "Takeover: one implementation replicates, the other continues on the same database and replica",
            arguments: [(Implementation.reference, Implementation.swift), (.swift, .reference)])
        func takeover(first: Implementation, second: Implementation) async throws {
            let firstBinary = try first.binary()
            let secondBinary = try second.binary()
            let ws = try Workspace("takeover-\(first.rawValue)-\(second.rawValue)")
            defer { ws.close() }
            try createTestDatabase(ws.dbPath)

            // One application process throughout, also while no replicator runs.
            let writer = try Writer(ws, rate: 300, passiveEvery: 150, truncateEvery: 500, seed: 21)

            let replicateA = try ws.launchReplicate(firstBinary)
            try await Task.sleep(for: .seconds(4))
            #expect(replicateA.isRunning, "first replicate exited early: \(replicateA.output)")
            let stoppedA = try await interruptAndWait(replicateA)
            #expect(stoppedA.status == 0, "\(describe(replicateA.command, stoppedA))")
            #expect(errorLines(stoppedA).isEmpty, "\(describe(replicateA.command, stoppedA))")
            Self.expectLocalStateMatchesReplica(ws, firstBinary)
            let filesA = replicaFiles(ws.replicaDirectory)
            let maxA = filesA.map(\.maxTXID).max() ?? 0
            #expect(maxA > 0, "the first replicator uploaded nothing")
            let rowsAtHandover = try await rowSummary(ws.dbPath).count

            // Unreplicated writes between the two replicators, and the application truncating the WAL
            // (no reader holds it back now): the second replicator must notice and take a snapshot.
            try await Task.sleep(for: .milliseconds(400))
            // The writer runs checkpoints of its own: a TRUNCATE that meets one returns busy at once (SQLite does not
            // wait for another checkpointer), so try again, as an application would.
            var checkpoint = ""
            for _ in 0..<50 {
                checkpoint = try await offload { try sqlite3(ws.dbPath, ".timeout 5000\nPRAGMA wal_checkpoint(TRUNCATE);") }
                if checkpoint.hasPrefix("0|") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(checkpoint.hasPrefix("0|"), "wal_checkpoint(TRUNCATE) between the replicators: \(checkpoint)")
            try await Task.sleep(for: .milliseconds(300))

            let replicateB = try ws.launchReplicate(secondBinary)
            try await Task.sleep(for: .seconds(4))
            let last = try await writer.stop()
            #expect(last > rowsAtHandover, "no rows were written after the handover")
            try await Task.sleep(for: .seconds(3))
            #expect(replicateB.isRunning, "second replicate exited early: \(replicateB.output)")
            let stoppedB = try await interruptAndWait(replicateB)
            trace("second replicator (\(secondBinary)) said:\n\(stoppedB.stdout.suffix(3000))\n\(stoppedB.stderr.suffix(3000))")
            #expect(stoppedB.status == 0, "\(describe(replicateB.command, stoppedB))")
            #expect(errorLines(stoppedB).isEmpty, "\(describe(replicateB.command, stoppedB))")

            // The second replicator continued the first one's TXID sequence.
            let filesB = replicaFiles(ws.replicaDirectory)
            let newFiles = Set(filesB).subtracting(filesA)
            let maxB = filesB.map(\.maxTXID).max() ?? 0
            #expect(maxB > maxA, "no new TXIDs after the takeover (max \(maxA) before, \(maxB) after)")
            let restarted = newFiles.filter { $0.level == 0 && $0.minTXID <= maxA }
            #expect(
                restarted.isEmpty,
                "the second replicator wrote L0 files that overlap the first one's TXIDs (≤ \(maxA)): \(restarted.sorted())")
            Self.expectLocalStateMatchesReplica(ws, secondBinary)
            let gaps = uncoveredTXIDs(filesB)
            #expect(gaps.isEmpty, "TXIDs covered by no file: \(gaps); files: \(filesB)")

            let source = try await dumpRows(ws.dbPath)
            #expect(try await rowSummary(ws.dbPath).count == last)
            try await Self.expectRestoresMatch(ws, expectedRows: source, expectedCount: last, label: "takeover")
        }
    }
}
