import Foundation
import Testing

extension Integration {
    /// Issue test 4: `restore` flags behave as in Litestream 0.5.17 (the expectations below are what the
    /// real binary does; running them with `.reference` as the restorer checks the harness itself).
    @Suite struct RestoreFlagsTests {
        /// A file's bytes and modification time, to see that a restore left it alone.
        struct Fingerprint: Equatable {
            var bytes: Data?
            var modified: Date?
            init(_ path: String) {
                bytes = FileManager.default.contents(atPath: path)
                modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
            }
        }

        /// The names in `directory`.
        static func listing(_ directory: String) -> Set<String> {
            Set((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
        }

        @Test(
            "restore flags behave as in Litestream 0.5.17",
            arguments: [
                (Implementation.reference, Implementation.swift), (.swift, .swift), (.reference, .reference),
            ])
        func flags(builder: Implementation, restorer: Implementation) async throws {
            let builderBinary = try builder.binary()
            let binary = try restorer.binary()
            let ws = try Workspace("restore-flags-\(builder.rawValue)-\(restorer.rawValue)")
            defer { ws.close() }

            // Replica: TXID 1 holds rows 1...40, the latest TXID rows 1...100.
            try createTestDatabase(ws.dbPath)
            try await Writer(ws, count: 40, passiveEvery: 0, seed: 1).finish()
            var result = try await ws.litestream(builderBinary, ["replicate", "-once", ws.dbPath, ws.replicaURL])
            try #require(result.status == 0, "\(describe("replicate -once", result))")
            let firstFiles = replicaFiles(ws.replicaDirectory)
            try #require(firstFiles.map(\.maxTXID).max() == 1, "after the first sync: \(firstFiles)")
            // File replicas keep each file's header timestamp as its mtime; `-timestamp` reads it.
            let firstFile = ws.replicaDirectory + "/ltx/0/" + String(format: "%016llx-%016llx.ltx", 1, 1)
            let firstCreated = try #require(
                (try FileManager.default.attributesOfItem(atPath: firstFile))[.modificationDate] as? Date)
            try await Task.sleep(for: .milliseconds(1300))
            try await Writer(ws, start: 41, count: 60, passiveEvery: 0, seed: 2).finish()
            result = try await ws.litestream(builderBinary, ["replicate", "-once", ws.dbPath, ws.replicaURL])
            try #require(result.status == 0, "\(describe("replicate -once", result))")
            let latestTXID = try #require(replicaFiles(ws.replicaDirectory).map(\.maxTXID).max())
            let source = try await dumpRows(ws.dbPath)
            #expect(try await rowSummary(ws.dbPath).count == 100)

            // Plain restore.
            let out = ws.path("out.db")
            result = try await ws.restore(binary, to: out)
            #expect(result.status == 0, "\(describe("restore", result))")
            #expect(try await integrityCheck(out) == "ok")
            #expect(firstDifference(try await dumpRows(out), source) == nil)

            // -if-db-not-exists: the output exists, so exit 0 and leave it alone.
            let before = Fingerprint(out)
            try await Task.sleep(for: .milliseconds(20))
            result = try await ws.restore(binary, to: out, flags: ["-if-db-not-exists"])
            #expect(result.status == 0, "\(describe("restore -if-db-not-exists (output exists)", result))")
            #expect(Fingerprint(out) == before, "-if-db-not-exists modified the existing output")
            // … and when it does not exist, it restores.
            let fresh = ws.path("fresh.db")
            result = try await ws.restore(binary, to: fresh, flags: ["-if-db-not-exists"])
            #expect(result.status == 0, "\(describe("restore -if-db-not-exists (no output)", result))")
            if FileManager.default.fileExists(atPath: fresh) {
                #expect(try await rowSummary(fresh).count == 100)
            } else {
                Issue.record("-if-db-not-exists without an output restored nothing")
            }

            // Without -force an existing output is an error, and is left alone.
            let other = ws.path("other.db")
            try sqlite3(other, "CREATE TABLE mine(x); INSERT INTO mine VALUES (42);")
            let otherBefore = Fingerprint(other)
            result = try await ws.restore(binary, to: other)
            #expect(result.status != 0, "restore onto an existing file without -force succeeded: \(describe("restore", result))")
            #expect(Fingerprint(other) == otherBefore, "a failed restore modified the existing output")
            // With -force it is replaced.
            result = try await ws.restore(binary, to: other, flags: ["-force"])
            #expect(result.status == 0, "\(describe("restore -force", result))")
            #expect(firstDifference(try await dumpRows(other), source) == nil)
            #expect(try await integrityCheck(other) == "ok")

            // -if-replica-exists: an empty or missing replica is not an error, and nothing is written.
            let emptyReplica = ws.path("empty-replica")
            try FileManager.default.createDirectory(atPath: emptyReplica, withIntermediateDirectories: true)
            for url in ["file://" + emptyReplica, "file://" + ws.path("no-such-replica")] {
                let target = ws.path("from-empty.db")
                result = try await ws.restore(binary, to: target, flags: ["-if-replica-exists"], replicaURL: url)
                #expect(result.status == 0, "\(describe("restore -if-replica-exists \(url)", result))")
                #expect(!FileManager.default.fileExists(atPath: target))
                // Without the flag, an empty replica is an error.
                result = try await ws.restore(binary, to: target, replicaURL: url)
                #expect(result.status != 0, "restore of an empty replica succeeded: \(describe("restore \(url)", result))")
                #expect(!FileManager.default.fileExists(atPath: target))
            }

            // -txid restores an earlier state.
            let early = ws.path("early.db")
            result = try await ws.restore(binary, to: early, flags: ["-txid", hexTXID(1)])
            #expect(result.status == 0, "\(describe("restore -txid 1", result))")
            #expect(try await rowSummary(early) == RowSummary(count: 40, minID: 1, maxID: 40, badRows: 0))
            #expect(try await integrityCheck(early) == "ok")
            let latest = ws.path("latest.db")
            result = try await ws.restore(binary, to: latest, flags: ["-txid", hexTXID(latestTXID)])
            #expect(result.status == 0, "\(describe("restore -txid latest", result))")
            #expect(try await rowSummary(latest).count == 100)
            // -timestamp: the first whole second after the first sync is before the second one.
            let between = Date(timeIntervalSince1970: (firstCreated.timeIntervalSince1970).rounded(.down) + 1)
            let stamp = between.formatted(.iso8601)
            let timed = ws.path("timed.db")
            result = try await ws.restore(binary, to: timed, flags: ["-timestamp", stamp])
            #expect(result.status == 0, "\(describe("restore -timestamp \(stamp)", result))")
            if result.status == 0 {
                #expect(try await rowSummary(timed) == RowSummary(count: 40, minID: 1, maxID: 40, badRows: 0), "-timestamp \(stamp)")
            }

            // A TXID must be 16 hex digits.
            result = try await ws.restore(binary, to: ws.path("bad-txid.db"), flags: ["-txid", "2"])
            #expect(result.status != 0, "-txid 2 was accepted: \(describe("restore -txid 2", result))")
            #expect(!FileManager.default.fileExists(atPath: ws.path("bad-txid.db")))

            // -dry-run writes nothing.
            let dirBefore = Self.listing(ws.directory.path)
            result = try await ws.restore(binary, to: ws.path("dry.db"), flags: ["-dry-run"])
            #expect(result.status == 0, "\(describe("restore -dry-run", result))")
            #expect(Self.listing(ws.directory.path) == dirBefore, "-dry-run wrote files")
            // Also onto an existing output (no -force needed) it leaves the output alone.
            let outBefore = Fingerprint(out)
            result = try await ws.restore(binary, to: out, flags: ["-dry-run"])
            #expect(result.status == 0, "\(describe("restore -dry-run (output exists)", result))")
            #expect(Fingerprint(out) == outBefore)
            #expect(Self.listing(ws.directory.path) == dirBefore, "-dry-run wrote files")

            // -json prints the restored TXID.
            let json = ws.path("json.db")
            result = try await ws.restore(binary, to: json, flags: ["-json"])
            #expect(result.status == 0, "\(describe("restore -json", result))")
            let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(object?["txid"] as? String == hexTXID(latestTXID), "restore -json printed: \(result.stdout)")
            #expect(object?["replica"] as? String == "file", "restore -json printed: \(result.stdout)")

            // -integrity-check full passes on a good replica.
            result = try await ws.restore(binary, to: ws.path("checked.db"), flags: ["-integrity-check", "full"])
            #expect(result.status == 0, "\(describe("restore -integrity-check full", result))")
        }
    }
}
