import LitestreamClient
import LitestreamCore
import Foundation

extension LitestreamConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    /// The effective configuration, defaults included, as YAML that parses back (without environment expansion) to an
    /// equal configuration apart from the redacted values, with
    /// every credential replaced by `<redacted>`: `secret-access-key`, `sse-customer-key`, the heartbeat URL's
    /// path and user info, passwords in URLs and credential-like URL query values; `access-key-id` keeps its first
    /// 4 characters. For `litestream config` and for logs.
    public func redactedYAML() -> String {
        var w = YAMLLines()
        w.line(0, "dbs:")
        for db in databases {
            var first = true
            func item(_ text: String) {
                w.line(first ? 1 : 2, (first ? "- " : "") + text, extraIndent: first ? 0 : 0)
                first = false
            }
            if let p = db.path { item("path: \(YAMLLines.quote(p))") }
            if let d = db.directory {
                item("dir: \(YAMLLines.quote(d.path))")
                item("pattern: \(YAMLLines.quote(d.pattern))")
                item("recursive: \(d.recursive)")
                item("watch: \(d.watch)")
            }
            if let m = db.metaPath { item("meta-path: \(YAMLLines.quote(m))") }
            item("monitor-interval: \(GoDuration.format(db.monitorInterval))")
            item("checkpoint-interval: \(GoDuration.format(db.checkpointInterval))")
            item("busy-timeout: \(GoDuration.format(db.busyTimeout))")
            item("min-checkpoint-page-count: \(db.minCheckpointPageCount)")
            item("truncate-page-n: \(db.truncatePageCount ?? -1)")
            item("max-sync-wal-bytes: \(db.maxSyncWALBytes)")
            item("restore-if-db-not-exists: \(db.restoreIfDatabaseNotExists)")
            item("replicas:")
            for r in db.replicas {
                w.line(3, "- name: \(YAMLLines.quote(r.name))")
                w.line(4, "type: \(r.type.rawValue)")
                if let u = r.url { w.line(4, "url: \(YAMLLines.quote(Redaction.url(u)))") }
                if let p = r.path { w.line(4, "path: \(YAMLLines.quote(p))") }
                w.line(4, "sync-interval: \(GoDuration.format(r.syncInterval))")
                w.line(4, "max-sync-ltx-files: \(r.maxSyncLTXFiles)")
                w.line(4, "auto-recover: \(r.autoRecover)")
                var s = r.settings
                s.syncInterval = nil
                s.maxSyncLTXFiles = nil
                s.autoRecover = nil
                s.write(to: &w, indent: 4)
            }
        }
        w.line(0, "levels:")
        for l in levels { w.line(1, "- interval: \(GoDuration.format(l.interval))") }
        w.line(0, "snapshot:")
        w.line(1, "interval: \(GoDuration.format(snapshot.interval))")
        w.line(1, "retention: \(GoDuration.format(snapshot.retention))")
        w.line(0, "l0-retention: \(GoDuration.format(l0Retention))")
        w.line(0, "l0-retention-check-interval: \(GoDuration.format(l0RetentionCheckInterval))")
        w.line(0, "retention:")
        w.line(1, "enabled: \(retentionEnabled)")
        if let v = validationInterval {
            w.line(0, "validation:")
            w.line(1, "interval: \(GoDuration.format(v))")
        }
        w.line(0, "verify-compaction: \(verifyCompaction)")
        w.line(0, "shutdown-sync-timeout: \(GoDuration.format(shutdownSyncTimeout))")
        w.line(0, "shutdown-sync-interval: \(GoDuration.format(shutdownSyncInterval))")
        if let h = heartbeatURL { w.line(0, "heartbeat-url: \(YAMLLines.quote(Redaction.heartbeatURL(h.value)))") }
        w.line(0, "heartbeat-interval: \(GoDuration.format(heartbeatInterval))")
        if let a = addr { w.line(0, "addr: \(YAMLLines.quote(a))") }
        w.line(0, "socket:")
        w.line(1, "enabled: \(socket.enabled)")
        w.line(1, "path: \(YAMLLines.quote(socket.path))")
        w.line(1, "permissions: 0\(String(socket.permissions, radix: 8))")
        if let a = mcpAddr { w.line(0, "mcp-addr: \(YAMLLines.quote(a))  # not supported here") }
        if let e = exec { w.line(0, "exec: \(YAMLLines.quote(e))") }
        w.line(0, "logging:")
        w.line(1, "level: \(logging.level.rawValue)")
        w.line(1, "type: \(logging.type.rawValue)")
        w.line(1, "stderr: \(logging.stderr)")
        w.line(1, "source: \(logging.source)")
        if replicaDefaults != ReplicaSettings() {
            w.line(0, "# top-level replica defaults (already applied to the replicas above)")
            replicaDefaults.write(to: &w, indent: 0)
        }
        return w.text
    }

    /// The redacted YAML (``redactedYAML()``): never shows a credential.
    public var description: String { redactedYAML() }
    public var debugDescription: String { redactedYAML() }
}

extension DatabaseConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    /// `/data/app.db → file, s3 (s3://bkt/app)`: no credentials.
    public var description: String {
        "\(displayName) → " + replicas.map(\.description).joined(separator: ", ")
    }
    public var debugDescription: String { description }
}

