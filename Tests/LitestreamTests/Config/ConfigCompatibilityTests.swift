import Foundation
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// Side by side with the real Litestream 0.5.17: `litestream databases -config <file>` accepts a configuration
/// exactly when we do, except where we are deliberately different (each case says why).
///
/// Needs the reference binary (`LITESTREAM_BIN`, set by `scripts/test.sh`); without it the test is skipped.
@Suite(.ownThreads, .enabled(if: TestEnvironment.litestreamBinary != nil || TestEnvironment.isCI,
    "skipped: the reference litestream binary is missing (set LITESTREAM_BIN or run scripts/test.sh)"))
struct ConfigCompatibilityTests {
    enum Verdict {
        case bothAccept, bothReject
        /// Litestream accepts it, we reject it on purpose.
        case onlyLitestreamAccepts(why: String)
        /// We accept it, Litestream rejects it on purpose.
        case onlyWeAccept(why: String)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var yaml: String
        var verdict: Verdict
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "file replica", yaml: """
            dbs:
              - path: /tmp/cfgcompat/app.db
                replica:
                  path: /tmp/cfgcompat/backup
            """, verdict: .bothAccept),
        Case(name: "s3 url (AWS)", yaml: """
            dbs:
              - path: /tmp/cfgcompat/app.db
                replica:
                  url: s3://mybkt.litestream.io/db
            """, verdict: .bothAccept),
        Case(name: "MinIO with explicit keys", yaml: """
            dbs:
              - path: /tmp/cfgcompat/app.db
                replica:
                  type: s3
                  bucket: mybkt
                  path: db
                  endpoint: http://localhost:9000
                  region: us-east-1
                  force-path-style: true
                  access-key-id: minioadmin
                  secret-access-key: minioadmin
            """, verdict: .bothAccept),
        Case(name: "Cloudflare R2 url with query", yaml: """
            dbs:
              - path: /tmp/cfgcompat/app.db
                replica:
                  url: s3://mybkt/db?endpoint=https://0123456789abcdef.r2.cloudflarestorage.com&region=auto
                  part-size: 10MiB
            """, verdict: .bothAccept),
        Case(name: "Backblaze B2 with global credentials", yaml: """
            access-key-id: ${B2_KEY_ID}
            secret-access-key: ${B2_APP_KEY}
            dbs:
              - path: /tmp/cfgcompat/app.db
                replica:
                  url: s3://mybkt/db
                  endpoint: s3.us-west-000.backblazeb2.com
            """, verdict: .bothAccept),
        Case(name: "directory mode", yaml: """
            dbs:
              - dir: /tmp/cfgcompat
                pattern: "*.db"
                recursive: true
                watch: true
                replica:
                  url: s3://mybkt/tenants
            """, verdict: .bothAccept),
        Case(name: "all global settings", yaml: """
            levels:
              - interval: 10s
              - interval: 1m
            snapshot:
              interval: 1h
              retention: 24h
            l0-retention: 1m
            retention:
              enabled: false
            shutdown-sync-timeout: 10s
            heartbeat-url: https://hc-ping.com/abc
            heartbeat-interval: 2m
            addr: ":9090"
            socket:
              enabled: false
              permissions: 0600
            logging:
              level: debug
              type: json
            dbs:
              - path: /tmp/cfgcompat/a.db
                monitor-interval: 500ms
                checkpoint-interval: 30s
                busy-timeout: 2s
                min-checkpoint-page-count: 500
                truncate-page-n: -1
                max-sync-wal-bytes: 1048576
                replica:
                  path: /tmp/cfgcompat/ra
                  sync-interval: 5s
              - path: /tmp/cfgcompat/b.db
                replica:
                  path: /tmp/cfgcompat/rb
            """, verdict: .bothAccept),
        Case(name: "neither path nor dir", yaml: """
            dbs:
              - monitor-interval: 1s
                replica: {path: /tmp/cfgcompat/r}
            """, verdict: .bothReject),
        Case(name: "duplicate database", yaml: """
            dbs:
              - path: /tmp/cfgcompat/a.db
                replica: {path: /tmp/cfgcompat/r1}
              - path: /tmp/cfgcompat/a.db
                replica: {path: /tmp/cfgcompat/r2}
            """, verdict: .bothReject),
        Case(name: "heartbeat interval below 1m", yaml: """
            heartbeat-interval: 10s
            dbs:
              - path: /tmp/cfgcompat/a.db
                replica: {path: /tmp/cfgcompat/r}
            """, verdict: .bothReject),
        Case(name: "bad duration", yaml: """
            dbs:
              - path: /tmp/cfgcompat/a.db
                monitor-interval: abc
                replica: {path: /tmp/cfgcompat/r}
            """, verdict: .bothReject),
        Case(name: "age encryption", yaml: """
            dbs:
              - path: /tmp/cfgcompat/a.db
                replica:
                  path: /tmp/cfgcompat/r
                  age:
                    identities: [AGE-SECRET-KEY-1XYZ]
            """, verdict: .bothReject),
        Case(name: "no replica", yaml: """
            dbs:
              - path: /tmp/cfgcompat/a.db
            """, verdict: .bothReject),
        Case(name: "conflicting per-database snapshot intervals", yaml: """
            dbs:
              - path: /tmp/cfgcompat/a.db
                snapshot: {interval: 1h}
                replica: {path: /tmp/cfgcompat/ra}
              - path: /tmp/cfgcompat/b.db
                snapshot: {interval: 2h}
                replica: {path: /tmp/cfgcompat/rb}
            """, verdict: .bothReject),
        Case(name: "s3 without bucket", yaml: """
            dbs:
              - path: /tmp/cfgcompat/a.db
                replica: {type: s3, path: db}
            """, verdict: .bothReject),
        Case(name: "misspelt key", yaml: """
            dbs:
              - path: /tmp/cfgcompat/a.db
                monitor-intervall: 10s
                replica: {path: /tmp/cfgcompat/r}
            """, verdict: .onlyLitestreamAccepts(why: "unknown keys are errors here; Litestream silently ignores them")),
        // #19.13: a top-level key that only holds an anchor for the replicas to merge (Rails-style shared settings).
        Case(name: "anchored defaults merged into replicas", yaml: """
            defaults: &defaults
              type: s3
              bucket: mybkt
              region: us-east-1
              sync-interval: 10s
            dbs:
              - path: /tmp/cfgcompat/a.db
                replica:
                  <<: *defaults
                  path: a
              - path: /tmp/cfgcompat/b.db
                replica:
                  <<: *defaults
                  path: b
            """, verdict: .bothAccept),
        Case(name: "anchored x- keys merged from a list", yaml: """
            x-s3: &s3 {type: s3, bucket: mybkt}
            x-timing: &timing {sync-interval: 5s}
            dbs:
              - path: /tmp/cfgcompat/a.db
                replicas:
                  - <<: [*s3, *timing]
                    path: a
            """, verdict: .bothAccept),
        Case(name: "misspelt key beside anchored defaults", yaml: """
            defaults: &defaults {type: s3, bucket: mybkt}
            snapshots: {interval: 1h}
            dbs:
              - path: /tmp/cfgcompat/a.db
                replica: {<<: *defaults, path: a}
            """, verdict: .onlyLitestreamAccepts(why: "an unknown key that nothing merges is still an error here")),
        Case(name: "anchored key never merged", yaml: """
            defaults: &defaults {type: s3, bucket: mybkt}
            dbs:
              - path: /tmp/cfgcompat/a.db
                replica: {path: /tmp/cfgcompat/r}
            """, verdict: .onlyLitestreamAccepts(why: "an unknown key that nothing merges is still an error here")),
        Case(name: "0.3 retention key", yaml: """
            dbs:
              - path: /tmp/cfgcompat/a.db
                replica:
                  path: /tmp/cfgcompat/r
                  retention: 72h
            """, verdict: .onlyLitestreamAccepts(why: "a removed key that does nothing in 0.5 is reported, not ignored")),
        Case(name: "gcs replica", yaml: """
            dbs:
              - path: /tmp/cfgcompat/a.db
                replica: {url: "gs://mybkt/db"}
            """, verdict: .bothAccept),
        Case(name: "two replicas", yaml: """
            dbs:
              - path: /tmp/cfgcompat/a.db
                replicas:
                  - path: /tmp/cfgcompat/r1
                  - url: s3://mybkt/db
            """, verdict: .onlyWeAccept(why: "several replicas per database are supported here")),
    ]

    @Test(arguments: cases)
    func sameVerdictAsLitestream(_ c: Case) throws {
        let binary = try TestEnvironment.requireLitestreamBinary()
        let dir = try TestEnvironment.temporaryDirectory("config-compat")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(atPath: "/tmp/cfgcompat", withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("litestream.yml").path
        try c.yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let env = ["B2_KEY_ID": "kid", "B2_APP_KEY": "appkey"]

        let theirs = try TestEnvironment.run(binary, ["databases", "-config", file], environment: env)
        let theyAccept = theirs.status == 0
        var ours: String?
        do {
            _ = try LitestreamConfiguration.load(path: file, environment: ProcessInfo.processInfo.environment.merging(env) { $1 })
        } catch {
            ours = "\(error)"
        }
        let weAccept = ours == nil
        let detail = "litestream: status \(theirs.status) \(theirs.stderr)\nours: \(ours ?? "accepted")"
        switch c.verdict {
        case .bothAccept: #expect(theyAccept && weAccept, "\(detail)")
        case .bothReject: #expect(!theyAccept && !weAccept, "\(detail)")
        case .onlyLitestreamAccepts: #expect(theyAccept && !weAccept, "\(detail)")
        case .onlyWeAccept: #expect(!theyAccept && weAccept, "\(detail)")
        }
    }
}
