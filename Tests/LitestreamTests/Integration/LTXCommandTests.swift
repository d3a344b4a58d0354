import Foundation
import Testing

extension Integration {
    /// Issue test 3: `litestream ltx` lists a replica's files exactly as Litestream 0.5.17 does.
    @Suite struct LTXCommandTests {
        /// Builds a replica with `builder`: three `replicate -once` runs (L0 TXIDs 1, 2, 3), the last one with
        /// `-force-snapshot` (a level-9 snapshot).
        static func buildReplica(_ ws: Workspace, with builder: Binary) async throws {
            try createTestDatabase(ws.dbPath)
            for (index, flags) in [[], [], ["-force-snapshot"]].enumerated() {
                try await Writer(ws, start: index * 50 + 1, count: 50, passiveEvery: 0, seed: UInt64(index)).finish()
                let result = try await ws.litestream(
                    builder, ["replicate", "-once"] + flags + [ws.dbPath, ws.replicaURL])
                try #require(result.status == 0, "\(describe("replicate -once \(flags)", result))")
            }
        }

        /// The table rows (whitespace-separated fields) of an `ltx` listing, header included.
        static func fields(_ text: String) -> [[String]] {
            text.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        }

        @Test(
            "ltx output matches Litestream 0.5.17",
            arguments: [(Implementation.reference, Implementation.swift), (.swift, .swift)])
        func listing(builder: Implementation, lister: Implementation) async throws {
            let builderBinary = try builder.binary()
            let listerBinary = try lister.binary()
            let reference = try Implementation.reference.binary()
            let ws = try Workspace("ltx-\(builder.rawValue)-\(lister.rawValue)")
            defer { ws.close() }
            try await Self.buildReplica(ws, with: builderBinary)
            let files = replicaFiles(ws.replicaDirectory)
            #expect(files.contains { $0.level == 0 } && files.contains { $0.level == 9 }, "replica: \(files)")

            let emptyReplica = ws.path("empty-replica")
            try FileManager.default.createDirectory(atPath: emptyReplica, withIntermediateDirectories: true)
            let cases: [(flags: [String], url: String)] = [
                ([], ws.replicaURL),
                (["-level", "0"], ws.replicaURL),
                (["-level", "9"], ws.replicaURL),
                (["-level", "all"], ws.replicaURL),
                (["-json"], ws.replicaURL),
                (["-level", "all", "-json"], ws.replicaURL),
                ([], "file://" + emptyReplica),
                (["-json"], "file://" + emptyReplica),
            ]
            for (flags, url) in cases {
                let args = ["ltx"] + flags + [url]
                let ours = try await ws.litestream(listerBinary, args)
                let theirs = try await ws.litestream(reference, args)
                let label = "ltx \(flags.joined(separator: " ")) \(url == ws.replicaURL ? "REPLICA" : "EMPTY")"
                #expect(theirs.status == 0, "reference: \(describe(label, theirs))")
                #expect(ours.status == 0, "\(describe(label, ours))")
                if flags.contains("-json") {
                    let parsed = { (text: String) in try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] }
                    let mine = try #require(parsed(ours.stdout), "\(label): not a JSON array: \(ours.stdout)")
                    let want = try #require(parsed(theirs.stdout), "reference \(label): \(theirs.stdout)")
                    #expect(
                        mine.map { $0.mapValues { "\($0)" } } == want.map { $0.mapValues { "\($0)" } },
                        "\(label): got\n\(ours.stdout)\nwant\n\(theirs.stdout)")
                } else {
                    #expect(
                        Self.fields(ours.stdout).first == ["level", "min_txid", "max_txid", "size", "created"],
                        "\(label) header: \(ours.stdout)")
                    #expect(Self.fields(ours.stdout) == Self.fields(theirs.stdout), "\(label): got\n\(ours.stdout)\nwant\n\(theirs.stdout)")
                    // Same column layout too (tabwriter: two spaces of padding).
                    #expect(ours.stdout == theirs.stdout, "\(label): same fields, different spacing:\n\(ours.stdout)\nwant\n\(theirs.stdout)")
                }
            }

            // The listing names every file of the replica: `-level all` is the directory listing.
            let all = try await ws.litestream(listerBinary, ["ltx", "-level", "all", ws.replicaURL])
            let listed = Self.fields(all.stdout).dropFirst().compactMap { row -> ReplicaFile? in
                guard row.count == 5, let level = Int(row[0]), let min = UInt64(row[1], radix: 16),
                    let max = UInt64(row[2], radix: 16)
                else { return nil }
                return ReplicaFile(level: level, minTXID: min, maxTXID: max)
            }
            #expect(listed.sorted() == files, "ltx -level all: \(all.stdout)")
        }
    }
}
