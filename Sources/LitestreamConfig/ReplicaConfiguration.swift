import LitestreamABS
import LitestreamClient
import LitestreamGCS
import LitestreamOSS
import LitestreamS3
import LitestreamSFTP
import LitestreamWebDAV
import LitestreamNATS
import Foundation
import Yams

/// One replica of a database: where its LTX files go and how.
///
/// Written as `replica:` (one) or `replicas:` (a list) under a database. Unlike Litestream 0.5, which allows one
/// replica per database, a database may have several; each then has a ``name`` for status output.
public struct ReplicaConfiguration: Sendable, Equatable {
    /// The replica backends: every one Litestream 0.5.17 has.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case file, s3, gs, sftp, webdav, nats, abs, oss

        /// The kind a url scheme names: `webdavs` (WebDAV over HTTPS) is a `webdav` replica, as in Litestream.
        init?(scheme: String) {
            self.init(rawValue: scheme == "webdavs" ? "webdav" : scheme)
        }

        /// `file, s3, …`, for messages.
        static var supported: String { allCases.map(\.rawValue).joined(separator: ", ") }
    }

    /// `type`, else inferred from the `url` scheme, else `file`.
    public var type: Kind
    /// `name`: unique within the database. Default: the type, made unique with a suffix (`s3`, `s3-2`).
    public var name: String
    /// `url` as written (`s3://bucket/path?endpoint=…`, `file:///var/backups/db`).
    public var url: String?
    /// `path`: for `file`, the absolute replica directory (from `path` or the `url`); for `s3`, the key prefix as
    /// written (Litestream uses it verbatim) or nil when the `url` gives it; for `gs`, the object prefix likewise;
    /// for `webdav`, the directory under `webdav-url`.
    public var path: String?
    /// Everything else, the replica's own settings over the top-level defaults.
    public var settings: ReplicaSettings

    /// The line of the replica in the file, for messages (not part of equality).
    public var line: Int?
    /// The file it was read from, for messages (not part of equality): errors found only when the replica's client
    /// is made (a bad SSE-C key, say) name the file, not `<config>`.
    public var source = "<config>"

    public init(type: Kind, name: String? = nil, url: String? = nil, path: String? = nil, settings: ReplicaSettings = .init()) {
        self.type = type
        self.name = name ?? type.rawValue
        self.url = url
        self.path = path
        self.settings = settings
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.type == b.type && a.name == b.name && a.url == b.url && a.path == b.path && a.settings == b.settings
    }

    // MARK: Effective values (defaults applied)

    /// Default 1 s for an object store; zero (each sync uploaded at once) for a `file` replica, whose uploads cost
    /// nothing (docs/configuration.md, "Uploads and S3 requests").
    public var syncInterval: Duration { settings.syncInterval ?? (type == .file ? .zero : Self.defaultSyncInterval) }
    /// Default 256.
    public var maxSyncLTXFiles: Int { settings.maxSyncLTXFiles ?? Self.defaultMaxSyncLTXFiles }
    /// Default false.
    public var autoRecover: Bool { settings.autoRecover ?? false }

    public static let defaultSyncInterval: Duration = .seconds(1)
    public static let defaultMaxSyncLTXFiles = 256

    /// The keys of a replica mapping (besides ``ReplicaSettings/keys``).
    static let ownKeys: Set<String> = ["type", "url", "path", "name"]

    /// 0.3 keys with what replaces them.
    static let removedKeys: [String: String] = [
        "retention": "removed in 0.5: retention is global now, see `snapshot.retention`",
        "retention-check-interval": "removed in 0.5: retention is global now, see `snapshot.retention`",
        "snapshot-interval": "removed in 0.5: snapshots are global now, see the top-level `snapshot.interval`",
        "age": "removed in 0.5: age encryption is not supported by Litestream 0.5 (use v0.3.x if you need it)",
        "encryption": "removed in 0.5: age encryption is not supported by Litestream 0.5 (use v0.3.x if you need it)",
    ]

}

