import Foundation

/// The two configuration files install writes: `config/litestream.yml` for production (S3, every setting from a
/// `LITESTREAM_*` environment variable) and `config/litestream.development.yml` (a directory beside the app, no S3).
///
/// Both are read by this package's `litestream` and by Litestream 0.5.17 alike: `${VAR}` is expanded before the
/// YAML is parsed, and an unset variable leaves `key:` with no value, which both read as "not set" (the region is
/// then found from the bucket, the endpoint is AWS, the credentials come from the AWS chain). Relative paths are
/// resolved against the working directory, by both.
enum ReplicationConfigFiles {
    static let productionPath = "config/litestream.yml"
    static let developmentPath = "config/litestream.development.yml"

    /// The `LITESTREAM_*` variables the production file reads, with what each is.
    static let variables: [(name: String, meaning: String)] = [
        ("LITESTREAM_REPLICA_BUCKET", "the S3 bucket (required)"),
        ("LITESTREAM_REPLICA_REGION", "its region, e.g. us-east-1 (empty: found from the bucket)"),
        ("LITESTREAM_REPLICA_ENDPOINT", "an S3-compatible store's URL: MinIO, R2, B2, Tigris (empty: AWS S3)"),
        ("LITESTREAM_ACCESS_KEY_ID", "the access key (empty: the AWS credential chain, e.g. an instance role)"),
        ("LITESTREAM_SECRET_ACCESS_KEY", "its secret"),
    ]

    /// Each database's folder in the bucket (and in backups/): its file name, or its whole path when two
    /// databases share a file name.
    static func replicaNames(_ databases: [String]) -> [String] {
        let names = databases.map { String($0.split(separator: "/").last ?? Substring($0)) }
        return zip(databases, names).map { path, name in
            names.filter { $0 == name }.count > 1 ? path.split(separator: "/").filter { $0 != "." && $0 != ".." }.joined(separator: "/") : name
        }
    }

    static func production(databases: [String]) -> String {
        var out = """
            # Litestream configuration for production, written by `litestream install`.
            # Edit it freely: a later `litestream install` leaves an edited file alone (unless --force).
            #
            # Nothing secret is stored here: each LITESTREAM_* variable below is read from the environment when the
            # replicator starts (set them where the app runs: your platform's secrets, a .env file outside git, ...).
            # An unset one reads as empty, which leaves that setting to its default.
            dbs:

            """
        for (path, name) in zip(databases, replicaNames(databases)) {
            out += """
                  - path: \(yamlScalar(path))  # the database file, relative to the app's working directory
                    replica:  # one replica: an S3 bucket (or an S3-compatible store)
                      type: s3  # Amazon S3's protocol: AWS or any S3-compatible store
                      bucket: ${LITESTREAM_REPLICA_BUCKET}  # the bucket's name, from LITESTREAM_REPLICA_BUCKET (required)
                      path: \(yamlScalar(name))  # this database's folder in the bucket: databases can share a bucket
                      region: ${LITESTREAM_REPLICA_REGION}  # e.g. us-east-1, from LITESTREAM_REPLICA_REGION; empty: found from the bucket
                      endpoint: ${LITESTREAM_REPLICA_ENDPOINT}  # an S3-compatible store's URL (MinIO, R2, B2, Tigris), from LITESTREAM_REPLICA_ENDPOINT; empty: AWS S3
                      access-key-id: ${LITESTREAM_ACCESS_KEY_ID}  # from LITESTREAM_ACCESS_KEY_ID; empty: the AWS credential chain (instance role, AWS_* variables)
                      secret-access-key: ${LITESTREAM_SECRET_ACCESS_KEY}  # from LITESTREAM_SECRET_ACCESS_KEY, never written here

                """
        }
        return out
    }

    static func development(databases: [String]) -> String {
        var out = """
            # Litestream configuration for development (`swift run` on your machine), written by `litestream install`.
            # Edit it freely: a later `litestream install` leaves an edited file alone (unless --force).
            #
            # Backups go to a directory beside the app: no S3, no credentials. Keep backups/ out of git.
            dbs:

            """
        for (path, name) in zip(databases, replicaNames(databases)) {
            out += """
                  - path: \(yamlScalar(path))  # the database file, relative to the app's working directory
                    replica:  # one replica: a directory on this machine
                      type: file  # files in a local directory
                      path: \(yamlScalar("backups/" + name))  # relative to the app's working directory

                """
        }
        return out
    }

    /// A path as a YAML scalar: plain when it is made of safe characters, else double-quoted. A `$` is doubled,
    /// which our `litestream` reads as a literal `$` (Litestream 0.5.17 cannot express one at all).
    static func yamlScalar(_ s: String) -> String {
        let safe = s.unicodeScalars.allSatisfy { c in
            (c.properties.isAlphabetic || ("0"..."9").contains(c) || "_./-".unicodeScalars.contains(c)) && c.isASCII
        }
        let escaped = s.replacingOccurrences(of: "$", with: "$$")
        if safe, !s.isEmpty, s.first != "-" { return escaped }
        return "\"" + escaped.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
