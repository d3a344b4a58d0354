import Foundation
import AsyncHTTPClient
import LTX
import NIOHTTP1
import Testing
import LitestreamHTTP

@testable import LitestreamABS
@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore

/// The `abs` replica in litestream.yml and as a URL, with Litestream 0.5.17's keys, rules and layout.
@Suite struct ABSConfigTests {
    /// The documented development-storage key, not a secret; the tests look for it in printed output.
    static let key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    static let sas = "sv=2023-11-03&sr=c&sp=rwdl&se=2030-01-01T00%3A00%3A00Z&sig=SASSIGNATUREabc%2Bdef%3D"

    func parse(_ yaml: String, environment: [String: String] = [:]) throws -> ReplicaConfiguration {
        try LitestreamConfiguration.parse(yaml: yaml, environment: environment).databases[0].replicas[0]
    }

    func error(_ yaml: String) -> ConfigurationError? {
        do {
            _ = try LitestreamConfiguration.parse(yaml: yaml, environment: [:])
            return nil
        } catch {
            return error as? ConfigurationError
        }
    }

    @Test func urlForm() throws {
        let r = try parse("dbs:\n  - path: /a\n    replica:\n      url: abs://myaccount@replicas/backups/db\n")
        #expect(r.type == .abs)
        let c = try r.absConfiguration()
        #expect(c.accountName == "myaccount" && c.container == "replicas" && c.path == "backups/db")
        let client = try #require(try r.makeClient(environment: ["LITESTREAM_AZURE_ACCOUNT_KEY": Self.key]) as? ABSReplicaClient)
        #expect(client.type == "abs")
        #expect(client.location == "abs://myaccount@replicas/backups/db at https://myaccount.blob.core.windows.net")
        #expect(client.blobName(level: 0, minTXID: 1, maxTXID: 1) == "backups/db/ltx/0/0000000000000001-0000000000000001.ltx")
        #expect(client.blobName(level: 9, minTXID: 1, maxTXID: 0x64) == "backups/db/ltx/9/0000000000000001-0000000000000064.ltx")
        #expect(client.defaultSyncInterval == .seconds(1))
    }

    /// `abs://container` (no path) gives Litestream's `path.Join(".", "ltx", …)`: `ltx/<level>/…`.
    @Test func urlWithoutPath() throws {
        let c = try ABSConfiguration.parse(url: "abs://acct@replicas")
        #expect(c.path == "")
        let client = try ABSReplicaClient(configuration: c, environment: ["LITESTREAM_AZURE_ACCOUNT_KEY": Self.key])
        #expect(client.levelPrefix(1) == "ltx/1/")
        #expect(try ABSConfiguration.parse(url: "abs://acct@replicas/./a//b/").path == "a/b")
    }

    @Test func keyForm() throws {
        let r = try parse("""
            account-key: \(Self.key)
            dbs:
              - path: /a
                replica:
                  type: abs
                  account-name: devstoreaccount1
                  bucket: replicas
                  path: tenants/a
                  endpoint: http://127.0.0.1:10000/devstoreaccount1
            """)
        let c = try r.absConfiguration()
        #expect(c.accountName == "devstoreaccount1" && c.container == "replicas" && c.path == "tenants/a")
        #expect(c.accountKey == Self.key)  // inherited from the top level
        let client = try #require(try r.makeClient(environment: [:]) as? ABSReplicaClient)
        #expect(client.location == "abs://devstoreaccount1@replicas/tenants/a at http://127.0.0.1:10000")
        #expect(client.client.makeRequest("DELETE", blob: "x y").url == "http://127.0.0.1:10000/devstoreaccount1/replicas/x%20y")
    }

    /// Litestream's order: a SAS token wins over a key, configured values over the environment's.
    @Test func credentialPrecedence() throws {
        var c = ABSConfiguration(accountName: "acct", container: "replicas", accountKey: Self.key)
        guard case .sharedKey = try c.credential(environment: [:]) else { Issue.record("not shared key"); return }
        guard case .sas = try c.credential(environment: ["LITESTREAM_AZURE_SAS_TOKEN": Self.sas]) else {
            Issue.record("the environment's SAS token should win over a key"); return
        }
        c.accountKey = nil
        guard case .sharedKey = try c.credential(environment: ["LITESTREAM_AZURE_ACCOUNT_KEY": Self.key]) else {
            Issue.record("not shared key from the environment"); return
        }
        c.sasToken = "?" + Self.sas
        guard case .sas(let token) = try c.credential(environment: ["LITESTREAM_AZURE_ACCOUNT_KEY": Self.key]) else {
            Issue.record("not SAS"); return
        }
        #expect(token.query == Self.sas)
        #expect("\(token)" == "<redacted>")
    }

