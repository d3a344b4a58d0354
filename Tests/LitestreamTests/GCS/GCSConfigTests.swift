import Foundation
import LTX
import Testing

@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamGCS

/// The `gs` replica in litestream.yml and as a URL, with Litestream 0.5.17's keys and rules.
struct GCSConfigTests {
    func parse(_ yaml: String) throws -> LitestreamConfiguration {
        try LitestreamConfiguration.parse(yaml: yaml, environment: [:])
    }

    func error(_ yaml: String) -> ConfigurationError? {
        do {
            _ = try parse(yaml)
            return nil
        } catch {
            return error as? ConfigurationError
        }
    }

    static let emulator = ["STORAGE_EMULATOR_HOST": "127.0.0.1:9"]

    @Test func urlForm() throws {
        let r = try parse("dbs:\n  - path: /a\n    replica:\n      url: gs://my-bucket/backups/a\n").databases[0].replicas[0]
        #expect(r.type == .gs && r.name == "gs")
        let c = try r.gcsConfiguration()
        #expect(c.bucket == "my-bucket" && c.path == "backups/a")
        let client = try #require(try r.makeClient(environment: Self.emulator) as? GCSReplicaClient)
        #expect(client.type == "gs" && client.location == "gs://my-bucket/backups/a")
        #expect(client.client.base == "http://127.0.0.1:9")
        #expect(client.objectName(9, .init(1), .init(6)) == "backups/a/ltx/9/0000000000000001-0000000000000006.ltx")
        #expect(client.defaultSyncInterval == .seconds(1))
    }

    @Test func keyFormAndTopLevelBucket() throws {
        let config = try parse("""
            bucket: shared
            dbs:
              - path: /a
                replica:
                  type: gs
                  path: litestream/a
            """)
        let c = try config.databases[0].replicas[0].gcsConfiguration()
        #expect(c.bucket == "shared" && c.path == "litestream/a")
    }

    /// Directory mode: each database under the replica's path, by its path relative to the directory.
    @Test func directoryModeAppendsTheDatabasesPath() throws {
        let config = try parse("dbs:\n  - dir: /data\n    pattern: \"*.db\"\n    replica:\n      url: gs://b/tenants\n")
        let r = try config.databases[0].replicas(forFile: "/data/acme/app.db")[0]
        #expect(try r.gcsConfiguration().path == "tenants/acme/app.db")
        let root = try parse("dbs:\n  - dir: /data\n    pattern: \"*.db\"\n    replica:\n      url: gs://b\n")
        #expect(try root.databases[0].replicas(forFile: "/data/x.db")[0].gcsConfiguration().path == "x.db")
    }

    @Test(arguments: [
        ("url: gs://b/x\n      path: y", "cannot specify url & path"),
        ("url: gs://b/x\n      bucket: c", "cannot specify url & bucket"),
        ("type: gs\n      path: y", "bucket required"),
        ("url: gs:///x", "bucket required"),
        ("type: gcs\n      bucket: b", "did you mean 'gs'"),
    ])
    func invalid(entry: String, message: String) throws {
        let e = try #require(error("dbs:\n  - path: /a\n    replica:\n      \(entry)\n"))
        #expect(e.message.contains(message), "\(e)")
    }

    /// Credentials are not settings (they come from the environment), so nothing secret can be printed; the
    /// client made from the configuration names the key file, never its contents.
    @Test func printedConfigurationAndClient() throws {
        let config = try parse("dbs:\n  - path: /a\n    replica:\n      url: gs://b/p\n")
        #expect(config.redactedYAML().contains("url: \"gs://b/p\""), "\(config.redactedYAML())")
        #expect("\(config.databases[0])".contains("gs (gs://b/p)"))
        let client = try config.databases[0].replicas[0].makeClient(
            environment: ["GOOGLE_APPLICATION_CREDENTIALS": GCSGoldenTests.keyFile])
        var dumped = ""
        dump(client, to: &dumped)
        #expect(!dumped.contains("PRIVATE KEY") && !dumped.contains("MII"), "\(dumped)")
        let e = try #require(throws: ConfigurationError.self) {
            try config.databases[0].replicas[0].makeClient(environment: ["GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/key.json"])
        }
        #expect(e.message.contains("/nonexistent/key.json") && e.message.contains("replica 'gs'"), "\(e)")
    }
}