extension ReplicaConfiguration {
    /// Reads one replica mapping and applies the top-level `defaults`. `name` is filled in later (uniqueness is
    /// per database).
    init(reading m: ConfigMapping, defaults: ReplicaSettings, home: String) throws {
        try m.checkKeys(allowed: Self.ownKeys.union(ReplicaSettings.keys),
            removed: Self.removedKeys)
        let settings = try ReplicaSettings(reading: m, home: home).inheriting(defaults)
        let url = try m.string("url").flatMap { $0.isEmpty ? nil : $0 }
        let rawPath = try m.string("path").flatMap { $0.isEmpty ? nil : $0 }
        let name = try m.string("name")
        if let name, name.isEmpty || name.contains(where: { $0.isWhitespace || $0 == "/" }) {
            throw m.error(.invalidValue,
                "replica name '\(name)' \(m.place)\(ConfigMapping.atLine(m.location("name"))) must be non-empty, without spaces or '/'",
                at: m.location("name"))
        }

        var scheme: String?
        if let url {
            guard let r = url.range(of: "://") else {
                throw m.error(.invalidValue,
                    "replica url '\(Redaction.url(url))' \(m.place)\(ConfigMapping.atLine(m.location("url"))) needs a scheme, e.g. s3://bucket/path or file:///path",
                    at: m.location("url"))
            }
            scheme = url[..<r.lowerBound].lowercased()
        }
        let typeName = try m.string("type")?.lowercased()
        let schemeKind = try scheme.map { s -> Kind in
            guard let k = Kind(scheme: s) else {
                throw m.error(.invalidValue,
                    "unknown replica url scheme '\(s)' \(m.place)\(ConfigMapping.atLine(m.location("url"))) (supported: \(Kind.supported))",
                    at: m.location("url"))
            }
            return k
        }
        let typeKind = try typeName.map { t -> Kind in
            guard let k = Kind(rawValue: t) else {
                var message = "unknown replica type '\(t)' \(m.place)\(ConfigMapping.atLine(m.location("type"))) (supported: \(Kind.supported))"
                if let s = KeySuggestion.closest(to: t, in: Kind.allCases.map(\.rawValue)) { message += "; did you mean '\(s)'?" }
                throw m.error(.invalidValue, message, at: m.location("type"))
            }
            return k
        }
        if let typeKind, let schemeKind, typeKind != schemeKind {
            // Litestream quietly lets the url win; a contradiction is more likely a mistake.
            throw m.error(.invalidValue,
                "replica type '\(typeKind.rawValue)' contradicts the url scheme '\(schemeKind.rawValue)' \(m.place)\(ConfigMapping.atLine(m.location("type")))",
                at: m.location("type"))
        }
        let type = typeKind ?? schemeKind ?? .file
        if type != .webdav, let key = ["webdav-url", "webdav-username", "webdav-password"].first(where: m.has) {
            throw m.error(.invalidValue,
                "key '\(key)' \(m.place)\(ConfigMapping.atLine(m.location(key))) is for a webdav replica, and this one is \(type.rawValue)",
                at: m.location(key))
        }

        var path = rawPath
        switch type {
        case .file:
            if let url, url.lowercased().hasPrefix("file://") {
                guard rawPath == nil else {
                    throw m.error(.invalidValue, "give either 'url' or 'path' for a file replica \(m.place)\(ConfigMapping.atLine(m.location("path")))",
                        at: m.location("path"))
                }
                let p = String(url.dropFirst("file://".count))
                path = p.removingPercentEncoding ?? p
            }
            guard let p = path, !p.isEmpty else {
                var message = "a replica needs 'url' or 'path' \(m.place)\(ConfigMapping.atLine(m.node))"
                if settings.bucket != nil { message += " (for an S3 bucket, also set 'type: s3' or use an s3:// url)" }
                throw m.error(.missingValue, message)
            }
            path = PathExpansion.expand(p, home: home)
        case .s3:
            if let url {
                do {
                    _ = try S3Configuration.parse(url: url)
                } catch {
                    throw m.error(.invalidValue, "\(error) \(m.place)\(ConfigMapping.atLine(m.location("url")))", at: m.location("url"))
                }
            } else if settings.bucket == nil {
                throw m.error(.missingValue,
                    "an s3 replica needs a 'bucket' (or an s3://bucket/path url) \(m.place)\(ConfigMapping.atLine(m.node))")
            }
        case .gs:
            // Litestream's rules (newGSReplicaClientFromConfig): the url, or bucket and path, not both.
            if let url {
                for key in ["path", "bucket"] where m.has(key) {
                    throw m.error(.invalidValue, "cannot specify url & \(key) for gs replica \(m.place)\(ConfigMapping.atLine(m.location(key)))",
                        at: m.location(key))
                }
                do {
                    _ = try GCSConfiguration.parse(url: url)
                } catch {
                    throw m.error(.invalidValue, "\(error) \(m.place)\(ConfigMapping.atLine(m.location("url")))", at: m.location("url"))
                }
            } else if (settings.bucket ?? "").isEmpty {
                throw m.error(.missingValue,
                    "bucket required for gs replica (or a gs://bucket/path url) \(m.place)\(ConfigMapping.atLine(m.node))")
            }
        case .sftp:
            // As Litestream: the url, or host and path, not both.
            if url != nil {
                for key in ["path", "host"] where m.has(key) {
                    throw m.error(.invalidValue, "cannot specify url & \(key) for sftp replica \(m.place)\(ConfigMapping.atLine(m.location(key)))",
                        at: m.location(key))
                }
            }
            let probe = ReplicaConfiguration(type: .sftp, url: url, path: path, settings: settings)
            do {
                _ = try probe.sftpConfigurationUnchecked().validate()
            } catch {
                throw m.error(.invalidValue, "\(error) \(m.place)\(ConfigMapping.atLine(m.location(url != nil ? "url" : "host")))",
                    at: m.location(url != nil ? "url" : "host"))
            }
        case .webdav:
            // Litestream's rules (newWebDAVReplicaClientFromConfig): the url, or webdav-url and path, not both.
            if let url {
                if rawPath != nil {
                    throw m.error(.invalidValue,
                        "cannot specify url & path for webdav replica \(m.place)\(ConfigMapping.atLine(m.location("path")))",
                        at: m.location("path"))
                }
                if m.has("webdav-url") {
                    throw m.error(.invalidValue,
                        "cannot specify url & webdav-url for webdav replica \(m.place)\(ConfigMapping.atLine(m.location("webdav-url")))",
                        at: m.location("webdav-url"))
                }
                do {
                    _ = try WebDAVConfiguration.parse(url: url)
                } catch {
                    throw m.error(.invalidValue, "\(error) \(m.place)\(ConfigMapping.atLine(m.location("url")))", at: m.location("url"))
                }
            } else if let webdavURL = settings.webdavURL, !webdavURL.isEmpty {
                do {
                    _ = try WebDAVReplicaClient(configuration: WebDAVConfiguration(url: webdavURL, path: rawPath ?? ""))
                } catch {
                    let key = m.has("webdav-url") ? "webdav-url" : "type"
                    throw m.error(.invalidValue, "\(error) \(m.place)\(ConfigMapping.atLine(m.location(key)))", at: m.location(key))
                }
            } else {
                throw m.error(.missingValue,
                    "webdav-url required for webdav replica (or a webdav://host/path url) \(m.place)\(ConfigMapping.atLine(m.node))")
            }
        case .nats:
            // Litestream's rules (newNATSReplicaClientFromConfig): the url's path is the bucket, else `bucket`.
            let probe = ReplicaConfiguration(type: .nats, url: url, path: path, settings: settings)
            do {
                try probe.natsConfigurationUnchecked().validate()
            } catch {
                let key = url != nil ? "url" : m.has("bucket") ? "bucket" : "type"
                throw m.error(.invalidValue, "\(error) \(m.place)\(ConfigMapping.atLine(m.location(key)))", at: m.location(key))
            }
        case .abs, .oss:
            // Litestream's rules (newABSReplicaClientFromConfig, newOSSReplicaClientFromConfig): the url, or bucket
            // and path, not both; a bucket either way.
            if url != nil {
                for key in ["path", "bucket"] where m.has(key) {
                    throw m.error(.invalidValue,
                        "cannot specify url & \(key) for \(type.rawValue) replica \(m.place)\(ConfigMapping.atLine(m.location(key)))",
                        at: m.location(key))
                }
            }
            let probe = ReplicaConfiguration(type: type, url: url, path: path, settings: settings)
            do {
                if type == .abs { _ = try probe.absConfigurationUnchecked() } else { _ = try probe.ossConfigurationUnchecked() }
            } catch {
                throw m.error(.invalidValue, "\(error) \(m.place)\(ConfigMapping.atLine(m.location(url != nil ? "url" : "bucket")))",
                    at: m.location(url != nil ? "url" : "bucket"))
            }
        }
        self.init(type: type, name: name ?? type.rawValue, url: url, path: path, settings: settings)
        self.line = m.node.mark?.line
        self.source = m.source
    }
}
