import Foundation
import LTX
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamNATS

/// The `nats` replica in litestream.yml and as a URL, with Litestream 0.5.17's keys and rules.
struct NATSConfigTests {
    func parse(_ yaml: String) throws -> LitestreamConfiguration {
        try LitestreamConfiguration.parse(yaml: yaml, environment: [:])
    }

    @Test func keysAsLitestreamReadsThem() throws {
        let c = try parse("""
            token: GLOBALTOKEN
            dbs:
              - path: /a
                replica:
                  type: nats
                  url: nats://nats.example:4333/backups
                  username: ls
                  password: KEYSECRET
                  tls: true
                  root-cas: [/etc/ca.pem]
                  max-reconnects: 5
                  reconnect-wait: 3s
                  timeout: 20s
              - path: /b
                replica:
                  type: nats
                  bucket: other
                  creds: /etc/user.creds
            """)
        let a = try c.databases[0].replicas[0].natsConfiguration()
        #expect(a.host == "nats.example" && a.port == 4333 && a.bucket == "backups")
        #expect(a.credential == .userPassword("ls", "KEYSECRET"))
        #expect(a.tls && a.rootCAs == ["/etc/ca.pem"] && a.maxReconnects == 5)
        #expect(a.reconnectWait == .seconds(3) && a.timeout == .seconds(20))
        let b = try c.databases[1].replicas[0].natsConfiguration()
        #expect(b.bucket == "other" && b.host == "127.0.0.1" && b.port == 4222)
        #expect(b.credential == .credsFile("/etc/user.creds") && b.token == "GLOBALTOKEN")
        let client = try #require(try c.databases[0].replicas[0].makeClient() as? NATSReplicaClient)
        #expect(client.type == "nats" && client.location == "nats://nats.example:4333/backups")
        #expect(client.objectName(level: 1, minTXID: .init(1), maxTXID: .init(0x1f)) == "ltx/1/0000000000000001-000000000000001f.ltx")

        // Nothing secret in the printed configuration, descriptions, or a dump of the client.
        var dumped = ""
        dump(client, to: &dumped)
        for text in [c.redactedYAML(), c.description, "\(c.databases[0])", String(reflecting: c.databases[0].replicas), dumped, "\(a)", String(reflecting: a)] {
            #expect(!text.contains("KEYSECRET") && !text.contains("GLOBALTOKEN"), "\(text)")
        }
        let printed = c.redactedYAML()
        #expect(printed.contains("password: \"<redacted>\"") && printed.contains("token: \"<redacted>\""), "\(printed)")
        let again = try LitestreamConfiguration.parse(yaml: printed, expandEnvironment: false, environment: [:])
        #expect(again.redactedYAML() == printed)
    }

    @Test func rules() throws {
        func error(_ yaml: String) -> String? {
            do {
                _ = try parse(yaml)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(error("dbs:\n  - path: /a\n    replica:\n      type: nats\n")?.contains("bucket required") == true)
        #expect(error("dbs:\n  - path: /a\n    replica:\n      url: nats://h/b\n      client-cert: /c.pem\n")?.contains("client-key") == true)
        #expect(error("dbs:\n  - path: /a\n    replica:\n      url: nats://h/b\n      jwt: JWTSECRET\n").map { $0.contains("seed") && !$0.contains("JWTSECRET") } == true)
        // The url's path is the bucket; without one, `bucket` is used.
        let c = try parse("dbs:\n  - path: /a\n    replica:\n      url: nats://h:5222\n      bucket: kb\n")
        #expect(try c.databases[0].replicas[0].natsConfiguration().bucket == "kb")
    }
}
