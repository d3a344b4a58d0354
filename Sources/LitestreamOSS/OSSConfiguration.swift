public import AsyncHTTPClient
public import Foundation
import LitestreamHTTP

/// Where and how an Alibaba Cloud OSS replica is stored, with Litestream 0.5.17's settings: `access-key-id`,
/// `secret-access-key`, `region` (default `cn-hangzhou`), `bucket`, `endpoint` and `path`, or one URL
/// `oss://bucket[.oss-<region>[-internal].aliyuncs.com]/path`.
///
/// Keys are `<path>/<level as %04x>/<min>-<max>.ltx`, the same scheme as S3, each object carrying the metadata
/// `x-oss-meta-litestream-timestamp`, as Litestream's `oss` replica writes them. Without configured keys the
/// credentials come from `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET` and `OSS_SESSION_TOKEN`, as the Go SDK's
/// environment provider reads them.
public struct OSSConfiguration: Sendable {
    public var bucket: String
    /// The key prefix, used verbatim as Litestream does (`oss://bucket` gives `.`, so keys `./0000/…`).
    public var path: String
    /// `region`: `cn-hangzhou` when nil.
    public var region: String?
    /// `endpoint`: `oss-<region>.aliyuncs.com` by default; `https://` is assumed without a scheme.
    public var endpoint: String?
    public var accessKeyID: String?
    /// `secret-access-key`. Never logged, never in an error.
    public var accessKeySecret: String?
    /// An STS token. Never logged, never in an error.
    public var securityToken: String?
    /// Files up to this size go in one PutObject; larger ones in a multipart upload of parts this size, each
    /// streamed from a file. Default 8 MiB (OSS's minimum part is 100 KiB).
    public var partSize = 8 << 20
    /// Tries in all before a transient failure (no answer, 5xx, 408, 429) is reported. Default 10.
    public var maxAttempts = 10
    /// The most one request may take, body included. Default 10 minutes.
    public var requestTimeout: Duration = .seconds(600)
    /// The HTTP client. Default: the process-wide client the other replicas use, never shut down.
    public var httpClient: HTTPClient?

    /// Litestream's default region.
    public static let defaultRegion = "cn-hangzhou"

    public init(bucket: String, path: String = "", region: String? = nil, endpoint: String? = nil,
                accessKeyID: String? = nil, accessKeySecret: String? = nil) {
        (self.bucket, self.path, self.region, self.endpoint) = (bucket, path, region, endpoint)
        (self.accessKeyID, self.accessKeySecret) = (accessKeyID, accessKeySecret)
    }

    /// A configuration that cannot work; the description names what to fix, never a secret.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Reads `oss://bucket[.oss-region.aliyuncs.com]/path` as Litestream does: the host gives the bucket (and the
    /// region when it is an OSS host name), the path (cleaned, without its leading `/`; `.` when empty) the prefix.
    /// A query is ignored.
    public static func parse(url: String) throws -> OSSConfiguration {
        guard url.lowercased().hasPrefix("oss://") else {
            throw Invalid(description: "not an oss:// URL: \(Self.redacted(url))")
        }
        var rest = Substring(url.dropFirst(6))
        if let q = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<q] }
        let hostEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let host = String(rest[..<hostEnd])
        guard !host.contains("@") else {
            throw Invalid(description: "invalid oss URL \(Self.redacted(url)): credentials do not go in the URL; set "
                + "access-key-id and secret-access-key, or OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET")
        }
        let (bucket, region) = parseHost(host)
        guard !bucket.isEmpty else {
            throw Invalid(description: "bucket required for oss replica URL \(Self.redacted(url))")
        }
        let raw = String(rest[hostEnd...])
        let segments = (URIEncoding.decode(raw) ?? raw).split(separator: "/").filter { $0 != "." }
        return OSSConfiguration(bucket: bucket, path: segments.isEmpty ? "." : segments.joined(separator: "/"), region: region)
    }

    /// `bucket.oss-cn-hangzhou.aliyuncs.com` → (`bucket`, `cn-hangzhou`); `bucket.oss-cn-hangzhou-internal.aliyuncs.com`
    /// → (`bucket`, `cn-hangzhou`); anything else is the bucket's name.
    static func parseHost(_ host: String) -> (bucket: String, region: String?) {
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 3, labels.suffix(2).joined(separator: ".") == "aliyuncs.com" else { return (host, nil) }
        let ossLabel = labels[labels.count - 3]
        guard ossLabel.hasPrefix("oss-"), labels.count <= 4 else { return (host, nil) }
        var region = String(ossLabel.dropFirst(4))
        if region.hasSuffix("-internal") { region = String(region.dropLast("-internal".count)) }
        guard !region.isEmpty else { return (host, nil) }
        return (labels.count == 4 ? String(labels[0]) : "", region)
    }

    /// The URL without user info or query.
    static func redacted(_ url: String) -> String {
        var s = Substring(url)
        if let q = s.firstIndex(of: "?") { s = s[..<q] }
        guard let r = s.range(of: "://") else { return String(s) }
        let rest = s[r.upperBound...]
        let hostEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<hostEnd].lastIndex(of: "@") else { return String(s) }
        return String(s[..<r.upperBound]) + "REDACTED@" + rest[rest.index(after: at)...]
    }
}

extension OSSConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The bucket, path, region, endpoint and access key ID; never the secret or token.
    public var description: String {
        "OSSConfiguration(bucket: \(bucket), path: \(path), region: \(region ?? Self.defaultRegion), endpoint: "
            + "\(endpoint.map(Self.redacted) ?? "default"), access-key-id: \(accessKeyID ?? "nil"), secret-access-key: "
            + "\(accessKeySecret == nil ? "nil" : "<redacted>"))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
