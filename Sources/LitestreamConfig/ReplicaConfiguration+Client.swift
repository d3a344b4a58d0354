public import LitestreamABS
public import LitestreamCore
public import LitestreamGCS
public import LitestreamOSS
public import LitestreamS3
public import LitestreamSFTP
public import LitestreamWebDAV
public import LitestreamNATS
public import Foundation

extension ReplicaConfiguration {
    /// The S3 settings of an `s3` replica: the `url` (with its query options) first, then every key written in the
    /// file (or inherited from the top level) on top, as Litestream does.
    public func s3Configuration() throws -> S3Configuration {
        guard type == .s3 else {
            throw ConfigurationError(.invalidValue, "replica '\(name)' is a \(type.rawValue) replica, not s3", line: line, source: source)
        }
        var c: S3Configuration
        do {
            if let url {
                c = try S3Configuration.parse(url: url)
                if let bucket = settings.bucket { c.bucket = bucket }
                if let path { c.path = path }
            } else {
                c = S3Configuration(bucket: settings.bucket ?? "", path: path ?? "")
            }
        } catch {
            throw ConfigurationError(.invalidValue, "replica '\(name)': \(error)", line: line, source: source,
                cause: error)
        }
        let s = settings
        if let v = s.region { c.region = v }
        if let v = s.endpoint { c.endpoint = v.isEmpty ? nil : v }
        if let v = s.forcePathStyle { c.forcePathStyle = v }
        if let v = s.skipVerify { c.skipVerify = v }
        if let v = s.storageClass { c.storageClass = v }
        if let v = s.sseKMSKeyID { c.sseKMSKeyID = v }
        if let v = s.partSize { c.partSize = Int(v) }
        if let v = s.accessKeyID { c.accessKeyID = v }
        if let v = s.secretAccessKey { c.secretAccessKey = v.value }
        if let key = try sseCustomerKey() {
            c.sseCustomerKey = key.value
            c.sseCustomerAlgorithm = s.sseCustomerAlgorithm ?? "AES256"
        } else if let algorithm = s.sseCustomerAlgorithm {
            c.sseCustomerAlgorithm = algorithm
        }
        if let v = s.concurrency { c.concurrency = v }
        do {
            try c.validate()
        } catch {
            throw ConfigurationError(.invalidValue, "replica '\(name)': \(error)", line: line, source: source,
                cause: error)
        }
        return c
    }

