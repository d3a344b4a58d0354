import Foundation
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// Parsing valid configurations: defaults, the documented examples, inheritance, several replicas, directory mode.
struct ConfigParsingTests {
    static let env = ["HOME": "/home/u"]

    func parse(_ yaml: String, env: [String: String] = ConfigParsingTests.env) throws -> LitestreamConfiguration {
        try LitestreamConfiguration.parse(yaml: yaml, source: "test.yml", environment: env)
    }

    @Test func defaults() throws {
        let c = try parse("""
            dbs:
              - path: /data/app.db
                replica:
                  path: /backup/app
            """)
        #expect(c.levels == CompactionLevel.defaults)
        #expect(c.snapshot.interval == .seconds(86400))
        #expect(c.snapshot.retention == .seconds(86400))
        #expect(c.l0Retention == .seconds(300))
        #expect(c.l0RetentionCheckInterval == .seconds(15))
        #expect(c.retentionEnabled)
        #expect(c.validationInterval == nil)
        #expect(!c.verifyCompaction)
        #expect(c.shutdownSyncTimeout == .seconds(30))
        #expect(c.shutdownSyncInterval == .milliseconds(500))
        #expect(c.heartbeatInterval == .seconds(300))
        #expect(c.socket == LitestreamConfiguration.Socket())
        #expect(c.socket.path == "/var/run/litestream.sock" && c.socket.permissions == 0o600 && !c.socket.enabled)
        #expect(c.logging.level == .info && c.logging.type == .text)
        let db = try #require(c.databases.first)
        #expect(db.path == "/data/app.db")
        #expect(db.monitorInterval == .seconds(1))
        #expect(db.checkpointInterval == .seconds(60))
        #expect(db.busyTimeout == .seconds(1))
        #expect(db.minCheckpointPageCount == 1000)
        #expect(db.truncatePageCount == 121_359)
        #expect(db.maxSyncWALBytes == 64 << 20)
        #expect(!db.restoreIfDatabaseNotExists)
        let r = try #require(db.replicas.first)
        #expect(r.type == .file && r.name == "file" && r.path == "/backup/app")
        // A file replica uploads each sync at once (S3: once a second; effectiveSyncIntervalDependsOnTheReplicaType).
        #expect(r.syncInterval == .zero && r.maxSyncLTXFiles == 256 && !r.autoRecover)
        #expect(c.unsupportedFeatures.isEmpty)
    }

    @Test func everyTopLevelKey() throws {
        let c = try parse("""
            levels:
              - interval: 10s
              - interval: 1m
            snapshot:
              interval: 1h
              retention: 72h
            l0-retention: 1m
            l0-retention-check-interval: 5s
            retention:
              enabled: false
            validation:
              interval: 6h
            verify-compaction: true
            shutdown-sync-timeout: 10s
            shutdown-sync-interval: 250ms
            heartbeat-url: https://hc-ping.com/1234
            heartbeat-interval: 2m
            addr: ":9090"
            socket:
              enabled: true
              path: /tmp/ls.sock
              permissions: 0660
            mcp-addr: ":3001"
            exec: myapp -serve
            logging:
              level: debug
              type: json
              stderr: true
              source: true
            dbs:
              - path: /data/app.db
                replica: {url: "s3://bkt/app"}
            """)
        #expect(c.levels == [CompactionLevel(level: 1, interval: .seconds(10)), CompactionLevel(level: 2, interval: .seconds(60))])
        #expect(c.snapshot.interval == .seconds(3600) && c.snapshot.retention == .seconds(72 * 3600))
        #expect(c.l0Retention == .seconds(60) && c.l0RetentionCheckInterval == .seconds(5))
        #expect(!c.retentionEnabled)
        #expect(c.validationInterval == .seconds(6 * 3600))
        #expect(c.verifyCompaction)
        #expect(c.shutdownSyncTimeout == .seconds(10) && c.shutdownSyncInterval == .milliseconds(250))
        #expect(c.heartbeatURL?.value == "https://hc-ping.com/1234" && c.heartbeatInterval == .seconds(120))
        #expect(c.addr == ":9090")
        #expect(c.socket.enabled && c.socket.path == "/tmp/ls.sock" && c.socket.permissions == 0o660)
        #expect(c.mcpAddr == ":3001" && c.unsupportedFeatures.count == 1)
        #expect(c.exec == "myapp -serve")
        #expect(c.logging.level == .debug && c.logging.type == .json && c.logging.stderr && c.logging.source)

        let m = c.maintenanceConfiguration()
        #expect(m.levels == c.levels && m.snapshotInterval == .seconds(3600) && m.snapshotRetention == .seconds(72 * 3600))
        #expect(m.l0Retention == .seconds(60) && m.l0RetentionCheckInterval == .seconds(5) && !m.retentionEnabled)
    }

