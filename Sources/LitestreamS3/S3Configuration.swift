public import AsyncHTTPClient
import Crypto
import Foundation
import LitestreamClient

/// Where and how an S3 replica is stored, with Litestream 0.5.17's option names and defaults.
///
/// - Path-style addressing whenever an `endpoint` is set (unless `forcePathStyle` is explicitly false),
///   virtual-hosted addressing for AWS (and path style for dotted bucket names there).
/// - Region: `region`, else `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
/// - Credentials: `accessKeyID`/`secretAccessKey`, else `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
///   (`AWS_SESSION_TOKEN`), else `LITESTREAM_ACCESS_KEY_ID`/`LITESTREAM_SECRET_ACCESS_KEY`.
public struct S3Configuration: Sendable {
    /// The bucket name.
    public var bucket: String
    /// The key prefix, without leading or trailing `/` as given in a URL (`"."` when a URL has no path, as in
    /// Litestream). Keys are `<path>/<level %04x>/<min>-<max>.ltx`.
    public var path: String
    public var region: String?
    /// `http(s)://host[:port]` of an S3-compatible store; nil for AWS.
    public var endpoint: String?
    /// nil: path style exactly when `endpoint` is set.
    public var forcePathStyle: Bool?
    public var accessKeyID: String?
    public var secretAccessKey: String?
    public var sessionToken: String?
    /// Skips TLS certificate verification (self-signed S3-compatible stores).
    public var skipVerify = false
    /// Bodies larger than this are uploaded in parts of this size (at least 5 MiB).
    public var partSize = S3Configuration.minimumPartSize
    /// `x-amz-storage-class` for uploads.
    public var storageClass: String?
    /// `x-amz-server-side-encryption-aws-kms-key-id` (SSE-KMS) for uploads; `x-amz-server-side-encryption:
    /// aws:kms` is sent with it.
    public var sseKMSKeyID: String?
    /// SSE-C algorithm (Litestream's `sse-customer-algorithm`); only `AES256` exists, and it is the default when
    /// ``sseCustomerKey`` is set.
    public var sseCustomerAlgorithm: String?
    /// SSE-C key (Litestream's `sse-customer-key`): the base64 encoding of a 32-byte key. Sent (with its MD5) on
    /// every request that writes or reads object data: PutObject, CreateMultipartUpload, UploadPart,
    /// CompleteMultipartUpload, GetObject and HeadObject. Never logged or shown in an error.
    public var sseCustomerKey: String?
    /// How many parts of one multipart upload are sent at once (Litestream's `concurrency`, default 5). An
    /// upload holds at most `concurrency + 1` parts in memory.
    public var concurrency = 5
    /// How many times a request is tried in all before a transient failure is reported.
    public var maxAttempts = 10
    /// The HTTP client. Default: a process-wide client with `HTTPClient.shared`'s settings except that failed
    /// connections are not retried inside async-http-client (our retry loop does it); or one that skips
    /// verification (`skipVerify`), or that also trusts `AWS_CA_BUNDLE`. None of them is ever shut down.
    public var httpClient: HTTPClient?

    public static let minimumPartSize = 5 * 1024 * 1024

    public init(bucket: String, path: String, region: String? = nil, endpoint: String? = nil) {
        self.bucket = bucket
        self.path = path
        self.region = region
        self.endpoint = endpoint
    }

