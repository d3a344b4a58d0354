public import LTX

/// A failed Google Cloud Storage request or credential, as one line a user can act on: the operation, the bucket
/// and object, the endpoint, what the server answered or why nothing came back, and what to check. Never a key or
/// a token.
public struct GCSError: CodedError, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value {
            case unauthorized, forbidden, bucketNotFound, notFound, preconditionFailed, connectionFailed
            case credentials, tokenRefused, malformedResponse, httpStatus
        }
        private let value: Value
        public var description: String { "\(value)" }

        /// 401: the access token was refused (or none was sent where one is needed).
        public static let unauthorized = Code(value: .unauthorized)
        /// 403: the service account may not do this in this bucket.
        public static let forbidden = Code(value: .forbidden)
        /// 404 to a bucket-wide request: the bucket does not exist.
        public static let bucketNotFound = Code(value: .bucketNotFound)
        /// 404 to an object request: no such object.
        public static let notFound = Code(value: .notFound)
        /// 412: a level-0 object already exists (`ifGenerationMatch=0`).
        public static let preconditionFailed = Code(value: .preconditionFailed)
        /// No answer: connection refused, unknown host, TLS failure, timeout.
        public static let connectionFailed = Code(value: .connectionFailed)
        /// The credentials cannot be used: `GOOGLE_APPLICATION_CREDENTIALS` unreadable, not JSON, not a service
        /// account key, or its private key unusable.
        public static let credentials = Code(value: .credentials)
        /// The OAuth token endpoint refused the service account's signed assertion.
        public static let tokenRefused = Code(value: .tokenRefused)
        /// An answer that is not what the JSON API promises.
        public static let malformedResponse = Code(value: .malformedResponse)
        /// Any other status.
        public static let httpStatus = Code(value: .httpStatus)
    }

    public var code: Code
    public var message: String
    /// The HTTP status, nil when no answer arrived (or for a credentials error).
    public var statusCode: Int?
    /// The lower-level failure (a connection error, a file error); never carries a secret.
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, statusCode: Int? = nil, cause: (any Error)? = nil) {
        (self.code, self.message, self.statusCode, self.cause) = (code, message, statusCode, cause)
    }

    /// One line: the message says everything (a cause is described in it, without NIO's internals).
    public var description: String { message.split(whereSeparator: \.isNewline).joined(separator: " ") }

    /// Whether trying again may succeed: no answer, a cut body, 408, 429 or a 5xx (Google's retry advice).
    public var isTransient: Bool {
        guard let statusCode else { return code == .connectionFailed || code == .malformedResponse }
        return GCSClient.isTransient(status: statusCode)
    }

    /// The error for an unexpected status: `gs <operation> gs://<bucket>/<object> at <endpoint> failed: HTTP …`,
    /// with the server's own message (the JSON API's `error.message`) and a hint for the usual mistakes.
    static func status(
        _ status: Int, reason: String, serverMessage: String?, operation: String, bucket: String, object: String?,
        endpoint: String, authenticated: Bool
    ) -> GCSError {
        let target = "gs://\(bucket)" + (object.map { "/\($0)" } ?? "")
        var head = "gs \(operation) \(target) at \(endpoint) failed: HTTP \(status)\(reason.isEmpty ? "" : " \(reason)")"
        if let serverMessage, !serverMessage.isEmpty { head += ": \(serverMessage)" }
        switch status {
        case 401:
            let hint = authenticated
                ? "the access token was refused: check that the service account key in GOOGLE_APPLICATION_CREDENTIALS is valid and not deleted"
                : "the endpoint wants credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service account key file"
            return GCSError(.unauthorized, "\(head) (\(hint))", statusCode: status)
        case 403:
            return GCSError(.forbidden,
                "\(head) (the service account may not do this in bucket \(bucket): grant it a role with storage.objects "
                    + "permissions, such as Storage Object Admin)",
                statusCode: status)
        case 404 where object == nil:
            return GCSError(.bucketNotFound,
                "\(head) (bucket \(bucket) does not exist at \(endpoint): check the bucket name)", statusCode: status)
        case 404:
            return GCSError(.notFound, "\(head) (no such object)", statusCode: status)
        case 412:
            return GCSError(.preconditionFailed, "\(head) (the object already exists)", statusCode: status)
        default:
            return GCSError(.httpStatus, head, statusCode: status)
        }
    }
}
