import Foundation
public import LTX

/// A failed S3 request, as one line a user can act on. Never contains a credential.
///
/// The description names the operation, bucket and endpoint, the server's code and message, and a hint for the
/// mistakes users make at start-up: wrong credentials, a missing bucket, the wrong region (naming the bucket's
/// real region), a skewed clock (naming the skew) or an unreachable endpoint (naming the cause).
public struct S3Error: CodedError, Sendable {
    /// The S3 error code (`NoSuchBucket`, `SignatureDoesNotMatch`, …), `HTTP <status>` for a body-less error,
    /// or `ConnectionFailed` when no response arrived.
    public var code: String
    public var message: String
    /// The HTTP status, nil when no response arrived.
    public var statusCode: Int?
    /// The operation: `PutObject`, `ListObjectsV2`, ….
    public var operation: String
    public var bucket: String
    public var key: String?
    /// `scheme://host[:port]` the request went to.
    public var endpoint: String
    public var requestID: String?
    /// The bucket's region when the server named it (a wrong-region error).
    public var bucketRegion: String?
    /// The region the request was signed for.
    public var signingRegion: String?
    /// Local clock minus the server's (`Date` header), for `RequestTimeTooSkewed`.
    public var clockSkew: Duration?
    /// The underlying failure when no response arrived (connection refused, DNS, TLS, …).
    public var cause: (any Error)?
    /// Which try of the request got this answer (0: the first). An answer to a retry may be about the effect of an
    /// earlier try whose answer was lost: a conditional PUT's 412 then means our own object, not someone else's.
    public var attempt = 0

    public var description: String {
        var s = "s3 \(operation) failed for bucket \(bucket)"
        if let key { s += " key \(key)" }
        s += " at \(endpoint): \(code)"
        if !message.isEmpty { s += ": \(message)" }
        if let hint { s += " (\(hint))" }
        // One line, whatever the server sent.
        return s.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// Whether trying again may succeed (5xx, throttling, timeouts, lost connections).
    public var isTransient: Bool {
        if statusCode == nil { return true }
        if ["SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "ThrottlingException"].contains(code) { return true }
        if let statusCode { return statusCode >= 500 || statusCode == 408 || statusCode == 429 }
        return false
    }

    /// Whether the error says the request went to, or was signed for, the wrong region.
    var isWrongRegion: Bool {
        ["AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException", "HTTP 301"]
            .contains(code) || statusCode == 301
    }

    var hint: String? {
        switch code {
        case "NoSuchBucket":
            return "bucket \(bucket) does not exist at \(endpoint): check the bucket name, endpoint and region"
        case "InvalidAccessKeyId":
            return "the server does not know this access key ID: check access-key-id (or AWS_ACCESS_KEY_ID)"
        case "SignatureDoesNotMatch":
            return "the secret access key does not match the access key ID: check secret-access-key "
                + "(or AWS_SECRET_ACCESS_KEY)"
        case "AccessDenied", "HTTP 403":
            return "the credentials were refused access to bucket \(bucket): check the access key ID, the secret "
                + "access key and the bucket's policy"
        case "RequestTimeTooSkewed":
            if let clockSkew { return "the local clock is \(Self.describe(clockSkew)); fix the system clock (NTP)" }
            return "the local clock differs from the server's by more than 15 minutes; fix the system clock (NTP)"
        case "ConnectionFailed":
            return "check that the endpoint \(endpoint) is reachable"
        case "ObjectChanged":
            return "the object was replaced while it was being read; try again"
        default:
            if isWrongRegion {
                if let bucketRegion {
                    let signed = signingRegion.map { ", not \($0)" } ?? ""
                    return "bucket \(bucket) is in region \(bucketRegion)\(signed): set region to \(bucketRegion)"
                }
                return "the bucket is in another region: check the region"
            }
            return nil
        }
    }

    /// `3h 2m 1s ahead of the server's` / `… behind the server's`.
    static func describe(_ skew: Duration) -> String {
        let total = Int(abs(skew.components.seconds))
        var parts: [String] = []
        if total >= 3600 { parts.append("\(total / 3600)h") }
        if total >= 60 { parts.append("\(total / 60 % 60)m") }
        parts.append("\(total % 60)s")
        return parts.joined(separator: " ") + (skew < .zero ? " behind" : " ahead of") + " the server's"
    }
}
