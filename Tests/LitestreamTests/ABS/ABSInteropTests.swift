import Foundation
import AsyncHTTPClient
import NIOHTTP1
import LTX
import Testing

@testable import LitestreamABS
@testable import LitestreamCore

/// Our CLI and the real Litestream 0.5.17 (its Go Azure SDK) on one configuration file, both ways, against
/// ``FakeBlobService``, which checks every request's Shared Key signature with our signer: Litestream's requests
/// passing it show that our signing agrees with the Go SDK's, and each tool restoring the other's blobs shows that
/// the layout and metadata agree. A stand-in, not the real service (see docs/replicas.md).
@Suite(.ownThreads) struct ABSInteropTests {
    static func run(_ exe: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try TestEnvironment.run(exe, args, timeout: .seconds(120))
    }

    static func config(_ dir: URL, db: String, fake: FakeBlobService, path: String, key: String = ABSConfigTests.key) throws -> String {
        let file = dir.appendingPathComponent("litestream.yml")
        try """
            dbs:
              - path: \(db)
                replica:
                  type: abs
                  account-name: \(fake.account)
                  account-key: \(key)
                  bucket: replicas
                  path: \(path)
                  endpoint: \(fake.endpoint)
            """.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    @Test func ourReplicateThenLitestreamRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let fake = try FakeBlobService(key: ABSConfigTests.key, pageSize: 5000)
        defer { fake.stop() }
        let dir = try TestEnvironment.temporaryDirectory("abs-ours-to-official")
        let db = try S3EndToEndTests.makeSource(dir)
        let config = try Self.config(dir, db: db, fake: fake, path: "ours")
        let rep = try Self.run(ours, ["replicate", "-once", "-config", config])
        #expect(rep.status == 0, "our replicate: \(rep.stderr)")
        #expect(!rep.stderr.contains(ABSConfigTests.key))
        #expect(fake.blobNames.contains { $0.hasPrefix("ours/ltx/0/") }, "\(fake.blobNames)")
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(official, ["restore", "-config", config, "-o", out, db])
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
    }

    @Test func litestreamReplicateThenOurRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let fake = try FakeBlobService(key: ABSConfigTests.key, pageSize: 5000)
        defer { fake.stop() }
        let dir = try TestEnvironment.temporaryDirectory("abs-official-to-ours")
        let db = try S3EndToEndTests.makeSource(dir)
        let config = try Self.config(dir, db: db, fake: fake, path: "official")
        func level0() -> Int { fake.blobNames.filter { $0.hasPrefix("official/ltx/0/") }.count }
        let (first, stopped) = try await TestEnvironment.officialReplicateUntilOneMore(
            official, ["replicate", "-config", config], db: db, level0Count: level0)
        #expect(level0() > first, "litestream uploaded too little: \(stopped.stderr)")
        // Litestream's metadata, under the name it chose.
        let name = try #require(fake.blobNames.first { $0.hasPrefix("official/ltx/0/") })
        #expect(fake.blob(name)?.metadata["litestreamtimestamp"] != nil, "\(String(describing: fake.blob(name)?.metadata))")
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(ours, ["restore", "-config", config, "-o", out, db])
        #expect(res.status == 0, "our restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
        #expect(try TestDatabase(path: out).scalar("SELECT v FROM t ORDER BY id DESC LIMIT 1") == "one more")
    }

    /// `litestream config` prints no key, and a refused key stops `replicate` at start with one line naming the
    /// container URL and the cause, without the key.
    @Test func configOutputAndStartupErrorHideTheKey() async throws {
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let fake = try FakeBlobService(key: ABSConfigTests.key)
        defer { fake.stop() }
        let dir = try TestEnvironment.temporaryDirectory("abs-secrets")
        let db = try S3EndToEndTests.makeSource(dir)
        let wrong = Data(repeating: 0x78, count: 64).base64EncodedString()
        let config = try Self.config(dir, db: db, fake: fake, path: "app", key: wrong)
        let printed = try Self.run(ours, ["config", "-config", config])
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(printed.stdout.contains("account-key: \"<redacted>\"") && !printed.stdout.contains(wrong), "\(printed.stdout)")
        let rep = try Self.run(ours, ["replicate", "-once", "-config", config])
        #expect(rep.status != 0)
        #expect(rep.stderr.contains("HTTP 403 AuthenticationFailed") && rep.stderr.contains("\(fake.endpoint)/replicas"), "\(rep.stderr)")
        #expect(!rep.stderr.contains(wrong) && !rep.stdout.contains(wrong))
    }
}