    @Test func everyDatabaseKey() throws {
        let c = try parse("""
            dbs:
              - path: sqlite://~/app.db
                meta-path: ~/meta
                monitor-interval: 500ms
                checkpoint-interval: 0
                busy-timeout: 5s
                min-checkpoint-page-count: 2000
                truncate-page-n: -1
                max-sync-wal-bytes: 16MiB
                restore-if-db-not-exists: true
                replica:
                  path: ~/backup
              - path: sqlite3:///data/b.db
                truncate-page-n: 0
                max-sync-wal-bytes: 1048576
                replica: {path: /b}
            """)
        let a = c.databases[0]
        #expect(a.path == "/home/u/app.db" && a.metaPath == "/home/u/meta")
        #expect(a.monitorInterval == .milliseconds(500) && a.checkpointInterval == .zero && a.busyTimeout == .seconds(5))
        #expect(a.minCheckpointPageCount == 2000 && a.truncatePageCount == nil && a.maxSyncWALBytes == 16 << 20)
        #expect(a.restoreIfDatabaseNotExists)
        #expect(a.replicas[0].path == "/home/u/backup")
        let b = c.databases[1]
        #expect(b.path == "/data/b.db" && b.truncatePageCount == 121_359 && b.maxSyncWALBytes == 1 << 20)

        let e = try #require(a.engineConfiguration())
        #expect(e.path == "/home/u/app.db" && e.metaPath == "/home/u/meta" && e.busyTimeout == .seconds(5))
        #expect(e.maxSyncWALBytes == 16 << 20)
        #expect(e.checkpoint.minPageCount == 2000 && e.checkpoint.interval == nil && e.checkpoint.truncatePageCount == nil)
        let eb = try #require(b.engineConfiguration())
        #expect(eb.checkpoint == CheckpointPolicy() && eb.metaPath == nil)
    }

    @Test func directoryMode() throws {
        let c = try parse("""
            dbs:
              - dir: /data/tenants
                pattern: "*.db"
                recursive: true
                watch: true
                meta-dir: /var/lib/litestream
                replica:
                  url: s3://bkt/tenants
            """)
        let db = c.databases[0]
        #expect(db.path == nil)
        #expect(db.directory == .init(path: "/data/tenants", pattern: "*.db", recursive: true, watch: true))
        #expect(db.metaPath == "/var/lib/litestream")
        #expect(db.engineConfiguration() == nil)
        let e = db.engineConfiguration(path: "/data/tenants/eu/a.db")
        // As litestream.io's directory guide: <meta-dir>/<relative dir>/<name>-litestream.
        #expect(e.metaPath == "/var/lib/litestream/eu/a.db-litestream")
        // Each database gets its own place in the replica: the path relative to `dir` is appended.
        let s3 = try db.replicas(forFile: "/data/tenants/eu/a.db")[0].s3Configuration()
        #expect(s3.bucket == "bkt" && s3.path == "tenants/eu/a.db")
    }

    @Test func directoryModeFileReplicaPaths() throws {
        let c = try parse("""
            dbs:
              - dir: /data/tenants
                pattern: "*.db"
                replicas:
                  - path: /backups/tenants
                  - url: s3://bkt
            """)
        let r = try c.databases[0].replicas(forFile: "/data/tenants/acme.db")
        #expect(r[0].path == "/backups/tenants/acme.db")
        #expect(try r[1].s3Configuration().path == "acme.db")
        // A file outside the directory (or a path-mode entry) keeps the replicas as configured.
        #expect(try c.databases[0].replicas(forFile: "/elsewhere/x.db")[0].path == "/backups/tenants")
    }