    @Test(arguments: [
        ("url: abs://a@c/x\n      path: y", "cannot specify url & path for abs replica"),
        ("url: abs://a@c/x\n      bucket: d", "cannot specify url & bucket for abs replica"),
        ("type: abs\n      path: y", "bucket required for abs replica"),
        ("url: abs:///x", "bucket required for abs replica URL"),
    ])
    func invalid(entry: String, message: String) throws {
        let e = try #require(error("dbs:\n  - path: /a\n    replica:\n      \(entry)\n"))
        #expect(e.message.contains(message), "\(e)")
    }

    /// Errors found when the client is made: what to set, naming the container, never a key.
    @Test func clientErrors() throws {
        func message(_ c: ABSConfiguration, _ env: [String: String] = [:]) -> String {
            do {
                _ = try ABSReplicaClient(configuration: c, environment: env)
                return ""
            } catch {
                return "\(error)"
            }
        }
        #expect(message(ABSConfiguration(accountName: "a", container: "c")).contains(
            "no Azure credentials for abs container c: set account-key (or LITESTREAM_AZURE_ACCOUNT_KEY) or sas-token"))
        #expect(message(ABSConfiguration(accountName: "", container: "c", sasToken: Self.sas)).contains(
            "account name is required when endpoint is not specified"))
        let ftp = message(ABSConfiguration(accountName: "a", container: "c", accountKey: Self.key, endpoint: "ftp://h"))
        #expect(ftp.contains("must start with http:// or https://") && !ftp.contains(Self.key))
    }

    @Test func printedConfigurationHidesTheKeyAndToken() throws {
        let yaml = """
            dbs:
              - path: /a
                replicas:
                  - name: key
                    url: abs://acct@replicas/a
                    account-key: \(Self.key)
                  - name: sas
                    type: abs
                    account-name: acct
                    bucket: replicas
                    sas-token: \(Self.sas)
            """
        let config = try LitestreamConfiguration.parse(yaml: yaml, environment: [:])
        let printed = config.redactedYAML()
        #expect(!printed.contains(Self.key) && !printed.contains("SASSIGNATURE"))
        #expect(printed.contains("account-key: \"<redacted>\"") && printed.contains("sas-token: \"<redacted>\""))
        #expect(printed.contains("account-name: \"acct\""))
        // The printed YAML parses back to the same replicas (less the redacted values).
        let again = try LitestreamConfiguration.parse(yaml: printed, environment: [:])
        #expect(again.databases[0].replicas.map(\.type) == [.abs, .abs])

        for r in config.databases[0].replicas {
            let c = try r.absConfiguration()
            var dumped = ""
            dump(c, to: &dumped)
            for text in ["\(c)", String(reflecting: c), dumped, "\(r)", String(reflecting: r)] {
                #expect(!text.contains(Self.key) && !text.contains("SASSIGNATURE"), "\(text)")
            }
            let client = try ABSReplicaClient(configuration: c, environment: [:])
            var dumpedClient = ""
            dump(client, to: &dumpedClient)
            #expect(!client.location.contains("SASSIGNATURE") && !client.location.contains(Self.key))
            #expect(!dumpedClient.contains("SASSIGNATURE") && !dumpedClient.contains(Self.key), "\(dumpedClient)")
        }
    }

    /// Directory mode: each database gets its own place under the replica's path.
    @Test func directoryMode() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("abs-dir-\(UUID().uuidString)").path
        let config = try LitestreamConfiguration.parse(
            yaml: "dbs:\n  - dir: \(dir)\n    pattern: \"*.db\"\n    replica:\n      url: abs://acct@replicas/tenants\n",
            environment: [:])
        let r = try config.databases[0].replicas(forFile: dir + "/x/acme.db")[0]
        #expect(try r.absConfiguration().path == "tenants/x/acme.db")
    }
}
