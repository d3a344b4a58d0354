import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// The engine, our CLI and the real Litestream 0.5.17 against a real S3 server (moto).
@Suite(.ownThreads, .enabled(if: S3TestServer.enabled, "needs LITESTREAM_S3_ENDPOINT (scripts/test.sh)"))
struct S3EndToEndTests {
    @Test func replicatorThenRestorerFromS3() async throws {
        let dir = try TestEnvironment.temporaryDirectory("s3-engine")
        let dbPath = dir.appendingPathComponent("app.db").path
        let bucket = try await S3TestServer.makeBucket("engine")
        let replica = try S3TestServer.replica(bucket: bucket, path: "dbs/app")
        let app = try TestDatabase(path: dbPath)
        try app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let r = Replicator(configuration: .init(database: .init(path: dbPath), replica: replica))
        try await r.open()
        for i in 1...12 {
            try app.exec("INSERT INTO t (v) VALUES ('row \(i) \(String(repeating: "x", count: i * 300))')")
            try await r.runOnce()
            try await Task.sleep(for: .milliseconds(5))  // distinct LTX timestamps
        }
        #expect(r.replicaPosition == TXID(12))
        #expect(try await replica.ltxFiles(level: 0).count >= 1)

        let restorer = Restorer(replica: replica)
        let out = dir.appendingPathComponent("restored.db").path
        try await restorer.restore(to: out, plan: try await restorer.plan(), integrityCheck: .full)
        #expect(try TestDatabase.integrityCheck(path: out) == "ok")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: dbPath))
        // Point in time by TXID.
        let at5 = dir.appendingPathComponent("at5.db").path
        try await restorer.restore(to: at5, plan: try await restorer.plan(txid: TXID(5)))
        #expect(try TestDatabase(path: at5).scalar("SELECT count(*) FROM t") == "5")
        // Point in time by timestamp, from the litestream-timestamp metadata: before file 7 was created.
        var exact = replica
        exact.timestampsFromMetadata = true
        let seventh = try #require(try await exact.ltxFiles(level: 0).first { $0.maxTXID == TXID(7) })
        let exactRestorer = Restorer(replica: exact)
        let at6 = dir.appendingPathComponent("at6.db").path
        try await exactRestorer.restore(to: at6, plan: try await exactRestorer.plan(timestamp: seventh.createdAt))
        #expect(try TestDatabase(path: at6).scalar("SELECT count(*) FROM t") == "6")
        try await r.shutdown()
    }

    static func env() -> [String: String] {
        var e = S3TestServer.environment
        e["AWS_CA_BUNDLE"] = ""  // litestream 0.5.17 cannot start with a custom CA bundle
        e["AWS_EC2_METADATA_DISABLED"] = "true"
        return e
    }

    static func run(_ exe: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        // `env -u` removes AWS_CA_BUNDLE entirely (an empty value may still be read as a path).
        try TestEnvironment.run("env", ["-u", "AWS_CA_BUNDLE", exe] + args, environment: env(), timeout: .seconds(120))
    }

    static func makeSource(_ dir: URL) throws -> String {
        let db = dir.appendingPathComponent("src.db").path
        try sqlite3(db, """
            PRAGMA journal_mode=WAL;
            CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 2000)
            INSERT INTO t (v) SELECT printf('row %d %s', i, hex(randomblob(40))) FROM c;
            """)
        return db
    }

    @Test func ourReplicateThenLitestreamRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let dir = try TestEnvironment.temporaryDirectory("s3-ours-to-official")
        let db = try Self.makeSource(dir)
        let bucket = try await S3TestServer.makeBucket("ours")
        let url = try S3TestServer.url(bucket: bucket)
        let rep = try Self.run(ours, ["replicate", "-once", db, url])
        #expect(rep.status == 0, "our replicate: \(rep.stderr)")
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(official, ["restore", "-o", out, url])
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
    }

    @Test func ourReplicateReportsAMissingBucketAtStartUp() async throws {
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let dir = try TestEnvironment.temporaryDirectory("s3-missing-bucket")
        let db = try Self.makeSource(dir)
        let url = try S3TestServer.url(bucket: "no-such-bucket-\(UUID().uuidString.lowercased().prefix(8))")
        let rep = try Self.run(ours, ["replicate", "-once", db, url])
        #expect(rep.status != 0)
        #expect(rep.stderr.contains("NoSuchBucket") && rep.stderr.contains("no-such-bucket-"), "\(rep.stderr)")
        #expect(rep.stderr.contains(try S3TestServer.endpoint()), "\(rep.stderr)")
    }

    @Test func litestreamReplicateThenOurRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let dir = try TestEnvironment.temporaryDirectory("s3-official-to-ours")
        let db = try Self.makeSource(dir)
        let bucket = try await S3TestServer.makeBucket("official")
        let url = try S3TestServer.url(bucket: bucket)
        // litestream 0.5.17 replicates until interrupted; wait for its first upload, then stop it.
        let child = try TestEnvironment.launch(
            "env", ["-u", "AWS_CA_BUNDLE", official, "replicate", db, url], environment: Self.env())
        let replica = try S3TestServer.replica(bucket: bucket)
        let deadline = ContinuousClock.now + .seconds(60)
        while try await replica.ltxFiles(level: 0).isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(300))
        }
        try await Task.sleep(for: .seconds(1))
        child.interrupt()
        let stopped = try child.wait(timeout: .seconds(30))
        #expect(try await !replica.ltxFiles(level: 0).isEmpty, "litestream uploaded nothing: \(stopped.stderr)")
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(ours, ["restore", "-o", out, url])
        #expect(res.status == 0, "our restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
    }
}