    @Test func severalReplicasWithNames() throws {
        let c = try parse("""
            dbs:
              - path: /data/app.db
                replica:
                  url: s3://primary/app
                replicas:
                  - url: s3://secondary/app
                    region: eu-west-1
                  - path: /backup/app
                  - name: offsite
                    url: s3://third/app
                  - type: s3
                    bucket: fourth
                    path: app
            """)
        let names = c.databases[0].replicas.map(\.name)
        #expect(names == ["s3", "s3-2", "file", "offsite", "s3-3"])
        let r = c.databases[0].replicas
        #expect(r[1].settings.region == "eu-west-1" && r[0].settings.region == nil)
        #expect(r[4].type == .s3 && r[4].settings.bucket == "fourth" && r[4].path == "app")
        let s3 = try r[4].s3Configuration()
        #expect(s3.bucket == "fourth" && s3.path == "app")
    }

    /// The printed configuration shows what runs: a file replica uploads each sync at once unless told otherwise,
    /// an S3 replica at most once a second (issue 17).
    @Test func effectiveSyncIntervalDependsOnTheReplicaType() throws {
        let c = try parse("""
            dbs:
              - path: /data/a.db
                replicas:
                  - url: file:///backup/a
                  - url: s3://bkt/a
                  - url: file:///backup/b
                    sync-interval: 5s
            """)
        let r = c.databases[0].replicas
        #expect(r.map(\.syncInterval) == [.zero, .seconds(1), .seconds(5)])
        let printed = c.redactedYAML()
        #expect(printed.contains("path: \"/backup/a\"\n        sync-interval: 0s\n"), "\(printed)")
        #expect(printed.contains("url: \"s3://bkt/a\"\n        sync-interval: 1s\n"), "\(printed)")
    }

    @Test func globalReplicaDefaultsAreInherited() throws {
        let c = try parse("""
            access-key-id: AKIAEXAMPLE123
            secret-access-key: topsecret
            region: us-west-2
            endpoint: http://minio:9000
            force-path-style: true
            sync-interval: 10s
            part-size: 10MiB
            dbs:
              - path: /data/a.db
                replica:
                  url: s3://bkt/a
              - path: /data/b.db
                replica:
                  type: s3
                  bucket: other
                  path: b
                  region: eu-central-1
                  sync-interval: 1s
            """)
        #expect(c.replicaDefaults.region == "us-west-2")
        let a = c.databases[0].replicas[0]
        #expect(a.settings.accessKeyID == "AKIAEXAMPLE123" && a.settings.secretAccessKey?.value == "topsecret")
        #expect(a.settings.region == "us-west-2" && a.syncInterval == .seconds(10))
        let b = c.databases[1].replicas[0]
        #expect(b.settings.region == "eu-central-1" && b.syncInterval == .seconds(1))
        #expect(b.settings.endpoint == "http://minio:9000")
        let s3 = try a.s3Configuration()
        #expect(s3.bucket == "bkt" && s3.path == "a" && s3.region == "us-west-2")
        #expect(s3.endpoint == "http://minio:9000" && s3.forcePathStyle == true && s3.partSize == 10 << 20)
        #expect(s3.accessKeyID == "AKIAEXAMPLE123" && s3.secretAccessKey == "topsecret")
    }

    @Test func s3URLQueryThenExplicitKeysOverride() throws {
        let c = try parse("""
            dbs:
              - path: /data/a.db
                replica:
                  url: s3://bkt/db?endpoint=localhost:9000&region=us-east-2&force-path-style=true&skip-verify=true
                  region: eu-north-1
                  storage-class: STANDARD_IA
                  sse-kms-key-id: key-1
            """)
        let s3 = try c.databases[0].replicas[0].s3Configuration()
        #expect(s3.endpoint == "localhost:9000" && s3.region == "eu-north-1" && s3.forcePathStyle == true)
        #expect(s3.skipVerify && s3.storageClass == "STANDARD_IA" && s3.sseKMSKeyID == "key-1")
    }

    @Test func makeClientMapsTypes() throws {
        let c = try parse("""
            dbs:
              - path: /data/a.db
                replicas:
                  - url: file:///backup/a
                  - url: s3://bkt/a?endpoint=http://127.0.0.1:9000
            """)
        let file = try c.databases[0].replicas[0].makeClient(environment: [:])
        #expect((file as? FileReplicaClient)?.root == "/backup/a")
        let s3 = try c.databases[0].replicas[1].makeClient(environment: ["AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"])
        #expect((s3 as? S3ReplicaClient)?.configuration.bucket == "bkt")
    }

