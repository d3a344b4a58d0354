import Foundation
public import LTX
import LitestreamHTTP
import NIOHTTP1

/// A failed OSS request, as one line a user can act on: the operation, bucket and endpoint, the service's error
/// code and message (or why nothing answered), and what to check. Never contains a credential.
public struct OSSError: CodedError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value { case credentials, forbidden, noSuchBucket, noSuchKey, exists, connectionFailed, malformedResponse, httpStatus }
        private let value: Value
        public var description: String { "\(value)" }

        /// `InvalidAccessKeyId`, `SignatureDoesNotMatch`, `RequestTimeTooSkewed`: the credentials (or clock) were refused.
        public static let credentials = Code(value: .credentials)
        /// 403 otherwise (`AccessDenied`): the key may not do this on the bucket.
        public static let forbidden = Code(value: .forbidden)
        /// `NoSuchBucket`.
        public static let noSuchBucket = Code(value: .noSuchBucket)
        /// `NoSuchKey` (or a 404 without a body).
        public static let noSuchKey = Code(value: .noSuchKey)
        /// `FileAlreadyExists`: an exclusive write found the key taken.
        public static let exists = Code(value: .exists)
        /// No answer: connection refused, unknown host, TLS failure, timeout.
        public static let connectionFailed = Code(value: .connectionFailed)
        /// An answer that is not what OSS promises.
        public static let malformedResponse = Code(value: .malformedResponse)
        /// Any other status.
        public static let httpStatus = Code(value: .httpStatus)
    }

    public var code: Code
    public var message: String
    /// The HTTP status, nil when no answer arrived.
    public var statusCode: Int?
    /// The service's error code (`NoSuchBucket`, `SignatureDoesNotMatch`, …).
    public var serviceCode: String?
    public var cause: (any Error)?
    /// Which try got this answer (0: the first): a retry's conflict may be about our own earlier write.
    public var attempt = 0

    public init(_ code: Code, _ message: String, statusCode: Int? = nil, serviceCode: String? = nil, cause: (any Error)? = nil) {
        (self.code, self.message, self.statusCode, self.serviceCode, self.cause) = (code, message, statusCode, serviceCode, cause)
    }

    /// One line.
    public var description: String { message.split(whereSeparator: \.isNewline).joined(separator: " ") }

    /// 5xx, 408 and 429 are tried again.
    static func isTransient(status: Int) -> Bool { status >= 500 || status == 408 || status == 429 }

    /// The error for an answer the caller did not expect.
    static func answer(_ r: HTTPExchange.Response, operation: String, bucket: String, key: String?, endpoint: String,
                       region: String) -> OSSError {
        // A HEAD's error has no body: OSS sends it base64-encoded in `x-oss-err`.
        var body = r.body
        if body.isEmpty, let b64 = r.headers.first(name: "x-oss-err"), let d = Data(base64Encoded: b64) { body = d }
        let parsed = OSSXML.parseError(body)
        let service = parsed?.code
        var head = "oss \(operation) failed for bucket \(bucket)"
        if let key { head += " key \(key)" }
        head += " at \(endpoint): HTTP \(r.status)"
        if let code = parsed?.code { head += " \(code)" }
        if let m = parsed?.message, !m.isEmpty { head += ": \(m)" }
        let e: OSSError
        switch (r.status, parsed?.code) {
        case (_, "InvalidAccessKeyId"?):
            e = OSSError(.credentials, "\(head) (check access-key-id, or OSS_ACCESS_KEY_ID)", statusCode: r.status, serviceCode: service)
        case (_, "SignatureDoesNotMatch"?):
            e = OSSError(.credentials,
                "\(head) (the secret does not match the access key ID, or region \(region) is not the bucket's: check "
                    + "secret-access-key (or OSS_ACCESS_KEY_SECRET) and region)",
                statusCode: r.status, serviceCode: service)
        case (_, "RequestTimeTooSkewed"?):
            e = OSSError(.credentials, "\(head) (fix the system clock (NTP))", statusCode: r.status, serviceCode: service)
        case (_, "NoSuchBucket"?):
            e = OSSError(.noSuchBucket,
                "\(head) (bucket \(bucket) does not exist at \(endpoint): check the bucket, region and endpoint)",
                statusCode: r.status, serviceCode: service)
        case (_, "FileAlreadyExists"?), (409, nil):
            e = OSSError(.exists, head, statusCode: r.status, serviceCode: service)
        case (403, _):
            e = OSSError(.forbidden,
                "\(head) (the credentials may not do this on bucket \(bucket): check the key's policy)",
                statusCode: r.status, serviceCode: service)
        case (404, _):
            e = OSSError(.noSuchKey, head, statusCode: r.status, serviceCode: service)
        default:
            e = OSSError(.httpStatus, head, statusCode: r.status, serviceCode: service)
        }
        var out = e
        out.attempt = r.attempt
        return out
    }
}
