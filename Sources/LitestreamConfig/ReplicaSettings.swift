import LitestreamS3
import Yams
/// The replica settings that can be given once at the top level of the file and are then inherited by every
/// replica that does not set them itself (Litestream's `ReplicaSettings.SetDefaults`). Every field is optional:
/// nil means "not written here"; ``ReplicaConfiguration`` supplies the defaults.
public struct ReplicaSettings: Sendable, Equatable {
    /// `sync-interval`: how often new L0 files are uploaded. Default 1 s.
    public var syncInterval: Duration?
    /// `max-sync-ltx-files`: at most this many L0 files per upload pass. Default 256.
    public var maxSyncLTXFiles: Int?
    /// `auto-recover`: reset local state and re-snapshot when the replica is found inconsistent. Default false.
    public var autoRecover: Bool?
    /// `validation-interval`: accepted (Litestream parses it but does not use it either).
    public var validationInterval: Duration?

    // S3
    public var accessKeyID: String?
    public var secretAccessKey: Secret?
    public var region: String?
    public var bucket: String?
    public var endpoint: String?
    public var forcePathStyle: Bool?
    /// Accepted for compatibility; our client always signs the payload hash.
    public var signPayload: Bool?
    /// Accepted for compatibility; our client sends Content-MD5 where S3 requires it.
    public var requireContentMD5: Bool?
    public var skipVerify: Bool?
    public var storageClass: String?
    /// `part-size` in bytes (`10MiB`); at least 5 MiB.
    public var partSize: Int64?
    /// Accepted for compatibility; uploads of one replica are sequential here.
    public var concurrency: Int?
    /// SSE-C: the algorithm, `AES256`.
    public var sseCustomerAlgorithm: String?
    /// SSE-C: the key, base64-encoded as Litestream expects.
    public var sseCustomerKey: Secret?
    /// SSE-C: a file holding the base64 key (read when the client is made).
    public var sseCustomerKeyPath: String?
    /// SSE-KMS key id.
    public var sseKMSKeyID: String?

    // SFTP (Litestream's keys, then two of ours for the host-key check; see `SFTPConfiguration`)
    /// `host`: `name` or `name:port`.
    public var host: String?
    public var user: String?
    public var password: Secret?
    /// `key-path`: a private key file (`~` expanded).
    public var keyPath: String?
    /// `host-key`: the server's public key (`ssh-ed25519 AAAA…`).
    public var hostKey: String?
    /// `concurrent-writes`: accepted for compatibility.
    public var concurrentWrites: Bool?
    /// `known-hosts-path` (ours): default `~/.ssh/known_hosts`.
    public var knownHostsPath: String?
    /// `insecure-ignore-host-key` (ours): accept any host key, as Litestream 0.5.17 does without `host-key`.
    public var insecureIgnoreHostKey: Bool?
    // WebDAV
    /// `webdav-url`: the server, `http(s)://host[:port][/prefix]`.
    public var webdavURL: String?
    /// `webdav-username`: the basic-auth user.
    public var webdavUsername: String?
    /// `webdav-password`: the basic-auth password.
    public var webdavPassword: Secret?
    // NATS (Litestream's keys; `bucket` and `password` are shared with s3 and sftp; see `NATSConfiguration`)
    /// `jwt` and `seed`: a user JWT and its nkey seed.
    public var jwt: Secret?
    public var seed: Secret?
    /// `creds`: a credentials file (`~` expanded).
    public var creds: String?
    /// `nkey`: a user nkey seed.
    public var nkey: Secret?
    public var username: String?
    public var token: Secret?
    public var tls: Bool?
    /// `root-cas`: PEM files (`~` expanded).
    public var rootCAs: [String]?
    public var clientCert: String?
    public var clientKey: String?
    public var maxReconnects: Int?
    public var reconnectWait: Duration?
    public var timeout: Duration?
    // Azure Blob Storage (abs)
    /// `account-name`: the storage account.
    public var accountName: String?
    /// `account-key`: the storage account's key (base64).
    public var accountKey: Secret?
    /// `sas-token`: a shared access signature, used instead of the key when set.
    public var sasToken: Secret?

    public init() {}

