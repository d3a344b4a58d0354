import Foundation
import AsyncHTTPClient
import LTX
import NIOHTTP1
import Testing
import LitestreamHTTP

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamOSS

/// The `oss` replica in litestream.yml and as a URL, with Litestream 0.5.17's keys, rules, defaults and layout.
@Suite struct OSSConfigTests {
    static let secret = "EXAMPLEsecretKeyEXAMPLEsecretKeySECRET"

    func parse(_ yaml: String) throws -> ReplicaConfiguration {
        try LitestreamConfiguration.parse(yaml: yaml, environment: [:]).databases[0].replicas[0]
    }

    func error(_ yaml: String) -> ConfigurationError? {
        do {
            _ = try LitestreamConfiguration.parse(yaml: yaml, environment: [:])
            return nil
        } catch {
            return error as? ConfigurationError
        }
    }

    /// Litestream's `ParseHost`: an OSS host name gives the bucket and region, `-internal` dropped; anything else is
    /// the bucket.
    @Test(arguments: [
        ("oss://bkt/backups/db", "bkt", nil, "backups/db"),
        ("oss://bkt.oss-cn-shanghai.aliyuncs.com/backups/db", "bkt", "cn-shanghai", "backups/db"),
        ("oss://bkt.oss-cn-hangzhou-internal.aliyuncs.com/a", "bkt", "cn-hangzhou", "a"),
        ("oss://bkt", "bkt", nil, "."),
        ("oss://bkt/", "bkt", nil, "."),
        ("oss://bkt/a//./b/", "bkt", nil, "a/b"),
    ] as [(String, String, String?, String)])
    func urls(url: String, bucket: String, region: String?, path: String) throws {
        let c = try OSSConfiguration.parse(url: url)
        #expect(c.bucket == bucket && c.region == region && c.path == path, "\(c)")
    }

    @Test func layoutIsTheS3Scheme() throws {
        let client = try OSSReplicaClient(
            url: "oss://bkt/backups/db", environment: ["OSS_ACCESS_KEY_ID": "id", "OSS_ACCESS_KEY_SECRET": Self.secret])
        #expect(client.type == "oss")
        #expect(client.key(level: 0, minTXID: 1, maxTXID: 1) == "backups/db/0000/0000000000000001-0000000000000001.ltx")
        #expect(client.key(level: 9, minTXID: 1, maxTXID: 0x64) == "backups/db/0009/0000000000000001-0000000000000064.ltx")
        // Litestream's default region and endpoint.
        #expect(client.location == "oss://bkt/backups/db at https://bkt.oss-cn-hangzhou.aliyuncs.com")
        #expect(client.client.signer.region == "cn-hangzhou")
        // No path: Litestream's keys start with "./".
        let bare = try OSSReplicaClient(url: "oss://bkt", environment: ["OSS_ACCESS_KEY_ID": "id", "OSS_ACCESS_KEY_SECRET": Self.secret])
        #expect(bare.levelPrefix(0) == "./0000/")
    }

    @Test func keyForm() throws {
        let r = try parse("""
            dbs:
              - path: /a
                replica:
                  type: oss
                  bucket: bkt
                  path: tenants/a
                  region: cn-beijing
                  endpoint: oss-cn-beijing-internal.aliyuncs.com
                  access-key-id: LTAIexample
                  secret-access-key: \(Self.secret)
                  part-size: 16MiB
            """)
        let c = try r.ossConfiguration()
        #expect(c.bucket == "bkt" && c.path == "tenants/a" && c.region == "cn-beijing")
        #expect(c.accessKeyID == "LTAIexample" && c.accessKeySecret == Self.secret && c.partSize == 16 << 20)
        let client = try #require(try r.makeClient(environment: [:]) as? OSSReplicaClient)
        #expect(client.location == "oss://bkt/tenants/a at https://bkt.oss-cn-beijing-internal.aliyuncs.com")
    }

    /// The url's region fills in a region not written; a written one wins.
    @Test func urlRegionAndKeys() throws {
        let r = try parse("dbs:\n  - path: /a\n    replica:\n      url: oss://bkt.oss-cn-shenzhen.aliyuncs.com/db\n      region: cn-qingdao\n")
        #expect(try r.ossConfiguration().region == "cn-qingdao")
        let s = try parse("dbs:\n  - path: /a\n    replica:\n      url: oss://bkt.oss-cn-shenzhen.aliyuncs.com/db\n")
        #expect(try s.ossConfiguration().region == "cn-shenzhen")
    }

    @Test(arguments: [
        ("url: oss://b/x\n      path: y", "cannot specify url & path for oss replica"),
        ("url: oss://b/x\n      bucket: d", "cannot specify url & bucket for oss replica"),
        ("type: oss\n      path: y", "bucket required for oss replica"),
        ("url: oss://oss-cn-hangzhou.aliyuncs.com/x", "bucket required for oss replica URL"),
        ("url: oss://id:secret@b/x", "credentials do not go in the URL"),
    ])
    func invalid(entry: String, message: String) throws {
        let e = try #require(error("dbs:\n  - path: /a\n    replica:\n      \(entry)\n"))
        #expect(e.message.contains(message), "\(e)")
        #expect(!e.message.contains("secret@"))
    }

    @Test func credentialsFromTheEnvironment() throws {
        do {
            _ = try OSSReplicaClient(configuration: OSSConfiguration(bucket: "bkt"), environment: [:])
            Issue.record("no credentials accepted")
        } catch {
            #expect("\(error)".contains("no OSS credentials for bucket bkt: set access-key-id and secret-access-key, or OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET"))
        }
        let client = try OSSReplicaClient(
            configuration: OSSConfiguration(bucket: "bkt"),
            environment: ["OSS_ACCESS_KEY_ID": "envid", "OSS_ACCESS_KEY_SECRET": Self.secret, "OSS_SESSION_TOKEN": "STS"])
        #expect(client.client.signer.accessKeyID == "envid" && client.client.signer.securityToken == "STS")
    }

    @Test func printedConfigurationHidesTheSecret() throws {
        let yaml = """
            dbs:
              - path: /a
                replica:
                  url: oss://bkt/a
                  access-key-id: LTAIexample
                  secret-access-key: \(Self.secret)
            """
        let config = try LitestreamConfiguration.parse(yaml: yaml, environment: [:])
        let printed = config.redactedYAML()
        #expect(!printed.contains(Self.secret))
        #expect(printed.contains("secret-access-key: \"<redacted>\""))
        let r = config.databases[0].replicas[0]
        let c = try r.ossConfiguration()
        let client = try OSSReplicaClient(configuration: c, environment: [:])
        var dumped = ""
        dump(client, to: &dumped)
        for text in ["\(c)", String(reflecting: c), dumped, "\(r)", client.location, "\(client.client.signer)"] {
            #expect(!text.contains(Self.secret), "\(text)")
        }
    }

    @Test func directoryMode() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("oss-dir-\(UUID().uuidString)").path
        let config = try LitestreamConfiguration.parse(
            yaml: "dbs:\n  - dir: \(dir)\n    pattern: \"*.db\"\n    replica:\n      url: oss://bkt\n", environment: [:])
        let r = try config.databases[0].replicas(forFile: dir + "/acme.db")[0]
        #expect(try r.ossConfiguration().path == "acme.db")
    }
}