    @Test func sseCustomerKeyFromFile() throws {
        let dir = try TestEnvironment.temporaryDirectory("sse")
        defer { try? FileManager.default.removeItem(at: dir) }
        let keyFile = dir.appendingPathComponent("key").path
        try "c2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5MTIzNDU=\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        let c = try parse("""
            dbs:
              - path: /data/a.db
                replica:
                  url: s3://bkt/a
                  sse-customer-algorithm: AES256
                  sse-customer-key-path: \(keyFile)
            """)
        let r = c.databases[0].replicas[0]
        #expect(r.settings.sseCustomerAlgorithm == "AES256")
        #expect(try r.sseCustomerKey()?.value == "c2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5MTIzNDU=")
        let s3 = try r.s3Configuration()
        #expect(s3.sseCustomerKey == "c2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5MTIzNDU=" && s3.sseCustomerAlgorithm == "AES256")
    }

    @Test func perDatabaseSnapshotIsPromoted() throws {
        let c = try parse("""
            dbs:
              - path: /a.db
                snapshot: {interval: 6h, retention: 48h}
                replica: {path: /ra}
              - path: /b.db
                snapshot: {interval: 6h}
                replica: {path: /rb}
            """)
        #expect(c.snapshot.interval == .seconds(6 * 3600) && c.snapshot.retention == .seconds(48 * 3600))
    }

    @Test func mergeKeysAndAnchors() throws {
        let c = try parse("""
            dbs:
              - path: /a.db
                replica: &shared
                  type: s3
                  bucket: shared
                  path: a
              - path: /b.db
                replica:
                  <<: *shared
                  path: b
            """)
        let b = c.databases[1].replicas[0]
        #expect(b.type == .s3 && b.settings.bucket == "shared" && b.path == "b")
    }

    @Test func logLevelEnvironmentOverride() throws {
        let yaml = "logging:\n  level: info\ndbs: []\n"
        #expect(try parse(yaml, env: ["LOG_LEVEL": "DEBUG"]).logging.level == .debug)
        #expect(try parse(yaml, env: ["LOG_LEVEL": "warning"]).logging.level == .warn)
        #expect(try parse(yaml, env: [:]).logging.level == .info)
        #expect(throws: ConfigurationError.self) { try parse(yaml, env: ["LOG_LEVEL": "loud"]) }
    }

    @Test func emptyFileIsAnEmptyConfiguration() throws {
        #expect(try parse("").databases.isEmpty)
        #expect(try parse("# nothing\n") == LitestreamConfiguration())
    }

    @Test func resolvePath() {
        #expect(LitestreamConfiguration.resolvePath(flag: "/x.yml", environment: ["LITESTREAM_CONFIG": "/y.yml"]) == ("/x.yml", true))
        #expect(LitestreamConfiguration.resolvePath(flag: nil, environment: ["LITESTREAM_CONFIG": "/y.yml"]) == ("/y.yml", true))
        #expect(LitestreamConfiguration.resolvePath(flag: nil, environment: [:]) == ("/etc/litestream.yml", false))
    }

    @Test func loadFromFile() throws {
        let dir = try TestEnvironment.temporaryDirectory("load")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("litestream.yml").path
        try "dbs:\n  - path: /a.db\n    replica: {path: $BACKUP}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let c = try LitestreamConfiguration.load(path: path, environment: ["BACKUP": "/b"])
        #expect(c.databases[0].replicas[0].path == "/b")
        let missing = #expect(throws: ConfigurationError.self) {
            try LitestreamConfiguration.load(path: dir.appendingPathComponent("nope.yml").path)
        }
        #expect(missing?.code == .io)
    }

    @Test(arguments: [
        ("4096", Int64(4096)), ("10MiB", 10 << 20), ("10MB", 10 << 20), ("10 MiB", 10 << 20), ("1GiB", 1 << 30),
        ("1.5MiB", 1_572_864), ("64k", 65536), ("5M", 5 << 20),
    ])
    func sizes(text: String, expected: Int64) {
        #expect(ByteSize.parse(text) == expected)
    }

    @Test(arguments: ["", "MiB", "-5", "10 parsecs", "1..2MB"])
    func badSizes(text: String) {
        #expect(ByteSize.parse(text) == nil)
    }
}
