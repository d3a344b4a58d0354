import Foundation
import Testing

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

/// Each kind of bad configuration is rejected with its own message: the key, the place, the line, a suggestion.
struct ConfigErrorTests {
    func error(_ yaml: String, env: [String: String] = ["HOME": "/home/u"]) -> ConfigurationError? {
        do {
            _ = try LitestreamConfiguration.parse(yaml: yaml, source: "config.yml", environment: env)
            Issue.record("accepted:\n\(yaml)")
            return nil
        } catch let e as ConfigurationError {
            return e
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func unknownKeyWithLineColumnAndSuggestion() throws {
        let e = try #require(error("""
            dbs:
              - path: /data/app.db
                replica: {path: /b}
                monitor-intervall: 1s
            """))
        #expect(e.code == .unknownKey)
        #expect(e.line == 4 && e.column == 5)
        #expect(e.message == "unknown key 'monitor-intervall' in dbs[0] at line 4; did you mean 'monitor-interval'?")
        #expect(e.description == "config.yml:4:5: unknown key 'monitor-intervall' in dbs[0] at line 4; did you mean 'monitor-interval'?")
    }

    @Test func unknownKeysEverywhere() throws {
        let top = try #require(error("dbs: []\nsnapshots:\n  interval: 1h\n"))
        #expect(top.message.contains("'snapshots' at top level at line 2") && top.message.contains("did you mean 'snapshot'?"))
        let replica = try #require(error("dbs:\n  - path: /a\n    replica:\n      url: s3://b/p\n      acces-key-id: x\n"))
        #expect(replica.message.contains("'acces-key-id' in dbs[0].replica at line 5") && replica.message.contains("'access-key-id'"))
        let listed = try #require(error("dbs:\n  - path: /a\n    replicas:\n      - path: /b\n        sync_interval: 1s\n"))
        #expect(listed.message.contains("dbs[0].replicas[0]") && listed.message.contains("did you mean 'sync-interval'?"))
        let nested = try #require(error("logging:\n  levle: debug\ndbs: []\n"))
        #expect(nested.message.contains("in logging") && nested.message.contains("'level'"))
        let noSuggestion = try #require(error("dbs: []\nfrobnicate: true\n"))
        #expect(noSuggestion.code == .unknownKey && !noSuggestion.message.contains("did you mean"))
    }

    @Test func removedKeysAreExplained() throws {
        for (key, hint) in [("retention: 24h", "snapshot.retention"), ("retention-check-interval: 1h", "snapshot.retention"),
                            ("snapshot-interval: 1h", "snapshot.interval"), ("age:\n        identities: [x]", "encryption")] {
            let e = try #require(error("dbs:\n  - path: /a\n    replica:\n      path: /b\n      \(key)\n"))
            #expect(e.code == .removedKey)
            #expect(e.message.contains("removed in 0.5") && e.message.contains(hint), "\(e)")
            #expect(e.line == 5)
        }
    }

    @Test func wrongTypes() throws {
        let d = try #require(error("dbs:\n  - path: /a\n    replica: {path: /b}\n\n\n\n    monitor-interval: abc\n"))
        #expect(d.code == .invalidValue && d.line == 7)
        #expect(d.message == "expected a duration like 10s, 5m, 1h30m, got 'abc' for monitor-interval in dbs[0] at line 7")
        let bare = try #require(error("dbs:\n  - path: /a\n    busy-timeout: 5\n    replica: {path: /b}\n"))
        #expect(bare.message.contains("a bare number needs a unit, e.g. '5s'"))
        let b = try #require(error("verify-compaction: maybe\ndbs: []\n"))
        #expect(b.message.contains("expected true or false, got 'maybe' for verify-compaction"))
        let i = try #require(error("dbs:\n  - path: /a\n    min-checkpoint-page-count: lots\n    replica: {path: /b}\n"))
        #expect(i.message.contains("expected an integer") && i.line == 3)
        let s = try #require(error("dbs:\n  - path: /a\n    replica: {url: s3://b/p, part-size: huge}\n"))
        #expect(s.message.contains("expected a size like 4096, 10MiB, 1GiB, got 'huge' for part-size"))
        let small = try #require(error("dbs:\n  - path: /a\n    replica: {url: s3://b/p, part-size: 1KB}\n"))
        #expect(small.message.contains("at least 5MiB"))
        let m = try #require(error("dbs:\n  path: /a\n"))
        #expect(m.message.contains("expected a list for 'dbs'"))
        let l = try #require(error("logging: [1]\ndbs: []\n"))
        #expect(l.message.contains("expected a mapping"))
        let lt = try #require(error("logging:\n  type: xml\ndbs: []\n"))
        #expect(lt.message.contains("text or json"))
        let hb = try #require(error("heartbeat-interval: 30s\ndbs: []\n"))
        #expect(hb.message.contains("heartbeat-interval must be at least 1m"))
        let lv = try #require(error("levels:\n  - interval: 0s\ndbs: []\n"))
        #expect(lv.message.contains("levels[0].interval must be greater than 0"))
        let neg = try #require(error("l0-retention: -5m\ndbs: []\n"))
        #expect(neg.message.contains("at least 0s"))
    }

    @Test func databaseShape() throws {
        let neither = try #require(error("dbs:\n  - monitor-interval: 1s\n"))
        #expect(neither.code == .missingValue && neither.message.contains("needs 'path'") && neither.line == 2)
        let both = try #require(error("dbs:\n  - path: /a\n    dir: /d\n    pattern: '*.db'\n    replica: {path: /b}\n"))
        #expect(both.message.contains("either 'path' or 'dir'"))
        let noPattern = try #require(error("dbs:\n  - dir: /d\n    replica: {path: /b}\n"))
        #expect(noPattern.message.contains("'pattern' is required"))
        let metaDir = try #require(error("dbs:\n  - path: /a\n    meta-dir: /m\n    replica: {path: /b}\n"))
        #expect(metaDir.message.contains("'meta-dir' only applies with 'dir'"))
        let noReplica = try #require(error("dbs:\n  - path: /a\n"))
        #expect(noReplica.code == .missingValue && noReplica.message.contains("no replica"))
        let dup = try #require(error("dbs:\n  - path: /a.db\n    replica: {path: /b}\n  - path: /a.db\n    replica: {path: /c}\n"))
        #expect(dup.message.contains("already listed as dbs[0]") && dup.line == 4)
        let dupKey = try #require(error("dbs:\n  - path: /a.db\n    path: /b.db\n    replica: {path: /b}\n"))
        #expect(dupKey.message.contains("duplicate key 'path'") && dupKey.line == 3)
    }

    @Test func replicaShape() throws {
        let empty = try #require(error("dbs:\n  - path: /a\n    replica:\n      sync-interval: 1s\n"))
        #expect(empty.code == .missingValue && empty.message.contains("needs 'url' or 'path'"))
        let bucketOnly = try #require(error("dbs:\n  - path: /a\n    replica:\n      bucket: b\n"))
        #expect(bucketOnly.message.contains("type: s3"))
        let noBucket = try #require(error("dbs:\n  - path: /a\n    replica:\n      type: s3\n      path: p\n"))
        #expect(noBucket.message.contains("needs a 'bucket'"))
        let badType = try #require(error("dbs:\n  - path: /a\n    replica: {type: s4, bucket: b}\n"))
        #expect(badType.message.contains("unknown replica type 's4'") && badType.message.contains("did you mean 's3'?"))
        let conflict = try #require(error("dbs:\n  - path: /a\n    replica: {type: file, url: s3://b/p}\n"))
        #expect(conflict.message.contains("contradicts"))
        let names = try #require(error("dbs:\n  - path: /a\n    replicas:\n      - {name: x, path: /b}\n      - {name: x, path: /c}\n"))
        #expect(names.message.contains("duplicate replica name 'x'") && names.line == 5)
        let scheme = try #require(error("dbs:\n  - path: /a\n    replica: {url: ftp://h/p}\n"))
        #expect(scheme.message.contains("unknown replica url scheme 'ftp'"))
        let badURL = try #require(error("dbs:\n  - path: /a\n    replica: {url: s3:///p}\n"))
        #expect(badURL.message.contains("bucket required"))
    }

    /// Every backend's keys are known now that nats is built (gs has none of its own): a nats key on a file
    /// replica is accepted, as Litestream accepts it, not refused as belonging to an unsupported type.
    @Test func backendKeysAreKnown() throws {
        let c = try LitestreamConfiguration.parse(yaml: "dbs:\n  - path: /a\n    replica:\n      path: /b\n      jwt: x\n", environment: [:])
        #expect(c.databases[0].replicas[0].type == .file)
    }

    @Test func snapshotConflict() throws {
        let e = try #require(error("""
            dbs:
              - path: /a.db
                snapshot: {interval: 1h}
                replica: {path: /ra}
              - path: /b.db
                snapshot: {interval: 2h}
                replica: {path: /rb}
            """))
        #expect(e.message.contains("conflicting snapshot interval: /a.db has 1h, /b.db has 2h"))
        #expect(e.line == 6)
    }

    /// #19.3: two databases configured with one replica (a copied entry) are refused, naming both; a file
    /// replica's path is compared once normalised, an S3 replica by endpoint, bucket and prefix.
    @Test(arguments: [
        ("file:///backup/app", "file:///backup/./app/"),
        ("s3://bkt/app?endpoint=http://minio:9000", "s3://bkt/app/?endpoint=http://minio:9000"),
    ])
    func twoDatabasesInOneReplicaAreRefused(first: String, second: String) throws {
        let e = try #require(error("dbs:\n  - path: /data/a.db\n    replica: {url: '\(first)'}\n  - path: /data/b.db\n    replica: {url: '\(second)'}\n"))
        #expect(e.code == .invalidValue)
        #expect(e.message.contains("database /data/b.db in dbs[1]") && e.message.contains("of database /data/a.db (dbs[0])"), "\(e)")
        #expect(e.message.contains("each database needs a replica of its own"), "\(e)")
        // Another prefix, bucket or endpoint is another replica.
        for other in ["s3://bkt/b", "s3://bkt/a?endpoint=http://minio:9000", "s3://other/a"] {
            _ = try LitestreamConfiguration.parse(
                yaml: "dbs:\n  - path: /data/a.db\n    replica: {url: 's3://bkt/a'}\n  - path: /data/b.db\n    replica: {url: '\(other)'}\n",
                environment: [:])
        }
    }

    @Test func yamlSyntaxError() throws {
        let e = try #require(error("dbs:\n  - path: /a\n   bad: [\n"))
        #expect(e.code == .yaml && e.line != nil && e.description.hasPrefix("config.yml:"))
    }
}
