import Foundation
import LTX
import SystemPackage
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// Replication to S3 through ``FaultProxy``: injected errors, lost responses, cut downloads, delays and an S3 that
/// is down for a while must never lose or reorder a committed transaction.
@Suite(.serialized, .enabled(if: S3TestServer.enabled, "needs LITESTREAM_S3_ENDPOINT (scripts/test.sh)"))
struct S3FaultTests {
    /// #19.3: level-0 objects are written with `If-None-Match: *`. Another writer's object under the same key is
    /// refused (412 to the first try) and left as it was; a retry whose first try was stored but whose answer was
    /// lost gets a 412 too, and is taken as done when the object has our size (one HEAD).
    @Test func levelZeroWritesAreExclusive() async throws {
        let bucket = try await S3TestServer.makeBucket("exclusive")
        let proxy = try await FaultProxy.start(upstream: try S3TestServer.endpoint())
        defer { Task { await proxy.stop() } }
        var replica = try S3TestServer.replica(bucket: bucket, endpoint: proxy.endpoint)
        replica.client.baseDelay = .milliseconds(1)
        let dir = try TestEnvironment.temporaryDirectory("s3-exclusive")
        defer { try? FileManager.default.removeItem(at: dir) }
        let header = CompactionTestSupport.header(min: 1, max: 1, commit: 1, timestamp: 1_700_000_000_000)
        let ours = try CompactionTestSupport.encode(header, pages: [(1, CompactionTestSupport.page(1, version: 1))])
        let theirs = try CompactionTestSupport.encode(header, pages: [(1, CompactionTestSupport.page(1, version: 2))]) + [0]
        let (oursPath, theirsPath) = (dir.appendingPathComponent("ours.ltx").path, dir.appendingPathComponent("theirs.ltx").path)
        try Data(ours).write(to: URL(fileURLWithPath: oursPath))
        try Data(theirs).write(to: URL(fileURLWithPath: theirsPath))

        // Stored, its answer lost: the client's retry meets our own object.
        proxy.setMode(.once(.resetAfterForwarding))
        _ = try await replica.upload(localPath: oursPath, level: 0, header: header)
        #expect(proxy.faultCounts[.resetAfterForwarding] == 1)
        #expect(proxy.requestCounts["HEAD"] == 1, "\(proxy.requestCounts)")
        // Another writer's file under that key: refused, ours untouched.
        let e = await #expect(throws: ReplicaError.self) {
            _ = try await replica.upload(localPath: theirsPath, level: 0, header: header)
        }
        #expect(e?.code == .fileExists)
        let stored = try #require(try await replica.ltxFiles(level: 0).first)
        #expect(stored.size == Int64(ours.count))
        // Other levels are written over, as Litestream does (a snapshot at the same TXID again).
        _ = try await replica.upload(localPath: theirsPath, level: LTXLevel.snapshot, header: header)
        #expect(try await replica.ltxFiles(level: LTXLevel.snapshot).first?.size == Int64(theirs.count))
    }

    /// The proxy does what each mode says, as seen by our S3 client (one attempt, no retries).
    @Test func proxyModes() async throws {
        let bucket = try await S3TestServer.makeBucket("proxy")
        let proxy = try await FaultProxy.start(upstream: try S3TestServer.endpoint())
        defer { Task { await proxy.stop() } }
        var c = try S3TestServer.configuration(bucket: bucket, path: "p", endpoint: proxy.endpoint)
        c.maxAttempts = 1
        let client = try S3Client(configuration: c, environment: S3TestServer.environment)
        let direct = try S3Client(configuration: S3TestServer.configuration(bucket: bucket), environment: S3TestServer.environment)
        let body = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })

        try await client.putObject(key: "p/a", body: body, metadata: ["litestream-timestamp": "x"])
        #expect(try await client.headObject(key: "p/a")?["x-amz-meta-litestream-timestamp"] == "x")
        #expect(proxy.requestCounts == ["PUT": 1, "HEAD": 1])

        for (fault, code, status) in [(FaultProxy.Fault.internalError, "InternalError", 500), (.slowDown, "SlowDown", 503)] {
            proxy.setMode(.always(fault))
            let e = await #expect(throws: S3Error.self) { try await client.putObject(key: "p/\(fault)", body: body) }
            #expect(e?.code == code && e?.statusCode == status, "\(fault): \(String(describing: e))")
            #expect(e?.isTransient == true)
            #expect(try await direct.headObject(key: "p/\(fault)") == nil, "\(fault) must not reach S3")
        }

        proxy.setMode(.always(.resetBeforeForwarding))
        let before = await #expect(throws: S3Error.self) { try await client.putObject(key: "p/before", body: body) }
        #expect(before?.statusCode == nil && before?.isTransient == true, "\(String(describing: before))")
        #expect(try await direct.headObject(key: "p/before") == nil, "a request reset before forwarding reached S3")

        proxy.setMode(.always(.resetAfterForwarding))
        let after = await #expect(throws: S3Error.self) { try await client.putObject(key: "p/after", body: body) }
        #expect(after?.statusCode == nil, "\(String(describing: after))")
        #expect(try await direct.headObject(key: "p/after") != nil, "a request reset after forwarding never reached S3")

        // A cut download fails with one attempt, and resumes with a Range request when retries are allowed.
        proxy.setMode(.always(.truncatedBody))
        let file = try OpenFile(NSTemporaryDirectory() + "proxy-\(UUID()).bin", .readWrite, options: [.create, .truncate])
        await #expect(throws: S3Error.self) { _ = try await client.download(key: "p/a", to: file) }
        var retrying = c
        retrying.maxAttempts = 30
        var patient = try S3Client(configuration: retrying, environment: S3TestServer.environment)
        patient.baseDelay = .milliseconds(1)  // each attempt gets half of what is left: many quick retries
        try file.resize(to: 0)
        _ = lseek(file.descriptor.rawValue, 0, SEEK_SET)
        let downloaded = try await patient.download(key: "p/a", to: file)
        #expect(downloaded == Int64(body.count))
        var back = [UInt8](repeating: 0, count: body.count)
        try back.withUnsafeMutableBytes { _ = try file.readFully($0, at: 0) }
        #expect(Data(back) == body, "the resumed download differs from the object")

        proxy.setMode(.always(.delay))
        proxy.setDelay(milliseconds: 300...300)
        let start = ContinuousClock.now
        #expect(try await client.headObject(key: "p/a") != nil)
        #expect(ContinuousClock.now - start >= .milliseconds(300))

        proxy.setMode(.passThrough)
        await proxy.down()
        let refused = await #expect(throws: S3Error.self) { _ = try await client.headObject(key: "p/a") }
        #expect(refused?.statusCode == nil, "\(String(describing: refused))")
        try await proxy.up()
        #expect(try await client.headObject(key: "p/a") != nil)
        let faults = proxy.faultCounts
        #expect(faults[.internalError] == 1 && faults[.slowDown] == 1 && faults[.resetAfterForwarding] == 1)
    }

    /// A replicator with short maintenance intervals, so that compaction, snapshots and retention also run into the
    /// faults, going to S3 through `endpoint`.
    static func configuration(dbPath: String, replica: S3ReplicaClient) -> Replicator.Configuration {
        var config = Replicator.Configuration(database: .init(path: dbPath), replica: replica)
        config.minSyncInterval = .milliseconds(50)
        config.monitorInterval = .milliseconds(200)
        config.maintenance.levels = [CompactionLevel(level: 1, interval: .seconds(1)), CompactionLevel(level: 2, interval: .seconds(3))]
        config.maintenance.snapshotInterval = .seconds(4)
        config.maintenance.snapshotRetention = .seconds(6)
        config.maintenance.l0Retention = .seconds(1)
        config.maintenance.l0RetentionCheckInterval = .seconds(1)
        return config
    }

    /// Waits until the replica (listed directly, not through the proxy) reaches the newest local L0 file.
    static func waitForCatchUp(dbPath: String, direct: S3ReplicaClient, timeout: Duration = .seconds(40)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let local = S3TestServer.localL0(dbPath: dbPath).last ?? 0
            var remote: UInt64 = 0
            for level in [0, 1, 2] { remote = max(remote, try await S3TestServer.maxTXID(direct, level: level)) }
            if local > 0 && remote >= local { return true }
            try await Task.sleep(for: .milliseconds(250))
        }
        return false
    }

    /// Restores the replica with our Restorer (through `restoreVia`, which may inject faults) and with the real
    /// litestream 0.5.17 (from the S3 server directly), and expects exactly rows 1...`last` in both.
    static func expectRestoresHold(
        _ last: Int, bucket: String, dir: URL, restoreVia: S3ReplicaClient,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let ours = dir.appendingPathComponent("restored-ours.db").path
        let restorer = Restorer(replica: restoreVia)
        try await restorer.restore(to: ours, plan: try await restorer.plan(), integrityCheck: .full)
        NumberedRowWriter.expectExactly(last, in: ours, "our restore", sourceLocation: sourceLocation)

        let official = try TestEnvironment.requireLitestreamBinary()
        let theirs = dir.appendingPathComponent("restored-litestream.db").path
        let r = try await S3TestServer.runTool(official, ["restore", "-o", theirs, try S3TestServer.url(bucket: bucket)])
        #expect(r.status == 0, "litestream restore: \(r.stderr)", sourceLocation: sourceLocation)
        if r.status == 0 { NumberedRowWriter.expectExactly(last, in: theirs, "litestream 0.5.17's restore", sourceLocation: sourceLocation) }
    }

    /// Random faults of every kind on 30 % of the requests while a writer commits ~100 transactions a second; the
    /// replica must end up with every committed row and nothing else.
    @Test(arguments: [UInt64(20_250_801)])
    func randomFaultsLoseNothing(seed: UInt64) async throws {
        let dir = try TestEnvironment.temporaryDirectory("s3-faults")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        let bucket = try await S3TestServer.makeBucket("faults")
        let proxy = try await FaultProxy.start(upstream: try S3TestServer.endpoint(), seed: seed)
        defer { Task { await proxy.stop() } }
        var s3 = try S3TestServer.configuration(bucket: bucket, endpoint: proxy.endpoint)
        s3.maxAttempts = 2  // many operations fail outright too: the engine's own retry must cope
        let replica = try S3ReplicaClient(configuration: s3, environment: S3TestServer.environment)
        let direct = try S3TestServer.replica(bucket: bucket)

        let writer = try NumberedRowWriter(path: dbPath)
        let live = LiveReplicator(Self.configuration(dbPath: dbPath, replica: replica))
        var stopped = false
        defer { if !stopped { live.task.cancel() } }
        try await Task.sleep(for: .seconds(1))
        proxy.setDelay(milliseconds: 20...400)
        proxy.setMode(.random(rate: 0.3, faults: FaultProxy.Fault.allCases))
        try await Task.sleep(for: .seconds(14))
        proxy.setMode(.passThrough)
        try await Task.sleep(for: .seconds(1))
        let last = await writer.stop()
        let faults = proxy.faultCounts
        #expect(last > 500, "the writer committed only \(last) rows: \(writer.failures.prefix(3))")
        for fault in FaultProxy.Fault.allCases {
            #expect(faults[fault, default: 0] > 0, "seed \(seed): no \(fault) was injected: \(faults)")
        }

        #expect(try await Self.waitForCatchUp(dbPath: dbPath, direct: direct), "the replica did not catch up")
        stopped = true
        try await live.stop()
        #expect(try await S3TestServer.maxTXID(direct, level: 1) > 0, "no compaction ran")
        #expect(try await !direct.ltxFiles(level: LTXLevel.snapshot).isEmpty, "no snapshot was written")
        // Snapshots would paper over a lost L0 file in a latest restore: each level must chain on its own
        // (retention only ever removes a level's oldest files).
        for level in [0, 1, 2] {
            let files = try await direct.ltxFiles(level: level)
            for (a, b) in zip(files, files.dropFirst()) {
                #expect(b.minTXID == a.maxTXID.next, "seed \(seed): L\(level) gap or overlap between \(a) and \(b)")
            }
        }

        // Our restore goes through the proxy with faults again (downloads cut, errors, lost connections).
        var patient = s3
        patient.maxAttempts = 20
        proxy.setMode(.random(rate: 0.3, faults: FaultProxy.Fault.allCases))
        try await Self.expectRestoresHold(
            last, bucket: bucket, dir: dir,
            restoreVia: try S3ReplicaClient(configuration: patient, environment: S3TestServer.environment))
    }

    /// S3 unreachable for a while (connections refused): the engine keeps its L0 files locally, writes go on, and
    /// once S3 is back it catches up with no gap.
    @Test func serverDownThenBack() async throws {
        let dir = try TestEnvironment.temporaryDirectory("s3-down")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dbPath = dir.appendingPathComponent("app.db").path
        let bucket = try await S3TestServer.makeBucket("down")
        let proxy = try await FaultProxy.start(upstream: try S3TestServer.endpoint())
        defer { Task { await proxy.stop() } }
        var s3 = try S3TestServer.configuration(bucket: bucket, endpoint: proxy.endpoint)
        s3.maxAttempts = 3
        let replica = try S3ReplicaClient(configuration: s3, environment: S3TestServer.environment)
        let direct = try S3TestServer.replica(bucket: bucket)

        let writer = try NumberedRowWriter(path: dbPath)
        var config = Self.configuration(dbPath: dbPath, replica: replica)
        config.maintenance.l0Retention = .zero  // keep L0 remotely, to compare with the local files
        let live = LiveReplicator(config)
        var stopped = false
        defer { if !stopped { live.task.cancel() } }
        var uploaded = false
        for _ in 0..<100 where !uploaded {
            try await Task.sleep(for: .milliseconds(200))
            uploaded = try await S3TestServer.maxTXID(direct) > 0
        }
        try #require(uploaded, "nothing was uploaded before the outage")

        await proxy.down()
        try await Task.sleep(for: .seconds(1))  // anything in flight has landed by now
        let remoteAtStart = try await S3TestServer.maxTXID(direct)
        let requestsAtStart = proxy.totalRequests
        try await Task.sleep(for: .seconds(6))
        let remoteAtEnd = try await S3TestServer.maxTXID(direct)
        let local = S3TestServer.localL0(dbPath: dbPath)
        #expect(remoteAtEnd == remoteAtStart, "the replica moved while S3 was unreachable")
        #expect(proxy.totalRequests == requestsAtStart, "requests got through while the server was down")
        let pending = local.filter { $0 > remoteAtEnd }
        #expect(pending.count >= 2, "local L0 files beyond the replica's \(remoteAtEnd): \(local.suffix(5))")

        try await proxy.up()
        try await Task.sleep(for: .seconds(1))
        let last = await writer.stop()
        #expect(try await Self.waitForCatchUp(dbPath: dbPath, direct: direct), "the replica did not catch up after the outage")
        stopped = true
        try await live.stop()
        // Every L0 file written during the outage reached the replica (alone, or merged with the others into one
        // upload by the S3 replica's default sync interval).
        let remoteL0 = try await direct.ltxFiles(level: 0)
        let covered = { (t: UInt64) in remoteL0.contains { $0.minTXID.rawValue <= t && t <= $0.maxTXID.rawValue } }
        #expect(pending.allSatisfy(covered), "local L0 files missing from the replica: \(pending.filter { !covered($0) })")
        var next: UInt64 = 1
        for f in remoteL0 {
            #expect(f.minTXID.rawValue == next, "L0 gap or overlap at \(f)")
            next = f.maxTXID.rawValue + 1
        }
        try await Self.expectRestoresHold(last, bucket: bucket, dir: dir, restoreVia: direct)
    }
}
