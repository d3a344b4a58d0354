import Foundation
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// Credentials never appear when a configuration is printed, described, dumped or turned into YAML.
struct ConfigSecretsTests {
    static let yaml = """
        heartbeat-url: https://user:hbpass@hc-ping.com/0f1e2d3c-hbtoken?api_key=hbquery
        secret-access-key: GLOBALSECRET
        dbs:
          - path: /data/app.db
            replicas:
              - url: s3://bkt/app?endpoint=https://minio.local:9000&region=x
                access-key-id: AKIAIOSFODNN7EXAMPLE
                secret-access-key: wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY
                sse-customer-algorithm: AES256
                sse-customer-key: c3NlY3VzdG9tZXJrZXlzc2VjdXN0b21lcmtleXMxMjM=
              - type: s3
                bucket: b2
                path: app
                endpoint: https://keyid:endpointpass@s3.us-west-002.backblazeb2.com
        """
    static let secrets = [
        "hbpass", "hbtoken", "hbquery", "GLOBALSECRET", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
        "c3NlY3VzdG9tZXJrZXlzc2VjdXN0b21lcmtleXMxMjM=", "IOSFODNN7EXAMPLE", "endpointpass",
    ]

    func checkClean(_ text: String, _ what: String) {
        for s in Self.secrets {
            #expect(!text.contains(s), "\(what) contains \(s):\n\(text)")
        }
    }

    @Test func printedFormsHaveNoSecrets() throws {
        let c = try LitestreamConfiguration.parse(yaml: Self.yaml, environment: [:])
        let db = c.databases[0]
        let r = db.replicas[0]
        // The values are there for use...
        #expect(r.settings.secretAccessKey?.value == "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY")
        #expect(c.heartbeatURL?.value.contains("hbpass") == true)
        // ...but no printed form shows them.
        for (what, text) in [
            ("redactedYAML", c.redactedYAML()), ("description", c.description), ("debugDescription", c.debugDescription),
            ("String(describing: db)", String(describing: db)), ("String(reflecting: db)", String(reflecting: db)),
            ("replica", "\(r)"), ("replica debug", String(reflecting: r)), ("settings", "\(r.settings)"),
            ("settings debug", String(reflecting: r.settings)), ("defaults", "\(c.replicaDefaults)"),
            ("secret", "\(r.settings.secretAccessKey!)"), ("array", "\(db.replicas)"), ("dump", dumped(c)),
            ("dump db", dumped(db)), ("dump settings", dumped(r.settings)),
        ] {
            checkClean(text, what)
        }
        let yaml = c.redactedYAML()
        #expect(yaml.contains("secret-access-key: \"<redacted>\""))
        #expect(yaml.contains("sse-customer-key: \"<redacted>\""))
        #expect(yaml.contains("access-key-id: \"AKIA****\""))
        #expect(yaml.contains("heartbeat-url: \"https://<redacted>@hc-ping.com/<redacted>\""))
        #expect(yaml.contains("endpoint: \"https://keyid:<redacted>@s3.us-west-002.backblazeb2.com\""))
        #expect(yaml.contains("sse-customer-algorithm: \"AES256\""))
    }

    func dumped(_ value: some Any) -> String {
        var out = ""
        dump(value, to: &out)
        return out
    }

    @Test func redactedYAMLParsesBack() throws {
        let yaml = """
            levels: [{interval: 15s}]
            snapshot: {interval: 12h}
            heartbeat-url: https://example.com/
            region: eu-west-1
            dbs:
              - path: /data/app.db
                monitor-interval: 250ms
                truncate-page-n: -1
                replicas:
                  - url: s3://bkt/app
                    part-size: 16MiB
                  - name: local
                    path: /backup/app
              - dir: /data/t
                pattern: "*.sqlite"
                replica: {path: /backup/t}
            """
        let c = try LitestreamConfiguration.parse(yaml: yaml, environment: [:])
        // Printing shows effective values, so the re-read file sets explicitly what was a default: compare the
        // printed forms (print → parse → print is stable) and the values that matter.
        let again = try LitestreamConfiguration.parse(yaml: c.redactedYAML(), expandEnvironment: false, environment: [:])
        #expect(again.redactedYAML() == c.redactedYAML())
        #expect(again.levels == c.levels && again.snapshot == c.snapshot && again.socket == c.socket)
        #expect(again.databases.map(\.path) == c.databases.map(\.path))
        #expect(again.databases.map(\.directory) == c.databases.map(\.directory))
        #expect(again.databases.map { $0.replicas.map(\.name) } == c.databases.map { $0.replicas.map(\.name) })
        #expect(again.databases[0].truncatePageCount == nil && again.databases[0].monitorInterval == .milliseconds(250))
        #expect(again.databases[0].replicas[0].settings.partSize == 16 << 20)
    }

    /// #19.8: credentials written into an s3:// URL are refused without echoing the password, on the command
    /// line and in the configuration file.
    @Test func s3URLWithCredentialsIsRefusedWithoutThePassword() throws {
        let url = "s3://AKIAIOSFODNN7EXAMPLE:urlpassw0rd@bkt/db"
        let invalid = #expect(throws: S3Configuration.Invalid.self) { try S3Configuration.parse(url: url) }
        let message = try #require(invalid?.description)
        #expect(!message.contains("urlpassw0rd"), "\(message)")
        #expect(message.contains("s3://AKIAIOSFODNN7EXAMPLE:<redacted>@bkt/db"))
        #expect(message.contains("credentials do not go in the URL; set AWS_ACCESS_KEY_ID"))
        let config = #expect(throws: (any Error).self) {
            try LitestreamConfiguration.parse(yaml: "dbs:\n  - path: /a\n    replica: {url: '\(url)'}\n", environment: [:])
        }
        #expect(!"\(config.map { "\($0)" } ?? "")".contains("urlpassw0rd"))
    }

    @Test func urlRedaction() {
        #expect(Redaction.url("s3://bkt/p?endpoint=x&region=y") == "s3://bkt/p?endpoint=x&region=y")
        #expect(Redaction.url("https://u:p@h/x?token=t&a=b") == "https://u:<redacted>@h/x?token=<redacted>&a=b")
        #expect(Redaction.url("https://tokenonly@h/") == "https://<redacted>@h/")
        #expect(Redaction.heartbeatURL("https://hc-ping.com/") == "https://hc-ping.com/")
        #expect(Redaction.heartbeatURL("https://hc-ping.com/uuid") == "https://hc-ping.com/<redacted>")
        #expect(Redaction.accessKeyID("AKIAIOSFODNN7EXAMPLE") == "AKIA****")
        #expect(Redaction.accessKeyID("short") == "****")
    }
}