    /// An invalid URL or setting. The description never contains a secret.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses `s3://bucket/path?endpoint=…&region=…&force-path-style=…&skip-verify=…&part-size=…&storage-class=…`.
    ///
    /// As Litestream, the path is cleaned (`s3://bkt` gives `"."`, `s3://bkt/a//b/` gives `a/b`) and an
    /// `endpoint` without a scheme gets `https://`.
    public static func parse(url: String) throws -> S3Configuration {
        guard url.lowercased().hasPrefix("s3://") else { throw Invalid(description: "not an s3:// URL: \(Redaction.url(url))") }
        let rest = url.dropFirst(5)
        let (location, query) = rest.firstIndex(of: "?").map { (rest[..<$0], rest[rest.index(after: $0)...]) }
            ?? (rest, Substring(""))
        let bucketEnd = location.firstIndex(of: "/") ?? location.endIndex
        let bucket = String(location[..<bucketEnd])
        guard !bucket.isEmpty, !bucket.contains("@") else {
            throw Invalid(description: "invalid s3 URL \(Redaction.url(url)): " + (bucket.contains("@")
                ? "credentials do not go in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or access-key-id "
                    + "and secret-access-key in the configuration file"
                : "bucket required, as in s3://bucket/path"))
        }
        let rawPath = String(location[bucketEnd...]).removingPercentEncoding ?? String(location[bucketEnd...])
        let segments = rawPath.split(separator: "/").filter { $0 != "." }
        var c = S3Configuration(bucket: bucket, path: segments.isEmpty ? "." : segments.joined(separator: "/"))
        for item in query.split(separator: "&") where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            func bool() throws -> Bool {
                switch value.lowercased() {
                case "", "true", "1", "yes": return true
                case "false", "0", "no": return false
                default: throw Invalid(description: "invalid s3 URL option \(name)=\(value): want true or false")
                }
            }
            switch name {
            case "endpoint": c.endpoint = value.isEmpty ? nil : value
            case "region": c.region = value.isEmpty ? nil : value
            case "force-path-style": c.forcePathStyle = try bool()
            case "skip-verify": c.skipVerify = try bool()
            case "storage-class": c.storageClass = value.isEmpty ? nil : value
            case "sse-kms-key-id": c.sseKMSKeyID = value.isEmpty ? nil : value
            case "concurrency":
                guard let n = Int(value) else { throw Invalid(description: "invalid s3 URL option concurrency=\(value)") }
                c.concurrency = n
            case "part-size":
                guard let n = parseSize(value) else {
                    throw Invalid(description: "invalid s3 URL option part-size=\(value)")
                }
                c.partSize = n
            default: break  // Litestream ignores options it does not know (sign-payload, concurrency, …)
            }
        }
        try c.validate()
        return c
    }

    /// Checks the settings that can be checked without the network.
    public func validate() throws {
        if partSize < Self.minimumPartSize {
            throw Invalid(description: "s3 part-size \(partSize) is below the minimum of 5 MiB")
        }
        if let endpoint, !endpoint.isEmpty, Self.normalizeEndpoint(endpoint) == nil {
            throw Invalid(description: "invalid s3 endpoint \(endpoint)")
        }
        if concurrency < 1 {
            throw Invalid(description: "s3 concurrency \(concurrency) must be at least 1")
        }
        _ = try sseCustomer()
    }

    /// The SSE-C settings, checked; nil when no key is set.
    ///
    /// Messages name the problem, never the key: a configuration error may end up in a log.
    func sseCustomer() throws -> SSECustomerKey? {
        let key = sseCustomerKey.flatMap { $0.isEmpty ? nil : $0 }
        let algorithm = sseCustomerAlgorithm.flatMap { $0.isEmpty ? nil : $0 }
        guard let key else {
            if let algorithm {
                throw Invalid(description: "s3 sse-customer-algorithm \(algorithm) is set without sse-customer-key")
            }
            return nil
        }
        if let algorithm, algorithm != "AES256" {
            throw Invalid(description: "unsupported s3 sse-customer-algorithm \(algorithm): only AES256 exists")
        }
        guard let raw = Data(base64Encoded: key.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Invalid(description: "s3 sse-customer-key is not valid base64 (it must encode a 32-byte key)")
        }
        guard raw.count == 32 else {
            throw Invalid(
                description: "s3 sse-customer-key decodes to \(raw.count) bytes; it must be the base64 of a 32-byte key")
        }
        if let k = sseKMSKeyID, !k.isEmpty {
            throw Invalid(description: "s3 sse-customer-key and sse-kms-key-id cannot both be set")
        }
        // S3 refuses SSE-C over plain HTTP; Litestream allows it only towards loopback or private addresses.
        if let endpoint, let (scheme, host, _) = Self.normalizeEndpoint(endpoint), scheme == "http",
            !Self.isLocalHost(host)
        {
            throw Invalid(
                description: "s3 sse-customer-key needs an https endpoint (or http on a loopback or private address), "
                    + "not \(endpoint)")
        }
        return SSECustomerKey(algorithm: algorithm ?? "AES256", key: raw)
    }

    /// Loopback, private (RFC 1918, fc00::/7) or `localhost` hosts, where plain HTTP does not cross a network.
    static func isLocalHost(_ host: String) -> Bool {
        let h = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if h == "localhost" || h.hasSuffix(".localhost") || h == "::1" { return true }
        if h.hasPrefix("fc") || h.hasPrefix("fd") { return h.contains(":") }
        let octets = h.split(separator: ".").compactMap { UInt8($0) }
        guard octets.count == 4 else { return false }
        switch (octets[0], octets[1]) {
        case (127, _), (10, _), (192, 168): return true
        case (172, 16...31): return true
        default: return false
        }
    }

    /// `5MB`, `5MiB`, `8388608`.
    static func parseSize(_ s: String) -> Int? {
        let t = s.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Int)] = [("MIB", 1 << 20), ("MB", 1 << 20), ("M", 1 << 20), ("KIB", 1 << 10),
                                      ("KB", 1 << 10), ("K", 1 << 10), ("GIB", 1 << 30), ("GB", 1 << 30), ("B", 1)]
        for (u, m) in units where t.hasSuffix(u) {
            return Int(t.dropLast(u.count).trimmingCharacters(in: .whitespaces)).map { $0 * m }
        }
        return Int(t)
    }

    /// `(scheme, host, port)` of an endpoint; a missing scheme means https.
    static func normalizeEndpoint(_ endpoint: String) -> (scheme: String, host: String, port: Int?)? {
        var s = Substring(endpoint)
        var scheme = "https"
        if let r = s.range(of: "://") {
            scheme = s[..<r.lowerBound].lowercased()
            s = s[r.upperBound...]
        }
        guard scheme == "http" || scheme == "https" else { return nil }
        if let slash = s.firstIndex(of: "/") { s = s[..<slash] }
        guard !s.isEmpty else { return nil }
        if s.hasPrefix("[") {  // IPv6 literal
            guard let close = s.firstIndex(of: "]") else { return nil }
            let host = String(s[...close])
            let after = s[s.index(after: close)...]
            if after.isEmpty { return (scheme, host, nil) }
            guard after.first == ":", let port = Int(after.dropFirst()) else { return nil }
            return (scheme, host, port)
        }
        if let colon = s.lastIndex(of: ":") {
            guard let port = Int(s[s.index(after: colon)...]) else { return nil }
            return (scheme, String(s[..<colon]), port)
        }
        return (scheme, String(s), nil)
    }
}

