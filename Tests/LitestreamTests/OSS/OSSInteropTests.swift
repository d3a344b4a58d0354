import Foundation
import AsyncHTTPClient
import NIOHTTP1
import LTX
import Testing

@testable import LitestreamCore
@testable import LitestreamOSS

/// Our CLI and the real Litestream 0.5.17 (alibabacloud-oss-go-sdk-v2) on one configuration file, both ways, against
/// ``FakeOSSService``, which checks every request's V4 signature with our signer: Litestream's requests passing it
/// show that our signing agrees with the Go SDK's, and each tool restoring the other's objects shows that the key
/// scheme and metadata agree. A stand-in, not the real service (see docs/replicas.md).
@Suite(.ownThreads) struct OSSInteropTests {
    static func run(_ exe: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try TestEnvironment.run(exe, args, timeout: .seconds(120))
    }

    static func config(_ dir: URL, db: String, fake: FakeOSSService, path: String, secret: String = OSSConfigTests.secret) throws -> String {
        let file = dir.appendingPathComponent("litestream.yml")
        try """
            dbs:
              - path: \(db)
                replica:
                  type: oss
                  bucket: bkt
                  path: \(path)
                  endpoint: \(fake.endpoint)
                  access-key-id: LTAIexample
                  secret-access-key: \(secret)
            """.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    @Test func ourReplicateThenLitestreamRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let fake = try FakeOSSService(id: "LTAIexample", secret: OSSConfigTests.secret, pageSize: 1000)
        defer { fake.stop() }
        let dir = try TestEnvironment.temporaryDirectory("oss-ours-to-official")
        let db = try S3EndToEndTests.makeSource(dir)
        let config = try Self.config(dir, db: db, fake: fake, path: "ours")
        let rep = try Self.run(ours, ["replicate", "-once", "-config", config])
        #expect(rep.status == 0, "our replicate: \(rep.stderr)")
        #expect(!rep.stderr.contains(OSSConfigTests.secret))
        #expect(fake.keys.contains { $0.hasPrefix("ours/0000/") }, "\(fake.keys)")
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(official, ["restore", "-config", config, "-o", out, db])
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
    }

    @Test func litestreamReplicateThenOurRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let fake = try FakeOSSService(id: "LTAIexample", secret: OSSConfigTests.secret, pageSize: 1000)
        defer { fake.stop() }
        let dir = try TestEnvironment.temporaryDirectory("oss-official-to-ours")
        let db = try S3EndToEndTests.makeSource(dir)
        let config = try Self.config(dir, db: db, fake: fake, path: "official")
        func level0() -> Int { fake.keys.filter { $0.hasPrefix("official/0000/") }.count }
        let (first, stopped) = try await TestEnvironment.officialReplicateUntilOneMore(
            official, ["replicate", "-config", config], db: db, level0Count: level0)
        #expect(level0() > first, "litestream uploaded too little: \(stopped.stderr)")
        let key = try #require(fake.keys.first { $0.hasPrefix("official/0000/") })
        #expect(fake.object(key)?.metadata["litestream-timestamp"] != nil, "\(String(describing: fake.object(key)?.metadata))")
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(ours, ["restore", "-config", config, "-o", out, db])
        #expect(res.status == 0, "our restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
        #expect(try TestDatabase(path: out).scalar("SELECT v FROM t ORDER BY id DESC LIMIT 1") == "one more")
    }

    /// `litestream config` prints no secret, and a refused secret stops `replicate` at start with one line naming
    /// the bucket, the endpoint and the cause, without the secret.
    @Test func configOutputAndStartupErrorHideTheSecret() async throws {
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let fake = try FakeOSSService(id: "LTAIexample", secret: OSSConfigTests.secret)
        defer { fake.stop() }
        let dir = try TestEnvironment.temporaryDirectory("oss-secrets")
        let db = try S3EndToEndTests.makeSource(dir)
        let wrong = "WRONGsecretWRONGsecretWRONG"
        let config = try Self.config(dir, db: db, fake: fake, path: "app", secret: wrong)
        let printed = try Self.run(ours, ["config", "-config", config])
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(printed.stdout.contains("secret-access-key: \"<redacted>\"") && !printed.stdout.contains(wrong), "\(printed.stdout)")
        let rep = try Self.run(ours, ["replicate", "-once", "-config", config])
        #expect(rep.status != 0)
        #expect(rep.stderr.contains("SignatureDoesNotMatch") && rep.stderr.contains("bucket bkt") && rep.stderr.contains(fake.endpoint), "\(rep.stderr)")
        #expect(!rep.stderr.contains(wrong) && !rep.stdout.contains(wrong))
    }
}
