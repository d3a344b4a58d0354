import Foundation
import LTX
import Testing
import LitestreamHTTP

@testable import LitestreamClient
@testable import LitestreamCore
@testable import LitestreamWebDAV

/// Replication to WebDAV through the tests' ``FaultProxy``: server errors, connections reset before and after the
/// server acted (a MOVE that happened but whose answer was lost), cut downloads. Nothing committed may be lost and
/// no partial or leftover file may stay on the server.
@Suite(.ownThreads, .enabled(if: WebDAVTestServer.enabled, "needs wsgidav in .venv (scripts/test.sh)"))
struct WebDAVFaultTests {
    @Test func replicateAndRestoreThroughFaults() async throws {
        let server = try WebDAVTestServer(extraArguments: ["--behind-proxy"])
        let proxy = try await FaultProxy.start(upstream: server.url, seed: 18)
        defer { Task { await proxy.stop() } }
        var c = WebDAVConfiguration(url: proxy.endpoint, path: "faulty", username: server.user, password: server.password)
        c.maxAttempts = 30
        var replica = try WebDAVReplicaClient(configuration: c)
        replica.client.backoff = .init(baseDelay: .milliseconds(2), maxDelay: .milliseconds(20))

        let dir = try TestEnvironment.temporaryDirectory("webdav-faults")
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
        #expect((proxy.requestCounts["MOVE"] ?? 0) > 0, "\(proxy.requestCounts)")

        // Restore through the faults: listings, GETs cut half-way (resumed), errors.
        let out = dir.appendingPathComponent("restored.db").path
        let restorer = Restorer(replica: replica)
        try await restorer.restore(to: out, plan: try await restorer.plan(), integrityCheck: .full)
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: dbPath))
        try await r.shutdown()

        // On the server: LTX names only (no temporary file left by a retried PUT or MOVE), each a whole file.
        proxy.setMode(.passThrough)
        let stored = server.files(under: "faulty")
        #expect(!stored.isEmpty && stored.allSatisfy { $0.hasSuffix(".ltx") && $0.count == 43 }, "\(stored)")
        for level in [0, 1, 9] {
            for f in try await replica.ltxFiles(level: level) {
                let reader = try await replica.openLTXFile(f)
                var decoder = reader.decoder()
                _ = try decoder.decodeAll { _, _ in }  // checks every page and the file's checksum
            }
        }
    }
}
