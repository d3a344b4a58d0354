import LitestreamABS
import LitestreamGCS
import LitestreamOSS
import LitestreamS3
import LitestreamSFTP
import LitestreamWebDAV
import LitestreamNATS
public import LitestreamCore
extension DatabaseConfiguration {
    /// The engine settings of a single-database entry: path, `meta-path`, `busy-timeout`, `max-sync-wal-bytes` and
    /// the checkpoint policy (`min-checkpoint-page-count`, `checkpoint-interval` with 0 meaning off,
    /// `truncate-page-n`). Nil in directory mode, where each discovered file gets ``engineConfiguration(path:)``.
    public func engineConfiguration() -> DatabaseEngine.Configuration? {
        path.map { engineConfiguration(path: $0) }
    }

    /// The engine settings for `path` (a file found in directory mode, or ``path``). In directory mode `meta-dir`
    /// is a base directory, so each database gets its own
    /// `<meta-dir>/<subdirectories>/<file name>-litestream` below it, as Litestream 0.5.13+ names them.
    public func engineConfiguration(path dbPath: String) -> DatabaseEngine.Configuration {
        var c = DatabaseEngine.Configuration(path: dbPath)
        if let metaPath {
            if let directory {
                // Mirror the file's place under `dir`, so equal names in subdirectories do not collide.
                let relative = dbPath.hasPrefix(directory.path + "/") ? String(dbPath.dropFirst(directory.path.count + 1)) : dbPath
                var parts = relative.split(separator: "/").map(String.init)
                let name = parts.popLast() ?? relative
                c.metaPath = ([metaPath] + parts + ["\(name)-litestream"]).joined(separator: "/")
            } else {
                c.metaPath = metaPath
            }
        }
        c.busyTimeout = busyTimeout
        c.maxSyncWALBytes = maxSyncWALBytes
        c.checkpoint.minPageCount = minCheckpointPageCount
        c.checkpoint.interval = checkpointInterval > .zero ? checkpointInterval : nil
        c.checkpoint.truncatePageCount = truncatePageCount
        return c
    }
}

extension DatabaseConfiguration {
    /// The path of `dbPath` relative to the directory of a directory-mode entry (nil otherwise).
    public func relativePath(of dbPath: String) -> String? {
        guard let directory, dbPath.hasPrefix(directory.path + "/") else { return nil }
        return String(dbPath.dropFirst(directory.path.count + 1))
    }

    /// The replicas of one database file. In directory mode each database gets its own place in every replica:
    /// the configured path with the file's path relative to `dir` appended (`tenants/acme.db`), as Litestream
    /// does, so that two databases never share a replica.
    public func replicas(forFile dbPath: String) throws -> [ReplicaConfiguration] {
        guard let relative = relativePath(of: dbPath) else { return replicas }
        return try replicas.map { r in
            var r = r
            switch r.type {
            case .file:
                r.path = (r.path ?? "") + "/" + relative
                r.url = nil
            case .s3:
                let base = try r.path ?? r.url.map { try S3Configuration.parse(url: $0).path } ?? ""
                r.path = base.isEmpty || base == "." ? relative : base + "/" + relative
            case .gs:
                let base = try r.path ?? r.url.map { try GCSConfiguration.parse(url: $0).path } ?? ""
                r.path = base.isEmpty || base == "." ? relative : base + "/" + relative
            case .sftp:
                let base = try r.path ?? r.url.map { try SFTPConfiguration.parse(url: $0, requireUser: false).path } ?? ""
                r.path = base.isEmpty ? relative : base + "/" + relative
            case .webdav:
                let base = try r.path ?? r.url.map { try WebDAVConfiguration.parse(url: $0).path } ?? ""
                r.path = base.isEmpty ? relative : base + "/" + relative
            case .nats:
                // Litestream 0.5.17 has no prefix for NATS, so its databases would share one set of names; ours get
                // `<relative>/ltx/…` in the bucket.
                r.path = (r.path.map { $0.isEmpty ? "" : $0 + "/" } ?? "") + relative
            case .abs:
                let base = try r.path ?? r.url.map { try ABSConfiguration.parse(url: $0).path } ?? ""
                r.path = base.isEmpty || base == "." ? relative : base + "/" + relative
            case .oss:
                let base = try r.path ?? r.url.map { try OSSConfiguration.parse(url: $0).path } ?? ""
                r.path = base.isEmpty || base == "." ? relative : base + "/" + relative
            }
            return r
        }
    }
}

extension LitestreamConfiguration {
    /// The replica housekeeping settings shared by every replica: `levels`, `snapshot.interval`,
    /// `snapshot.retention`, `l0-retention`, `l0-retention-check-interval`, `retention.enabled`.
    public func maintenanceConfiguration() -> Maintenance.Configuration {
        var c = Maintenance.Configuration()
        c.levels = levels
        c.snapshotInterval = snapshot.interval
        c.snapshotRetention = snapshot.retention
        c.l0Retention = l0Retention
        c.l0RetentionCheckInterval = l0RetentionCheckInterval
        c.retentionEnabled = retentionEnabled
        return c
    }
}
