import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

extension Integration {
    /// `replicate -once -force-snapshot` on a fresh replica: the level-9 snapshot is the first L0 file itself
    /// (TXIDs 1...1, already every page), not a second encoding of the database. Both tools must restore from it.
    @Suite struct FirstSnapshotTests {
        @Test func firstL0FileServesAsTheSnapshotAndRestoresWithBothTools() async throws {
            let ws = try Workspace("first-snapshot")
            defer { ws.close() }
            try createTestDatabase(ws.dbPath)
            try await Writer(ws, start: 1, count: 300, passiveEvery: 0, seed: 7).finish()
            let ours = try Implementation.swift.binary()
            let result = try await ws.litestream(ours, ["replicate", "-once", "-force-snapshot", ws.dbPath, ws.replicaURL])
            try #require(result.status == 0, "\(describe("replicate -once -force-snapshot", result))")

            let l0 = ws.replicaDirectory + "/ltx/0/0000000000000001-0000000000000001.ltx"
            let l9 = ws.replicaDirectory + "/ltx/9/0000000000000001-0000000000000001.ltx"
            let l9Bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: l9)))
            #expect(try l9Bytes == [UInt8](Data(contentsOf: URL(fileURLWithPath: l0))))
            var dec = LTXDecoder(LTXMemoryInput(l9Bytes), name: l9)
            let h9 = try dec.readHeader()
            #expect(h9.isSnapshot && h9.maxTXID == TXID(1))
            var page = [UInt8](repeating: 0, count: Int(h9.pageSize))
            while try page.withUnsafeMutableBytes({ try dec.nextPage(into: $0) }) != nil {}
            try dec.finish()

            // Only the snapshot left in the replica: both tools restore the database from it.
            try FileManager.default.removeItem(atPath: ws.replicaDirectory + "/ltx/0")
            let expected = try await rowSummary(ws.dbPath)
            for tool in Implementation.allCases {
                let out = ws.path("restored-\(tool.rawValue).db")
                let r = try await ws.restore(try tool.binary(), to: out)
                try #require(r.status == 0, "\(describe("restore with \(tool)", r))")
                #expect(try await integrityCheck(out) == "ok")
                #expect(try await rowSummary(out, readOnly: true) == expected, "restored by \(tool)")
            }
        }
    }
}
