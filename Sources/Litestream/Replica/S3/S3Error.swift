/// A failed S3 request, as one line a user can act on. Never contains a credential.
public struct S3Error: Error, Sendable, CustomStringConvertible {
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

    public var description: String {
        var s = "s3 \(operation) failed for bucket \(bucket)"
        if let key { s += " key \(key)" }
        s += " at \(endpoint): \(code)"
        if !message.isEmpty { s += ": \(message)" }
        if let hint { s += " (\(hint))" }
        return s
    }

    /// Whether trying again may succeed (5xx, throttling, timeouts, lost connections).
    public var isTransient: Bool {
        if statusCode == nil { return true }
        if ["SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "ThrottlingException"].contains(code) { return true }
        if let statusCode { return statusCode >= 500 || statusCode == 408 || statusCode == 429 }
        return false
    }

    var hint: String? {
        switch code {
        case "NoSuchBucket": return "check the bucket name and endpoint"
        case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "HTTP 403":
            return "check the access key ID and secret access key"
        case "AuthorizationHeaderMalformed", "PermanentRedirect", "HTTP 301": return "check the region"
        case "RequestTimeTooSkewed": return "the local clock differs from the server's by more than 15 minutes"
        case "ConnectionFailed": return "check that the endpoint is reachable"
        default: return nil
        }
    }
}