    /// `self` with every unset field taken from `defaults`.
    public func inheriting(_ defaults: ReplicaSettings) -> ReplicaSettings {
        var r = self
        r.syncInterval = syncInterval ?? defaults.syncInterval
        r.maxSyncLTXFiles = maxSyncLTXFiles ?? defaults.maxSyncLTXFiles
        r.autoRecover = autoRecover ?? defaults.autoRecover
        r.validationInterval = validationInterval ?? defaults.validationInterval
        r.accessKeyID = accessKeyID ?? defaults.accessKeyID
        r.secretAccessKey = secretAccessKey ?? defaults.secretAccessKey
        r.region = region ?? defaults.region
        r.bucket = bucket ?? defaults.bucket
        r.endpoint = endpoint ?? defaults.endpoint
        r.forcePathStyle = forcePathStyle ?? defaults.forcePathStyle
        r.signPayload = signPayload ?? defaults.signPayload
        r.requireContentMD5 = requireContentMD5 ?? defaults.requireContentMD5
        r.skipVerify = skipVerify ?? defaults.skipVerify
        r.storageClass = storageClass ?? defaults.storageClass
        r.partSize = partSize ?? defaults.partSize
        r.concurrency = concurrency ?? defaults.concurrency
        // The SSE-C key and its path are one setting: a replica giving either does not inherit the other.
        if sseCustomerKey == nil && sseCustomerKeyPath == nil {
            r.sseCustomerKey = defaults.sseCustomerKey
            r.sseCustomerKeyPath = defaults.sseCustomerKeyPath
        }
        r.sseCustomerAlgorithm = sseCustomerAlgorithm ?? defaults.sseCustomerAlgorithm
        r.sseKMSKeyID = sseKMSKeyID ?? defaults.sseKMSKeyID
        r.host = host ?? defaults.host
        r.user = user ?? defaults.user
        r.password = password ?? defaults.password
        r.keyPath = keyPath ?? defaults.keyPath
        r.hostKey = hostKey ?? defaults.hostKey
        r.concurrentWrites = concurrentWrites ?? defaults.concurrentWrites
        r.knownHostsPath = knownHostsPath ?? defaults.knownHostsPath
        r.insecureIgnoreHostKey = insecureIgnoreHostKey ?? defaults.insecureIgnoreHostKey
        r.webdavURL = webdavURL ?? defaults.webdavURL
        r.webdavUsername = webdavUsername ?? defaults.webdavUsername
        r.webdavPassword = webdavPassword ?? defaults.webdavPassword
        r.jwt = jwt ?? defaults.jwt
        r.seed = seed ?? defaults.seed
        r.creds = creds ?? defaults.creds
        r.nkey = nkey ?? defaults.nkey
        r.username = username ?? defaults.username
        r.token = token ?? defaults.token
        r.tls = tls ?? defaults.tls
        r.rootCAs = rootCAs ?? defaults.rootCAs
        r.clientCert = clientCert ?? defaults.clientCert
        r.clientKey = clientKey ?? defaults.clientKey
        r.maxReconnects = maxReconnects ?? defaults.maxReconnects
        r.reconnectWait = reconnectWait ?? defaults.reconnectWait
        r.timeout = timeout ?? defaults.timeout
        r.accountName = accountName ?? defaults.accountName
        r.accountKey = accountKey ?? defaults.accountKey
        r.sasToken = sasToken ?? defaults.sasToken
        return r
    }

    /// The keys that may appear at the top level or in a replica.
    static let keys: Set<String> = [
        "sync-interval", "max-sync-ltx-files", "auto-recover", "validation-interval",
        "access-key-id", "secret-access-key", "region", "bucket", "endpoint", "force-path-style", "sign-payload",
        "require-content-md5", "skip-verify", "storage-class", "part-size", "concurrency",
        "sse-customer-algorithm", "sse-customer-key", "sse-customer-key-path", "sse-kms-key-id",
        "host", "user", "password", "key-path", "host-key", "concurrent-writes", "known-hosts-path",
        "insecure-ignore-host-key",  // sftp
        "webdav-url", "webdav-username", "webdav-password",
        "jwt", "seed", "creds", "nkey", "username", "token", "tls", "root-cas", "client-cert", "client-key",
        "max-reconnects", "reconnect-wait", "timeout",  // nats
        "account-name", "account-key", "sas-token",  // abs
    ]