/// A checked SSE-C key: the headers it adds to object requests. Its descriptions hide the key.
struct SSECustomerKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    var algorithm: String
    private let key: Data

    init(algorithm: String, key: Data) {
        self.algorithm = algorithm
        self.key = key
    }

    /// `x-amz-server-side-encryption-customer-{algorithm,key,key-md5}`.
    var headers: [(name: String, value: String)] {
        [
            ("x-amz-server-side-encryption-customer-algorithm", algorithm),
            ("x-amz-server-side-encryption-customer-key", key.base64EncodedString()),
            ("x-amz-server-side-encryption-customer-key-md5", Data(Insecure.MD5.hash(data: key)).base64EncodedString()),
        ]
    }

    var description: String { "SSE-C \(algorithm) (key redacted)" }
    var debugDescription: String { description }
}

extension S3Configuration: CustomStringConvertible, CustomDebugStringConvertible {
    /// The settings without secrets (the secret access key, session token and SSE-C key are redacted).
    public var description: String {
        var parts = ["bucket: \(bucket)", "path: \(path)"]
        if let region { parts.append("region: \(region)") }
        if let endpoint { parts.append("endpoint: \(endpoint)") }
        if let forcePathStyle { parts.append("force-path-style: \(forcePathStyle)") }
        if let accessKeyID { parts.append("access-key-id: \(accessKeyID)") }
        if secretAccessKey != nil { parts.append("secret-access-key: <redacted>") }
        if sessionToken != nil { parts.append("session-token: <redacted>") }
        if skipVerify { parts.append("skip-verify: true") }
        parts.append("part-size: \(partSize)")
        parts.append("concurrency: \(concurrency)")
        if let storageClass { parts.append("storage-class: \(storageClass)") }
        if let sseKMSKeyID { parts.append("sse-kms-key-id: \(sseKMSKeyID)") }
        if let sseCustomerAlgorithm { parts.append("sse-customer-algorithm: \(sseCustomerAlgorithm)") }
        if sseCustomerKey != nil { parts.append("sse-customer-key: <redacted>") }
        return "S3Configuration(\(parts.joined(separator: ", ")))"
    }

    public var debugDescription: String { description }
}
