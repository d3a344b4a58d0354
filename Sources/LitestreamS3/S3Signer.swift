import Crypto
public import Foundation
import LitestreamHTTP

/// AWS Signature Version 4 for S3 (service `s3`), with signed payload hashes.
///
/// The caller builds the request's encoded path and canonical query string once (``S3Signer/encodePath(_:)``,
/// ``S3Signer/canonicalQuery(_:)``), sends exactly those strings, and signs them here: S3 paths are encoded once
/// and never normalised, so the signed and the sent bytes must be the same string.
public struct S3Signer: Sendable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var region: String
    public var service: String = "s3"

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, region: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
    }

    /// The SHA-256 of an empty body.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// Lower-case hex SHA-256 of `data`.
    public static func payloadHash<D: DataProtocol>(_ data: D) -> String { hex(SHA256.hash(data: data)) }

    /// The result of signing: every header to send (the given ones plus `x-amz-date`, `x-amz-content-sha256`,
    /// `x-amz-security-token` and `authorization`), and the intermediate strings (for tests and debugging).
    public struct Signed: Sendable {
        public var headers: [(name: String, value: String)]
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
    }

    /// Signs a request.
    ///
    /// - Parameters:
    ///   - method: `GET`, `PUT`, ….
    ///   - encodedPath: the path as sent, already percent-encoded (``encodePath(_:)``), starting with `/`.
    ///   - canonicalQuery: the query as sent (``canonicalQuery(_:)``), without `?`; empty for none.
    ///   - headers: headers to sign and send; must include `host` (with `:port` when not the default).
    ///   - payloadHash: hex SHA-256 of the body (or `UNSIGNED-PAYLOAD`).
    ///   - date: the signing time.
    public func sign(
        method: String, encodedPath: String, canonicalQuery: String,
        headers: [(name: String, value: String)], payloadHash: String, date: Date
    ) -> Signed {
        let (amzDate, day) = Self.timestamps(date)
        var all = headers
        all.append(("x-amz-date", amzDate))
        all.append(("x-amz-content-sha256", payloadHash))
        if let sessionToken, !sessionToken.isEmpty { all.append(("x-amz-security-token", sessionToken)) }

        // Canonical headers: lower-cased names, trimmed values with runs of spaces collapsed, sorted by name;
        // repeated names joined with commas.
        var merged: [String: [String]] = [:]
        for (name, value) in all {
            let n = name.lowercased()
            if Self.unsignedHeaders.contains(n) { continue }
            merged[n, default: []].append(Self.normalizeHeaderValue(value))
        }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")

        let canonicalRequest = [
            method, encodedPath, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8))),
        ].joined(separator: "\n")

        let key = signingKey(day: day)
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
        all.append((
            "authorization",
            "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        ))
        return Signed(headers: all, canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature)
    }

    func signingKey(day: String) -> SymmetricKey {
        func hmac(_ key: SymmetricKey, _ s: String) -> SymmetricKey {
            SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(s.utf8), using: key)))
        }
        var key = SymmetricKey(data: Data(("AWS4" + secretAccessKey).utf8))
        key = hmac(key, day)
        key = hmac(key, region)
        key = hmac(key, service)
        return hmac(key, "aws4_request")
    }

    static let unsignedHeaders: Set<String> = ["authorization", "content-length", "expect", "user-agent"]

    static func normalizeHeaderValue(_ v: String) -> String {
        var out = ""
        var lastSpace = false
        for c in v.trimmingCharacters(in: .whitespaces) {
            if c == " " {
                if !lastSpace { out.append(c) }
                lastSpace = true
            } else {
                out.append(c)
                lastSpace = false
            }
        }
        return out
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
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// RFC 3986 percent-encoding of every byte except the unreserved `A–Z a–z 0–9 - . _ ~` (and `/` when
    /// `keepSlash`). Space is `%20`, `+` is `%2B`, non-ASCII is encoded as UTF-8 bytes.
    public static func uriEncode(_ s: String, keepSlash: Bool) -> String {
        URIEncoding.encode(s, keepSlash: keepSlash)
    }

    /// The encoded request path for a raw (unencoded) path such as `/bucket/key`: encoded once, `/` kept.
    public static func encodePath(_ rawPath: String) -> String { uriEncode(rawPath, keepSlash: true) }

    /// The canonical query string: names and values encoded, sorted by name then value, valueless
    /// parameters as `name=`.
    public static func canonicalQuery(_ items: [(name: String, value: String)]) -> String {
        items.map { (uriEncode($0.name, keepSlash: false), uriEncode($0.value, keepSlash: false)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }
}

extension S3Signer: CustomStringConvertible, CustomDebugStringConvertible {
    /// The access key ID and region; the secret and session token are never shown.
    public var description: String { "S3Signer(accessKeyID: \(accessKeyID), region: \(region), secret: <redacted>)" }
    public var debugDescription: String { description }
}
