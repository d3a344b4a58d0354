import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// Takeover over S3 with the real litestream 0.5.17: one implementation replicates a live database to a bucket
/// and is stopped, the other continues the same database and replica path; restores by both tools hold every row.
@Suite(.serialized, .enabled(if: S3TestServer.enabled, "needs LITESTREAM_S3_ENDPOINT (scripts/test.sh)"))
struct S3TakeoverTests {
    enum Side: String, Sendable, CustomTestStringConvertible {
        case litestream, ours
        var testDescription: String { rawValue }
    }

    /// Runs one replicator for `duration` while the writer goes on, then stops it gracefully.
    static func replicate(_ side: Side, dbPath: String, bucket: String, for duration: Duration) async throws {
        // Each run must ship something of its own: wait (up to a minute on a loaded machine) until the replica
        // moves past where it was, then let it run for `duration`.
        let replica = try S3TestServer.replica(bucket: bucket)
        let before = try await S3TestServer.maxTXID(replica)
        func progressed() async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while try await S3TestServer.maxTXID(replica) <= before && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: duration)
        }
        switch side {
        case .ours:
            var config = Replicator.Configuration(database: .init(path: dbPath), replica: try S3TestServer.replica(bucket: bucket))
            config.minSyncInterval = .milliseconds(50)
            let live = LiveReplicator(config)
            try await progressed()
            try await live.stop()
        case .litestream:
            let official = try TestEnvironment.requireLitestreamBinary()
            let child = try S3TestServer.launchTool(official, ["replicate", dbPath, try S3TestServer.url(bucket: bucket)])
            defer { if child.isRunning { child.signal(SIGKILL) } }
            try await progressed()
            #expect(child.isRunning, "litestream replicate exited early: \(child.output)")
            child.interrupt()
            // Litestream's own shutdown (a final sync with the writer still running) once took over 30 s in the
            // full suite on 2 cores.
            let stopped = try await Integration.offload { try child.wait(timeout: .seconds(90)) }
            #expect(stopped.status == 0, "litestream replicate: \(stopped.stderr.suffix(3000))")
            #expect(!(stopped.stdout + stopped.stderr).contains("level=ERROR"), "\(stopped.stdout.suffix(3000)) \(stopped.stderr.suffix(3000))")
        }
    }

    @Test(arguments: [(Side.litestream, Side.ours), (.ours, .litestream)])
    func takeover(first: Side, second: Side) async throws {
        _ = try TestEnvironment.requireLitestreamBinary()
        let dir = try TestEnvironment.temporaryDirectory("s3-takeover-\(first)-\(second)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        let bucket = try await S3TestServer.makeBucket("takeover")
        let replica = try S3TestServer.replica(bucket: bucket)
        let writer = try NumberedRowWriter(path: dbPath, interval: .milliseconds(5))

        try await Self.replicate(first, dbPath: dbPath, bucket: bucket, for: .seconds(4))
        let filesA = try await replica.allFilesByLevel().values.flatMap { $0 }
        let maxA = filesA.map(\.maxTXID).max() ?? .zero
        #expect(maxA > TXID(1), "\(first) uploaded nothing")
        let rowsAtHandover = writer.lastCommitted
        try await Task.sleep(for: .milliseconds(500))  // unreplicated writes between the two

        try await Self.replicate(second, dbPath: dbPath, bucket: bucket, for: .seconds(3))
        // The writer outlives the second replicator's run by a moment; a last short run of the same replicator
        // (a restart, which must also just continue) uploads those rows, so the replica ends with every row.
        let last = await writer.stop()
        #expect(last > rowsAtHandover + 100)
        try await Self.replicate(second, dbPath: dbPath, bucket: bucket, for: .seconds(2))

        let filesB = try await replica.allFilesByLevel().values.flatMap { $0 }
        let newL0 = Set(filesB).subtracting(filesA).filter { $0.level == 0 }
        #expect(!newL0.isEmpty, "\(second) uploaded nothing")
        let overlapping = newL0.filter { $0.minTXID <= maxA }
        #expect(overlapping.isEmpty, "\(second) rewrote TXIDs up to \(maxA) of \(first): \(overlapping.sorted { $0.minTXID < $1.minTXID })")
        let l0 = try await replica.ltxFiles(level: 0)
        var next = TXID(1)
        for f in l0 {
            #expect(f.minTXID == next, "L0 chain broken at \(f) (want min \(next))")
            next = f.maxTXID.next
        }
        try await S3FaultTests.expectRestoresHold(last, bucket: bucket, dir: dir, restoreVia: replica)
    }
}