extension ReplicaConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    /// `s3 (s3://bkt/app)`: name and location, no credentials.
    public var description: String {
        let location: String = switch type {
        case .file: path ?? "?"
        case .s3: url.map(Redaction.url) ?? "s3://\(settings.bucket ?? "?")/\(path ?? "")"
        case .gs: url.map(Redaction.url) ?? "gs://\(settings.bucket ?? "?")/\(path ?? "")"
        case .sftp: url.map(Redaction.url) ?? "sftp://\(settings.user ?? "?")@\(settings.host ?? "?")/\(path ?? "")"
        case .webdav: url.map(Redaction.url) ?? "\(settings.webdavURL.map(Redaction.url) ?? "?")/\(path ?? "")"
        case .nats: url.map(Redaction.url) ?? "nats://127.0.0.1:4222/\(settings.bucket ?? "?")"
        case .abs: url.map(Redaction.url) ?? "abs://\(settings.accountName.map { $0 + "@" } ?? "")\(settings.bucket ?? "?")/\(path ?? "")"
        case .oss: url.map(Redaction.url) ?? "oss://\(settings.bucket ?? "?")/\(path ?? "")"
        }
        return "\(name) (\(location))"
    }
    public var debugDescription: String { description }
}

extension ReplicaConfiguration: CustomReflectable {
    /// For `dump` and debuggers: the url with credentials redacted.
    public var customMirror: Mirror {
        Mirror(self, children: [
            "type": type, "name": name, "url": url.map(Redaction.url) as Any, "path": path as Any,
            "settings": settings,
        ])
    }
}

extension ReplicaSettings: CustomReflectable {
    /// For `dump` and debuggers: the printed (redacted) settings.
    public var customMirror: Mirror { Mirror(self, children: ["settings": description]) }
}

extension ReplicaSettings: CustomStringConvertible, CustomDebugStringConvertible {
    /// The settings that are set, as YAML, redacted.
    public var description: String {
        var w = YAMLLines()
        write(to: &w, indent: 0)
        return w.text
    }
    public var debugDescription: String { description }

    func write(to w: inout YAMLLines, indent: Int) {
        func put(_ key: String, _ value: String?) { if let value { w.line(indent, "\(key): \(value)") } }
        put("sync-interval", syncInterval.map(GoDuration.format))
        put("max-sync-ltx-files", maxSyncLTXFiles.map(String.init))
        put("auto-recover", autoRecover.map(String.init))
        put("validation-interval", validationInterval.map(GoDuration.format))
        put("access-key-id", accessKeyID.map { YAMLLines.quote(Redaction.accessKeyID($0)) })
        put("secret-access-key", secretAccessKey.map { _ in YAMLLines.quote(Redaction.mask) })
        put("region", region.map(YAMLLines.quote))
        put("bucket", bucket.map(YAMLLines.quote))
        put("endpoint", endpoint.map { YAMLLines.quote(Redaction.url($0)) })
        put("force-path-style", forcePathStyle.map(String.init))
        put("sign-payload", signPayload.map(String.init))
        put("require-content-md5", requireContentMD5.map(String.init))
        put("skip-verify", skipVerify.map(String.init))
        put("storage-class", storageClass.map(YAMLLines.quote))
        put("part-size", partSize.map(ByteSize.format))
        put("concurrency", concurrency.map(String.init))
        put("sse-customer-algorithm", sseCustomerAlgorithm.map(YAMLLines.quote))
        put("sse-customer-key", sseCustomerKey.map { _ in YAMLLines.quote(Redaction.mask) })
        put("sse-customer-key-path", sseCustomerKeyPath.map(YAMLLines.quote))
        put("sse-kms-key-id", sseKMSKeyID.map(YAMLLines.quote))
        put("host", host.map(YAMLLines.quote))
        put("user", user.map(YAMLLines.quote))
        put("password", password.map { _ in YAMLLines.quote(Redaction.mask) })
        put("key-path", keyPath.map(YAMLLines.quote))
        put("host-key", hostKey.map(YAMLLines.quote))
        put("concurrent-writes", concurrentWrites.map(String.init))
        put("known-hosts-path", knownHostsPath.map(YAMLLines.quote))
        put("insecure-ignore-host-key", insecureIgnoreHostKey.map(String.init))
        put("webdav-url", webdavURL.map { YAMLLines.quote(Redaction.url($0)) })
        put("webdav-username", webdavUsername.map(YAMLLines.quote))
        put("webdav-password", webdavPassword.map { _ in YAMLLines.quote(Redaction.mask) })
        put("jwt", jwt.map { _ in YAMLLines.quote(Redaction.mask) })
        put("seed", seed.map { _ in YAMLLines.quote(Redaction.mask) })
        put("creds", creds.map(YAMLLines.quote))
        put("nkey", nkey.map { _ in YAMLLines.quote(Redaction.mask) })
        put("username", username.map(YAMLLines.quote))
        put("token", token.map { _ in YAMLLines.quote(Redaction.mask) })
        put("tls", tls.map(String.init))
        put("root-cas", rootCAs.map { "[" + $0.map(YAMLLines.quote).joined(separator: ", ") + "]" })
        put("client-cert", clientCert.map(YAMLLines.quote))
        put("client-key", clientKey.map(YAMLLines.quote))
        put("max-reconnects", maxReconnects.map(String.init))
        put("reconnect-wait", reconnectWait.map(GoDuration.format))
        put("timeout", timeout.map(GoDuration.format))
        put("account-name", accountName.map(YAMLLines.quote))
        put("account-key", accountKey.map { _ in YAMLLines.quote(Redaction.mask) })
        put("sas-token", sasToken.map { _ in YAMLLines.quote(Redaction.mask) })
    }
}

/// A minimal YAML writer: indented lines, strings always double-quoted (so no value can be misread as a number,
/// boolean or comment).
struct YAMLLines {
    private(set) var text = ""

    mutating func line(_ level: Int, _ s: String, extraIndent: Int = 0) {
        text += String(repeating: "  ", count: level + extraIndent) + s + "\n"
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 { out += String(format: "\\x%02x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