    /// The SSE-C key: `sse-customer-key`, or the contents of `sse-customer-key-path` (surrounding whitespace
    /// dropped), base64 as Litestream expects. Nil when neither is set.
    public func sseCustomerKey() throws -> Secret? {
        if let key = settings.sseCustomerKey { return key }
        guard let path = settings.sseCustomerKeyPath else { return nil }
        do {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            return Secret(text.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw ConfigurationError(.io, "cannot read sse-customer-key-path \(path) of replica '\(name)': \(error.localizedDescription)",
                line: line, source: source, cause: error)
        }
    }

    /// The WebDAV settings of a `webdav` replica, as Litestream reads them: the `url`
    /// (`webdav[s]://[user[:password]@]host[:port]/path`) gives the server, path and credentials, and
    /// `webdav-username`/`webdav-password` take precedence over its user info; or `webdav-url` and `path`.
    public func webdavConfiguration() throws -> WebDAVConfiguration {
        guard type == .webdav else {
            throw ConfigurationError(.invalidValue, "replica '\(name)' is a \(type.rawValue) replica, not webdav", line: line, source: source)
        }
        var c: WebDAVConfiguration
        do {
            if let url {
                c = try WebDAVConfiguration.parse(url: url)
                if let path { c.path = path }  // directory mode: the url's path with the database's own appended
            } else {
                c = WebDAVConfiguration(url: settings.webdavURL ?? "", path: path ?? "")
            }
            if let user = settings.webdavUsername, !user.isEmpty { c.username = user }
            if let password = settings.webdavPassword, !password.value.isEmpty { c.password = password.value }
            _ = try WebDAVReplicaClient(configuration: c)  // checks the URL
        } catch {
            throw ConfigurationError(.invalidValue, "replica '\(name)': \(error)", line: line, source: source,
                cause: error)
        }
        return c
    }

    /// The Google Cloud Storage settings of a `gs` replica, as Litestream reads them: the `url`
    /// (`gs://bucket/path`), or `bucket` and `path`. Credentials are not settings: the client reads
    /// `GOOGLE_APPLICATION_CREDENTIALS` and `STORAGE_EMULATOR_HOST` from the environment, as Litestream's does.
    public func gcsConfiguration() throws -> GCSConfiguration {
        guard type == .gs else {
            throw ConfigurationError(.invalidValue, "replica '\(name)' is a \(type.rawValue) replica, not gs", line: line, source: source)
        }
        do {
            if let url {
                var c = try GCSConfiguration.parse(url: url)
                if let path { c.path = path }  // directory mode: the url's path with the database's own appended
                return c
            }
            guard let bucket = settings.bucket, !bucket.isEmpty else {
                throw GCSConfiguration.Invalid(description: "bucket required for gs replica")
            }
            return GCSConfiguration(bucket: bucket, path: path ?? "")
        } catch {
            throw ConfigurationError(.invalidValue, "replica '\(name)': \(error)", line: line, source: source, cause: error)
        }
    }

    /// A client for this replica: a ``FileReplicaClient`` on ``path``, an ``S3ReplicaClient`` on
    /// ``s3Configuration()`` (credentials and region missing from the file are read from `environment`, as the S3
    /// client does), or a ``WebDAVReplicaClient`` on ``webdavConfiguration()``.
    public func makeClient(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> any ReplicaClient
    {
        switch type {
        case .file:
            guard let path else {
                throw ConfigurationError(.missingValue, "file replica '\(name)' has no path", line: line, source: source)
            }
            return FileReplicaClient(path: path)
        case .s3:
            return try S3ReplicaClient(configuration: s3Configuration(), environment: environment)
        case .gs:
            let c = try gcsConfiguration()
            do {
                return try GCSReplicaClient(configuration: c, environment: environment)
            } catch {
                throw ConfigurationError(.invalidValue, "replica '\(name)': \(error)", line: line, source: source, cause: error)
            }
        case .sftp:
            return try SFTPReplicaClient(configuration: sftpConfiguration(), environment: environment)
        case .webdav:
            return try WebDAVReplicaClient(configuration: webdavConfiguration())
        case .nats:
            return try NATSReplicaClient(configuration: natsConfiguration())
        case .abs:
            do {
                return try ABSReplicaClient(configuration: absConfiguration(), environment: environment)
            } catch let e as ABSConfiguration.Invalid {
                throw ConfigurationError(.invalidValue, "replica '\(name)': \(e)", line: line, source: source, cause: e)
            }
        case .oss:
            do {
                return try OSSReplicaClient(configuration: ossConfiguration(), environment: environment)
            } catch let e as OSSConfiguration.Invalid {
                throw ConfigurationError(.invalidValue, "replica '\(name)': \(e)", line: line, source: source, cause: e)
            }
        }
    }

    /// The Azure Blob settings of an `abs` replica, as Litestream builds them: the keys written in the file (or
    /// inherited) — `account-name`, `account-key`, `sas-token`, `bucket` (the container), `path`, `endpoint` — and
    /// the `url`'s account and container for those not written (`abs://account@container/path`).
    public func absConfiguration() throws -> ABSConfiguration {
        guard type == .abs else {
            throw ConfigurationError(.invalidValue, "replica '\(name)' is a \(type.rawValue) replica, not abs", line: line, source: source)
        }
        do {
            return try absConfigurationUnchecked()
        } catch {
            throw ConfigurationError(.invalidValue, "replica '\(name)': \(error)", line: line, source: source, cause: error)
        }
    }

    func absConfigurationUnchecked() throws -> ABSConfiguration {
        let s = settings
        var c = ABSConfiguration(accountName: s.accountName ?? "", container: s.bucket ?? "", path: path ?? "")
        if let url {
            let u = try ABSConfiguration.parse(url: url)
            if c.accountName.isEmpty { c.accountName = u.accountName }
            if c.container.isEmpty { c.container = u.container }
            if path == nil { c.path = u.path }  // a path here is directory mode's: the url's with the file's appended
        }
        c.accountKey = s.accountKey?.value
        c.sasToken = s.sasToken?.value
        c.endpoint = s.endpoint.flatMap { $0.isEmpty ? nil : $0 }
        guard !c.container.isEmpty else { throw ABSConfiguration.Invalid(description: "bucket required for abs replica") }
        return c
    }

    /// The OSS settings of an `oss` replica, as Litestream builds them: `access-key-id`, `secret-access-key`,
    /// `region`, `bucket`, `endpoint`, `path`, and the `url`'s bucket, region (from an OSS host name) and path for
    /// those not written.
    public func ossConfiguration() throws -> OSSConfiguration {
        guard type == .oss else {
            throw ConfigurationError(.invalidValue, "replica '\(name)' is a \(type.rawValue) replica, not oss", line: line, source: source)
        }
        do {
            return try ossConfigurationUnchecked()
        } catch {
            throw ConfigurationError(.invalidValue, "replica '\(name)': \(error)", line: line, source: source, cause: error)
        }
    }

    func ossConfigurationUnchecked() throws -> OSSConfiguration {
        let s = settings
        var c = OSSConfiguration(bucket: s.bucket ?? "", path: path ?? "", region: s.region)
        if let url {
            let u = try OSSConfiguration.parse(url: url)
            if c.bucket.isEmpty { c.bucket = u.bucket }
            if path == nil { c.path = u.path }
            if c.region == nil { c.region = u.region }
        }
        c.endpoint = s.endpoint.flatMap { $0.isEmpty ? nil : $0 }
        c.accessKeyID = s.accessKeyID
        c.accessKeySecret = s.secretAccessKey?.value
        if let v = s.partSize { c.partSize = Int(v) }
        guard !c.bucket.isEmpty else { throw OSSConfiguration.Invalid(description: "bucket required for oss replica") }
        return c
    }

    /// The SFTP settings of an `sftp` replica, as Litestream builds them: the keys written in the file (or
    /// inherited), and the `url`'s user, password, host and path for those not written.
    public func sftpConfiguration() throws -> SFTPConfiguration {
        guard type == .sftp else {
            throw ConfigurationError(.invalidValue, "replica '\(name)' is a \(type.rawValue) replica, not sftp", line: line, source: source)
        }
        do {
            let c = try sftpConfigurationUnchecked()
            try c.validate()
            return c
        } catch {
            throw ConfigurationError(.invalidValue, "replica '\(name)': \(error)", line: line, source: source, cause: error)
        }
    }

    func sftpConfigurationUnchecked() throws -> SFTPConfiguration {
        let s = settings
        var c = SFTPConfiguration(host: "", user: "", path: path ?? "")
        if let url {
            let u = try SFTPConfiguration.parse(url: url, requireUser: s.user == nil)
            c = u
            if let p = path { c.path = p }
        }
        if let host = s.host, url == nil { (c.host, c.port) = try SFTPConfiguration.splitHostPort(host) }
        if let v = s.user { c.user = v }
        if let v = s.password { c.password = v.value }
        if let v = s.keyPath { c.keyPath = v }
        if let v = s.hostKey { c.hostKey = v }
        if let v = s.knownHostsPath { c.knownHostsPath = v }
        if let v = s.insecureIgnoreHostKey { c.insecureIgnoreHostKey = v }
        if let v = s.concurrentWrites { c.concurrentWrites = v }
        return c
    }
}

extension ReplicaConfiguration {
    /// Where the replica's files go, as a key for telling two replicas apart (a file directory, or an S3 endpoint,
    /// bucket and prefix); nil when it cannot be told here (an incomplete S3 entry fails later with its own message).
    var locationIdentity: String? {
        switch type {
        case .file:
            return path.map { "file:" + URL(fileURLWithPath: $0).standardizedFileURL.path }
        case .s3:
            guard let c = try? s3Configuration() else { return nil }
            let prefix = c.path.split(separator: "/").joined(separator: "/")
            return "s3:\(c.endpoint ?? "aws")/\(c.bucket)/\(prefix)"
        case .gs:
            guard let c = try? gcsConfiguration() else { return nil }
            return "gs:\(c.bucket)/\(c.path.split(separator: "/").filter { $0 != "." }.joined(separator: "/"))"
        case .sftp:
            guard let c = try? sftpConfigurationUnchecked() else { return nil }
            return "sftp:\(c.user)@\(c.host):\(c.port)/\(c.path.split(separator: "/").joined(separator: "/"))"
        case .webdav:
            guard let c = try? webdavConfiguration(), let client = try? WebDAVReplicaClient(configuration: c) else {
                return nil
            }
            return client.location
        case .nats:
            guard let c = try? natsConfigurationUnchecked() else { return nil }
            return "nats:\(c.host):\(c.port)/\(c.bucket)/\(c.path.split(separator: "/").joined(separator: "/"))"
        case .abs:
            guard let c = try? absConfigurationUnchecked() else { return nil }
            return "abs:\(c.endpoint ?? c.accountName)/\(c.container)/\(ABSConfiguration.clean(c.path))"
        case .oss:
            guard let c = try? ossConfigurationUnchecked() else { return nil }
            return "oss:\(c.endpoint ?? c.region ?? OSSConfiguration.defaultRegion)/\(c.bucket)/\(c.path.split(separator: "/").joined(separator: "/"))"
        }
    }
}

extension ReplicaConfiguration {
    /// The NATS settings of a `nats` replica, as Litestream builds them: the `url` gives the server and the bucket
    /// (and, on the command line, user and password), `bucket` is used when the url has none; every credential,
    /// TLS and connection key written in the file (or inherited) on top. `path` (ours) prefixes the object names.
    public func natsConfiguration() throws -> NATSConfiguration {
        guard type == .nats else {
            throw ConfigurationError(.invalidValue, "replica '\(name)' is a \(type.rawValue) replica, not nats", line: line, source: source)
        }
        do {
            let c = try natsConfigurationUnchecked()
            try c.validate()
            return c
        } catch {
            throw ConfigurationError(.invalidValue, "replica '\(name)': \(error)", line: line, source: source, cause: error)
        }
    }

    func natsConfigurationUnchecked() throws -> NATSConfiguration {
        let s = settings
        var c = NATSConfiguration(bucket: s.bucket ?? "")
        if let url {
            let bucketless = url.replacingOccurrences(of: "://", with: "").contains("/") == false
            c = try NATSConfiguration.parse(url: bucketless && s.bucket != nil ? url + "/" + s.bucket! : url)
        }
        if let p = path { c.path = p }
        if let v = s.jwt { c.jwt = v.value }
        if let v = s.seed { c.seed = v.value }
        if let v = s.creds { c.creds = v }
        if let v = s.nkey { c.nkey = v.value }
        if let v = s.username { c.username = v }
        if let v = s.password { c.password = v.value }
        if let v = s.token { c.token = v.value }
        if let v = s.tls { c.tls = v }
        if let v = s.rootCAs { c.rootCAs = v }
        if let v = s.clientCert { c.clientCert = v }
        if let v = s.clientKey { c.clientKey = v }
        if let v = s.maxReconnects { c.maxReconnects = v }
        if let v = s.reconnectWait { c.reconnectWait = v }
        if let v = s.timeout { c.timeout = v }
        return c
    }
}
