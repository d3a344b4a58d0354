import Foundation
import LitestreamClient

/// The `litestream.yml` the supervisor writes for its child when the app gives no file of its own: the databases
/// (absolute paths), their replicas, the control socket, and a final-sync limit inside the supervisor's own.
///
/// A database without replica URLs goes to the bucket of `LITESTREAM_REPLICA_BUCKET` under its file name, with
/// the region and endpoint of `LITESTREAM_REPLICA_REGION` / `LITESTREAM_REPLICA_ENDPOINT` when those are set
/// (litestream-ruby's default configuration). The file refers to these variables (`${…}`, expanded by the child)
/// instead of copying their values, and holds no credentials at all: the child's S3 client reads
/// `LITESTREAM_ACCESS_KEY_ID` / `LITESTREAM_SECRET_ACCESS_KEY` (or `AWS_*`) from its environment.
struct ChildConfigurationFile: Sendable, Equatable {
    /// The file's text.
    var yaml: String
    /// The databases it replicates (absolute paths).
    var databases: [String]
    /// Databases of the configuration left out because they have no replica (no URL and no bucket).
    var skipped: [String]

    /// The file for `databases`, or nil when none of them has a replica: then there is nothing to run.
    ///
    /// - Parameters:
    ///   - environment: the child's environment (after the Swift settings filled it): which of the
    ///     `LITESTREAM_REPLICA_*` variables are set decides which keys the bucket replica gets.
    ///   - shutdownSyncTimeout: the child's `shutdown-sync-timeout`; nil leaves Litestream's default.
    /// - Throws: ``SupervisorError`` `.invalidConfiguration` when two databases would share a place in the bucket.
    static func make(
        databases: [ReplicationSupervisor.Configuration.Database], environment: [String: String], socketPath: String,
        shutdownSyncTimeout: Duration?
    ) throws -> ChildConfigurationFile? {
        let hasBucket = !(environment["LITESTREAM_REPLICA_BUCKET"] ?? "").isEmpty
        var entries: [String] = []
        var replicated: [String] = []
        var skipped: [String] = []
        var bucketKeys: [String: String] = [:]
        for database in databases {
            let path = ControlClient.absolutePath(database.path)
            var replicas: [String] = []
            for url in database.replicas {
                replicas.append("      - url: \(quoted(url))")
            }
            if database.replicas.isEmpty && hasBucket {
                let key = (path as NSString).lastPathComponent
                if let other = bucketKeys[key] {
                    throw SupervisorError(
                        .invalidConfiguration,
                        "databases \(other) and \(path) would both be replicated to \(key) in the bucket; give one of them a replica URL of its own")
                }
                bucketKeys[key] = path
                var lines = [
                    "      - type: s3",
                    "        bucket: \"${LITESTREAM_REPLICA_BUCKET}\"",
                    "        path: \(quoted(key))",
                ]
                if !(environment["LITESTREAM_REPLICA_REGION"] ?? "").isEmpty {
                    lines.append("        region: \"${LITESTREAM_REPLICA_REGION}\"")
                }
                if !(environment["LITESTREAM_REPLICA_ENDPOINT"] ?? "").isEmpty {
                    lines.append("        endpoint: \"${LITESTREAM_REPLICA_ENDPOINT}\"")
                }
                replicas.append(lines.joined(separator: "\n"))
            }
            guard !replicas.isEmpty else {
                skipped.append(path)
                continue
            }
            replicated.append(path)
            entries.append("  - path: \(quoted(path))\n    replicas:\n" + replicas.joined(separator: "\n"))
        }
        guard !entries.isEmpty else { return nil }
        var yaml = """
            # Written by LitestreamSupervisor for its `litestream replicate` child; removed when the supervisor stops.
            # Credentials are not in this file: the child reads them from its environment.
            socket:
              enabled: true
              path: \(quoted(socketPath))

            """
        if let shutdownSyncTimeout {
            yaml += "shutdown-sync-timeout: \(max(1, shutdownSyncTimeout.wholeMilliseconds))ms\n"
        }
        yaml += "dbs:\n" + entries.joined(separator: "\n") + "\n"
        return ChildConfigurationFile(yaml: yaml, databases: replicated, skipped: skipped)
    }

    /// A YAML double-quoted scalar holding exactly `s`. The child expands `$VAR` in the whole file before parsing
    /// it, so a literal `$` (in a path or URL) is written `$$`, our configuration's escape for it.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "$": out += "$$"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
