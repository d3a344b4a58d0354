import Crypto
public import Foundation
import LitestreamHTTP

/// Alibaba Cloud OSS signature V4 (`OSS4-HMAC-SHA256`), the default of alibabacloud-oss-go-sdk-v2, which Litestream
/// 0.5.17 uses. The payload is not hashed (`x-oss-content-sha256: UNSIGNED-PAYLOAD`).
///
/// Canonical request: method, `quote("/<bucket>/<key>")` (the bucket is in it whatever the addressing style),
/// the query sorted with names and values encoded and a valueless parameter as its name alone, the `x-oss-*`,
/// `content-type` and `content-md5` headers (`name:value\n`, sorted), an empty additional-headers line, and
/// `UNSIGNED-PAYLOAD`. The key is `HMAC("aliyun_v4" + secret, date)`, then region, `oss`, `aliyun_v4_request`.
public struct OSSSigner: Sendable {
    public var accessKeyID: String
    public var accessKeySecret: String
    /// `x-oss-security-token` (STS), if any.
    public var securityToken: String?
    /// `cn-hangzhou`, …: the region without `oss-`.
    public var region: String
    public var product = "oss"

    public init(accessKeyID: String, accessKeySecret: String, securityToken: String? = nil, region: String) {
        (self.accessKeyID, self.accessKeySecret, self.securityToken, self.region) = (accessKeyID, accessKeySecret, securityToken, region)
    }

    /// Every header to send (the given ones plus `x-oss-date`, `x-oss-content-sha256`, `x-oss-security-token` and
    /// `authorization`), and the intermediate strings.
    public struct Signed: Sendable {
        public var headers: [(name: String, value: String)]
        public var canonicalRequest: String
        public var stringToSign: String
        public var authorization: String
    }

    /// Signs a request.
    ///
    /// - Parameters:
    ///   - bucket: the bucket, nil for a service-level request.
    ///   - key: the object key (unencoded), nil for a bucket-level request.
    ///   - query: the query parameters, unencoded; an empty value is a valueless parameter (`?uploads`).
    public func sign(
        method: String, bucket: String?, key: String?, query: [(name: String, value: String)],
        headers: [(name: String, value: String)], date: Date
    ) -> Signed {
        let (stamp, day) = Self.timestamps(date)
        var all = headers
        all.append(("x-oss-date", stamp))
        all.append(("x-oss-content-sha256", "UNSIGNED-PAYLOAD"))
        if let securityToken, !securityToken.isEmpty { all.append(("x-oss-security-token", securityToken)) }

        var uri = "/"
        if let bucket { uri += bucket + "/" }
        if let key { uri += key }
        var encoded: [(name: String, value: String)] = []
        for (name, value) in query {
            encoded.append((URIEncoding.encode(name, keepSlash: false), URIEncoding.encode(value, keepSlash: false)))
        }
        encoded.sort { a, b in a.name != b.name ? a.name < b.name : a.value < b.value }
        let canonicalQuery = encoded.map { p -> String in p.value.isEmpty ? p.name : p.name + "=" + p.value }
            .joined(separator: "&")
        var signedHeaders: [(name: String, value: String)] = []
        for (name, value) in all {
            let n = name.lowercased()
            if n.hasPrefix("x-oss-") || n == "content-type" || n == "content-md5" { signedHeaders.append((n, value)) }
        }
        signedHeaders.sort { a, b in a.name < b.name }
        let canonicalHeaders = signedHeaders.map { h -> String in h.name + ":" + h.value + "\n" }.joined()
        let canonicalRequest = [
            method, URIEncoding.encode(uri, keepSlash: true), canonicalQuery, canonicalHeaders, "", "UNSIGNED-PAYLOAD",
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(product)/aliyun_v4_request"
        let stringToSign = [
            "OSS4-HMAC-SHA256", stamp, scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8))),
        ].joined(separator: "\n")

        func hmac(_ key: SymmetricKey, _ s: String) -> SymmetricKey {
            SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(s.utf8), using: key)))
        }
        var signingKey = SymmetricKey(data: Data(("aliyun_v4" + accessKeySecret).utf8))
        for part in [day, region, product, "aliyun_v4_request"] { signingKey = hmac(signingKey, part) }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: signingKey))
        let authorization = "OSS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope),Signature=\(signature)"
        all.append(("authorization", authorization))
        return Signed(headers: all, canonicalRequest: canonicalRequest, stringToSign: stringToSign, authorization: authorization)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` and `yyyyMMdd`, in UTC.
    static func timestamps(_ date: Date) -> (String, String) {
        var t = time_t(Int(date.timeIntervalSince1970.rounded(.down)))
        var tm = tm()
        gmtime_r(&t, &tm)
        let day = String(format: "%04d%02d%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday))
        return (day + String(format: "T%02d%02d%02dZ", Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec)), day)
    }

    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}

extension OSSSigner: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The access key ID and region; never the secret or token.
    public var description: String { "OSSSigner(accessKeyID: \(accessKeyID), region: \(region), secret: <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