    /// Reads the settings present in `m` (keys must have been checked).
    init(reading m: ConfigMapping, home: String) throws {
        syncInterval = try m.duration("sync-interval")
        maxSyncLTXFiles = try m.int("max-sync-ltx-files", range: 0...Int.max)
        autoRecover = try m.bool("auto-recover")
        validationInterval = try m.duration("validation-interval")
        accessKeyID = try m.string("access-key-id")
        secretAccessKey = try m.string("secret-access-key").map(Secret.init)
        region = try m.string("region")
        bucket = try m.string("bucket")
        endpoint = try m.string("endpoint")
        forcePathStyle = try m.bool("force-path-style")
        signPayload = try m.bool("sign-payload")
        requireContentMD5 = try m.bool("require-content-md5")
        skipVerify = try m.bool("skip-verify")
        storageClass = try m.string("storage-class")
        if let size = try m.size("part-size"), size != 0 {  // 0: the default, as in Litestream
            guard size >= Int64(S3Configuration.minimumPartSize) else {
                throw m.error(.invalidValue,
                    "part-size must be at least 5MiB (S3's minimum part size), got \(ByteSize.format(size)) \(m.place)\(ConfigMapping.atLine(m.location("part-size")))",
                    at: m.location("part-size"))
            }
            partSize = size
        }
        concurrency = try m.int("concurrency", range: 0...Int.max)
        sseCustomerAlgorithm = try m.string("sse-customer-algorithm")
        sseCustomerKey = try m.string("sse-customer-key").map(Secret.init)
        sseCustomerKeyPath = try m.string("sse-customer-key-path").map { PathExpansion.expand($0, home: home) }
        sseKMSKeyID = try m.string("sse-kms-key-id")
        host = try m.string("host")
        user = try m.string("user")
        password = try m.string("password").map(Secret.init)
        keyPath = try m.string("key-path").map { PathExpansion.expand($0, home: home) }
        hostKey = try m.string("host-key")
        concurrentWrites = try m.bool("concurrent-writes")
        knownHostsPath = try m.string("known-hosts-path").map { PathExpansion.expand($0, home: home) }
        insecureIgnoreHostKey = try m.bool("insecure-ignore-host-key")
        webdavURL = try m.string("webdav-url")
        webdavUsername = try m.string("webdav-username")
        webdavPassword = try m.string("webdav-password").map(Secret.init)
        jwt = try m.string("jwt").map(Secret.init)
        seed = try m.string("seed").map(Secret.init)
        creds = try m.string("creds").map { PathExpansion.expand($0, home: home) }
        nkey = try m.string("nkey").map(Secret.init)
        username = try m.string("username")
        token = try m.string("token").map(Secret.init)
        tls = try m.bool("tls")
        if let nodes = try m.sequence("root-cas") {
            rootCAs = try nodes.map { node in
                guard case .scalar(let s) = node else {
                    throw m.error(.invalidValue, "expected a list of file names for 'root-cas' \(m.place)\(ConfigMapping.atLine(node))", at: node)
                }
                return PathExpansion.expand(s.string, home: home)
            }
        }
        clientCert = try m.string("client-cert").map { PathExpansion.expand($0, home: home) }
        clientKey = try m.string("client-key").map { PathExpansion.expand($0, home: home) }
        maxReconnects = try m.int("max-reconnects")
        reconnectWait = try m.duration("reconnect-wait")
        timeout = try m.duration("timeout")
        accountName = try m.string("account-name")
        accountKey = try m.string("account-key").map(Secret.init)
        sasToken = try m.string("sas-token").map(Secret.init)
        if sseCustomerKey != nil && sseCustomerKeyPath != nil {
            throw m.error(.invalidValue,
                "set only one of 'sse-customer-key' and 'sse-customer-key-path' \(m.place)\(ConfigMapping.atLine(m.location("sse-customer-key-path")))",
                at: m.location("sse-customer-key-path"))
        }
    }
}
