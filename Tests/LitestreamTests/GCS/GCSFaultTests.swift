import Foundation
import LTX
import LitestreamHTTP
import Testing

@testable import LitestreamCore
@testable import LitestreamGCS

/// Replication to the GCS emulator through the tests' ``FaultProxy``: server errors, connections reset before and
/// after the emulator acted (an upload that happened but whose answer was lost), downloads cut half-way. Nothing
/// committed may be lost, and every stored object must be whole.
@Suite(.ownThreads, .enabled(if: GCSTestServer.enabled, "needs gcp-storage-emulator in .venv (scripts/test.sh)"))
struct GCSFaultTests {
    @Test func replicateAndRestoreThroughFaults() async throws {
        let server = try GCSTestServer()
        let proxy = try await FaultProxy.start(upstream: server.url, seed: 18)
        defer { Task { await proxy.stop() } }
        var c = GCSConfiguration(bucket: server.bucket, path: "faulty")
        c.maxAttempts = 30
        var replica = try GCSReplicaClient(configuration: c, environment: ["STORAGE_EMULATOR_HOST": "127.0.0.1:\(proxy.port)"])
        replica.client.backoff = .init(baseDelay: .milliseconds(2), maxDelay: .milliseconds(20))

        let dir = try TestEnvironment.temporaryDirectory("gcs-faults")
        let dbPath = dir.appendingPathComponent("app.db").path
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await r.open()
        let faults: [FaultProxy.Fault] = [.internalError, .resetBeforeForwarding, .resetAfterForwarding, .truncatedBody]
        proxy.setMode(.random(rate: 0.35, faults: faults))
        for i in 1...25 {
            try app.exec("INSERT INTO t (v) VALUES ('row \(i) \(String(repeating: "f", count: 3000 + i))')")
            try await r.runOnce()
            if i == 12 { _ = try await Compactor(client: replica).compact(level: 1) }
        }
        try await r.snapshot()
        #expect(r.replicaPosition == TXID(25))
        #expect((proxy.faultCounts[.resetAfterForwarding] ?? 0) > 0 && (proxy.faultCounts[.truncatedBody] ?? 0) > 0,
            "\(proxy.faultCounts)")

        let out = dir.appendingPathComponent("restored.db").path
        let restorer = Restorer(replica: replica)
        try await restorer.restore(to: out, plan: try await restorer.plan(), integrityCheck: .full)
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: dbPath))
        try await r.shutdown()

        proxy.setMode(.passThrough)
        for level in [0, 1, 9] {
            for f in try await replica.ltxFiles(level: level) {
                let reader = try await replica.openLTXFile(f)
                var decoder = reader.decoder()
                _ = try decoder.decodeAll { _, _ in }  // checks every page and the file's checksum
            }
        }
    }

}
