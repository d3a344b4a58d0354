import Foundation
import LTX
import Testing

@testable import LitestreamCore
@testable import LitestreamGCS

/// Our CLI and the real Litestream 0.5.17 against one GCS emulator, both ways, by URL and by one configuration file
/// both read. Litestream's Go client library honours `STORAGE_EMULATOR_HOST` (no credentials, the emulator's base
/// URL), as ours does.
@Suite(.ownThreads, .enabled(if: GCSTestServer.enabled, "needs gcp-storage-emulator in .venv (scripts/test.sh)"))
struct GCSInteropTests {
    static func run(_ exe: String, _ args: [String], _ environment: [String: String]) throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        try TestEnvironment.run(exe, args, environment: environment, timeout: .seconds(120))
    }

    @Test func ourReplicateThenLitestreamRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try GCSTestServer()
        let dir = try TestEnvironment.temporaryDirectory("gcs-ours-to-official")
        let db = try S3EndToEndTests.makeSource(dir)
        let url = "gs://\(server.bucket)/backups/ours"
        let rep = try Self.run(ours, ["replicate", "-once", db, url], server.environment)
        #expect(rep.status == 0, "our replicate: \(rep.stderr)")
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(official, ["restore", "-o", out, url], server.environment)
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
    }

    @Test func litestreamReplicateThenOurRestore() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try GCSTestServer()
        let dir = try TestEnvironment.temporaryDirectory("gcs-official-to-ours")
        let db = try S3EndToEndTests.makeSource(dir)
        let url = "gs://\(server.bucket)/backups/official"
        // litestream 0.5.17 replicates until interrupted; wait for its first upload and one more, then stop it.
        let replica = try GCSReplicaClient(url: url, environment: server.environment)
        let (first, stopped) = try await TestEnvironment.officialReplicateUntilOneMore(
            official, ["replicate", db, url], environment: server.environment, db: db) {
            try await replica.ltxFiles(level: 0).count
        }
        let l0 = try await replica.ltxFiles(level: 0)
        #expect(l0.count > first, "litestream uploaded too little: \(stopped.stderr)")
        // Its metadata is read from the listing: createdAt is the LTX header's timestamp.
        let reader = try await replica.openLTXFile(l0[0])
        var decoder = reader.decoder()
        #expect(try decoder.readHeader().timestamp == l0[0].createdAt)
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(ours, ["restore", "-o", out, url], server.environment)
        #expect(res.status == 0, "our restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
        #expect(try TestDatabase(path: out).scalar("SELECT v FROM t ORDER BY id DESC LIMIT 1") == "one more")
    }

    /// One configuration file (`type: gs`, `bucket`, `path`) read by both tools.
    @Test func sameConfigurationFileBothWays() async throws {
        let official = try TestEnvironment.requireLitestreamBinary()
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try GCSTestServer()
        let dir = try TestEnvironment.temporaryDirectory("gcs-config")
        let db = try S3EndToEndTests.makeSource(dir)
        let config = dir.appendingPathComponent("litestream.yml")
        try """
            dbs:
              - path: \(db)
                replica:
                  type: gs
                  bucket: \(server.bucket)
                  path: nested/app
            """.write(to: config, atomically: true, encoding: .utf8)
        let rep = try Self.run(ours, ["replicate", "-once", "-config", config.path], server.environment)
        #expect(rep.status == 0, "our replicate: \(rep.stderr)")
        let replica = try GCSReplicaClient(url: "gs://\(server.bucket)/nested/app", environment: server.environment)
        #expect(try await replica.ltxFiles(level: 0).count == 1)
        let out = dir.appendingPathComponent("out.db").path
        let res = try Self.run(official, ["restore", "-config", config.path, "-o", out, db], server.environment)
        #expect(res.status == 0, "litestream restore: \(res.stderr)")
        #expect(try TestDatabase.contentDigest(path: out) == TestDatabase.contentDigest(path: db))
    }

    @Test func ourReplicateReportsAMissingBucketAtStartUp() async throws {
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let server = try GCSTestServer()
        let dir = try TestEnvironment.temporaryDirectory("gcs-missing-bucket")
        let db = try S3EndToEndTests.makeSource(dir)
        let rep = try Self.run(ours, ["replicate", "-once", db, "gs://not-there/db"], server.environment)
        #expect(rep.status != 0)
        #expect(rep.stderr.contains("not-there") && rep.stderr.contains(server.url) && rep.stderr.contains("404"), "\(rep.stderr)")
    }

    /// A key file whose key the token endpoint refuses: replicate stops at start-up naming the endpoint and the
    /// account; neither the private key nor the signed assertion appears in its output, nor does `litestream
    /// config` show anything of the key.
    @Test func noSecretInLogsErrorsOrConfig() async throws {
        let ours = try #require(TestEnvironment.ourBinary(), "build the litestream executable first").path
        let tokenEndpoint = try CannedHTTPServer { _, _ in
            GCSCannedServerTests.json(400, #"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#)
        }
        defer { tokenEndpoint.stop() }
        let key = try GCSCannedServerTests.keyFile(tokenURI: tokenEndpoint.endpoint + "/token")
        let privateKey = try #require(
            (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: key))) as? [String: Any])?["private_key"] as? String)
        let keyBody = privateKey.split(separator: "\n")[1]  // a line of the key's base64
        let dir = try TestEnvironment.temporaryDirectory("gcs-secrets")
        let db = try S3EndToEndTests.makeSource(dir)
        let config = dir.appendingPathComponent("litestream.yml")
        try "dbs:\n  - path: \(db)\n    replica:\n      url: gs://bkt/db\n".write(to: config, atomically: true, encoding: .utf8)
        let environment = ["GOOGLE_APPLICATION_CREDENTIALS": key, "STORAGE_EMULATOR_HOST": "", "LOG_LEVEL": "debug"]
        let rep = try Self.run(ours, ["replicate", "-once", "-config", config.path], environment)
        #expect(rep.status != 0)
        let output = rep.stdout + rep.stderr
        #expect(output.contains("invalid_grant") && output.contains(tokenEndpoint.endpoint), "\(output)")
        let assertion = String(decoding: try #require(tokenEndpoint.requests.first).body, as: UTF8.self)
        #expect(!output.contains(keyBody) && !output.contains("PRIVATE KEY"), "\(output)")
        #expect(!output.contains(String(assertion.dropFirst("assertion=".count).prefix(60))), "\(output)")
        let printed = try Self.run(ours, ["config", "-config", config.path], environment)
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(printed.stdout.contains("gs://bkt/db") && !printed.stdout.contains(keyBody), "\(printed.stdout)")
    }
}
